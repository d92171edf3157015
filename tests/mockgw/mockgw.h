/* The mock gateway: a WebSocket server on wsfleet's own core (transport, TLS,
 * handshake, ws, timers) that models a gateway's policies: idle timeout and
 * overload, session caps, maximum age, rate limits, restarts, black holes,
 * random resets, slow upgrades. See README.md: every policy is a hypothesis,
 * not a vendor's behaviour.
 *
 * One libuv loop. Each session embeds its transport, its ws state and two
 * heap timers; the gateway keeps one list of sessions, walked only when the
 * overload mode engages, at a restart or black hole, and at exit. */
#ifndef MGW_MOCKGW_H
#define MGW_MOCKGW_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "handshake.h"
#include "timer.h"
#include "tls.h"
#include "transport.h"
#include "ws.h"

typedef enum mgw_activity { MGW_ACTIVITY_ANY, MGW_ACTIVITY_DATA } mgw_activity;
typedef enum mgw_drop_style {
  MGW_DROP_RST,
  MGW_DROP_FIN,
  MGW_DROP_SILENT,
  MGW_DROP_CLOSE_FRAME
} mgw_drop_style;
typedef enum mgw_cap_mode { MGW_CAP_503, MGW_CAP_429, MGW_CAP_EVENT, MGW_CAP_CLOSE } mgw_cap_mode;

/* Why the gateway ends a session: the name in drop lines and in the
 * counters' "drops" object, and the reason of a close frame when --drop (or
 * --max-age-drop) is close-frame. Rate limit and restart closes carry their
 * own CODE[:REASON] options; black holes and random resets send no frame. */
#define MGW_DROP_REASONS(X)                                                                                  \
  X(IDLE, idle, "idle timeout")                                                                              \
  X(IDLE_OVERLOAD, idle_overload, "idle timeout")                                                            \
  X(HEARTBEAT, heartbeat, "idle timeout")                                                                    \
  X(MAX_AGE, max_age, "session too old")                                                                     \
  X(RATE_LIMIT, rate_limit, "")                                                                              \
  X(RESTART, restart, "")                                                                                    \
  X(BLACK_HOLE, black_hole, "")                                                                              \
  X(RANDOM_RESET, random_reset, "")
typedef enum mgw_drop_reason {
#define X(id, name, close_reason) MGW_REASON_##id,
  MGW_DROP_REASONS(X)
#undef X
      MGW_REASON_COUNT
} mgw_drop_reason;
const char *mgw_drop_reason_name(mgw_drop_reason r);

/* A close frame the gateway sends: "CODE[:REASON]" on the command line. */
typedef struct mgw_close_spec {
  uint16_t code; /* 0 = not configured */
  const char *reason;
} mgw_close_spec;

/* Durations are in microseconds and already multiplied by time_scale;
 * 0 means "off" unless said otherwise. */
typedef struct mgw_config {
  const char *host;
  int port;
  double time_scale;
  uint64_t idle_timeout_us;
  mgw_activity activity;
  uint32_t overload_above; /* 0 = no overload mode */
  uint64_t overload_idle_timeout_us;
  uint64_t require_heartbeat_us;
  mgw_drop_style drop;
  uint16_t close_code; /* for MGW_DROP_CLOSE_FRAME */
  uint32_t max_sessions;
  mgw_cap_mode cap_mode;
  uint64_t retry_after_us;  /* Retry-After on a 503/429 refusal; 0 = none */
  mgw_close_spec cap_close; /* --max-sessions-mode close */
  uint64_t handshake_delay_us;
  uint64_t handshake_delay_per_open_us;     /* added per session open when the request completes */
  uint64_t handshake_delay_per_inflight_us; /* added per upgrade already waiting for its 101 */
  uint64_t max_age_us;                      /* end every session this old */
  mgw_drop_style max_age_drop;
  mgw_close_spec rate_limit_close; /* code 0: answer 429 in-band and keep the session */
  uint64_t restart_at_us;          /* since start; 0 = never */
  mgw_close_spec restart_close;
  uint64_t black_hole_after_us; /* since start; 0 = never */
  uint32_t black_hole_above;    /* sessions that arrive with this many open go silent; 0 = none */
  double reset_share;           /* share of sessions reset at a random age ... */
  uint64_t reset_within_us;     /* ... uniform in (0, this] */
  uint64_t seed;
  uint64_t server_ping_us;
  const char *tls_cert, *tls_key;
  bool tls_tickets; /* --tls-tickets: issue session tickets, resume them (tls.h, opts.resume) */
  bool echo;
  bool deflate;        /* accept permessage-deflate offers (RFC 7692) */
  uint32_t rate_limit; /* messages per rate window; 0 = unlimited */
  uint64_t rate_window_us;
  uint64_t agent_delay_us;
  uint64_t max_message_bytes;
  const char *stats_file;
  bool quiet; /* no per-drop log lines */
  /* SO_REUSEPORT on the listener: a gateway of several processes on one address:port, the kernel
   * spreading connections over them, so it holds more sessions than one process's fd limit */
  bool reuse_port;
} mgw_config;

typedef struct mgw_counters {
  uint64_t accepted, handshakes, rejected_bad_request, rejected_cap, cap_events, tls_failures;
  uint64_t client_close_frames, client_eofs, client_resets, protocol_errors;
  uint64_t drops[MGW_REASON_COUNT];
  uint64_t cap_closes, black_hole_handshakes;
  uint64_t overload_engaged, overload_disengaged;
  uint64_t msgs_in, msgs_out, bytes_in, bytes_out, pings_in, pongs_in, pings_out;
  uint64_t rate_limited, bad_requests, agent_replies;
  uint32_t max_open;
} mgw_counters;

typedef enum mgw_state {
  MGW_S_HANDSHAKE, /* reading the upgrade request */
  MGW_S_DELAYED,   /* request complete, the 101 waits for --handshake-delay */
  MGW_S_OPEN,      /* upgraded and counted in open_count */
  MGW_S_CLOSING,   /* rejected, or a close handshake in progress: not counted */
  MGW_S_DROPPED,   /* dropped by a policy: input is ignored (see drop styles) */
} mgw_state;

typedef struct mgw_gateway mgw_gateway;
typedef struct mgw_reply mgw_reply;

typedef struct mgw_session {
  wsf_transport t;
  wsf_ws ws;
  mgw_gateway *gw;
  struct mgw_session *prev, *next;
  wsf_hs_request *hs; /* only while reading the request */
  uint8_t *early;     /* bytes after the request, kept across a handshake delay */
  size_t early_len;
  mgw_reply *replies; /* pending agent replies */
  wsf_timer policy;   /* idle / heartbeat deadline (lazy, see policy.c) */
  wsf_timer aux;      /* request timeout, handshake delay, server ping, or linger */
  uint64_t id;
  uint64_t accepted_us, opened_us;
  uint64_t last_frame_us;     /* any frame from the client */
  uint64_t last_activity_us;  /* a frame that counts under --activity */
  uint64_t last_heartbeat_us; /* a ping or an echo action */
  uint64_t reset_at_us;       /* --reset-share: when this session gets its RST; 0 = never */
  uint64_t rate_window_us;
  uint32_t rate_count;
  uint32_t n_replies;
  uint64_t ping_seq;
  mgw_state state;
  uint8_t ws_ready : 1;   /* wsf_ws_init done */
  uint8_t shut : 1;       /* wsf_transport_shutdown done; aux is the linger bound */
  uint8_t closing : 1;    /* wsf_transport_close called */
  uint8_t silent : 1;     /* dropped silently: no answer to anything */
  uint8_t close_sent : 1; /* ended with our close frame: the client's answer is still read */
  uint64_t msgs_in;
} mgw_session;

struct mgw_gateway {
  uv_loop_t *loop;
  mgw_config cfg;
  uv_tcp_t listener;
  wsf_tls_config *tls;
  wsf_timers timers;
  mgw_session *sessions; /* every live session, any state */
  uint32_t n_sessions;
  uint32_t open_count;
  uint32_t delayed_count; /* upgrades waiting for their delayed 101 */
  bool overloaded;
  bool black_hole;                           /* --black-hole-after has passed: nothing is answered any more */
  wsf_timer restart_timer, black_hole_timer; /* --restart-at, --black-hole-after */
  uint64_t rng;                              /* xorshift64* state, from --seed */
  bool stopping;
  uint64_t next_id;
  uint64_t started_us;
  mgw_counters c;
};

/* gateway.c */
int mgw_gateway_start(mgw_gateway *gw, uv_loop_t *loop, int *bound_port, char *err, size_t errlen);
void mgw_gateway_stop(mgw_gateway *gw);
void mgw_gateway_session_opened(mgw_gateway *gw, mgw_session *s);
void mgw_gateway_session_left(mgw_gateway *gw, mgw_session *s);
/* The counters as one JSON object (NUL-terminated, in buf). */
void mgw_gateway_stats_json(const mgw_gateway *gw, char *buf, size_t buflen);

/* session.c */
void mgw_session_accept(mgw_gateway *gw);
void mgw_session_drop(mgw_session *s, mgw_drop_reason reason);
/* A close frame now (code and reason as given), then FIN after the client's answer. */
void mgw_session_close(mgw_session *s, mgw_drop_reason reason, const mgw_close_spec *close);
void mgw_session_black_hole(mgw_session *s);
void mgw_session_abort(mgw_session *s);
int mgw_session_send_text(mgw_session *s, const char *text, size_t len);

/* policy.c: idle timeout, overload, required heartbeat, maximum age, random resets */
void mgw_policy_session_open(mgw_session *s);
void mgw_policy_note_frame(mgw_session *s, int opcode);
void mgw_policy_note_heartbeat(mgw_session *s);
void mgw_policy_engage(mgw_gateway *gw);
uint64_t mgw_policy_idle_timeout(const mgw_gateway *gw);

/* chat.c: the chat protocol, echo mode, rate limit */
void mgw_chat_on_message(mgw_session *s, int opcode, const uint8_t *data, size_t len);
void mgw_chat_session_free(mgw_session *s);

#endif
