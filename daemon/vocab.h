/* The daemon's words, each list declared once (libuv's UV_ERRNO_MAP shape):
 * connection states, who started a close, keepalive modes, the error codes
 * of PROTOCOL.md §8, and (in cause.h) the close causes. Each entry gives the
 * enum name and the wire name; the enum, the name function and the count all
 * follow from the list, so nothing is kept in step by hand. A leaf: anything
 * that prints a name depends on this, not on the module that sets the value. */
#ifndef WSF_VOCAB_H
#define WSF_VOCAB_H

#include <stddef.h>

#include "cause.h"

/* Counts outside the enums, so a switch over one needs no case for its count. */
#define WSF_VOCAB_ONE(...) +1

/* open → connecting → open → closing → closed (conn.h). */
#define WSF_CONN_STATES(X)                                                                                   \
  X(CONNECTING, "connecting")                                                                                \
  X(OPEN, "open")                                                                                            \
  X(CLOSING, "closing")                                                                                      \
  X(CLOSED, "closed")

typedef enum wsf_conn_state {
#define WSF_CONN_STATE_ENUM(id, name) WSF_CONN_##id,
  WSF_CONN_STATES(WSF_CONN_STATE_ENUM)
#undef WSF_CONN_STATE_ENUM
} wsf_conn_state;
enum { WSF_CONN_STATE_COUNT = 0 WSF_CONN_STATES(WSF_VOCAB_ONE) };
const char *wsf_conn_state_name(wsf_conn_state s);

/* A close record's initiator. */
#define WSF_INITIATORS(X)                                                                                    \
  X(NONE, "none")                                                                                            \
  X(CLIENT, "client")                                                                                        \
  X(SERVER, "server")

enum wsf_initiator {
#define WSF_INITIATOR_ENUM(id, name) WSF_BY_##id,
  WSF_INITIATORS(WSF_INITIATOR_ENUM)
#undef WSF_INITIATOR_ENUM
};
enum { WSF_INITIATOR_COUNT = 0 WSF_INITIATORS(WSF_VOCAB_ONE) };
const char *wsf_initiator_name(int initiator);

/* keepalive.mode (PROTOCOL.md, open). */
#define WSF_KA_MODES(X)                                                                                      \
  X(NONE, "none")                                                                                            \
  X(PING, "ping")                                                                                            \
  X(TEXT, "text")                                                                                            \
  X(BINARY, "binary")

enum wsf_ka_mode {
#define WSF_KA_MODE_ENUM(id, name) WSF_KA_##id,
  WSF_KA_MODES(WSF_KA_MODE_ENUM)
#undef WSF_KA_MODE_ENUM
};
enum { WSF_KA_MODE_COUNT = 0 WSF_KA_MODES(WSF_VOCAB_ONE) };
const char *wsf_ka_mode_name(int mode);

/* Error codes a request can fail with (PROTOCOL.md §8). */
#define WSF_ERRS(X)                                                                                          \
  X(OK, "ok")                                                                                                \
  X(E_BAD_REQUEST, "bad_request")                                                                            \
  X(E_NO_SUCH_CONN, "no_such_conn")                                                                          \
  X(E_CONN_EXISTS, "conn_exists")                                                                            \
  X(E_URL_MISMATCH, "url_mismatch")                                                                          \
  X(E_CONN_CLOSED, "conn_closed")                                                                            \
  X(E_TIMEOUT, "timeout")                                                                                    \
  X(E_DNS, "dns_error")                                                                                      \
  X(E_CONNECT, "connect_error")                                                                              \
  X(E_TLS, "tls_error")                                                                                      \
  X(E_HANDSHAKE, "handshake_failed")                                                                         \
  X(E_PROTOCOL, "protocol_error")                                                                            \
  X(E_LIMIT, "limit_exceeded")                                                                               \
  X(E_SHUTTING_DOWN, "shutting_down")                                                                        \
  X(E_INTERNAL, "internal")

typedef enum wsf_err {
#define WSF_ERR_ENUM(id, name) WSF_##id,
  WSF_ERRS(WSF_ERR_ENUM)
#undef WSF_ERR_ENUM
} wsf_err;
enum { WSF_ERR_COUNT = 0 WSF_ERRS(WSF_VOCAB_ONE) };
const char *wsf_err_code(wsf_err e);

/* open.framing (PROTOCOL.md §5b): what a record is (framing.h). */
#define WSF_FRAMINGS(X)                                                                                      \
  X(MESSAGE, "message")                                                                                      \
  X(RECORD_SEPARATOR, "record_separator")                                                                    \
  X(STOMP, "stomp")

typedef enum wsf_framing_mode {
#define WSF_FRAMING_ENUM(id, name) WSF_FRAMING_##id,
  WSF_FRAMINGS(WSF_FRAMING_ENUM)
#undef WSF_FRAMING_ENUM
} wsf_framing_mode;
enum { WSF_FRAMING_COUNT = 0 WSF_FRAMINGS(WSF_VOCAB_ONE) };
const char *wsf_framing_name(wsf_framing_mode m);

/* open.preset (PROTOCOL.md §5b; preset.h); NONE is no preset, never a name one can ask for. */
#define WSF_PRESETS(X)                                                                                       \
  X(NONE, "none")                                                                                            \
  X(SOCKETIO4, "socketio4")                                                                                  \
  X(STOMP12, "stomp12")                                                                                      \
  X(SIGNALR_JSON, "signalr-json")                                                                            \
  X(ECHO_HEARTBEAT, "echo-heartbeat")

typedef enum wsf_preset {
#define WSF_PRESET_ENUM(id, name) WSF_PRESET_##id,
  WSF_PRESETS(WSF_PRESET_ENUM)
#undef WSF_PRESET_ENUM
} wsf_preset;
enum { WSF_PRESET_COUNT = 0 WSF_PRESETS(WSF_VOCAB_ONE) };
const char *wsf_preset_name(wsf_preset p);

/* The entry named s[0..len), or -1 (a preset: never NONE). */
int wsf_framing_parse(const char *s, size_t len);
int wsf_preset_parse(const char *s, size_t len);

#endif
