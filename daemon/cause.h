/* Why a connection ended: the close causes of PROTOCOL.md §7, declared once.
 * Each entry gives the enum name, the wire name (close records, stats,
 * metrics, events) and the words a close record's summary uses; the count
 * follows from the list. Append new causes at the end (metrics and stats
 * walk the list in order). The name functions are in vocab.c, with the
 * daemon's other words (vocab.h). */
#ifndef WSF_CAUSE_H
#define WSF_CAUSE_H

#define WSF_CAUSES(X)                                                                                        \
  X(NONE, "none", "ended")                                                                                   \
  X(SERVER_CLOSE, "server_close", "closed by the server")                                                    \
  X(LOCAL_CLOSE, "local_close", "closed by the client")                                                      \
  X(EOF, "eof", "dropped by peer (TCP FIN, no close frame)")                                                 \
  X(RESET, "reset", "reset by peer")                                                                         \
  X(TLS_ALERT, "tls_alert", "TLS alert from peer")                                                           \
  X(TLS_CLOSE_NOTIFY, "tls_close_notify", "TLS close_notify without a close frame")                          \
  X(TLS_ERROR, "tls_error", "TLS error")                                                                     \
  X(PONG_TIMEOUT, "pong_timeout", "no pong in time")                                                         \
  X(PROTOCOL_ERROR, "protocol_error", "protocol error by the server")                                        \
  X(MESSAGE_TOO_BIG, "message_too_big", "message too big")                                                   \
  X(INVALID_UTF8, "invalid_utf8", "invalid UTF-8 from the server")                                           \
  X(TIMEOUT, "timeout", "close handshake timed out")                                                         \
  X(SHUTDOWN, "shutdown", "daemon shutting down")                                                            \
  X(DAEMON_RESET, "daemon_reset", "reset by the reset command")                                              \
  X(IO_ERROR, "io_error", "I/O error")                                                                       \
  X(HANDSHAKE_FAILED, "handshake_failed", "handshake failed")                                                \
  X(DNS_ERROR, "dns_error", "DNS lookup failed")                                                             \
  X(CONNECT_ERROR, "connect_error", "TCP connect failed")                                                    \
  X(OUTPUT_STALLED, "output_stalled", "the server stopped reading (output over its cap)")                    \
  X(REPLY_TIMEOUT, "reply_timeout", "no heartbeat reply in time")                                            \
  X(SESSION_FAILED, "session_failed", "session setup failed")

typedef enum wsf_cause {
#define WSF_CAUSE_ENUM(id, name, words) WSF_CAUSE_##id,
  WSF_CAUSES(WSF_CAUSE_ENUM)
#undef WSF_CAUSE_ENUM
      WSF_CAUSE_COUNT
} wsf_cause;

const char *wsf_cause_name(wsf_cause c);  /* "server_close", ... */
const char *wsf_cause_words(wsf_cause c); /* "closed by the server", ... */

#endif
