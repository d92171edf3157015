#include "conn.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "tls.h"
#include "url.h"
#include "util.h"

/* Handshake state: allocated by open, freed once the connection is open or
 * has failed, so an open connection carries none of it. */
typedef struct wsf_handshake {
  wsf_conn *conn;
  char host[256]; /* from the URL: the rest of it is in the request already */
  uint16_t port;
  uv_getaddrinfo_t gai;
  bool gai_pending;
  bool orphaned; /* the connection let go while getaddrinfo was running */
  struct addrinfo *addrs, *next_addr;
  struct sockaddr_storage literal;
  bool has_literal;
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

static wsf_conn *conn_of_transport(wsf_transport *t) {
  return wsf_container_of(t, wsf_conn, transport);
}
static wsf_conn *conn_of_ws(wsf_ws *ws) {
  return wsf_container_of(ws, wsf_conn, ws);
}

static uint64_t since(uint64_t now, uint64_t then) {
  return then == WSF_NEVER ? WSF_NEVER : now - then;
}

/* ---- keepalive interning ------------------------------------------------ */

static bool keepalive_equal(const wsf_keepalive *a, const wsf_keepalive *b) {
  return a->mode == b->mode && a->interval_ms == b->interval_ms && a->jitter_ms == b->jitter_ms &&
         a->pong_timeout_ms == b->pong_timeout_ms && a->reply_timeout_ms == b->reply_timeout_ms &&
         a->payload_len == b->payload_len &&
         (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0) &&
         a->reply_contains_len == b->reply_contains_len &&
         (a->reply_contains_len == 0 ||
          memcmp(a->reply_contains, b->reply_contains, a->reply_contains_len) == 0);
}

wsf_keepalive *wsf_keepalive_intern(wsf_daemon *d, const wsf_keepalive *tmpl) {
  for (wsf_keepalive *k = d->keepalives; k; k = k->next)
    if (keepalive_equal(k, tmpl)) {
      k->refs++;
      return k;
    }
  wsf_keepalive *k = wsf_xcalloc(1, sizeof *k);
  *k = *tmpl;
  k->refs = 1;
  k->payload =
      tmpl->payload_len ? (uint8_t *)wsf_xstrndup((const char *)tmpl->payload, tmpl->payload_len) : NULL;
  k->reply_contains =
      tmpl->reply_contains_len ? wsf_xstrndup(tmpl->reply_contains, tmpl->reply_contains_len) : NULL;
  k->next = d->keepalives;
  d->keepalives = k;
  return k;
}

void wsf_keepalive_release(wsf_daemon *d, wsf_keepalive *ka) {
  if (!ka || --ka->refs > 0)
    return;
  for (wsf_keepalive **p = &d->keepalives; *p; p = &(*p)->next)
    if (*p == ka) {
      *p = ka->next;
      break;
    }
  free(ka->payload);
  free(ka->reply_contains);
  free(ka);
}

/* ---- waits --------------------------------------------------------------- */

static void wait_link(wsf_conn *c, wsf_wait *w) {
  w->conn = c;
  w->linked = true;
  w->next = NULL;
  w->prev = c->waits_tail;
  if (c->waits_tail)
    c->waits_tail->next = w;
  else
    c->waits_head = w;
  c->waits_tail = w;
}

static void wait_unlink(wsf_conn *c, wsf_wait *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    c->waits_head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    c->waits_tail = w->prev;
  w->next = w->prev = NULL;
  w->linked = false;
}

void wsf_wait_cancel(wsf_wait *w) {
  if (!w->linked)
    return;
  wait_unlink(w->conn, w);
  wsf_timer_stop(&w->conn->d->timers, &w->timer);
}

static void wait_complete(wsf_wait *w, wsf_err err, wsf_msg *msg) {
  wsf_conn *c = w->conn;
  wait_unlink(c, w);
  wsf_timer_stop(&c->d->timers, &w->timer);
  w->done(w, err, msg);
}

static void on_wait_timeout(wsf_timer *t) {
  wsf_wait *w = wsf_container_of(t, wsf_wait, timer);
  wait_complete(w, WSF_E_TIMEOUT, NULL);
}

static void wait_start(wsf_conn *c, wsf_wait *w, uint32_t timeout_ms) {
  wait_link(c, w);
  wsf_timer_init(&w->timer, on_wait_timeout);
  wsf_timer_start(&c->d->timers, &w->timer, (uint64_t)timeout_ms * 1000);
}

/* Completes every wait of the given kinds (all kinds when mask is 0). */
static void complete_waits(wsf_conn *c, unsigned kinds_mask, wsf_err err) {
  wsf_wait *w = c->waits_head;
  while (w) {
    wsf_wait *next = w->next;
    if (!kinds_mask || (kinds_mask & (1u << w->kind)))
      wait_complete(w, err, NULL);
    w = next;
  }
}

/* ---- counting ------------------------------------------------------------ */

static uint32_t *state_counter(wsf_daemon *d, wsf_conn_state s) {
  switch (s) {
  case WSF_CONN_CONNECTING:
    return &d->n_connecting;
  case WSF_CONN_OPEN:
    return &d->n_open;
  case WSF_CONN_CLOSING:
    return &d->n_closing;
  default:
    return &d->n_closed;
  }
}

static void set_state(wsf_conn *c, wsf_conn_state s) {
  (*state_counter(c->d, c->state))--;
  c->state = s;
  (*state_counter(c->d, s))++;
}

/* ---- close records ------------------------------------------------------- */

static char *make_summary(const wsf_close_record *r) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "%u %s", r->code, wsf_cause_words(r->cause));
  if (r->detail && *r->detail && n < (int)sizeof buf)
    n += snprintf(buf + n, sizeof buf - n, ": %s", r->detail);
  if (r->reason && *r->reason && n < (int)sizeof buf)
    n += snprintf(buf + n, sizeof buf - n, " \"%s\"", r->reason);
  if (n < (int)sizeof buf) {
    if (r->since_sent_us != WSF_NEVER)
      n += snprintf(buf + n, sizeof buf - n, " %.1f s after the last client frame", r->since_sent_us / 1e6);
    else
      n += snprintf(buf + n, sizeof buf - n, " %.1f s after open, no client frame sent", r->age_us / 1e6);
  }
  if (n < (int)sizeof buf)
    snprintf(buf + n, sizeof buf - n, ", %u open", r->open_conns);
  return wsf_xstrndup(buf, strlen(buf));
}

static void count_close(wsf_daemon *d, const wsf_close_record *r, bool was_open) {
  if (was_open)
    d->stats.closed_total++;
  else
    d->stats.failed_total++;
  wsf_stats *s = &d->stats;
  uint16_t idx = r->code < WSF_ARRAY_LEN(s->closes_by_code) ? r->code : 0;
  if (s->closes_by_code[idx]++ == 0) { /* a code not seen before: keep the list sorted */
    uint16_t i = s->n_codes_seen++;
    for (; i > 0 && s->codes_seen[i - 1] > idx; i--)
      s->codes_seen[i] = s->codes_seen[i - 1];
    s->codes_seen[i] = idx;
  }
  d->stats.closes_by_cause[r->cause]++;
}

/* ---- ended connections: records and inboxes bounded ----------------------
 * An ended connection keeps its close record and unread messages until its
 * name is reopened or reset; a plan that uses a new name per iteration grew
 * the daemon by 131 MB per 100k names that way. Now the oldest records go
 * beyond --max-records (their names remembered as forgotten, by hash, in a
 * ring, so status can say so), and beyond --max-closed-inbox-bytes of unread
 * messages among all ended connections the oldest ones' messages go (counted
 * as inbox drops): recv after close finds the newest endings' messages. */
#define FORGOTTEN_RING (1u << 16)

static void forget(wsf_conn *c);

static uint64_t name_hash(const char *name, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
  return h;
}

char *wsf_conn_url_mismatch_message(const wsf_conn *live, const char *requested_url, size_t len) {
  static const char fmt[] =
      "connection '%s' is open to %s, not to %.*s (reuse: \"any\" would return it anyway)";
  size_t n = sizeof fmt + strlen(live->name) + strlen(live->url) + len;
  char *msg = wsf_xmalloc(n);
  snprintf(msg, n, fmt, live->name, live->url, (int)len, requested_url);
  return msg;
}

bool wsf_conn_forgotten(const wsf_daemon *d, const char *name, size_t len) {
  uint64_t h = name_hash(name, len);
  for (uint32_t i = 0; i < d->forgotten_len; i++)
    if (d->forgotten[i] == h)
      return true;
  return false;
}

static void closed_link(wsf_conn *c) {
  wsf_daemon *d = c->d;
  c->closed_next = NULL;
  c->closed_prev = d->closed_tail;
  if (d->closed_tail)
    d->closed_tail->closed_next = c;
  else
    d->closed_head = c;
  d->closed_tail = c;
  if (!d->closed_inbox_cursor)
    d->closed_inbox_cursor = c;
  d->closed_inbox_bytes += c->inbox.bytes;
}

static void closed_unlink(wsf_conn *c) {
  wsf_daemon *d = c->d;
  if (d->closed_inbox_cursor == c)
    d->closed_inbox_cursor = c->closed_next;
  if (c->closed_prev)
    c->closed_prev->closed_next = c->closed_next;
  else
    d->closed_head = c->closed_next;
  if (c->closed_next)
    c->closed_next->closed_prev = c->closed_prev;
  else
    d->closed_tail = c->closed_prev;
  c->closed_prev = c->closed_next = NULL;
  d->closed_inbox_bytes -= c->inbox.bytes;
}

/* After the inbox of c changed from `before` bytes. */
static void inbox_changed(wsf_conn *c, size_t before) {
  if (c->state == WSF_CONN_CLOSED)
    c->d->closed_inbox_bytes += c->inbox.bytes - before;
}

static void bound_ended(wsf_daemon *d) {
  if (d->sweeping)
    return;
  while (d->closed_inbox_bytes > d->cfg.max_closed_inbox_bytes && d->closed_inbox_cursor) {
    wsf_conn *c = d->closed_inbox_cursor;
    d->closed_inbox_cursor = c->closed_next;
    if (!c->inbox.count)
      continue;
    d->closed_inbox_bytes -= c->inbox.bytes;
    c->inbox.dropped += c->inbox.count;
    d->stats.inbox_dropped += c->inbox.count;
    wsf_inbox_clear(&c->inbox);
  }
  uint32_t keep = d->cfg.max_records ? d->cfg.max_records : 1;
  while (d->n_closed > keep && d->closed_head) {
    wsf_conn *c = d->closed_head;
    if (!d->forgotten)
      d->forgotten = wsf_xcalloc(FORGOTTEN_RING, sizeof *d->forgotten);
    d->forgotten[d->forgotten_next] = name_hash(c->name, strlen(c->name));
    d->forgotten_next = (d->forgotten_next + 1) % FORGOTTEN_RING;
    if (d->forgotten_len < FORGOTTEN_RING)
      d->forgotten_len++;
    d->stats.records_forgotten++;
    forget(c);
  }
}

static void stop_timers(wsf_conn *c) {
  wsf_timer_stop(&c->d->timers, &c->ka_timer);
  wsf_timer_stop(&c->d->timers, &c->pong_timer);
  wsf_timer_stop(&c->d->timers, &c->deadline);
  wsf_timer_stop(&c->d->timers, &c->output_timer);
}

/* Records how the connection ended and moves it to closed. The transport is
 * torn down separately (close_transport), possibly after a linger. */
static void finish(wsf_conn *c, uint16_t code, int initiator, bool clean, wsf_cause cause, const char *reason,
                   size_t reason_len, const char *detail) {
  if (c->record)
    return;
  wsf_daemon *d = c->d;
  uint64_t now = wsf_now_us();
  bool was_open = c->counted_open;
  wsf_close_record *r = wsf_xcalloc(1, sizeof *r);
  r->code = code;
  r->initiator = (uint8_t)initiator;
  r->clean = clean;
  r->cause = cause;
  r->reason = wsf_xstrndup(reason ? reason : "", reason ? reason_len : 0);
  r->detail = detail ? wsf_xstrndup(detail, strlen(detail)) : NULL;
  r->closed_at_ms = wsf_wall_ms();
  r->age_us = now - (was_open ? c->opened_us : c->started_us);
  r->since_sent_us = since(now, c->last_sent_us);
  r->since_recv_us = since(now, c->last_recv_us);
  r->since_ping_us = since(now, c->last_ping_us);
  r->since_pong_us = since(now, c->last_pong_us);
  r->open_conns = d->n_open + d->n_closing;
  r->msgs_in = c->msgs_in;
  r->msgs_out = c->msgs_out;
  r->bytes_in = c->bytes_in;
  r->bytes_out = c->bytes_out;
  r->summary = make_summary(r);
  c->record = r;
  stop_timers(c);
  set_state(c, WSF_CONN_CLOSED);
  count_close(d, r, was_open);
  if (was_open)
    TELL_OBSERVERS(d, closed, c);
  closed_link(c);
  /* Close waits succeed (their answer is the record); everything else learns the end. */
  complete_waits(c, 1u << WSF_WAIT_CLOSE, WSF_OK);
  complete_waits(c, 0, WSF_E_CONN_CLOSED);
  bound_ended(d);
}

static void free_record(wsf_close_record *r) {
  if (!r)
    return;
  free(r->reason);
  free(r->detail);
  free(r->summary);
  free(r);
}

/* ---- handshake teardown ----------------------------------------------------- */

static void hs_free(wsf_handshake *hs) {
  if (hs->gai_pending) { /* freed by its callback */
    hs->orphaned = true;
    uv_cancel((uv_req_t *)&hs->gai);
    return;
  }
  if (hs->addrs)
    uv_freeaddrinfo(hs->addrs);
  if (hs->resp_init)
    wsf_hs_response_free(&hs->resp);
  for (size_t i = 0; i < hs->n_subprotocols; i++)
    free(hs->subprotocols[i]);
  free(hs->subprotocols);
  free(hs->request);
  free(hs->server_name);
  /* The TLS session took its own reference; this one kept the configuration interned until then. */
  wsf_tls_config_release(hs->tls_config);
  free(hs->soon_message);
  free(hs);
}

static void admit_next(wsf_daemon *d);

static void release_handshake(wsf_conn *c) {
  if (!c->hs)
    return;
  if (c->admitted) {
    c->d->handshakes_in_flight--;
    c->admitted = 0;
  } else {
    /* still queued for admission: unlink */
    for (wsf_conn **p = &c->d->admit_head, *prev = NULL; *p; prev = *p, p = &(*p)->admit_next)
      if (*p == c) {
        *p = c->admit_next;
        if (c->d->admit_tail == c)
          c->d->admit_tail = prev;
        break;
      }
  }
  c->hs->conn = NULL;
  hs_free(c->hs);
  c->hs = NULL;
  admit_next(c->d);
}

static void conn_free(wsf_conn *c) {
  wsf_ws_free(&c->ws);
  wsf_inbox_clear(&c->inbox);
  free_record(c->record);
  if (c->failure) {
    free(c->failure->message);
    free(c->failure->body);
    free(c->failure);
  }
  wsf_keepalive_release(c->d, c->ka);
  free(c->deflate);
  free(c->subprotocol);
  free(c->resp_headers);
  free(c->url);
  free(c->name);
  free(c);
}

static void close_transport(wsf_conn *c, bool abort) {
  wsf_timer_stop(&c->d->timers, &c->deadline);
  if (c->transport_live && !c->transport.closing)
    wsf_transport_close(&c->transport, abort);
}

/* The deadline timer serves several phases in turn; it may still be armed
 * for the previous one, so it is stopped before it changes purpose. */
static void deadline_in(wsf_conn *c, wsf_timer_cb cb, uint64_t delay_us) {
  wsf_timer_stop(&c->d->timers, &c->deadline);
  c->deadline.cb = cb;
  wsf_timer_start(&c->d->timers, &c->deadline, delay_us);
}

static void on_linger_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  close_transport(c, false);
}

/* After a close handshake or a protocol error: give the server a moment to
 * close TCP first, then close it ourselves. */
static void linger_then_close(wsf_conn *c) {
  if (!c->transport_live || c->transport.closing)
    return;
  if (!wsf_timer_active(&c->deadline) || c->deadline.cb != on_linger_timeout)
    deadline_in(c, on_linger_timeout, LINGER_US);
}

/* Removes the connection from the table; frees it now or when its transport closes. */
static void forget(wsf_conn *c) {
  wsf_daemon *d = c->d;
  if (c->state == WSF_CONN_CLOSED)
    closed_unlink(c);
  wsf_registry_remove(&d->conns, c);
  (*state_counter(d, c->state))--;
  release_handshake(c);
  stop_timers(c);
  if (c->transport_live) {
    c->free_when_closed = 1;
    close_transport(c, false);
  } else {
    conn_free(c);
  }
}

/* ---- failing an open ------------------------------------------------------- */

static void fail_open(wsf_conn *c, wsf_err err, wsf_cause cause, const char *message, int http_status,
                      const char *body, size_t body_len) {
  if (c->state != WSF_CONN_CONNECTING)
    return;
  wsf_open_failure *f = wsf_xcalloc(1, sizeof *f);
  f->err = err;
  f->message = wsf_xstrndup(message, strlen(message));
  f->http_status = http_status;
  if (body) {
    f->body = wsf_xstrndup(body, body_len);
    f->body_len = body_len;
  }
  c->failure = f;
  if (c->hs && err == WSF_E_TIMEOUT)
    c->hs->phase = c->hs->phase ? c->hs->phase : "connect";
  /* open waits get err; finish() then fails any others with conn_closed */
  wsf_wait *w = c->waits_head;
  while (w) {
    wsf_wait *next = w->next;
    if (w->kind == WSF_WAIT_OPEN) {
      w->error_phase = c->hs ? c->hs->phase : NULL;
      wait_complete(w, err, NULL);
    }
    w = next;
  }
  finish(c, 1006, WSF_BY_NONE, false, cause, NULL, 0, message);
  TELL_OBSERVERS(c->d, handshake_failed, c);
  release_handshake(c);
  close_transport(c, false);
}

static void on_failure_due(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  wsf_handshake *hs = c->hs;
  fail_open(c, hs->soon_err, hs->soon_cause, hs->soon_message, 0, NULL, 0);
}

static void deadline_in(wsf_conn *c, wsf_timer_cb cb, uint64_t delay_us);

/* A failure found while starting a handshake step (connect's EMFILE at the fd
 * limit or EADDRNOTAVAIL when ephemeral ports run out; a resolver that refuses
 * at once) is delivered from the loop, never from the call that found it:
 * failing an open admits the next queued one, which may fail the same way at
 * once, and with --max-handshakes 19,000 queued opens recursed that deep
 * (fail_open → admit_next → try_connect → fail_open …) until SIGSEGV. The
 * deadline timer, due now, carries it instead of the connect timeout; the
 * timer pass runs due entries in a loop, so the queue drains iteratively. */
static void fail_open_soon(wsf_conn *c, wsf_err err, wsf_cause cause, const char *message) {
  wsf_handshake *hs = c->hs;
  hs->soon_err = err;
  hs->soon_cause = cause;
  free(hs->soon_message);
  hs->soon_message = wsf_xstrndup(message, strlen(message));
  deadline_in(c, on_failure_due, 0);
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

static size_t output_pending(const wsf_conn *c) {
  return c->transport_live ? c->transport.write_pending_bytes : 0;
}

static void on_output_stalled(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, output_timer);
  char detail[160];
  snprintf(detail, sizeof detail, "%zu bytes unsent for %u ms (max_output_bytes %zu)", output_pending(c),
           c->d->cfg.output_stall_ms, c->d->cfg.max_output_bytes);
  finish(c, 1006, WSF_BY_CLIENT, false, WSF_CAUSE_OUTPUT_STALLED, NULL, 0, detail);
  close_transport(c, true); /* a FIN would wait behind the bytes that do not move */
}

/* After anything was written: over the cap, reading stops and the stall clock runs. */
static void check_output(wsf_conn *c) {
  if (c->reads_paused || output_pending(c) <= c->d->cfg.max_output_bytes || c->state == WSF_CONN_CLOSED)
    return;
  c->reads_paused = 1;
  c->d->stats.reads_paused++;
  wsf_transport_read_stop(&c->transport);
  wsf_timer_start(&c->d->timers, &c->output_timer, (uint64_t)c->d->cfg.output_stall_ms * 1000);
}

/* The peer took bytes: a held pong goes out; back under the cap, reading resumes. */
static void on_written(wsf_transport *t) {
  wsf_conn *c = conn_of_transport(t);
  if (c->state == WSF_CONN_CONNECTING)
    return;
  wsf_ws_written(&c->ws);
  if (c->reads_paused && output_pending(c) <= c->d->cfg.max_output_bytes) {
    c->reads_paused = 0;
    wsf_timer_stop(&c->d->timers, &c->output_timer);
    if (!t->closing && !t->ended)
      wsf_transport_read_start(t);
  }
}

/* ---- keepalive --------------------------------------------------------------- */

static uint64_t ka_interval_us(const wsf_keepalive *ka) {
  uint64_t interval = (uint64_t)ka->interval_ms * 1000, jitter = (uint64_t)ka->jitter_ms * 1000;
  if (jitter > interval)
    jitter = interval;
  return interval - jitter + wsf_random_below(2 * jitter + 1);
}

static void note_sent(wsf_conn *c, uint64_t now) {
  c->last_sent_us = now;
}

/* Adds what the session's deflate counters gained since last time to the
 * daemon's totals (after each message either way). */
static void account_deflate(wsf_conn *c) {
  const wsf_deflate_counters *now = wsf_ws_deflate_counters(&c->ws);
  if (!now || !c->deflate)
    return;
  wsf_deflate_counters *seen = &c->deflate->seen;
  wsf_deflate_counters *total = &c->d->stats.deflate;
  total->bytes_in_compressed += now->bytes_in_compressed - seen->bytes_in_compressed;
  total->bytes_in += now->bytes_in - seen->bytes_in;
  total->bytes_out_compressed += now->bytes_out_compressed - seen->bytes_out_compressed;
  total->bytes_out += now->bytes_out - seen->bytes_out;
  *seen = *now;
}

/* The pong timer serves both heartbeat kinds: a ping's pong, or (text and
 * binary with reply_contains) the application's reply, so a server that
 * stopped answering is seen without protocol pings. */
static void on_pong_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, pong_timer);
  char detail[160];
  if (c->ka->mode == WSF_KA_PING) {
    snprintf(detail, sizeof detail, "no pong within %u ms", c->ka->pong_timeout_ms);
    finish(c, 1006, WSF_BY_NONE, false, WSF_CAUSE_PONG_TIMEOUT, NULL, 0, detail);
  } else {
    snprintf(detail, sizeof detail, "no heartbeat reply containing \"%.*s\" within %u ms",
             (int)(c->ka->reply_contains_len > 64 ? 64 : c->ka->reply_contains_len), c->ka->reply_contains,
             c->ka->reply_timeout_ms);
    finish(c, 1006, WSF_BY_NONE, false, WSF_CAUSE_REPLY_TIMEOUT, NULL, 0, detail);
  }
  close_transport(c, false);
}

static void on_heartbeat(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, ka_timer);
  wsf_daemon *d = c->d;
  const wsf_keepalive *ka = c->ka;
  uint64_t now = wsf_now_us();
  uint64_t late = now > t->due_us ? now - t->due_us : 0;
  wsf_hist_add(&d->stats.heartbeat_late, late);
  if (late > c->ka_late_max_us)
    c->ka_late_max_us = late;
  uint64_t due = t->due_us;
  if (c->state != WSF_CONN_OPEN)
    return;
  int rv;
  if (output_pending(c) > OUTPUT_HIGH_WATER) {
    c->ka_skipped++;
    d->stats.heartbeats_skipped++;
    rv = -1;
  } else if (ka->mode == WSF_KA_PING) {
    const uint8_t *payload = ka->payload;
    size_t len = ka->payload_len;
    if (!len) { /* unique payloads let a late pong be told apart */
      wsf_random(c->ka_payload, sizeof c->ka_payload);
      payload = c->ka_payload;
      len = sizeof c->ka_payload;
    }
    rv = wsf_ws_send(&c->ws, WSF_WS_PING, payload, len);
    c->last_ping_us = now;
    if (rv == 0 && ka->pong_timeout_ms && !c->ka_ping_outstanding) {
      c->ka_ping_outstanding = 1;
      c->ka_ping_sent_us = now;
      wsf_timer_start(&d->timers, &c->pong_timer, (uint64_t)ka->pong_timeout_ms * 1000);
    }
  } else {
    rv = wsf_ws_send(&c->ws, ka->mode == WSF_KA_TEXT ? WSF_WS_TEXT : WSF_WS_BINARY, ka->payload,
                     ka->payload_len);
    if (rv == 0) {
      c->msgs_out++;
      c->bytes_out += ka->payload_len;
      d->stats.msgs_out++;
      d->stats.bytes_out += ka->payload_len;
      if (ka->reply_contains_len && ka->reply_timeout_ms && !c->ka_ping_outstanding) {
        c->ka_ping_outstanding = 1; /* a reply is awaited */
        c->ka_ping_sent_us = now;
        wsf_timer_start(&d->timers, &c->pong_timer, (uint64_t)ka->reply_timeout_ms * 1000);
      }
    }
  }
  if (rv == 0) {
    note_sent(c, now);
    c->ka_sent++;
    d->stats.heartbeats_sent++;
    account_deflate(c);
    check_output(c);
  }
  if (c->state != WSF_CONN_OPEN) /* the send found the connection gone */
    return;
  /* Next beat counts from the due time, not from now, so lateness doesn't accumulate. */
  uint64_t next = due + ka_interval_us(ka);
  wsf_timer_start_at(&d->timers, t, next > now ? next : now);
}

static void start_keepalive(wsf_conn *c) {
  if (!c->ka || c->ka->mode == WSF_KA_NONE || c->ka->interval_ms == 0)
    return;
  /* A beat may leave up to 1 % of its interval (at most 5 ms) early when a
   * wake-up is due anyway: far inside any jitter, and it batches the beats
   * (and their pongs) of many connections. Early is not late: lateness stays 0. */
  uint64_t early = (uint64_t)c->ka->interval_ms * 10;
  c->ka_timer.early_us = (uint32_t)(early < 5000 ? early : 5000);
  /* The first beat falls anywhere in the first interval: a burst of opens
   * does not become a burst of heartbeats. */
  wsf_timer_start(&c->d->timers, &c->ka_timer, wsf_random_below((uint64_t)c->ka->interval_ms * 1000 + 1));
}

/* ---- WebSocket events ---------------------------------------------------------- */

static bool is_heartbeat_reply(const wsf_conn *c, int opcode, const uint8_t *data, size_t len) {
  const wsf_keepalive *ka = c->ka;
  if (!ka || !ka->reply_contains_len || (ka->mode != WSF_KA_TEXT && ka->mode != WSF_KA_BINARY))
    return false;
  (void)opcode;
  return memmem(data, len, ka->reply_contains, ka->reply_contains_len) != NULL;
}

static bool wait_accepts(const wsf_wait *w, const wsf_msg *m) {
  return w->kind == WSF_WAIT_RECV && m->seq >= w->min_seq &&
         wsf_match_test(&w->match, (const char *)m->data, m->len);
}

static void on_ws_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  wsf_conn *c = conn_of_ws(ws);
  wsf_daemon *d = c->d;
  uint64_t now = wsf_now_us();
  c->last_recv_us = now;
  c->msgs_in++;
  c->bytes_in += len;
  d->stats.msgs_in++;
  d->stats.bytes_in += len;
  account_deflate(c);
  if (is_heartbeat_reply(c, opcode, data, len)) {
    c->ka_replies++;
    if (c->ka_ping_outstanding) {
      c->ka_ping_outstanding = 0;
      wsf_timer_stop(&d->timers, &c->pong_timer);
    }
    return;
  }
  wsf_msg *m = wsf_msg_new(opcode, data, len, c->msg_seq++, now);
  bool discard = false;
  for (wsf_wait *w = c->waits_head; w; w = w->next) {
    if (wait_accepts(w, m)) {
      wait_complete(w, WSF_OK, m);
      return;
    }
    if (w->kind == WSF_WAIT_RECV && w->discard_unmatched && m->seq >= w->min_seq) {
      discard = true;
      w->discarded++;
    }
  }
  if (discard) {
    free(m);
    return;
  }
  size_t before = c->inbox.bytes;
  uint32_t dropped = wsf_inbox_push(&c->inbox, m);
  inbox_changed(c, before);
  if (dropped) {
    d->stats.inbox_dropped += dropped;
    TELL_OBSERVERS(d, inbox_dropped, c);
  }
}

static void on_ws_ping(wsf_ws *ws, const uint8_t *data, size_t len) {
  (void)data;
  (void)len;
  wsf_conn *c = conn_of_ws(ws);
  uint64_t now = wsf_now_us();
  c->last_recv_us = now;
  c->last_sent_us = now; /* its pong, written or held */
  if (ws->ping_coalesced)
    c->d->stats.pongs_coalesced++;
}

static void on_ws_pong(wsf_ws *ws, const uint8_t *data, size_t len) {
  wsf_conn *c = conn_of_ws(ws);
  wsf_daemon *d = c->d;
  uint64_t now = wsf_now_us();
  c->last_recv_us = now;
  c->last_pong_us = now;
  if (c->ka_ping_outstanding) {
    const uint8_t *expect = c->ka->payload_len ? c->ka->payload : c->ka_payload;
    size_t expect_len = c->ka->payload_len ? c->ka->payload_len : sizeof c->ka_payload;
    if (len == expect_len && memcmp(data, expect, len) == 0) {
      c->ka_ping_outstanding = 0;
      wsf_timer_stop(&d->timers, &c->pong_timer);
      c->ping_rtt_us = now - c->ka_ping_sent_us;
      wsf_hist_add(&d->stats.ping_rtt, c->ping_rtt_us);
    }
  }
  for (wsf_wait *w = c->waits_head; w; w = w->next) {
    if (w->kind == WSF_WAIT_PING && w->ping_len == len && memcmp(w->ping_payload, data, len) == 0) {
      w->rtt_us = now - w->started_us;
      c->ping_rtt_us = w->rtt_us;
      wsf_hist_add(&d->stats.ping_rtt, w->rtt_us);
      wait_complete(w, WSF_OK, NULL);
      return;
    }
  }
}

static void on_ws_close_frame(wsf_ws *ws, uint16_t code, const uint8_t *reason, size_t reason_len) {
  wsf_conn *c = conn_of_ws(ws);
  c->last_recv_us = wsf_now_us();
  if (c->state == WSF_CONN_CLOSING) /* the answer to our close */
    finish(c, code, WSF_BY_CLIENT, true, WSF_CAUSE_LOCAL_CLOSE, (const char *)reason, reason_len, NULL);
  else
    finish(c, code, WSF_BY_SERVER, true, WSF_CAUSE_SERVER_CLOSE, (const char *)reason, reason_len, NULL);
  linger_then_close(c);
}

static void on_ws_protocol_error(wsf_ws *ws, uint16_t code) {
  wsf_conn *c = conn_of_ws(ws);
  wsf_cause cause = code == 1009   ? WSF_CAUSE_MESSAGE_TOO_BIG
                    : code == 1007 ? WSF_CAUSE_INVALID_UTF8
                                   : WSF_CAUSE_PROTOCOL_ERROR;
  char detail[256], close_why[160];
  const char *why = wsf_ws_deflate_failure(ws);
  if (!why)
    why = wsf_ws_failure_detail(ws, close_why, sizeof close_why);
  snprintf(detail, sizeof detail, "%s%ssent close %u", why ? why : "", why ? "; " : "", code);
  finish(c, code, WSF_BY_CLIENT, false, cause, NULL, 0, detail);
  linger_then_close(c);
}

static const wsf_ws_callbacks ws_callbacks = {
    .on_message = on_ws_message,
    .on_ping = on_ws_ping,
    .on_pong = on_ws_pong,
    .on_close_frame = on_ws_close_frame,
    .on_protocol_error = on_ws_protocol_error,
};

/* ---- transport events ------------------------------------------------------------ */

static void send_upgrade(wsf_conn *c);
static void handshake_data(wsf_conn *c, const uint8_t *data, size_t len);
static void try_connect(wsf_conn *c);

static void on_connect(wsf_transport *t, int status) {
  wsf_conn *c = conn_of_transport(t);
  wsf_handshake *hs = c->hs;
  if (!hs)
    return;
  if (status != 0) {
    if (hs->next_addr) { /* try the next address of the name */
      close_transport(c, false);
      return; /* on_closed continues with the next address */
    }
    char msg[320];
    snprintf(msg, sizeof msg, "connect to %s:%u failed: %s", hs->host, hs->port, uv_err_name(status));
    fail_open(c, WSF_E_CONNECT, WSF_CAUSE_CONNECT_ERROR, msg, 0, NULL, 0);
    return;
  }
  hs->t_connected = wsf_now_us();
  if (c->tls) {
    hs->phase = "tls";
    if (wsf_transport_start_tls_client(t, hs->tls_config, hs->server_name) != 0) {
      fail_open(c, WSF_E_TLS, WSF_CAUSE_TLS_ERROR, "cannot start TLS", 0, NULL, 0);
      return;
    }
    wsf_transport_read_start(t);
  } else {
    hs->t_tls = hs->t_connected;
    send_upgrade(c);
  }
}

static void on_tls_done(wsf_transport *t, bool ok, const char *detail) {
  wsf_conn *c = conn_of_transport(t);
  if (!c->hs)
    return;
  if (!ok) {
    fail_open(c, WSF_E_TLS, WSF_CAUSE_TLS_ERROR, detail ? detail : "TLS handshake failed", 0, NULL, 0);
    return;
  }
  c->hs->t_tls = wsf_now_us();
  c->tls_version = wsf_tls_version(t);
  c->tls_cipher = wsf_tls_cipher(t);
  c->tls_verified = wsf_tls_verified(t);
  send_upgrade(c);
}

static void on_data(wsf_transport *t, const uint8_t *data, size_t len) {
  wsf_conn *c = conn_of_transport(t);
  if (c->state == WSF_CONN_CONNECTING) {
    handshake_data(c, data, len);
    return;
  }
  if (c->state == WSF_CONN_OPEN || c->state == WSF_CONN_CLOSING || (c->record && !c->ws.failed))
    wsf_ws_feed(&c->ws, data, len);
  check_output(c);
}

static wsf_cause end_cause(wsf_end_cause e) {
  switch (e) {
  case WSF_END_EOF:
    return WSF_CAUSE_EOF;
  case WSF_END_RESET:
    return WSF_CAUSE_RESET;
  case WSF_END_TLS_ALERT:
    return WSF_CAUSE_TLS_ALERT;
  case WSF_END_TLS_CLOSE_NOTIFY:
    return WSF_CAUSE_TLS_CLOSE_NOTIFY;
  case WSF_END_TLS_ERROR:
    return WSF_CAUSE_TLS_ERROR;
  default:
    return WSF_CAUSE_IO_ERROR;
  }
}

static void on_end(wsf_transport *t, wsf_end_cause e, const char *detail) {
  wsf_conn *c = conn_of_transport(t);
  switch (c->state) {
  case WSF_CONN_CONNECTING:
    if (c->hs && c->hs->resp_init && c->hs->resp.headers_complete &&
        wsf_hs_response_eof(&c->hs->resp) == WSF_HS_REJECTED) {
      handshake_data(c, NULL, 0); /* reports the rejected answer */
      if (c->state != WSF_CONN_CONNECTING)
        break;
    }
    {
      char msg[200];
      snprintf(msg, sizeof msg, "connection ended during the %s phase (%s%s%s)",
               c->hs ? c->hs->phase : "handshake", wsf_end_cause_name(e), detail ? ": " : "",
               detail ? detail : "");
      bool tls_failure = e == WSF_END_TLS_ALERT || e == WSF_END_TLS_ERROR;
      fail_open(c, tls_failure ? WSF_E_TLS : WSF_E_HANDSHAKE,
                tls_failure ? WSF_CAUSE_TLS_ERROR : WSF_CAUSE_HANDSHAKE_FAILED, msg, 0, NULL, 0);
    }
    break;
  case WSF_CONN_OPEN:
    finish(c, 1006, WSF_BY_NONE, false, end_cause(e), NULL, 0, detail);
    break;
  case WSF_CONN_CLOSING: /* we sent a close frame; the server never answered it */
    finish(c, 1006, WSF_BY_CLIENT, false, end_cause(e), NULL, 0, detail);
    break;
  case WSF_CONN_CLOSED:
    break;
  }
  close_transport(c, false);
}

static void on_closed(wsf_transport *t) {
  wsf_conn *c = conn_of_transport(t);
  c->transport_live = 0;
  c->d->live_transports--;
  wsf_ws_free(&c->ws);
  if (c->free_when_closed) {
    conn_free(c);
    return;
  }
  /* A refused connect with more addresses to try. */
  if (c->state == WSF_CONN_CONNECTING && c->hs && c->hs->next_addr)
    try_connect(c);
}

static const wsf_transport_callbacks transport_callbacks = {
    .on_connect = on_connect,
    .on_tls_done = on_tls_done,
    .on_data = on_data,
    .on_end = on_end,
    .on_closed = on_closed,
    .on_written = on_written,
};

/* ---- the handshake ------------------------------------------------------------------ */

static void try_connect(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  const struct sockaddr *addr;
  if (hs->has_literal) {
    addr = (const struct sockaddr *)&hs->literal;
  } else {
    addr = hs->next_addr->ai_addr;
    hs->next_addr = hs->next_addr->ai_next;
  }
  hs->phase = "connect";
  int rv = wsf_transport_init(c->d->loop, &c->transport, &transport_callbacks);
  if (rv == 0) {
    c->transport_live = 1;
    c->d->live_transports++;
    uv_tcp_nodelay(&c->transport.tcp, 1); /* a load tool measures latency: no Nagle delays */
    rv = wsf_transport_connect(&c->transport, addr);
  }
  if (rv != 0) {
    char msg[320];
    snprintf(msg, sizeof msg, "connect to %s:%u failed: %s", hs->host, hs->port, uv_err_name(rv));
    fail_open_soon(c, WSF_E_CONNECT, WSF_CAUSE_CONNECT_ERROR, msg);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  wsf_handshake *hs = wsf_container_of(req, wsf_handshake, gai);
  hs->gai_pending = false;
  hs->addrs = res;
  if (hs->orphaned) {
    hs_free(hs);
    return;
  }
  wsf_conn *c = hs->conn;
  hs->t_dns = wsf_now_us();
  if (status != 0 || !res) {
    char msg[320];
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", hs->host, status ? uv_strerror(status) : "no address");
    fail_open(c, WSF_E_DNS, WSF_CAUSE_DNS_ERROR, msg, 0, NULL, 0);
    return;
  }
  hs->next_addr = res;
  try_connect(c);
}

static void start_handshake(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  hs->t_admitted = wsf_now_us();
  hs->phase = "dns";
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&hs->literal;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&hs->literal;
  if (uv_ip4_addr(hs->host, hs->port, a4) == 0 || uv_ip6_addr(hs->host, hs->port, a6) == 0) {
    hs->has_literal = true; /* an address literal needs no lookup */
    hs->t_dns = hs->t_admitted;
    try_connect(c);
    return;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  char port[8];
  snprintf(port, sizeof port, "%u", hs->port);
  int rv = uv_getaddrinfo(c->d->loop, &hs->gai, on_resolved, hs->host, port, &hints);
  if (rv != 0) {
    char msg[320];
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", hs->host, uv_strerror(rv));
    fail_open_soon(c, WSF_E_DNS, WSF_CAUSE_DNS_ERROR, msg);
    return;
  }
  hs->gai_pending = true;
}

static void send_upgrade(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  hs->phase = "upgrade";
  hs->t_sent = wsf_now_us();
  if (wsf_transport_write(&c->transport, (const uint8_t *)hs->request, hs->request_len) != 0 ||
      wsf_transport_read_start(&c->transport) != 0) {
    fail_open(c, WSF_E_CONNECT, WSF_CAUSE_IO_ERROR, "cannot write the upgrade request", 0, NULL, 0);
    return;
  }
  free(hs->request);
  hs->request = NULL;
}

/* Keeps the response headers as "name\0value\0..." for reused opens and status. */
static void keep_response_headers(wsf_conn *c, const wsf_hs_response *r) {
  size_t len = 0;
  for (size_t i = 0; i < r->n_headers; i++)
    len += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 2;
  c->resp_headers = wsf_xmalloc(len ? len : 1);
  char *p = c->resp_headers;
  for (size_t i = 0; i < r->n_headers; i++) {
    p = stpcpy(p, r->headers[i].name) + 1;
    p = stpcpy(p, r->headers[i].value) + 1;
  }
  c->n_resp_headers = (uint16_t)r->n_headers;
}

static void hist_timings(wsf_daemon *d, const wsf_timings *t) {
  wsf_hist_add(&d->stats.hs_dns, t->dns_us);
  wsf_hist_add(&d->stats.hs_connect, t->connect_us);
  if (t->tls_us)
    wsf_hist_add(&d->stats.hs_tls, t->tls_us);
  wsf_hist_add(&d->stats.hs_upgrade, t->upgrade_us);
  wsf_hist_add(&d->stats.hs_total, t->total_us);
}

static void became_open(wsf_conn *c, const uint8_t *rest, size_t rest_len,
                        const wsf_deflate_params *deflate) {
  wsf_daemon *d = c->d;
  wsf_handshake *hs = c->hs;
  uint64_t now = wsf_now_us();
  c->timings.queued_us = hs->t_admitted - c->started_us;
  c->timings.dns_us = hs->t_dns - hs->t_admitted;
  c->timings.connect_us = hs->t_connected - hs->t_dns;
  c->timings.tls_us = c->tls ? hs->t_tls - hs->t_connected : 0;
  c->timings.upgrade_us = now - hs->t_sent;
  c->timings.total_us = now - c->started_us;
  hist_timings(d, &c->timings);
  if (hs->resp.subprotocol)
    c->subprotocol = wsf_xstrndup(hs->resp.subprotocol, strlen(hs->resp.subprotocol));
  keep_response_headers(c, &hs->resp);
  wsf_timer_stop(&d->timers, &c->deadline);
  c->opened_us = now;
  c->opened_at_ms = wsf_wall_ms();
  c->counted_open = 1;
  d->stats.opened_total++;
  set_state(c, WSF_CONN_OPEN);
  release_handshake(c);
  wsf_ws_init(&c->ws, &c->transport, false, c->max_message_bytes, &ws_callbacks);
  if (deflate && wsf_ws_enable_deflate(&c->ws, deflate) == 0) {
    c->deflate = wsf_xcalloc(1, sizeof *c->deflate);
    c->deflate->agreed = *deflate;
  }
  start_keepalive(c);
  TELL_OBSERVERS(d, opened, c);
  complete_waits(c, 1u << WSF_WAIT_OPEN, WSF_OK);
  if (rest_len && c->state == WSF_CONN_OPEN) /* frames the server sent right after its 101 */
    wsf_ws_feed(&c->ws, rest, rest_len);
}

static void handshake_data(wsf_conn *c, const uint8_t *data, size_t len) {
  wsf_handshake *hs = c->hs;
  size_t consumed = 0;
  wsf_hs_result r = len ? wsf_hs_response_feed(&hs->resp, data, len, &consumed) : WSF_HS_REJECTED;
  switch (r) {
  case WSF_HS_NEED_MORE:
    return;
  case WSF_HS_DONE: {
    wsf_deflate_params agreed;
    char why[WSF_DEFLATE_ERROR_LEN];
    int ext = wsf_deflate_client_check_answer(&hs->deflate, hs->resp.extensions, &agreed, why);
    if (ext < 0) {
      char msg[WSF_DEFLATE_ERROR_LEN + 64];
      snprintf(msg, sizeof msg, "bad Sec-WebSocket-Extensions answer: %s", why);
      fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, hs->resp.status, NULL, 0);
      return;
    }
    became_open(c, data + consumed, len - consumed, ext == 1 ? &agreed : NULL);
    return;
  }
  case WSF_HS_REJECTED: {
    char msg[256];
    if (hs->resp.status != 101)
      snprintf(msg, sizeof msg, "server answered HTTP %d instead of 101", hs->resp.status);
    else
      snprintf(msg, sizeof msg, "%s", hs->resp.error ? hs->resp.error : "bad upgrade response");
    fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, hs->resp.status, hs->resp.body,
              hs->resp.body_len);
    return;
  }
  default: {
    char msg[256];
    snprintf(msg, sizeof msg, "bad upgrade response: %s", hs->resp.error ? hs->resp.error : "not HTTP");
    fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, hs->resp.status, NULL, 0);
    return;
  }
  }
}

static void on_connect_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  char msg[128];
  const char *phase = c->hs ? (c->admitted ? c->hs->phase : "queued") : "connect";
  if (c->hs)
    c->hs->phase = phase;
  snprintf(msg, sizeof msg, "open timed out in the %s phase", phase);
  fail_open(c, WSF_E_TIMEOUT, WSF_CAUSE_TIMEOUT, msg, 0, NULL, 0);
}

/* ---- admission ------------------------------------------------------------------------ */

/* A burst of opens or closes leaves freed handshake and request memory that
 * glibc keeps; once the burst is over (at most once a second) it goes back
 * to the system, so RSS reflects the connections held, not the peak. */
static void give_back_memory(wsf_daemon *d) {
  uint64_t now = wsf_now_us();
  if (now - d->trimmed_us < 1000 * 1000)
    return;
  d->trimmed_us = now;
  malloc_trim(0);
}

static void on_admit_timer(wsf_timer *t) {
  wsf_daemon *d = wsf_container_of(t, wsf_daemon, admit_timer);
  admit_next(d);
}

/* Token bucket for --connect-rate (burst of one tenth of a second's worth,
 * at least 1) and a cap on handshakes in flight for --max-handshakes. */
static bool take_token(wsf_daemon *d) {
  double rate = d->cfg.connect_rate;
  if (rate <= 0)
    return true;
  uint64_t now = wsf_now_us();
  double burst = rate / 10 > 1 ? rate / 10 : 1;
  d->rate_tokens += (now - d->rate_refilled_us) * rate / 1e6;
  d->rate_refilled_us = now;
  if (d->rate_tokens > burst)
    d->rate_tokens = burst;
  if (d->rate_tokens >= 1) {
    d->rate_tokens -= 1;
    return true;
  }
  uint64_t wait_us = (uint64_t)((1 - d->rate_tokens) * 1e6 / rate) + 1;
  if (!wsf_timer_active(&d->admit_timer))
    wsf_timer_start(&d->timers, &d->admit_timer, wait_us);
  return false;
}

static bool can_admit(wsf_daemon *d) {
  return !d->cfg.max_handshakes || d->handshakes_in_flight < d->cfg.max_handshakes;
}

static void admit(wsf_conn *c) {
  c->admitted = 1;
  c->d->handshakes_in_flight++;
  start_handshake(c);
}

static void admit_next(wsf_daemon *d) {
  /* Bounded by the queue length; each admitted open leaves the queue. */
  while (d->admit_head && can_admit(d) && take_token(d)) {
    wsf_conn *c = d->admit_head;
    d->admit_head = c->admit_next;
    if (!d->admit_head)
      d->admit_tail = NULL;
    c->admit_next = NULL;
    admit(c);
  }
  if (!d->admit_head && !d->handshakes_in_flight)
    give_back_memory(d);
}

static void enqueue_or_admit(wsf_conn *c) {
  wsf_daemon *d = c->d;
  if (!d->admit_head && can_admit(d) && take_token(d)) {
    admit(c);
    return;
  }
  c->admit_next = NULL;
  if (d->admit_tail)
    d->admit_tail->admit_next = c;
  else
    d->admit_head = c;
  d->admit_tail = c;
}

/* ---- the API ----------------------------------------------------------------------------- */

void wsf_conns_init(wsf_daemon *d) {
  wsf_registry_init(&d->conns);
  wsf_timer_init(&d->admit_timer, on_admit_timer);
  d->rate_refilled_us = wsf_now_us();
  d->rate_tokens = 1;
}

void wsf_conn_observe(wsf_daemon *d, const wsf_conn_observer *table, void *ctx) {
  if (d->n_conn_observers >= WSF_MAX_CONN_OBSERVERS) {
    wsf_log(WSF_LOG_ERROR, "more than %d connection observers", WSF_MAX_CONN_OBSERVERS);
    abort();
  }
  d->conn_observers[d->n_conn_observers].table = table;
  d->conn_observers[d->n_conn_observers].ctx = ctx;
  d->n_conn_observers++;
}

wsf_conn *wsf_conn_find(wsf_daemon *d, const char *name, size_t len) {
  return wsf_registry_get(&d->conns, name, len);
}

static void open_error(wsf_daemon *d, wsf_wait *w, wsf_err err, const char *message) {
  /* Errors before a connection exists complete with conn == NULL. */
  (void)d;
  w->conn = NULL;
  w->error_message = message;
  w->done(w, err, NULL);
}

void wsf_conn_open(wsf_daemon *d, const wsf_open_params *p, wsf_wait *w) {
  w->kind = WSF_WAIT_OPEN;
  w->started_us = wsf_now_us();
  w->reused = false;
  wsf_timer_init(&w->timer, on_wait_timeout);
  if (d->shutting_down) {
    open_error(d, w, WSF_E_SHUTTING_DOWN, "the daemon is shutting down");
    return;
  }
  wsf_conn *old = wsf_conn_find(d, p->name, p->name_len);
  if (old && old->state != WSF_CONN_CLOSED) {
    if (p->reuse == WSF_REUSE_NEVER) {
      open_error(d, w, WSF_E_CONN_EXISTS, "a live connection of that name exists (reuse is false)");
      return;
    }
    /* A name reused for another URL is a plan mistake (two thread groups
     * sharing default names): say so rather than hand over a connection to
     * somewhere else. */
    if (p->reuse == WSF_REUSE_SAME_URL &&
        (strlen(old->url) != p->url_len || memcmp(old->url, p->url, p->url_len))) {
      w->conn = old;
      w->requested_url = p->url;
      w->requested_url_len = p->url_len;
      w->done(w, WSF_E_URL_MISMATCH, NULL);
      return;
    }
    w->reused = true;
    old->reused_count++;
    d->stats.reused_total++;
    if (old->state == WSF_CONN_CONNECTING) { /* join the handshake in progress */
      wait_link(old, w);
      return;
    }
    w->conn = old;
    w->done(w, WSF_OK, NULL);
    return;
  }
  if (d->n_connecting + d->n_open + d->n_closing >= d->cfg.max_connections) {
    open_error(d, w, WSF_E_LIMIT, "max_connections reached");
    return;
  }
  /* The parsed URL (4 KiB of resource) lives only until the request is built. */
  wsf_url *url = wsf_xmalloc(sizeof *url);
  const char *url_error = NULL;
  if (wsf_url_parse(p->url, p->url_len, url, &url_error) != 0) {
    free(url);
    open_error(d, w, WSF_E_BAD_REQUEST, url_error ? url_error : "bad url");
    return;
  }
  wsf_handshake *hs = wsf_xcalloc(1, sizeof *hs);
  memcpy(hs->host, url->host, sizeof hs->host);
  hs->port = url->port;
  bool tls = url->tls;
  /* The request is built up front so bad headers fail the open before any I/O. */
  wsf_header *headers = wsf_xcalloc(p->n_headers ? p->n_headers : 1, sizeof *headers);
  for (size_t i = 0; i < p->n_headers; i++) {
    headers[i].name = wsf_xstrndup(p->header_names[i], p->header_name_lens[i]);
    headers[i].value = wsf_xstrndup(p->header_values[i], p->header_value_lens[i]);
  }
  hs->n_subprotocols = p->n_subprotocols;
  hs->subprotocols = wsf_xcalloc(p->n_subprotocols ? p->n_subprotocols : 1, sizeof *hs->subprotocols);
  for (size_t i = 0; i < p->n_subprotocols; i++)
    hs->subprotocols[i] = wsf_xstrndup(p->subprotocols[i], p->subprotocol_lens[i]);
  const char *req_error = NULL;
  char offer[WSF_DEFLATE_OFFER_LEN];
  hs->deflate = p->deflate;
  int offer_len = wsf_deflate_client_offer(&p->deflate, offer, &req_error);
  if (offer_len >= 0 && wsf_handshake_make_key(hs->key) != 0)
    req_error = "cannot draw a key from the CSPRNG";
  else if (offer_len >= 0)
    hs->request = wsf_handshake_build_request(url, hs->key, headers, p->n_headers,
                                              (const char *const *)hs->subprotocols, hs->n_subprotocols,
                                              offer_len > 0 ? offer : NULL, &hs->request_len, &req_error);
  for (size_t i = 0; i < p->n_headers; i++) {
    free(headers[i].name);
    free(headers[i].value);
  }
  free(headers);
  free(url);
  if (!hs->request) {
    hs_free(hs);
    open_error(d, w, WSF_E_BAD_REQUEST, req_error ? req_error : "cannot build the upgrade request");
    return;
  }
  if (tls) {
    wsf_tls_options o = {
        .verify = p->tls_verify,
        .ca_file = p->tls_ca_file,
        .cert_file = p->tls_cert_file,
        .key_file = p->tls_key_file,
        .ciphers = p->tls_ciphers,
    };
    char err[256] = "";
    hs->tls_config = wsf_tls_config_get(&o, err, sizeof err);
    if (!hs->tls_config) {
      hs_free(hs);
      open_error(d, w, WSF_E_TLS, err[0] ? err : "bad TLS configuration");
      return;
    }
    const char *sni = p->tls_server_name ? p->tls_server_name : hs->host;
    hs->server_name = wsf_xstrndup(sni, strlen(sni));
  }
  wsf_hs_response_init(&hs->resp, hs->key, (const char *const *)hs->subprotocols, hs->n_subprotocols);
  hs->resp_init = true;

  if (old)
    forget(old); /* a closed connection's record and inbox go when its name is reopened */

  wsf_conn *c = wsf_xcalloc(1, sizeof *c);
  c->name = wsf_xstrndup(p->name, p->name_len);
  c->url = wsf_xstrndup(p->url, p->url_len);
  c->d = d;
  c->hs = hs;
  hs->conn = c;
  c->tls = tls;
  c->state = WSF_CONN_CONNECTING;
  d->n_connecting++;
  c->started_us = w->started_us;
  c->last_sent_us = c->last_recv_us = c->last_ping_us = c->last_pong_us = WSF_NEVER;
  c->max_message_bytes = p->max_message_bytes;
  wsf_inbox_init(&c->inbox, p->inbox_max_messages, p->inbox_max_bytes);
  c->ka = wsf_keepalive_intern(d, p->keepalive);
  wsf_timer_init(&c->ka_timer, on_heartbeat);
  wsf_timer_init(&c->pong_timer, on_pong_timeout);
  wsf_timer_init(&c->deadline, on_connect_timeout);
  wsf_timer_init(&c->output_timer, on_output_stalled);
  wsf_registry_put(&d->conns, c);
  wait_link(c, w);
  deadline_in(c, on_connect_timeout, (uint64_t)p->connect_timeout_ms * 1000);
  enqueue_or_admit(c);
}

wsf_err wsf_conn_send(wsf_conn *c, int opcode, const uint8_t *data, size_t len) {
  if (c->state != WSF_CONN_OPEN)
    return WSF_E_CONN_CLOSED;
  if (output_pending(c) > c->d->cfg.max_output_bytes)
    return WSF_E_LIMIT;
  if (wsf_ws_send(&c->ws, opcode, data, len) != 0)
    return WSF_E_CONN_CLOSED;
  check_output(c);
  uint64_t now = wsf_now_us();
  note_sent(c, now);
  c->msgs_out++;
  c->bytes_out += len;
  c->d->stats.msgs_out++;
  c->d->stats.bytes_out += len;
  account_deflate(c);
  return WSF_OK;
}

void wsf_conn_recv(wsf_conn *c, wsf_wait *w, uint32_t timeout_ms) {
  w->kind = WSF_WAIT_RECV;
  w->started_us = wsf_now_us();
  w->conn = c;
  wsf_timer_init(&w->timer, on_wait_timeout);
  wsf_msg *prev = NULL;
  for (wsf_msg *m = c->inbox.head; m;) {
    wsf_msg *next = m->next;
    size_t before = c->inbox.bytes;
    if (m->seq >= w->min_seq && wsf_match_test(&w->match, (const char *)m->data, m->len)) {
      wsf_inbox_remove(&c->inbox, prev, m);
      inbox_changed(c, before);
      w->done(w, WSF_OK, m);
      return;
    }
    if (w->discard_unmatched && m->seq >= w->min_seq) {
      wsf_inbox_remove(&c->inbox, prev, m);
      inbox_changed(c, before);
      free(m);
      w->discarded++;
    } else {
      prev = m;
    }
    m = next;
  }
  if (c->state == WSF_CONN_CLOSED) {
    w->done(w, WSF_E_CONN_CLOSED, NULL);
    return;
  }
  if (timeout_ms == 0) {
    w->done(w, WSF_E_TIMEOUT, NULL);
    return;
  }
  wait_start(c, w, timeout_ms);
}

void wsf_conn_ping(wsf_conn *c, wsf_wait *w, const uint8_t *payload, size_t len, uint32_t timeout_ms) {
  w->kind = WSF_WAIT_PING;
  w->started_us = wsf_now_us();
  w->conn = c;
  wsf_timer_init(&w->timer, on_wait_timeout);
  if (c->state != WSF_CONN_OPEN) {
    w->done(w, WSF_E_CONN_CLOSED, NULL);
    return;
  }
  if (len > sizeof w->ping_payload)
    len = sizeof w->ping_payload;
  if (payload && len) {
    memcpy(w->ping_payload, payload, len);
    w->ping_len = (uint8_t)len;
  } else {
    wsf_random(w->ping_payload, 8);
    w->ping_len = 8;
  }
  if (wsf_ws_send(&c->ws, WSF_WS_PING, w->ping_payload, w->ping_len) != 0) {
    w->done(w, WSF_E_CONN_CLOSED, NULL);
    return;
  }
  c->last_ping_us = w->started_us;
  note_sent(c, w->started_us);
  wait_start(c, w, timeout_ms);
}

static void on_close_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  finish(c, 1006, WSF_BY_CLIENT, false, WSF_CAUSE_TIMEOUT, NULL, 0, "no close frame from the server in time");
  close_transport(c, false);
}

void wsf_conn_close(wsf_conn *c, wsf_wait *w, uint16_t code, const char *reason, size_t reason_len,
                    uint32_t timeout_ms) {
  w->kind = WSF_WAIT_CLOSE;
  w->started_us = wsf_now_us();
  w->conn = c;
  wsf_timer_init(&w->timer, on_wait_timeout);
  switch (c->state) {
  case WSF_CONN_CLOSED:
    w->done(w, WSF_OK, NULL);
    return;
  case WSF_CONN_CONNECTING:
    fail_open(c, WSF_E_CONN_CLOSED, WSF_CAUSE_LOCAL_CLOSE, "closed by the client during the handshake", 0,
              NULL, 0);
    w->done(w, WSF_OK, NULL);
    return;
  case WSF_CONN_OPEN:
    if (wsf_ws_close(&c->ws, code, reason, reason_len) != 0) {
      finish(c, 1006, WSF_BY_CLIENT, false, WSF_CAUSE_IO_ERROR, NULL, 0, "cannot send the close frame");
      close_transport(c, false);
      w->done(w, WSF_OK, NULL);
      return;
    }
    note_sent(c, w->started_us);
    set_state(c, WSF_CONN_CLOSING);
    wsf_timer_stop(&c->d->timers, &c->ka_timer);
    wsf_timer_stop(&c->d->timers, &c->pong_timer);
    deadline_in(c, on_close_timeout, (uint64_t)timeout_ms * 1000);
    /* wait for the server's close frame */
    /* fall through */
  case WSF_CONN_CLOSING:
    wait_link(c, w); /* no timer of its own: the connection's deadline ends it */
    return;
  }
}

/* Ends a live connection at once for reset/shutdown: close frame, FIN, and a
 * short linger for the server's answer. */
static void end_now(wsf_conn *c, uint16_t code, const char *reason, wsf_cause cause) {
  if (c->state == WSF_CONN_CONNECTING) {
    fail_open(c, WSF_E_CONN_CLOSED, cause, cause == WSF_CAUSE_SHUTDOWN ? "daemon shutting down" : "reset", 0,
              NULL, 0);
    return;
  }
  if (c->state == WSF_CONN_OPEN)
    wsf_ws_close(&c->ws, code, reason, strlen(reason));
  finish(c, code, WSF_BY_CLIENT, false, cause, reason, strlen(reason), NULL);
  if (c->transport_live && !c->transport.closing) {
    wsf_transport_shutdown(&c->transport);
    linger_then_close(c);
  }
}

uint32_t wsf_conns_reset(wsf_daemon *d, uint16_t code, const char *reason, uint32_t *forgotten) {
  uint32_t live = 0, names = 0;
  wsf_registry *r = &d->conns;
  d->sweeping = true; /* finish() must not forget records the loop below still walks */
  /* Collect first: forget() edits the table we walk. */
  wsf_conn **all = wsf_xcalloc(r->count ? r->count : 1, sizeof *all);
  for (size_t i = 0; i < r->capacity; i++)
    if (r->slots[i])
      all[names++] = r->slots[i];
  for (uint32_t i = 0; i < names; i++) {
    wsf_conn *c = all[i];
    if (c->state != WSF_CONN_CLOSED) {
      live++;
      end_now(c, code, reason, WSF_CAUSE_DAEMON_RESET);
    }
    forget(c);
  }
  free(all);
  d->sweeping = false;
  d->forgotten_len = d->forgotten_next = 0;
  /* Counters start again from zero (the histograms too). */
  memset(&d->stats, 0, sizeof d->stats);
  d->trimmed_us = 0;
  give_back_memory(d);
  *forgotten = names;
  return live;
}

uint32_t wsf_conns_shutdown(wsf_daemon *d) {
  wsf_registry *r = &d->conns;
  d->sweeping = true; /* the walk below must not see the table change */
  for (size_t i = 0; i < r->capacity; i++) {
    wsf_conn *c = r->slots[i];
    if (c && c->state != WSF_CONN_CLOSED)
      end_now(c, 1001, "going away", WSF_CAUSE_SHUTDOWN);
  }
  return d->live_transports;
}
