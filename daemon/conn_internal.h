/* What the files of a connection share and nothing else sees: the handshake
 * state, the observer call, and the functions one file of the connection
 * calls in another (conn.c lifecycle, conn_dial.c open and admission,
 * conn_keepalive.c, conn_wait.c, conn_record.c, conn_reconnect.c, conn_pace.c).
 * Not for rpc, observe or metrics: they use conn.h. */
#ifndef WSF_CONN_INTERNAL_H
#define WSF_CONN_INTERNAL_H

#include <netdb.h>

#include "conn.h"
#include "dns_cache.h"
#include "handshake.h"
#include "proxy.h"
#include "tls.h"
#include "url.h"
#include "util.h"

/* Handshake state: allocated by open, freed once the connection is open or
 * has failed, so an open connection carries none of it. */
typedef struct wsf_handshake {
  wsf_conn *conn;
  struct wsf_handshake *next_spare; /* in d->hs_spare once freed (conn_dial.c) */
  /* the next in the daemon's admission queue (admit_head): only a connection that
   * holds its handshake waits there (conn_release_handshake unlinks it), so the
   * link costs an open connection nothing */
  wsf_conn *admit_next;
  char host[256]; /* from the URL: the rest of it is in the request already */
  uint16_t port;
  uv_getaddrinfo_t gai;
  bool gai_pending;
  bool orphaned; /* the connection let go while getaddrinfo was running */
  /* the addresses to try: the literal, or the name's answer (dns_cache.h) from where the
   * rotation says, the rest in order after a failed connect */
  wsf_dns_addr *addrs;
  uint8_t n_addrs, start, tried;
  int source_fixed;        /* open's `source` address: index + 1 into d->sources; 0 = a rotation */
  uint8_t source_rotation; /* open's `source` pool name (0: "default", --source-addresses) */
  char key[WSF_KEY_LEN + 1];
  char *request;
  size_t request_len;
  wsf_hs_response resp;
  bool resp_init;
  char **subprotocols;
  size_t n_subprotocols;
  wsf_tls_config *tls_config;
  char *server_name;
  wsf_deflate_options deflate; /* what was offered, to check the answer against */
  uint64_t t_admitted, t_dns, t_connected, t_tls, t_sent;
  /* Through an HTTP proxy (conn_proxy.c): host/port above are the proxy's. */
  char gateway_host[256];
  uint16_t gateway_port;
  char *proxy_request; /* the CONNECT, until written */
  size_t proxy_request_len;
  wsf_proxy_response *proxy_resp; /* until the tunnel is open */
  uint64_t t_proxied;             /* the tunnel opened (= t_connected without a proxy) */
  const char *phase;
  /* a failure found while starting a step, delivered from the loop (fail_open_soon) */
  wsf_err soon_err;
  wsf_cause soon_cause;
  char *soon_message;
} wsf_handshake;

/* How long to wait for the server's TCP close after the close handshake
 * before closing ourselves: the server closing first spares us TIME_WAIT. */
#define LINGER_US (1000 * 1000)

/* Calls hook on every registered observer, in registration order. */
#define TELL_OBSERVERS(d, hook, c)                                                                           \
  do {                                                                                                       \
    for (unsigned i_ = 0; i_ < (d)->n_conn_observers; i_++)                                                  \
      if ((d)->conn_observers[i_].table->hook)                                                               \
        (d)->conn_observers[i_].table->hook((d)->conn_observers[i_].ctx, (c));                               \
  } while (0)

static inline wsf_conn *conn_of_transport(wsf_transport *t) {
  return wsf_container_of(t, wsf_conn, transport);
}
static inline wsf_conn *conn_of_ws(wsf_ws *ws) {
  return wsf_container_of(ws, wsf_conn, ws);
}

static inline uint64_t since(uint64_t now, uint64_t then) {
  return then == WSF_NEVER ? WSF_NEVER : now - then;
}

/* ---- output ------------------------------------------------------------------
 * One cap per connection on the bytes the peer has not taken yet (every
 * frame: data, pongs, heartbeats, close), --max-output-bytes. Above it `send`
 * is refused (limit_exceeded) and reading stops, so a peer that sends and
 * never reads cannot make us answer it further; if the output stays over the
 * cap for --output-stall-ms the connection ends with cause output_stalled.
 * Heartbeats are skipped once OUTPUT_HIGH_WATER bytes wait (a beat queued
 * behind unread bytes keeps nothing alive; beats toward a server that did
 * not read grew the daemon by 320 MB in 5 s), and pongs are coalesced in
 * ws.c. */
#define OUTPUT_HIGH_WATER (64 * 1024)

/* conn.c (lifecycle: states, teardown, output, WebSocket and transport events) */
void conn_set_state(wsf_conn *c, wsf_conn_state s);
void conn_stop_timers(wsf_conn *c);
void conn_close_transport(wsf_conn *c, bool abort);
void conn_deadline_in(wsf_conn *c, wsf_timer_cb cb, uint64_t delay_us);
void conn_forget(wsf_conn *c);
size_t conn_output_pending(const wsf_conn *c);
void conn_check_output(wsf_conn *c);
void conn_note_sent(wsf_conn *c, uint64_t now);
void conn_account_deflate(wsf_conn *c);
extern const wsf_ws_callbacks conn_ws_callbacks;
void conn_on_closed(wsf_transport *t);
extern const wsf_transport_callbacks conn_transport_callbacks;

/* conn.c: one protocol message on to the heartbeat reply check, the waiting recvs, the inbox. */
void conn_deliver_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint64_t now);

/* conn_session.c (the protocol layer: framing, session steps, auto-reply) */
void conn_proto_attach(wsf_conn *c, wsf_proto *p, uint32_t connect_timeout_ms); /* takes its own reference */
void conn_proto_free(wsf_conn *c);
/* After the 101: true when session steps run (the connection stays connecting and
 * conn_open_complete follows their end), false when there are none. */
bool conn_session_start(wsf_conn *c);
void conn_proto_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len);
/* wsf_ws_send with the framing's terminator appended when missing. */
int conn_write_record(wsf_conn *c, int opcode, const uint8_t *data, size_t len);
/* "session" while steps run (connecting, after the 101), else NULL. */
const char *conn_session_phase(const wsf_conn *c);
void conn_session_ended(wsf_conn *c); /* conn_finish: whatever ended it, the steps stop */

/* conn_keepalive.c (keepalive: heartbeats, pong and reply timeouts) */
void conn_on_pong_timeout(wsf_timer *t);
void conn_on_heartbeat(wsf_timer *t);
void conn_start_keepalive(wsf_conn *c);
bool conn_is_heartbeat_reply(const wsf_conn *c, int opcode, const uint8_t *data, size_t len);

/* conn_wait.c (waits: the requests a connection completes later) */
void conn_wait_link(wsf_conn *c, wsf_wait *w);
void conn_wait_complete(wsf_wait *w, wsf_err err, wsf_msg *msg);
void conn_on_wait_timeout(wsf_timer *t);
void conn_wait_start(wsf_conn *c, wsf_wait *w, uint32_t timeout_ms);
void conn_complete_waits(wsf_conn *c, unsigned kinds_mask, wsf_err err);
bool conn_wait_accepts(const wsf_wait *w, const wsf_msg *m);

/* conn_record.c (close records and the bound on ended connections) */
void conn_closed_unlink(wsf_conn *c);
void conn_inbox_changed(wsf_conn *c, size_t before);
void conn_finish(wsf_conn *c, uint16_t code, int initiator, bool clean, wsf_cause cause, const char *reason,
                 size_t reason_len, const char *detail);
void conn_free_record(wsf_close_record *r);
void conn_settle_closed(wsf_conn *c);

/* ---- data messages out ---------------------------------------------------------
 * Every data message the daemon writes (send, request, text/binary heartbeats,
 * auto-replies) goes through conn_send_message, so the rate_limit (conn_pace.c)
 * paces them all in one order; conn_write_message is the write itself and its
 * counting. Pings, pongs and close frames are not paced. */
enum wsf_data_kind { WSF_DATA_SEND, WSF_DATA_HEARTBEAT, WSF_DATA_AUTO_REPLY };
/* paced_us may be NULL. WSF_OK, WSF_E_CONN_CLOSED (not open), WSF_E_LIMIT (over --max-output-bytes). */
wsf_err conn_send_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint8_t kind,
                          uint64_t *paced_us);
int conn_write_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint8_t kind);

/* conn_keepalive.c: a text or binary heartbeat reached the wire (its reply clock starts) */
void conn_heartbeat_written(wsf_conn *c, uint64_t now);

/* conn_reconnect.c (the reconnect policy: owned dial inputs, backoff, reopen) */
void conn_redial_init(wsf_conn *c, const wsf_open_params *p);
bool conn_redial_wanted(wsf_conn *c, wsf_cause cause);
char *conn_redial_gave_up_detail(const wsf_conn *c, const char *detail);
void conn_redial_schedule(wsf_conn *c);
bool conn_redial_backoff(const wsf_conn *c);
bool conn_redial_cancel(wsf_conn *c);
bool conn_redial_opened(wsf_conn *c);
void conn_redial_transport_closed(wsf_conn *c);
void conn_redial_stop(wsf_conn *c);
void conn_redial_free(wsf_conn *c);

/* conn_pace.c (rate_limit: a sliding window over the data messages written) */
void conn_pace_init(wsf_conn *c, const wsf_rate_limit *limit);
size_t conn_pace_held_bytes(const wsf_conn *c);
bool conn_pace_holds_heartbeat(const wsf_conn *c);
wsf_err conn_pace_send(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint8_t kind,
                       uint64_t *paced_us);
void conn_pace_drop_held(wsf_conn *c);
void conn_pace_free(wsf_conn *c);

/* conn_dial.c (open: admission, DNS, connect, TLS, upgrade, failure) */
void conn_release_handshake(wsf_conn *c);
void conn_free_failure(wsf_conn *c);
void conn_fail_open(wsf_conn *c, wsf_err err, wsf_cause cause, const char *message, int http_status,
                    const char *body, size_t body_len);
void conn_on_connect(wsf_transport *t, int status);
void conn_on_tls_done(wsf_transport *t, bool ok, const char *detail);
void conn_try_connect(wsf_conn *c);
void conn_handshake_data(wsf_conn *c, const uint8_t *data, size_t len);
void conn_give_back_memory(wsf_daemon *d);
void conn_secure_and_upgrade(wsf_conn *c);
void conn_open_complete(wsf_conn *c); /* the connection is open: counters, keepalive, observers, open waits */
wsf_handshake *conn_build_handshake(wsf_daemon *d, const wsf_open_params *p, bool *tls, wsf_err *err,
                                    char *why, size_t why_len);
void conn_start_dial(wsf_conn *c, uint32_t connect_timeout_ms);

/* conn_proxy.c (the CONNECT step through an HTTP proxy) */
int conn_plan_proxy(wsf_handshake *hs, const char *proxy, const char **error);
void conn_start_proxy(wsf_conn *c);
void conn_proxy_data(wsf_conn *c, const uint8_t *data, size_t len);
void conn_on_admit_timer(wsf_timer *t);

#endif
