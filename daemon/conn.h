/* Named WebSocket client connections: the small API the RPC layer calls.
 *
 * open → connecting → open → closing → closed. A closed connection keeps its
 * close record and inbox until reset or until its name is opened again.
 * Requests that wait (open, recv, ping, close) are wsf_wait entries that the
 * caller embeds in its own request object; the connection completes each
 * exactly once through wait->done, then never touches it again. */
#ifndef WSF_CONN_H
#define WSF_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "daemon.h"
#include "inbox.h"
#include "match.h"
#include "proto.h"
#include "timer.h"
#include "transport.h"
#include "ws.h"

/* States, initiators, close causes, error codes and keepalive modes, with
 * their names: vocab.h (through daemon.h). */

#define WSF_NEVER UINT64_MAX

typedef struct wsf_close_record {
  uint16_t code;
  uint8_t initiator;
  bool clean;
  wsf_cause cause;
  char *reason;
  char *detail;
  char *summary;
  uint64_t closed_at_ms, age_us;
  uint64_t since_sent_us, since_recv_us, since_ping_us, since_pong_us; /* WSF_NEVER = nil */
  uint32_t open_conns;
  uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
  const char *source; /* the source address bound (the daemon's pool holds the text), or NULL */
  char *address;      /* the gateway address:port connected to, or NULL before a connect */
  /* The links of the daemon's list of ended connections (conn_record.c), here rather than in
   * wsf_conn, where every open connection paid 16 bytes for them. A connection is in the list
   * exactly while its state is closed (linked by conn_settle_closed, unlinked by conn_forget);
   * a closed connection's record is set and never replaced (conn_finish records once; only
   * conn_reconnect.c's next attempt replaces it, and a closed connection makes none). */
  struct wsf_conn *closed_prev, *closed_next;
} wsf_close_record;

/* 32-bit microseconds: 32 bytes less per connection (issue 19's memory target); a phase longer
 * than 71.6 minutes reads as WSF_TIMING_MAX_US (PROTOCOL.md §5, open). */
typedef struct wsf_timings {
  uint32_t queued_us, dns_us, connect_us, proxy_us, tls_us, upgrade_us, session_us, total_us;
} wsf_timings;
#define WSF_TIMING_MAX_US UINT32_MAX
static inline uint32_t wsf_timing_us(uint64_t us) {
  return us > WSF_TIMING_MAX_US ? WSF_TIMING_MAX_US : (uint32_t)us;
}

/* open.reuse: what a live connection of the requested name is good for. */
enum wsf_reuse {
  WSF_REUSE_NEVER,    /* false: conn_exists */
  WSF_REUSE_SAME_URL, /* true (the default): returned when its URL is the one asked for, else url_mismatch */
  WSF_REUSE_ANY,      /* "any": returned whatever its URL */
};

/* open.reconnect (PROTOCOL.md §5, reconnect): max 0 = off. */
typedef struct wsf_reconnect_policy {
  uint32_t max; /* dial attempts after endings, over the name's life */
  uint32_t backoff_ms, backoff_max_ms, jitter_ms;
} wsf_reconnect_policy;

/* open.rate_limit (PROTOCOL.md §5, rate_limit): messages 0 = off. */
typedef struct wsf_rate_limit {
  uint32_t messages, per_ms;
  uint32_t margin_ms; /* WSF_RATE_MARGIN_DEFAULT: a tenth of per_ms, at most 100 ms */
} wsf_rate_limit;
#define WSF_RATE_MARGIN_DEFAULT UINT32_MAX

/* What an open asks for. Strings point into the request and are copied. */
typedef struct wsf_open_params {
  const char *name;
  size_t name_len;
  const char *url;
  size_t url_len;
  const char **header_names, **header_values;
  size_t *header_name_lens, *header_value_lens;
  size_t n_headers;
  const char **subprotocols;
  size_t *subprotocol_lens;
  size_t n_subprotocols;
  uint8_t reuse; /* enum wsf_reuse */
  uint32_t connect_timeout_ms;
  uint64_t max_message_bytes;
  uint32_t inbox_max_messages;
  size_t inbox_max_bytes;
  const wsf_keepalive *keepalive; /* template; interned by wsf_conn_open */
  bool tls_verify;
  const char *tls_ca_file, *tls_server_name, *tls_cert_file, *tls_key_file, *tls_ciphers;
  const char *proxy;           /* NUL-terminated; NULL = the daemon's choice (proxy.h), "none" = direct */
  wsf_deflate_options deflate; /* permessage-deflate offer; enabled false = none */
  const char *source;          /* an address to bind before connect, or NULL: the pool's rotation */
  size_t source_len;
  wsf_proto *proto; /* framing, session, auto_reply (proto.h), or NULL; the open takes its own reference */
  wsf_reconnect_policy reconnect; /* conn_reconnect.c */
  wsf_rate_limit rate_limit;      /* conn_pace.c */
} wsf_open_params;

enum wsf_wait_kind { WSF_WAIT_OPEN, WSF_WAIT_RECV, WSF_WAIT_PING, WSF_WAIT_CLOSE };

typedef struct wsf_wait wsf_wait;
/* err: WSF_OK or an error. msg: the message for a successful recv (the
 * callee owns it: free()). The connection is valid during the call. */
typedef void (*wsf_wait_cb)(wsf_wait *w, wsf_err err, wsf_msg *msg);

struct wsf_wait {
  wsf_wait *next, *prev;
  wsf_conn *conn;
  wsf_wait_cb done;
  wsf_timer timer;
  uint8_t kind;
  bool linked; /* in its connection's list: it will complete later */
  bool discard_unmatched;
  bool reused;        /* open: completed by an existing connection */
  uint32_t discarded; /* recv: messages dropped for discard_unmatched */
  uint64_t min_seq;   /* recv: only messages with seq >= this (request) */
  uint64_t started_us;
  uint64_t rtt_us; /* ping: result */
  wsf_match match; /* recv criteria (owned) */
  uint8_t ping_payload[125];
  uint8_t ping_len;
  const char *error_phase;   /* open timeout: which phase */
  const char *error_message; /* open refused before a connection existed (conn is NULL) */
  /* open failed with url_mismatch (conn is the live one): the URL asked for, valid
   * only during that completion, which comes before wsf_conn_open returns */
  const char *requested_url;
  size_t requested_url_len;
};

/* Failure details of the last failed open of a connection (for the error response). */
typedef struct wsf_open_failure {
  wsf_err err;
  char *message;
  int http_status;
  char *body;
  size_t body_len;
  char *retry_after; /* a refused upgrade's Retry-After header (a cap or throttle says when to come back), or
                        NULL */
} wsf_open_failure;

/* Layout (x86-64, gdb `ptype /o struct wsf_conn`): 888 bytes before the name and URL,
 * which follow in the same allocation. Every idle ws:// connection pays each byte
 * (RSS per connection: tests/bench/RESULTS.md), so fields only some connections
 * use sit behind one pointer allocated on use (TLS, deflate, proto, reconnect,
 * pacing, the output stall clock, the record and failure of an ended one; the
 * admission link is in the handshake, the closed-list links in the record),
 * and the members are ordered so the compiler leaves no holes. With a 7-byte name
 * and a 22-byte URL the allocation is a 928-byte heap chunk (976 at 928 bytes). */
struct wsf_conn {
  char *name; /* first member: the registry key; in this allocation (strings[]) */
  wsf_daemon *d;
  char *url; /* in this allocation (strings[]), after the name */
  /* state, flags and the header count share one 16-bit word (4 states, at most
   * WSF_MAX_HEADERS = 64 response headers: static asserts in conn_dial.c) */
  uint16_t state : 2;               /* wsf_conn_state */
  uint16_t free_when_closed : 1;    /* forgotten (reset/reopen) while the transport was still closing */
  uint16_t transport_live : 1;      /* between init and on_closed */
  uint16_t counted_open : 1;        /* reached open: counted in opened_total */
  uint16_t ka_ping_outstanding : 1; /* a ping's pong, or a heartbeat reply (reply_contains), is awaited */
  uint16_t admitted : 1;
  uint16_t tls : 1;
  uint16_t reads_paused : 1;
  uint16_t n_resp_headers : 7; /* in resp_headers */
  uint16_t source; /* index + 1 into d->sources of the source address bound; 0 = the kernel chose */
  union {          /* the gateway address connected to (last tried while connecting); family 0 = none */
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } peer;
  uint32_t reused_count;
  uint32_t ka_skipped; /* heartbeats not sent: output over the high-water mark */
  wsf_transport transport;
  wsf_ws ws;
  struct wsf_handshake *hs; /* only while connecting */
  wsf_open_failure *failure;
  /* handshake results, kept for reused opens and status */
  wsf_timings timings;
  char *subprotocol;
  /* the response headers, "name\0value\0" n_resp_headers times, shared with every connection
   * that got the same ones (d->resp_headers, intern.h): sec-websocket-accept's value is left empty
   * there and recomputed from key (wsf_conn_response_accept) */
  const struct wsf_interned *resp_headers;
  uint8_t key[16];      /* the Sec-WebSocket-Key's 16 bytes, once open */
  struct wsf_conn_tls { /* only for wss://, once TLS is up */
    const char *version, *cipher;
    bool verified;
  } * tls_info;
  struct wsf_conn_deflate { /* only when permessage-deflate was agreed */
    wsf_deflate_params agreed;
    wsf_deflate_counters seen; /* the session's counters as last added to stats (kept after close) */
  } * deflate;
  /* activity */
  uint64_t started_us, opened_us, opened_at_ms;
  uint64_t last_sent_us, last_recv_us, last_ping_us, last_pong_us; /* WSF_NEVER = never */
  uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
  uint64_t ping_rtt_us;
  uint64_t
      msg_seq; /* (max_message_bytes is ws.max_message_bytes: set by the open, kept by wsf_ws_init/free) */
  wsf_inbox inbox;
  wsf_wait *waits_head; /* its prev is the tail (conn_wait.c) */
  /* keepalive */
  wsf_keepalive *ka;
  /* One timer for the heartbeat clock and the deadline (connect timeout, session
   * step timeout, close handshake timeout, linger): 24 bytes less per connection.
   * They are never armed together. The heartbeat runs only while open: started by
   * conn_open_complete after it stops the connect deadline, rescheduled by
   * conn_on_heartbeat only while the state is still open. The deadline is armed
   * only while connecting or once the connection is ending (closing, or closed
   * with the transport lingering), always through conn_deadline_in, which stops
   * the timer and sets its callback first, so a beat still armed on the way out
   * is replaced, not doubled; wsf_conn_close stops the beat before arming its
   * close timeout. Each use sets cb (and early_us) when it starts the timer. */
  union {
    wsf_timer ka_timer;
    wsf_timer deadline;
  };
  wsf_timer pong_timer;
  struct wsf_output_stall *output_stall; /* only while reading is paused for output over the cap (conn.c) */
  uint8_t ka_payload[8];
  uint64_t ka_ping_sent_us;
  uint64_t ka_sent, ka_replies, ka_late_max_us;
  struct wsf_conn_proto *proto; /* framing, session steps, auto-reply (conn_session.c), or NULL */
  /* close */
  wsf_close_record *record;
  struct wsf_redial *redial; /* only with reconnect.max > 0: what a reopen needs (conn_reconnect.c) */
  struct wsf_pace *pace;     /* only with a rate_limit: the held messages (conn_pace.c) */
  /* name and url, NUL-terminated, one after the other: two allocations (32 bytes
   * each for a short name and a loopback URL) fewer per connection */
  char strings[];
};

/* What a connection's lifecycle tells its observers (wslay_event_callbacks
 * shape): the event log and the control clients' notifications register a
 * table each, so conn calls up through it and never names them. Any entry
 * may be NULL. The connection is valid during the call and must not be
 * changed. */
typedef struct wsf_conn_observer {
  void (*opened)(void *ctx, const wsf_conn *c);           /* reached open (c->timings filled) */
  void (*closed)(void *ctx, const wsf_conn *c);           /* an open connection ended (c->record) */
  void (*handshake_failed)(void *ctx, const wsf_conn *c); /* an open failed (c->failure, c->record) */
  void (*inbox_dropped)(void *ctx, const wsf_conn *c);    /* the inbox overflowed (c->inbox.dropped) */
  /* reopened under its name by the reconnect policy (c->timings filled; the close
   * record of the ending it replaced: wsf_conn_reconnect_info's last_record) */
  void (*reconnected)(void *ctx, const wsf_conn *c);
} wsf_conn_observer;

void wsf_conns_init(wsf_daemon *d);
/* Registers an observer; table and ctx must outlive the daemon's connections.
 * At most WSF_MAX_CONN_OBSERVERS: one more is a bug, and aborts. */
void wsf_conn_observe(wsf_daemon *d, const wsf_conn_observer *table, void *ctx);

/* Starts or joins an open. Completes w (possibly before returning). */
void wsf_conn_open(wsf_daemon *d, const wsf_open_params *p, wsf_wait *w);
wsf_conn *wsf_conn_find(wsf_daemon *d, const char *name, size_t len);
/* For url_mismatch: the message naming both URLs (the caller frees it). */
char *wsf_conn_url_mismatch_message(const wsf_conn *live, const char *requested_url, size_t len);
/* A name not found: was it one whose close record was forgotten over
 * --max-records (among the last 65,536 forgotten)? */
bool wsf_conn_forgotten(const wsf_daemon *d, const char *name, size_t len);
/* Queue a data message. Returns WSF_OK, WSF_E_CONN_CLOSED or WSF_E_LIMIT. */
wsf_err wsf_conn_send(wsf_conn *c, int opcode, const uint8_t *data, size_t len);
/* The same; *paced_us (may be NULL) gets how long the rate_limit holds the
 * message back before it is written (0: written now). */
wsf_err wsf_conn_send_paced(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint64_t *paced_us);
/* Starts a recv wait with w->match etc. filled in by the caller. */
void wsf_conn_recv(wsf_conn *c, wsf_wait *w, uint32_t timeout_ms);
void wsf_conn_ping(wsf_conn *c, wsf_wait *w, const uint8_t *payload, size_t len, uint32_t timeout_ms);
void wsf_conn_close(wsf_conn *c, wsf_wait *w, uint16_t code, const char *reason, size_t reason_len,
                    uint32_t timeout_ms);
/* Withdraws a wait that has not completed (its control client went away):
 * done is never called, and a message it would have taken stays in the inbox. */
void wsf_wait_cancel(wsf_wait *w);
/* Closes every connection (close frame, 1 s linger) and forgets all. Returns
 * how many were live; *forgotten gets how many names were dropped. */
uint32_t wsf_conns_reset(wsf_daemon *d, uint16_t code, const char *reason, uint32_t *forgotten);
/* SIGTERM: close frames with 1001 to all; returns live transports left. */
uint32_t wsf_conns_shutdown(wsf_daemon *d);

/* The gateway address a connection connected to (or last tried), as
 * "127.0.0.1:8080" or "[::1]:8080", written into buf; NULL when none yet. */
const char *wsf_conn_peer_text(const wsf_conn *c, char buf[64]);
/* The Sec-WebSocket-Accept the gateway sent (resp_headers keeps its value empty), into accept. */
const char *wsf_conn_response_accept(const wsf_conn *c, char accept[29]);
/* The source address it bound (the daemon's pool holds the text), or NULL: the kernel chose. */
const char *wsf_conn_source_text(const wsf_conn *c);

/* The protocol layer (conn_session.c), for status and errors. */
typedef struct wsf_rule_counts {
  uint64_t matched, replied, failed; /* failed: over WSF_MAX_REPLY_BYTES, or the send failed */
} wsf_rule_counts;
typedef struct wsf_conn_proto wsf_conn_proto;
/* The connection's compiled layer and its per-rule counters, or NULL without one. */
const wsf_proto *wsf_conn_proto_rules(const wsf_conn *c, const wsf_rule_counts **counts);
/* The session step that failed the open (0-based), or -1. */
int wsf_conn_session_failed_step(const wsf_conn *c);
/* The value captured in slot (wsf_proto.capture_names), or an empty span. */
wsf_span wsf_conn_capture(const wsf_conn *c, unsigned slot);
/* ---- reconnect (conn_reconnect.c) and pacing (conn_pace.c), for status and events ---- */
typedef struct wsf_reconnect_info {
  wsf_reconnect_policy policy;
  uint32_t count;          /* successful reopens */
  uint32_t attempts;       /* dials started after endings */
  bool gave_up;            /* ended with `max` attempts spent: stays closed */
  bool waiting;            /* between an ending and the reopen (backoff or the attempt's handshake) */
  uint32_t attempt_failed; /* the attempt whose handshake just failed (handshake_failed events), 0 = none */
  uint64_t last_at_ms;     /* wall clock of the last successful reopen, 0 = none */
  const wsf_close_record *last_record; /* the ending the last reopen replaced, or NULL */
  const wsf_close_record *ending;      /* while waiting: the ending being reconnected from */
} wsf_reconnect_info;
/* false (and *out untouched) for a connection without a reconnect policy. */
bool wsf_conn_reconnect_info(const wsf_conn *c, wsf_reconnect_info *out);
/* Successful reopens so far (0 without a policy): results carry it as `reconnects`. */
uint32_t wsf_conn_reconnects(const wsf_conn *c);
/* The attempt a reconnect will make after the ending just recorded (1-based), or
 * 0 when none follows: close events carry it as reconnect.attempt. */
uint32_t wsf_conn_reconnect_next_attempt(const wsf_conn *c);

typedef struct wsf_pace_info {
  wsf_rate_limit limit;
  uint64_t delayed;      /* messages held back before being written */
  uint64_t max_delay_us; /* the longest any was held */
  uint32_t held;         /* messages waiting now */
  size_t held_bytes;
  uint64_t dropped; /* held messages dropped because their session ended */
} wsf_pace_info;
bool wsf_conn_pace_info(const wsf_conn *c, wsf_pace_info *out);

wsf_keepalive *wsf_keepalive_intern(wsf_daemon *d, const wsf_keepalive *tmpl);
void wsf_keepalive_release(wsf_daemon *d, wsf_keepalive *ka);

#endif
