#include "view.h"

#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "preset.h"
#include "util.h"

enum { RPC = WSF_TO_RPC, LOG = WSF_TO_LOG, PROM = WSF_TO_PROM };

static wsf_view *view_begin(wsf_view *v, const char *what) {
  v->what = what;
  v->n = 0;
  return v;
}

static wsf_view_field *add(wsf_view *v, const char *name, size_t name_len, uint8_t kind, unsigned to,
                           const wsf_prom *prom) {
  if (v->n == WSF_VIEW_MAX_FIELDS) {
    wsf_log(WSF_LOG_ERROR, "view %s has more than %d fields (raise WSF_VIEW_MAX_FIELDS)", v->what,
            WSF_VIEW_MAX_FIELDS);
    abort();
  }
  wsf_view_field *f = &v->f[v->n++];
  f->name = name;
  f->name_len = name_len < 32 ? (uint8_t)name_len : 0; /* 0: the packer measures and checks the name */
  f->kind = kind;
  f->to = (uint8_t)to;
  f->prom = prom;
  return f;
}

static void add_uint(wsf_view *v, const char *name, size_t name_len, uint64_t x, unsigned to,
                     const wsf_prom *prom) {
  add(v, name, name_len, WSF_VK_UINT, to, prom)->v.u = x;
}

static void add_us(wsf_view *v, const char *name, size_t name_len, uint64_t x, unsigned to) {
  add(v, name, name_len, WSF_VK_US, to, NULL)->v.u = x;
}

static void add_str(wsf_view *v, const char *name, size_t name_len, const char *s, unsigned to) {
  add(v, name, name_len, WSF_VK_STR, to, NULL)->v.s = s;
}

static void add_bool(wsf_view *v, const char *name, size_t name_len, bool b, unsigned to) {
  add(v, name, name_len, WSF_VK_BOOL, to, NULL)->v.b = b;
}

static void add_map(wsf_view *v, const char *name, size_t name_len, const wsf_view *map, unsigned to) {
  add(v, name, name_len, WSF_VK_MAP, to, NULL)->v.map = map;
}

static void add_hist(wsf_view *v, const char *name, size_t name_len, const wsf_hist *h, unsigned to,
                     const wsf_prom *prom) {
  add(v, name, name_len, WSF_VK_HIST, to, prom)->v.hist = h;
}

static void add_counts(wsf_view *v, const char *name, size_t name_len, const wsf_view_counts *c, unsigned to,
                       const wsf_prom *prom) {
  add(v, name, name_len, WSF_VK_COUNTS, to, prom)->v.counts = c;
}

static void add_list(wsf_view *v, const char *name, size_t name_len, const wsf_view_list *l, unsigned to) {
  add(v, name, name_len, WSF_VK_LIST, to, NULL)->v.list = l;
}

/* Every field name is a string literal (`name ""` does not compile otherwise):
 * its length is known here, and it is ASCII and shorter than 32 bytes, so the
 * packer copies it as a fixstr without strlen or a UTF-8 check (15 % of a
 * `status` reply's CPU). */
#define add_uint(v, name, ...) add_uint(v, name, sizeof(name "") - 1, __VA_ARGS__)
#define add_us(v, name, ...) add_us(v, name, sizeof(name "") - 1, __VA_ARGS__)
#define add_str(v, name, ...) add_str(v, name, sizeof(name "") - 1, __VA_ARGS__)
#define add_bool(v, name, ...) add_bool(v, name, sizeof(name "") - 1, __VA_ARGS__)
#define add_map(v, name, ...) add_map(v, name, sizeof(name "") - 1, __VA_ARGS__)
#define add_hist(v, name, ...) add_hist(v, name, sizeof(name "") - 1, __VA_ARGS__)
#define add_counts(v, name, ...) add_counts(v, name, sizeof(name "") - 1, __VA_ARGS__)
#define add_list(v, name, ...) add_list(v, name, sizeof(name "") - 1, __VA_ARGS__)

size_t wsf_view_count(const wsf_view *v, unsigned to) {
  size_t n = 0;
  for (uint16_t i = 0; i < v->n; i++)
    n += (v->f[i].to & to) != 0;
  return n;
}

size_t wsf_view_counts_listed(const wsf_view_counts *c) {
  if (c->keep_zeros)
    return c->n;
  size_t n = 0;
  for (size_t i = 0; i < c->n; i++)
    n += c->value(c->ctx, i) != 0;
  return n;
}

/* ---- close record, timings ---------------------------------------------------------- */

const wsf_view *wsf_view_record(wsf_view *out, const wsf_close_record *r) {
  wsf_view *v = view_begin(out, "close record");
  const unsigned all = RPC | LOG;
  add_uint(v, "code", r->code, all, NULL);
  add_str(v, "reason", r->reason, all);
  add_str(v, "initiator", wsf_initiator_name(r->initiator), all);
  add_bool(v, "clean", r->clean, all);
  add_str(v, "cause", wsf_cause_name(r->cause), all);
  add_str(v, "detail", r->detail, all);
  add_uint(v, "closed_at_ms", r->closed_at_ms, all, NULL);
  add_uint(v, "age_us", r->age_us, all, NULL);
  add_us(v, "since_sent_us", r->since_sent_us, all);
  add_us(v, "since_recv_us", r->since_recv_us, all);
  add_us(v, "since_ping_us", r->since_ping_us, all);
  add_us(v, "since_pong_us", r->since_pong_us, all);
  add_uint(v, "open_conns", r->open_conns, all, NULL);
  add_uint(v, "msgs_in", r->msgs_in, all, NULL);
  add_uint(v, "msgs_out", r->msgs_out, all, NULL);
  add_uint(v, "bytes_in", r->bytes_in, all, NULL);
  add_uint(v, "bytes_out", r->bytes_out, all, NULL);
  add_str(v, "source", r->source, all);
  add_str(v, "address", r->address, all);
  add_str(v, "summary", r->summary, all);
  return v;
}

const wsf_view *wsf_view_timings(wsf_view *out, const wsf_timings *t) {
  wsf_view *v = view_begin(out, "timings");
  const unsigned all = RPC | LOG;
  add_uint(v, "queued_us", t->queued_us, all, NULL);
  add_uint(v, "dns_us", t->dns_us, all, NULL);
  add_uint(v, "connect_us", t->connect_us, all, NULL);
  add_uint(v, "proxy_us", t->proxy_us, all, NULL);
  add_uint(v, "tls_us", t->tls_us, all, NULL);
  add_uint(v, "upgrade_us", t->upgrade_us, all, NULL);
  add_uint(v, "session_us", t->session_us, all, NULL);
  add_uint(v, "total_us", t->total_us, all, NULL);
  return v;
}

const wsf_view *wsf_view_deflate_params(wsf_view *out, const wsf_deflate_params *a) {
  wsf_view *v = view_begin(out, "deflate parameters");
  add_uint(v, "client_max_window_bits", (uint64_t)a->client_max_window_bits, RPC, NULL);
  add_uint(v, "server_max_window_bits", (uint64_t)a->server_max_window_bits, RPC, NULL);
  add_bool(v, "client_no_context_takeover", a->client_no_context_takeover, RPC);
  add_bool(v, "server_no_context_takeover", a->server_no_context_takeover, RPC);
  return v;
}

/* The four byte counts of permessage-deflate, appended to v (status's deflate
 * map, stats's deflate map). */
static void add_deflate_counts(wsf_view *v, const wsf_deflate_counters *c, unsigned to) {
#define DEFLATE_FAMILY                                                                                       \
  "wsfleet_deflate_bytes_total", "counter",                                                                  \
      "Payload bytes of permessage-deflate sessions, on the wire (compressed) and as the application sees "  \
      "them."
  static const wsf_prom in_c = {DEFLATE_FAMILY, "direction=\"in\",form=\"compressed\"", false};
  static const wsf_prom in_u = {DEFLATE_FAMILY, "direction=\"in\",form=\"uncompressed\"", false};
  static const wsf_prom out_c = {DEFLATE_FAMILY, "direction=\"out\",form=\"compressed\"", false};
  static const wsf_prom out_u = {DEFLATE_FAMILY, "direction=\"out\",form=\"uncompressed\"", false};
#undef DEFLATE_FAMILY
  add_uint(v, "bytes_in_compressed", c->bytes_in_compressed, to, &in_c);
  add_uint(v, "bytes_in", c->bytes_in, to, &in_u);
  add_uint(v, "bytes_out_compressed", c->bytes_out_compressed, to, &out_c);
  add_uint(v, "bytes_out", c->bytes_out, to, &out_u);
}

/* ---- status -------------------------------------------------------------------------- */

static uint64_t since(uint64_t now, uint64_t then) {
  return then == WSF_NEVER ? WSF_NEVER : now - then;
}

/* status auto_reply[i] */
static const wsf_view *rule_item(const void *ctx, size_t i, wsf_view *out) {
  const wsf_rule_counts *counts;
  const wsf_proto *p = wsf_conn_proto_rules(ctx, &counts);
  wsf_view *v = view_begin(out, "status auto_reply rule");
  add_str(v, "name", p->rules[i].name, RPC | LOG);
  add_uint(v, "matched", counts[i].matched, RPC | LOG, NULL);
  add_uint(v, "replied", counts[i].replied, RPC | LOG, NULL);
  add_uint(v, "failed", counts[i].failed, RPC | LOG, NULL);
  return v;
}

/* framing, preset, session captures and auto-reply counters: present (empty) without a protocol layer. */
static void add_protocol_layer(wsf_status_view *out, wsf_view *v, const wsf_conn *c) {
  const wsf_rule_counts *counts = NULL;
  const wsf_proto *p = wsf_conn_proto_rules(c, &counts);
  add_str(v, "framing", wsf_framing_name(p ? (wsf_framing_mode)p->framing : WSF_FRAMING_MESSAGE), RPC);
  add_str(v, "preset", p && p->preset ? wsf_preset_name((wsf_preset)p->preset) : NULL, RPC);
  wsf_view *s = view_begin(&out->session, "status session");
  for (uint8_t i = 0; p && i < p->n_capture_names; i++) {
    wsf_span value = wsf_conn_capture(c, i);
    if (value.p)
      (add_str)(s, p->capture_names[i], 0, value.p, RPC); /* user text: length 0 = measure and check it */
  }
  add_map(v, "session", s, RPC);
  out->auto_reply = (wsf_view_list){.n = p ? p->n_rules : 0, .ctx = c, .item = rule_item};
  add_list(v, "auto_reply", &out->auto_reply, RPC);
}

/* status.reconnect and status.rate_limit, present only for connections that asked for them. */
static void add_reconnect_and_pace(wsf_status_view *out, const wsf_conn *c) {
  wsf_reconnect_info ri;
  if (wsf_conn_reconnect_info(c, &ri)) {
    wsf_view *rv = view_begin(&out->reconnect, "status reconnect");
    add_uint(rv, "max", ri.policy.max, RPC, NULL);
    add_uint(rv, "backoff_ms", ri.policy.backoff_ms, RPC, NULL);
    add_uint(rv, "backoff_max_ms", ri.policy.backoff_max_ms, RPC, NULL);
    add_uint(rv, "jitter_ms", ri.policy.jitter_ms, RPC, NULL);
    add_uint(rv, "count", ri.count, RPC, NULL);
    add_uint(rv, "attempts", ri.attempts, RPC, NULL);
    add_bool(rv, "gave_up", ri.gave_up, RPC);
    add_bool(rv, "reconnecting", ri.waiting, RPC);
    add_uint(rv, "last_at_ms", ri.last_at_ms, RPC, NULL);
    add_map(rv, "last_record",
            ri.last_record ? wsf_view_record(&out->reconnect_record, ri.last_record) : NULL, RPC);
    add_map(&out->top, "reconnect", rv, RPC);
  }
  wsf_pace_info pi;
  if (wsf_conn_pace_info(c, &pi)) {
    wsf_view *pv = view_begin(&out->rate_limit, "status rate_limit");
    add_uint(pv, "messages", pi.limit.messages, RPC, NULL);
    add_uint(pv, "per_ms", pi.limit.per_ms, RPC, NULL);
    add_uint(pv, "margin_ms", pi.limit.margin_ms, RPC, NULL);
    add_uint(pv, "delayed", pi.delayed, RPC, NULL);
    add_uint(pv, "max_delay_us", pi.max_delay_us, RPC, NULL);
    add_uint(pv, "held", pi.held, RPC, NULL);
    add_uint(pv, "held_bytes", pi.held_bytes, RPC, NULL);
    add_uint(pv, "dropped", pi.dropped, RPC, NULL);
    add_map(&out->top, "rate_limit", pv, RPC);
  }
}

const wsf_view *wsf_view_status(wsf_status_view *out, const wsf_conn *c, uint64_t now) {
  wsf_view *v = view_begin(&out->top, "status");
  bool opened = c->counted_open;
  add_str(v, "conn", c->name, RPC);
  add_str(v, "state", wsf_conn_state_name(c->state), RPC);
  const wsf_view *deflate = NULL;
  if (c->deflate) {
    wsf_view *dv = view_begin(&out->deflate, "status deflate");
    add_map(dv, "agreed", wsf_view_deflate_params(&out->agreed, &c->deflate->agreed), RPC);
    add_deflate_counts(dv, &c->deflate->seen, RPC);
    deflate = dv;
  }
  add_map(v, "deflate", deflate, RPC);
  add_str(v, "url", c->url, RPC);
  add_str(v, "source", wsf_conn_source_text(c), RPC);
  add_str(v, "address", wsf_conn_peer_text(c, out->address), RPC);
  add_str(v, "subprotocol", c->subprotocol, RPC);
  add_uint(v, "reused_count", c->reused_count, RPC, NULL);
  add_uint(v, "opened_at_ms", opened ? c->opened_at_ms : 0, RPC, NULL);
  add_uint(v, "age_us", now - (opened ? c->opened_us : c->started_us), RPC, NULL);
  add_uint(v, "msgs_in", c->msgs_in, RPC, NULL);
  add_uint(v, "msgs_out", c->msgs_out, RPC, NULL);
  add_uint(v, "bytes_in", c->bytes_in, RPC, NULL);
  add_uint(v, "bytes_out", c->bytes_out, RPC, NULL);
  add_us(v, "since_sent_us", since(now, c->last_sent_us), RPC);
  add_us(v, "since_recv_us", since(now, c->last_recv_us), RPC);
  add_us(v, "since_ping_us", since(now, c->last_ping_us), RPC);
  add_us(v, "since_pong_us", since(now, c->last_pong_us), RPC);
  add_us(v, "ping_rtt_us", c->ping_rtt_us ? c->ping_rtt_us : WSF_NEVER, RPC);

  wsf_view *in = view_begin(&out->inbox, "status inbox");
  add_uint(in, "messages", c->inbox.count, RPC, NULL);
  add_uint(in, "bytes", c->inbox.bytes, RPC, NULL);
  add_uint(in, "dropped", c->inbox.dropped, RPC, NULL);
  add_map(v, "inbox", in, RPC);

  wsf_view *ka = view_begin(&out->keepalive, "status keepalive");
  add_str(ka, "mode", wsf_ka_mode_name(c->ka ? c->ka->mode : WSF_KA_NONE), RPC);
  add_uint(ka, "interval_ms", c->ka ? c->ka->interval_ms : 0, RPC, NULL);
  add_uint(ka, "jitter_ms", c->ka ? c->ka->jitter_ms : 0, RPC, NULL);
  add_uint(ka, "pong_timeout_ms", c->ka ? c->ka->pong_timeout_ms : 0, RPC, NULL);
  add_uint(ka, "reply_timeout_ms", c->ka ? c->ka->reply_timeout_ms : 0, RPC, NULL);
  add_uint(ka, "sent", c->ka_sent, RPC, NULL);
  add_uint(ka, "replies", c->ka_replies, RPC, NULL);
  add_uint(ka, "late_us_max", c->ka_late_max_us, RPC, NULL);
  add_uint(ka, "skipped", c->ka_skipped, RPC, NULL);
  add_map(v, "keepalive", ka, RPC);

  add_protocol_layer(out, v, c);
  add_map(v, "timings", wsf_view_timings(&out->timings, &c->timings), RPC);
  add_map(v, "record", c->record ? wsf_view_record(&out->record, c->record) : NULL, RPC);
  add_reconnect_and_pace(out, c);
  return v;
}

/* ---- stats ----------------------------------------------------------------------------- */

static const char *code_key(const void *ctx, size_t i, char buf[16]) {
  const wsf_stats *s = ctx;
  snprintf(buf, 16, "%u", s->codes_seen[i]);
  return buf;
}

static uint64_t code_value(const void *ctx, size_t i) {
  const wsf_stats *s = ctx;
  return s->closes_by_code[s->codes_seen[i]];
}

static const char *cause_key(const void *ctx, size_t i, char buf[16]) {
  (void)ctx;
  (void)buf;
  return wsf_cause_name((wsf_cause)i);
}

static uint64_t cause_value(const void *ctx, size_t i) {
  const wsf_stats *s = ctx;
  return s->closes_by_cause[i];
}

static const char *source_key(const void *ctx, size_t i, char buf[16]) {
  (void)buf;
  const wsf_source_pool *p = ctx;
  return p->addrs[i].text;
}

static uint64_t source_opens(const void *ctx, size_t i) {
  const wsf_source_pool *p = ctx;
  return p->addrs[i].opens;
}

static uint64_t source_failures(const void *ctx, size_t i) {
  const wsf_source_pool *p = ctx;
  return p->addrs[i].failures;
}

/* stats auto_replies: the rule names sets were compiled with, then "other" (WSF_AUTO_REPLY_NAMES_MAX). */
static const char *auto_reply_key(const void *ctx, size_t i, char buf[16]) {
  (void)buf;
  const wsf_daemon *d = ctx;
  return i < d->protos.n_names ? d->protos.names[i] : "other";
}

static uint64_t auto_reply_value(const void *ctx, size_t i) {
  const wsf_daemon *d = ctx;
  return d->stats.auto_replies[i < d->protos.n_names ? i : WSF_AUTO_REPLY_NAMES_MAX];
}

static const char *pool_key(const void *ctx, size_t i, char buf[16]) {
  (void)buf;
  const wsf_source_pool *p = ctx;
  return p->rotations[i].name;
}

static uint64_t pool_opens(const void *ctx, size_t i) {
  return wsf_source_rotation_opens(ctx, (uint32_t)i);
}

static uint64_t pool_failures(const void *ctx, size_t i) {
  return wsf_source_rotation_failures(ctx, (uint32_t)i);
}

#define PROM(var, family, type, help, labels, seconds)                                                       \
  static const wsf_prom var = {family, type, help, labels, seconds}

const wsf_view *wsf_view_stats(wsf_stats_view *out, const wsf_daemon *d, uint64_t now,
                               const wsf_view_counts *control_limits) {
  const wsf_stats *s = &d->stats;
  wsf_view *v = view_begin(&out->top, "stats");
#define conns_help "Named connections by state; closed ones keep their close record until reset or reopen."
  PROM(p_open, "wsfleet_connections", "gauge", conns_help, "state=\"open\"", false);
  PROM(p_connecting, "wsfleet_connections", "gauge", conns_help, "state=\"connecting\"", false);
  PROM(p_closing, "wsfleet_connections", "gauge", conns_help, "state=\"closing\"", false);
  PROM(p_closed, "wsfleet_connections", "gauge", conns_help, "state=\"closed\"", false);
  add_uint(v, "open", d->n_open, RPC | LOG | PROM, &p_open);
  add_uint(v, "connecting", d->n_connecting, RPC | LOG | PROM, &p_connecting);
  add_uint(v, "closing", d->n_closing, RPC | LOG | PROM, &p_closing);
  add_uint(v, "closed", d->n_closed, RPC | LOG | PROM, &p_closed);
  PROM(p_inflight, "wsfleet_handshakes_in_flight", "gauge",
       "Opening handshakes admitted and not yet finished.", NULL, false);
  add_uint(v, "handshakes_in_flight", d->handshakes_in_flight, PROM, &p_inflight);

  PROM(p_opened, "wsfleet_connections_opened_total", "counter",
       "Connections that reached open (stats opened_total).", NULL, false);
  PROM(p_reused, "wsfleet_connections_reused_total", "counter",
       "Opens answered by an existing connection of that name (stats reused_total).", NULL, false);
  PROM(p_failed, "wsfleet_connections_failed_total", "counter",
       "Opens that ended before reaching open (stats failed_total).", NULL, false);
  PROM(p_closed_total, "wsfleet_connections_closed_total", "counter",
       "Connections that ended after reaching open (stats closed_total).", NULL, false);
  add_uint(v, "opened_total", s->opened_total, RPC | LOG | PROM, &p_opened);
  add_uint(v, "reused_total", s->reused_total, RPC | LOG | PROM, &p_reused);
  add_uint(v, "failed_total", s->failed_total, RPC | LOG | PROM, &p_failed);
  add_uint(v, "closed_total", s->closed_total, RPC | LOG | PROM, &p_closed_total);
  PROM(p_tls_resumed, "wsfleet_tls_resumed_total", "counter",
       "TLS handshakes that resumed an earlier session (--tls-session-cache; stats tls_resumed_total).", NULL,
       false);
  add_uint(v, "tls_resumed_total", s->tls_resumed_total, RPC | PROM, &p_tls_resumed);
  PROM(p_reconnects, "wsfleet_reconnects_total", "counter",
       "Reopens by the reconnect policy that reached open (stats reconnects_total); each replaced a drop "
       "that is also counted in the closes.",
       NULL, false);
  PROM(p_reconnect_failures, "wsfleet_reconnect_failures_total", "counter",
       "Reopen attempts of the reconnect policy that failed (stats reconnect_failures_total).", NULL, false);
  add_uint(v, "reconnects_total", s->reconnects_total, RPC | LOG | PROM, &p_reconnects);
  add_uint(v, "reconnect_failures_total", s->reconnect_failures_total, RPC | LOG | PROM,
           &p_reconnect_failures);

  out->by_code = (wsf_view_counts){.n = s->n_codes_seen,
                                   .ctx = s,
                                   .key = code_key,
                                   .value = code_value,
                                   .prom_label = "code",
                                   .keep_zeros = true, /* every code seen is listed */
                                   .prom_zeros = true};
  PROM(p_by_code, "wsfleet_closes_by_code_total", "counter",
       "Ended connections (closed or failed) by close code; 1006 when no close frame; 0 = outside 0..4999.",
       NULL, false);
  add_counts(v, "closes_by_code", &out->by_code, RPC | PROM, &p_by_code);
  /* Every cause in Prometheus, zeros included (cause.h declares each once). */
  out->by_cause = (wsf_view_counts){.n = WSF_CAUSE_COUNT,
                                    .ctx = s,
                                    .key = cause_key,
                                    .value = cause_value,
                                    .prom_label = "cause",
                                    .prom_zeros = true,
                                    .prom_first = WSF_CAUSE_NONE + 1};
  PROM(p_by_cause, "wsfleet_closes_by_cause_total", "counter",
       "Ended connections (closed or failed) by low-level cause (PROTOCOL.md close causes).", NULL, false);
  add_counts(v, "closes_by_cause", &out->by_cause, RPC | LOG | PROM, &p_by_cause);

#define phase_help                                                                                           \
  "Opening handshake phases: dns, connect (TCP), proxy (HTTP proxy CONNECT), tls (wss only), "               \
  "upgrade (HTTP request to 101)."
  PROM(p_dns, "wsfleet_handshake_phase_seconds", "histogram", phase_help, "phase=\"dns\"", true);
  PROM(p_connect, "wsfleet_handshake_phase_seconds", "histogram", phase_help, "phase=\"connect\"", true);
  PROM(p_proxy, "wsfleet_handshake_phase_seconds", "histogram", phase_help, "phase=\"proxy\"", true);
  PROM(p_tls, "wsfleet_handshake_phase_seconds", "histogram", phase_help, "phase=\"tls\"", true);
  PROM(p_upgrade, "wsfleet_handshake_phase_seconds", "histogram", phase_help, "phase=\"upgrade\"", true);
  PROM(p_hs_total, "wsfleet_handshake_seconds", "histogram",
       "Whole opens, from the open request to open, admission queueing included.", NULL, true);
  add_hist(v, "handshake_dns_us", &s->hs_dns, PROM, &p_dns);
  add_hist(v, "handshake_connect_us", &s->hs_connect, PROM, &p_connect);
  add_hist(v, "handshake_proxy_us", &s->hs_proxy, PROM, &p_proxy);
  add_hist(v, "handshake_tls_us", &s->hs_tls, PROM, &p_tls);
  add_hist(v, "handshake_upgrade_us", &s->hs_upgrade, PROM, &p_upgrade);
  add_hist(v, "handshake_us", &s->hs_total, PROM, &p_hs_total);

  PROM(p_msgs_in, "wsfleet_messages_total", "counter", "WebSocket data messages by direction.",
       "direction=\"in\"", false);
  PROM(p_msgs_out, "wsfleet_messages_total", "counter", "WebSocket data messages by direction.",
       "direction=\"out\"", false);
#define bytes_help "Payload bytes of WebSocket data messages by direction."
  PROM(p_bytes_in, "wsfleet_message_bytes_total", "counter", bytes_help, "direction=\"in\"", false);
  PROM(p_bytes_out, "wsfleet_message_bytes_total", "counter", bytes_help, "direction=\"out\"", false);
  PROM(p_dropped, "wsfleet_inbox_dropped_messages_total", "counter",
       "Received messages dropped because an inbox was full (stats inbox_dropped).", NULL, false);
  add_uint(v, "msgs_in", s->msgs_in, RPC | LOG | PROM, &p_msgs_in);
  add_uint(v, "msgs_out", s->msgs_out, RPC | LOG | PROM, &p_msgs_out);
  add_uint(v, "bytes_in", s->bytes_in, RPC | LOG | PROM, &p_bytes_in);
  add_uint(v, "bytes_out", s->bytes_out, RPC | LOG | PROM, &p_bytes_out);
  add_uint(v, "inbox_dropped", s->inbox_dropped, RPC | LOG | PROM, &p_dropped);
  add_uint(v, "records_forgotten", s->records_forgotten, RPC, NULL);

  out->auto_replies = (wsf_view_counts){.n = d->protos.n_names + 1u, /* + "other" */
                                        .ctx = d,
                                        .key = auto_reply_key,
                                        .value = auto_reply_value,
                                        .prom_label = "rule"};
  PROM(p_auto_replies, "wsfleet_auto_replies_total", "counter",
       "Auto-replies sent, by rule name (open's auto_reply and the presets' rules; names past 64 as other).",
       NULL, false);
  add_counts(v, "auto_replies", &out->auto_replies, RPC | LOG | PROM, &p_auto_replies);
  PROM(p_auto_reply_failures, "wsfleet_auto_reply_failures_total", "counter",
       "Auto-replies not sent: over 64 KiB after expansion, or the connection could not send.", NULL, false);
  add_uint(v, "auto_reply_failures", s->auto_reply_failures, RPC | PROM, &p_auto_reply_failures);
  PROM(p_session_failures, "wsfleet_session_failures_total", "counter",
       "Opens failed by a session step (a message that did not match, or none in time).", NULL, false);
  add_uint(v, "session_failures", s->session_failures, RPC | LOG | PROM, &p_session_failures);
  add_uint(v, "captures_cut", s->captures_cut, RPC, NULL);
  PROM(p_dns_fail, "wsfleet_dns_failures_total", "counter",
       "Gateway name lookups that failed or returned no TCP address (stats dns.failures).", NULL, false);
  PROM(p_dns_hits, "wsfleet_dns_cache_hits_total", "counter",
       "Opens of a gateway name served from the cache, without a lookup (--dns-cache-ms).", NULL, false);
  wsf_view *dns = view_begin(&out->dns, "stats dns");
  add_uint(dns, "failures", s->dns_failures, RPC | PROM, &p_dns_fail);
  add_uint(dns, "cache_hits", s->dns_cache_hits, RPC | PROM, &p_dns_hits);
  add_uint(dns, "cache_ms", d->cfg.dns_cache_ms, RPC, NULL);
  add_uint(dns, "names", d->dns.count, RPC, NULL);
  add_map(v, "dns", dns, RPC | PROM);

  wsf_view *dv = view_begin(&out->deflate, "stats deflate");
  add_deflate_counts(dv, &s->deflate, RPC | PROM);
  add_map(v, "deflate", dv, RPC | PROM);

  PROM(p_ctl, "wsfleet_control_clients", "gauge", "Connected control-protocol clients.", NULL, false);
  add_uint(v, "control_clients", d->control_clients, RPC | PROM, &p_ctl);
  if (control_limits)
    add_counts(v, "control_limits", control_limits, RPC, NULL);

  /* Every source address the daemon has (the pool's rotation, then those open named), zeros
   * included: an address of the rotation that never opens is the finding. */
  out->source_opens = (wsf_view_counts){.n = d->sources.n,
                                        .ctx = &d->sources,
                                        .key = source_key,
                                        .value = source_opens,
                                        .prom_label = "source",
                                        .keep_zeros = true,
                                        .prom_zeros = true};
  out->source_failures = out->source_opens;
  out->source_failures.value = source_failures;
  PROM(p_src_opens, "wsfleet_source_opens_total", "counter",
       "Connections that reached open, by the source address bound (--source-addresses, open's source).",
       NULL, false);
  PROM(p_src_failures, "wsfleet_source_failures_total", "counter",
       "Binds and connects that failed, by the source address bound.", NULL, false);
  wsf_view *sv = view_begin(&out->sources, "stats sources");
  add_counts(sv, "opens", &out->source_opens, RPC | PROM, &p_src_opens);
  add_counts(sv, "failures", &out->source_failures, RPC | PROM, &p_src_failures);
  /* Per pool ("default" = --source-addresses, then --source-pool's): its members' counters summed,
   * so an address in two pools counts in both. */
  out->pool_opens = (wsf_view_counts){.n = d->sources.n_rotations,
                                      .ctx = &d->sources,
                                      .key = pool_key,
                                      .value = pool_opens,
                                      .prom_label = "pool",
                                      .keep_zeros = true,
                                      .prom_zeros = true};
  out->pool_failures = out->pool_opens;
  out->pool_failures.value = pool_failures;
  PROM(p_pool_opens, "wsfleet_source_pool_opens_total", "counter",
       "Connections that reached open, by source pool (the sum over its addresses).", NULL, false);
  PROM(p_pool_failures, "wsfleet_source_pool_failures_total", "counter",
       "Binds and connects that failed, by source pool (the sum over its addresses).", NULL, false);
  add_counts(sv, "pool_opens", &out->pool_opens, RPC | PROM, &p_pool_opens);
  add_counts(sv, "pool_failures", &out->pool_failures, RPC | PROM, &p_pool_failures);
  add_map(v, "sources", sv, RPC | PROM);

  PROM(p_hb, "wsfleet_heartbeats_sent_total", "counter", "Keepalive heartbeats (pings or payloads) sent.",
       NULL, false);
  add_uint(v, "heartbeats_sent", s->heartbeats_sent, RPC | LOG | PROM, &p_hb);
  wsf_view *ov = view_begin(&out->output, "stats output");
  add_uint(ov, "max_bytes", d->cfg.max_output_bytes, RPC, NULL);
  add_uint(ov, "stall_ms", d->cfg.output_stall_ms, RPC, NULL);
  add_uint(ov, "heartbeats_skipped", s->heartbeats_skipped, RPC, NULL);
  add_uint(ov, "pongs_coalesced", s->pongs_coalesced, RPC, NULL);
  add_uint(ov, "reads_paused", s->reads_paused, RPC, NULL);
  PROM(p_paced, "wsfleet_paced_messages_total", "counter",
       "Data messages a rate_limit held back before writing them (stats output.paced).", NULL, false);
  add_uint(ov, "paced", s->paced, RPC | PROM, &p_paced);
  add_map(v, "output", ov, RPC | PROM);

  PROM(p_late, "wsfleet_heartbeat_lateness_seconds", "histogram",
       "How late each keepalive heartbeat left relative to its schedule.", NULL, true);
  PROM(p_rtt, "wsfleet_ping_rtt_seconds", "histogram",
       "Round-trip time of answered pings (keepalive and ping method).", NULL, true);
  PROM(p_lag, "wsfleet_loop_lag_seconds", "histogram",
       "How late the daemon's event loop ran a timer it sets every 50 ms (resolution 1 ms).", NULL, true);
  add_hist(v, "heartbeat_late_us", &s->heartbeat_late, RPC | PROM, &p_late);
  add_hist(v, "ping_rtt_us", &s->ping_rtt, RPC | PROM, &p_rtt);
  add_hist(v, "loop_lag_us", &s->loop_lag, RPC | PROM, &p_lag);
  PROM(p_uptime, "wsfleet_uptime_seconds", "gauge", "Seconds since the daemon started.", NULL, true);
  add_uint(v, "uptime_us", now - d->started_us, RPC | PROM, &p_uptime);
#undef conns_help
#undef phase_help
#undef bytes_help
  return v;
}
