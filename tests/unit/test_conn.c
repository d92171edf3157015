/* The connection lifecycle (conn.h) without the RPC stack: a daemon struct,
 * its timers and registry, and a hand-written WebSocket server on loopback
 * TCP that answers the upgrade as each test tells it (101, 403, silence) and
 * then writes frames, a FIN, or nothing. Checks the states, the wait results,
 * the close record's fields, the counters, and that each lifecycle event
 * reaches a registered wsf_conn_observer exactly once. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "conn.h"
#include "handshake.h"
#include "testlib.h"
#include "util.h"

/* ---- the fake server ------------------------------------------------------ */

enum answer { ANSWER_101, ANSWER_403, ANSWER_NOTHING };

static struct fake_server {
  uv_tcp_t listener;
  uint16_t port;
  enum answer answer;
  uv_tcp_t sock;
  bool accepted, answered, closed;
  char head[8192];
  size_t head_len;
  uint8_t rx[4096]; /* bytes after the upgrade request: the client's frames */
  size_t rx_len;
} srv;

static void srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char chunk[4096];
  buf->base = chunk;
  buf->len = sizeof chunk;
}

static void srv_write(const void *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  CHECK(uv_try_write((uv_stream_t *)&srv.sock, &b, 1) == (int)len);
}

static void srv_answer(void) {
  srv.answered = true;
  if (srv.answer == ANSWER_403) {
    static const char refusal[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!";
    srv_write(refusal, sizeof refusal - 1);
    return;
  }
  if (srv.answer == ANSWER_NOTHING)
    return;
  const char *key = strcasestr(srv.head, "Sec-WebSocket-Key:");
  CHECK(key != NULL);
  if (!key)
    return;
  key += strlen("Sec-WebSocket-Key:");
  while (*key == ' ')
    key++;
  char accept[WSF_ACCEPT_LEN + 1];
  wsf_handshake_accept_for(key, strcspn(key, "\r\n"), accept);
  char resp[256];
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
  srv_write(resp, (size_t)n);
}

static void srv_on_close(uv_handle_t *h) {
  (void)h;
  srv.closed = true;
}

static void srv_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  if (n < 0) {
    uv_read_stop(s);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (!srv.answered && srv.head_len + 1 < sizeof srv.head) {
      srv.head[srv.head_len++] = buf->base[i];
      srv.head[srv.head_len] = '\0';
      if (srv.head_len >= 4 && memcmp(srv.head + srv.head_len - 4, "\r\n\r\n", 4) == 0)
        srv_answer();
    } else if (srv.answered && srv.rx_len < sizeof srv.rx) {
      srv.rx[srv.rx_len++] = (uint8_t)buf->base[i];
    }
  }
}

static void srv_on_connection(uv_stream_t *l, int status) {
  CHECK(status == 0 && !srv.accepted);
  uv_tcp_init(l->loop, &srv.sock);
  CHECK(uv_accept(l, (uv_stream_t *)&srv.sock) == 0);
  srv.accepted = true;
  uv_read_start((uv_stream_t *)&srv.sock, srv_alloc, srv_on_read);
}

static void srv_start(uv_loop_t *loop, enum answer answer) {
  memset(&srv, 0, sizeof srv);
  srv.answer = answer;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(loop, &srv.listener);
  CHECK(uv_tcp_bind(&srv.listener, (const struct sockaddr *)&a, 0) == 0);
  CHECK(uv_listen((uv_stream_t *)&srv.listener, 8, srv_on_connection) == 0);
  struct sockaddr_in bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&bound, &len);
  srv.port = ntohs(bound.sin_port);
}

/* An unmasked frame from the server (payload ≤ 125 bytes). */
static void srv_frame(int opcode, const void *payload, size_t len) {
  uint8_t f[127];
  f[0] = (uint8_t)(0x80 | opcode);
  f[1] = (uint8_t)len;
  memcpy(f + 2, payload, len);
  srv_write(f, len + 2);
}

static void srv_close_frame(uint16_t code, const char *reason) {
  uint8_t p[125];
  p[0] = (uint8_t)(code >> 8);
  p[1] = (uint8_t)code;
  size_t rlen = strlen(reason);
  memcpy(p + 2, reason, rlen);
  srv_frame(0x8, p, rlen + 2);
}

/* The TCP connection goes away without a close frame. */
static void srv_drop(void) {
  if (srv.accepted && !uv_is_closing((uv_handle_t *)&srv.sock))
    uv_close((uv_handle_t *)&srv.sock, srv_on_close);
}

/* ---- the daemon side -------------------------------------------------------- */

static wsf_daemon d; /* large (counters by close code): not on the stack */

static struct seen { int opened, closed, handshake_failed, inbox_dropped; } seen;

static void saw_opened(void *ctx, const wsf_conn *c) {
  CHECK(ctx == &seen && c->state == WSF_CONN_OPEN);
  seen.opened++;
}
static void saw_closed(void *ctx, const wsf_conn *c) {
  CHECK(ctx == &seen && c->record != NULL);
  seen.closed++;
}
static void saw_handshake_failed(void *ctx, const wsf_conn *c) {
  CHECK(ctx == &seen && c->record != NULL && c->failure != NULL);
  seen.handshake_failed++;
}
static void saw_inbox_dropped(void *ctx, const wsf_conn *c) {
  (void)c;
  CHECK(ctx == &seen);
  seen.inbox_dropped++;
}
static const wsf_conn_observer counting_observer = {
    .opened = saw_opened,
    .closed = saw_closed,
    .handshake_failed = saw_handshake_failed,
    .inbox_dropped = saw_inbox_dropped,
};

static void daemon_setup(void) {
  memset(&d, 0, sizeof d);
  memset(&seen, 0, sizeof seen);
  wsf_config *cfg = &d.cfg;
  cfg->max_connections = 100;
  cfg->max_message_bytes = 1 << 20;
  cfg->inbox_max_messages = 2;
  cfg->inbox_max_bytes = 1 << 20;
  cfg->max_name_bytes = 256;
  cfg->max_output_bytes = 2 << 20;
  cfg->output_stall_ms = 10000;
  cfg->max_records = 100;
  cfg->max_closed_inbox_bytes = 1 << 20;
  cfg->connect_timeout_ms = 5000;
  d.loop = uv_default_loop();
  d.started_us = wsf_now_us();
  wsf_timers_init(d.loop, &d.timers);
  wsf_conns_init(&d);
  wsf_conn_observe(&d, &counting_observer, &seen);
}

static void close_walked(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

/* Bounded loop runs: every wait in these tests is on loopback. */
static bool spin_until(bool (*cond)(void), uint64_t timeout_ms) {
  uint64_t until = wsf_now_us() + timeout_ms * 1000;
  uv_timer_t tick; /* wakes the loop so the deadline is checked */
  uv_timer_init(d.loop, &tick);
  uv_timer_start(&tick, on_tick, 10, 10);
  while (!cond() && wsf_now_us() < until)
    uv_run(d.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(d.loop, UV_RUN_NOWAIT);
  return cond();
}

static bool transports_gone(void) {
  return d.live_transports == 0;
}

static void daemon_teardown(void) {
  uint32_t forgotten;
  wsf_conns_reset(&d, 1001, "going away", &forgotten);
  srv_drop();
  CHECK(spin_until(transports_gone, 3000));
  wsf_timers_close(&d.timers);
  uv_walk(d.loop, close_walked, NULL);
  uv_run(d.loop, UV_RUN_DEFAULT);
  wsf_registry_free(&d.conns);
  wsf_intern_table_free(&d.resp_headers);
  free(d.forgotten);
}

typedef struct request {
  wsf_wait w;
  bool done;
  wsf_err err;
  wsf_msg *msg;
} request;

static void request_done(wsf_wait *w, wsf_err err, wsf_msg *msg) {
  request *r = wsf_container_of(w, request, w);
  r->done = true;
  r->err = err;
  r->msg = msg;
}

static request *pending; /* the request spin_until waits for */
static bool pending_done(void) {
  return pending->done;
}

static void open_named(const char *name, uint16_t port, uint32_t connect_timeout_ms, request *r) {
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/chat", port);
  wsf_open_params p = {0};
  p.name = name;
  p.name_len = strlen(name);
  p.url = url;
  p.url_len = strlen(url);
  p.reuse = WSF_REUSE_SAME_URL;
  p.connect_timeout_ms = connect_timeout_ms;
  p.max_message_bytes = d.cfg.max_message_bytes;
  p.inbox_max_messages = d.cfg.inbox_max_messages;
  p.inbox_max_bytes = d.cfg.inbox_max_bytes;
  p.keepalive = &d.cfg.keepalive; /* mode none */
  memset(r, 0, sizeof *r);
  r->w.done = request_done;
  wsf_conn_open(&d, &p, &r->w);
  pending = r;
}

static wsf_conn *conn_named(const char *name) {
  return wsf_conn_find(&d, name, strlen(name));
}

static bool conn_a_closed(void) {
  wsf_conn *c = conn_named("a");
  return c && c->state == WSF_CONN_CLOSED;
}

/* ---- the tests -------------------------------------------------------------- */

/* open → open state (timings, counters, one `opened`); a server close frame →
 * the record says who, why and how, once. */
static void test_open_then_server_close(void) {
  daemon_setup();
  srv_start(d.loop, ANSWER_101);
  request open;
  open_named("a", srv.port, 5000, &open);
  wsf_conn *c = conn_named("a");
  CHECK(c != NULL && c->state == WSF_CONN_CONNECTING);
  CHECK(d.n_connecting == 1);
  CHECK(spin_until(pending_done, 3000));
  CHECK(open.err == WSF_OK);
  CHECK(c->state == WSF_CONN_OPEN && d.n_open == 1 && d.n_connecting == 0);
  CHECK(c->hs == NULL); /* an open connection carries no handshake state */
  CHECK(c->timings.total_us > 0 && c->timings.total_us >= c->timings.upgrade_us);
  CHECK(d.stats.opened_total == 1 && d.stats.hs_total.total == 1);
  CHECK(seen.opened == 1 && seen.closed == 0);
  CHECK(strstr(srv.head, "GET /chat HTTP/1.1\r\n") == srv.head);

  srv_close_frame(1000, "bye");
  CHECK(spin_until(conn_a_closed, 3000));
  const wsf_close_record *r = c->record;
  CHECK(r != NULL);
  if (r) {
    CHECK(r->code == 1000);
    CHECK(r->initiator == WSF_BY_SERVER);
    CHECK(r->clean);
    CHECK(r->cause == WSF_CAUSE_SERVER_CLOSE);
    CHECK_STR(r->reason, "bye");
    CHECK(r->since_sent_us == WSF_NEVER); /* the client sent no frame before the close */
    CHECK(r->since_recv_us != WSF_NEVER);
    CHECK(r->open_conns == 1);
    CHECK(r->summary && strncmp(r->summary, "1000 closed by the server \"bye\"", 31) == 0);
  }
  CHECK(seen.closed == 1 && seen.handshake_failed == 0);
  CHECK(d.stats.closed_total == 1 && d.stats.failed_total == 0);
  CHECK(d.stats.closes_by_cause[WSF_CAUSE_SERVER_CLOSE] == 1 && d.stats.closes_by_code[1000] == 1);
  CHECK(d.n_open == 0 && d.n_closed == 1);
  daemon_teardown();
}

static bool three_messages_in(void) {
  wsf_conn *c = conn_named("a");
  return c && c->msgs_in == 3;
}

/* Messages with no recv waiting go to the inbox (oldest dropped past the
 * bound, told to the observers); a recv takes the oldest kept. */
static void test_inbox_then_recv(void) {
  daemon_setup();
  srv_start(d.loop, ANSWER_101);
  request open;
  open_named("a", srv.port, 5000, &open);
  CHECK(spin_until(pending_done, 3000) && open.err == WSF_OK);
  wsf_conn *c = conn_named("a");
  srv_frame(0x1, "one", 3);
  srv_frame(0x1, "two", 3);
  srv_frame(0x1, "three", 5);
  CHECK(spin_until(three_messages_in, 3000));
  CHECK(c->inbox.count == 2 && c->inbox.dropped == 1);
  CHECK(seen.inbox_dropped == 1 && d.stats.inbox_dropped == 1);
  request recv = {0};
  recv.w.done = request_done;
  wsf_conn_recv(c, &recv.w, 1000);
  CHECK(recv.done && recv.err == WSF_OK && recv.msg);
  if (recv.msg) {
    CHECK(recv.msg->len == 3 && memcmp(recv.msg->data, "two", 3) == 0);
    free(recv.msg);
  }
  daemon_teardown();
}

/* The server refuses the upgrade: the open fails with handshake_failed and
 * the HTTP status; the record is written, no `opened` or `closed`. */
static void test_refused_upgrade(void) {
  daemon_setup();
  srv_start(d.loop, ANSWER_403);
  request open;
  open_named("a", srv.port, 5000, &open);
  CHECK(spin_until(pending_done, 3000));
  CHECK(open.err == WSF_E_HANDSHAKE);
  wsf_conn *c = conn_named("a");
  CHECK(c && c->state == WSF_CONN_CLOSED);
  if (c && c->failure) {
    CHECK(c->failure->http_status == 403);
    CHECK(c->failure->body_len == 5 && memcmp(c->failure->body, "nope!", 5) == 0);
  }
  CHECK(c && c->record && c->record->cause == WSF_CAUSE_HANDSHAKE_FAILED && c->record->code == 1006 &&
        !c->record->clean);
  CHECK(seen.handshake_failed == 1 && seen.opened == 0 && seen.closed == 0);
  CHECK(d.stats.failed_total == 1 && d.stats.opened_total == 0 && d.stats.closed_total == 0);
  daemon_teardown();
}

/* Nobody listens on the port: connect_error. */
static void test_connect_refused(void) {
  daemon_setup();
  srv_start(d.loop, ANSWER_101);
  uint16_t port = srv.port;
  uv_close((uv_handle_t *)&srv.listener, NULL); /* the port is free again: connect is refused */
  uv_run(d.loop, UV_RUN_NOWAIT);
  request open;
  open_named("a", port, 5000, &open);
  CHECK(spin_until(pending_done, 3000));
  CHECK(open.err == WSF_E_CONNECT);
  wsf_conn *c = conn_named("a");
  CHECK(c && c->record && c->record->cause == WSF_CAUSE_CONNECT_ERROR);
  CHECK(seen.handshake_failed == 1 && d.stats.failed_total == 1);
  daemon_teardown();
}

/* The server accepts TCP and never answers: the connect deadline (armed by
 * wsf_timer_start, which cannot fail) ends the open with timeout. */
static void test_connect_timeout(void) {
  daemon_setup();
  srv_start(d.loop, ANSWER_NOTHING);
  request open;
  uint64_t t0 = wsf_now_us();
  open_named("a", srv.port, 200, &open);
  CHECK(spin_until(pending_done, 3000));
  uint64_t took_ms = (wsf_now_us() - t0) / 1000;
  CHECK(open.err == WSF_E_TIMEOUT);
  CHECK(took_ms >= 190 && took_ms < 2500);
  CHECK(open.w.error_phase != NULL && strcmp(open.w.error_phase, "upgrade") == 0);
  wsf_conn *c = conn_named("a");
  CHECK(c && c->state == WSF_CONN_CLOSED && c->record);
  CHECK(seen.handshake_failed == 1);
  daemon_teardown();
}

/* TCP FIN on an open connection, no close frame: eof, 1006, not clean. */
static void test_server_drops(void) {
  daemon_setup();
  srv_start(d.loop, ANSWER_101);
  request open;
  open_named("a", srv.port, 5000, &open);
  CHECK(spin_until(pending_done, 3000) && open.err == WSF_OK);
  srv_drop();
  CHECK(spin_until(conn_a_closed, 3000));
  wsf_conn *c = conn_named("a");
  const wsf_close_record *r = c ? c->record : NULL;
  CHECK(r && r->code == 1006 && !r->clean && (r->cause == WSF_CAUSE_EOF || r->cause == WSF_CAUSE_RESET));
  CHECK(r && r->initiator == WSF_BY_NONE);
  CHECK(seen.opened == 1 && seen.closed == 1);
  daemon_teardown();
}

/* A second open of a live name with the same URL is joined, not redialled. */
static void test_reuse_same_url(void) {
  daemon_setup();
  srv_start(d.loop, ANSWER_101);
  request first, second;
  open_named("a", srv.port, 5000, &first);
  CHECK(spin_until(pending_done, 3000) && first.err == WSF_OK);
  open_named("a", srv.port, 5000, &second);
  CHECK(second.done && second.err == WSF_OK && second.w.reused);
  CHECK(d.stats.opened_total == 1 && d.stats.reused_total == 1 && seen.opened == 1);
  daemon_teardown();
}

/* The peer's text, formatted by hand for IPv4, reads as inet_ntop + snprintf
 * would have it, at every width of every octet and port. */
static void test_peer_text_matches_inet_ntop(void) {
  static const char *addrs[] = {"0.0.0.0", "127.0.0.1", "10.20.3.4", "192.168.100.255", "255.255.255.255"};
  static const unsigned ports[] = {0, 7, 80, 443, 8080, 65535};
  wsf_conn *c = calloc(1, sizeof *c);
  char buf[64], want[64];
  for (size_t i = 0; i < sizeof addrs / sizeof *addrs; i++)
    for (size_t j = 0; j < sizeof ports / sizeof *ports; j++) {
      c->peer.in4.sin_family = AF_INET;
      CHECK(inet_pton(AF_INET, addrs[i], &c->peer.in4.sin_addr) == 1);
      c->peer.in4.sin_port = htons((uint16_t)ports[j]);
      snprintf(want, sizeof want, "%s:%u", addrs[i], ports[j]);
      CHECK(strcmp(wsf_conn_peer_text(c, buf), want) == 0);
    }
  c->peer.in6.sin6_family = AF_INET6;
  CHECK(inet_pton(AF_INET6, "::1", &c->peer.in6.sin6_addr) == 1);
  c->peer.in6.sin6_port = htons(9);
  CHECK(strcmp(wsf_conn_peer_text(c, buf), "[::1]:9") == 0);
  free(c);
}

int main(void) {
  RUN(test_open_then_server_close);
  RUN(test_inbox_then_recv);
  RUN(test_refused_upgrade);
  RUN(test_connect_refused);
  RUN(test_connect_timeout);
  RUN(test_server_drops);
  RUN(test_reuse_same_url);
  RUN(test_peer_text_matches_inet_ntop);
  uv_loop_close(uv_default_loop());
  return wsf_test_result();
}
