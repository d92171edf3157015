/* Presets (open's `preset`): data on top of framing, session steps,
 * auto-reply rules and keepalive, expanded from preset_options into the
 * spec open would have given by hand. No I/O; the run-time parts (STOMP's
 * negotiated heart-beat, SignalR's close message) are in conn_session.c
 * and use the numbers computed here. */
#ifndef WSF_PRESET_H
#define WSF_PRESET_H

#include "daemon.h"
#include "proto.h"

/* preset_options as open gives them (strings point into the request). */
typedef struct wsf_preset_options {
  const char *ns, *auth; /* socketio4: namespace ("/"), auth (JSON object text) */
  size_t ns_len, auth_len;
  const char *host, *login, *passcode; /* stomp12 (host: the URL's when absent) */
  size_t host_len, login_len, passcode_len;
  uint32_t heart_beat[2];               /* stomp12: cx, cy */
  uint32_t interval_ms;                 /* signalr-json, echo-heartbeat; 0 = the preset's default */
  const char *payload, *reply_contains; /* echo-heartbeat */
  size_t payload_len, reply_contains_len;
  uint32_t reply_timeout_ms; /* (echo-heartbeat's rate_limit is open's own: rpc_do_open parses it) */
} wsf_preset_options;

void wsf_preset_options_default(wsf_preset preset, wsf_preset_options *o);

/* What a preset adds; strings built here live in `strings` until
 * wsf_preset_out_free. Rules and steps are appended to spec by the caller's
 * rule: see wsf_preset_expand. */
typedef struct wsf_preset_out {
  bool has_keepalive;
  wsf_keepalive keepalive; /* payload and reply_contains point into the options or strings */
  const char *subprotocol; /* offered when the open offers none, or NULL */
  char *strings[4];
  uint8_t n_strings;
} wsf_preset_out;

/* Expands preset into spec: framing (unless framing_given), the session
 * steps (unless the open gave its own), its rules after the open's own.
 * Returns NULL, or words naming the bad option (bad_request). */
const char *wsf_preset_expand(wsf_preset preset, const wsf_preset_options *o, bool framing_given,
                              bool session_given, wsf_proto_spec *spec, wsf_preset_out *out);
void wsf_preset_out_free(wsf_preset_out *out);

/* socketio4: the URL with `EIO=4&transport=websocket` added to its query
 * unless it has `EIO=` already (a new string), or NULL when it has. */
char *wsf_preset_socketio_url(const char *url, size_t len, size_t *out_len);

/* stomp12: the client heart-beat interval from the client's cx and the
 * server's CONNECTED heart-beat "sx,sy" (STOMP 1.2 §Heart-beating:
 * max(cx, sy), 0 when either is 0 or the header is unreadable). */
uint32_t wsf_stomp_heartbeat_ms(uint32_t cx, const char *server_hb, size_t len);

/* A keepalive that beats every interval_ms at the latest (the preset
 * heart-beats: a beat drawn late would break the server's timeout):
 * interval − jitter ± jitter with jitter a tenth of it. */
void wsf_preset_keepalive_within(wsf_keepalive *ka, uint32_t interval_ms);

#endif
