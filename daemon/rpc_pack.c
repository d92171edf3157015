/* Response packing shared by the method groups: close record, timings, stats. */
#include "rpc_internal.h"

#include <stdio.h>

void wsf_rpc_pack_record(msgpack_packer *pk, const wsf_close_record *r) {
  msgpack_pack_map(pk, 18);
  kv_uint(pk, "code", r->code);
  kv_str(pk, "reason", r->reason);
  kv_str(pk, "initiator", wsf_initiator_name(r->initiator));
  kv_bool(pk, "clean", r->clean);
  kv_str(pk, "cause", wsf_cause_name(r->cause));
  kv_str(pk, "detail", r->detail);
  kv_uint(pk, "closed_at_ms", r->closed_at_ms);
  kv_uint(pk, "age_us", r->age_us);
  kv_us(pk, "since_sent_us", r->since_sent_us);
  kv_us(pk, "since_recv_us", r->since_recv_us);
  kv_us(pk, "since_ping_us", r->since_ping_us);
  kv_us(pk, "since_pong_us", r->since_pong_us);
  kv_uint(pk, "open_conns", r->open_conns);
  kv_uint(pk, "msgs_in", r->msgs_in);
  kv_uint(pk, "msgs_out", r->msgs_out);
  kv_uint(pk, "bytes_in", r->bytes_in);
  kv_uint(pk, "bytes_out", r->bytes_out);
  kv_str(pk, "summary", r->summary);
}

void wsf_rpc_pack_timings(msgpack_packer *pk, const wsf_timings *t) {
  msgpack_pack_map(pk, 6);
  kv_uint(pk, "queued_us", t->queued_us);
  kv_uint(pk, "dns_us", t->dns_us);
  kv_uint(pk, "connect_us", t->connect_us);
  kv_uint(pk, "tls_us", t->tls_us);
  kv_uint(pk, "upgrade_us", t->upgrade_us);
  kv_uint(pk, "total_us", t->total_us);
}

/* The four byte counts of permessage-deflate (the caller packs the map header). */
void rpc_kv_deflate_counts(msgpack_packer *pk, const wsf_deflate_counters *c) {
  kv_uint(pk, "bytes_in_compressed", c->bytes_in_compressed);
  kv_uint(pk, "bytes_in", c->bytes_in);
  kv_uint(pk, "bytes_out_compressed", c->bytes_out_compressed);
  kv_uint(pk, "bytes_out", c->bytes_out);
}

static void pack_hist_summary(msgpack_packer *pk, const wsf_hist *h) {
  msgpack_pack_map(pk, 4);
  kv_uint(pk, "count", h->total);
  kv_uint(pk, "p50", wsf_hist_quantile(h, 0.50));
  kv_uint(pk, "p99", wsf_hist_quantile(h, 0.99));
  kv_uint(pk, "max", h->max_us);
}

/* The number of whole msgpack objects in buf. */
static size_t count_objects(const msgpack_sbuffer *buf) {
  msgpack_unpacked obj;
  msgpack_unpacked_init(&obj);
  size_t off = 0, n = 0;
  while (msgpack_unpack_next(&obj, buf->data, buf->size, &off) == MSGPACK_UNPACK_SUCCESS)
    n++;
  msgpack_unpacked_destroy(&obj);
  return n;
}

/* The pairs are packed into a scratch buffer and counted there before the
 * map header is written: a count kept by hand went wrong when two branches
 * each added a key and raised it to the same number, which merged silently. */
void wsf_rpc_pack_stats(wsf_daemon *d, msgpack_packer *out) {
  msgpack_sbuffer pairs;
  msgpack_sbuffer_init(&pairs);
  msgpack_packer scratch;
  msgpack_packer_init(&scratch, &pairs, msgpack_sbuffer_write);
  msgpack_packer *pk = &scratch;
  const wsf_stats *s = &d->stats;
  kv_uint(pk, "open", d->n_open);
  kv_uint(pk, "connecting", d->n_connecting);
  kv_uint(pk, "closing", d->n_closing);
  kv_uint(pk, "closed", d->n_closed);
  kv_uint(pk, "opened_total", s->opened_total);
  kv_uint(pk, "reused_total", s->reused_total);
  kv_uint(pk, "failed_total", s->failed_total);
  kv_uint(pk, "closed_total", s->closed_total);
  wsf_pack_key(pk, "closes_by_code");
  msgpack_pack_map(pk, s->n_codes_seen);
  for (uint16_t i = 0; i < s->n_codes_seen; i++) {
    char code[8];
    snprintf(code, sizeof code, "%u", s->codes_seen[i]);
    wsf_pack_str(pk, code);
    msgpack_pack_uint64(pk, s->closes_by_code[s->codes_seen[i]]);
  }
  size_t n = 0;
  for (int i = 0; i < WSF_CAUSE_COUNT; i++)
    n += s->closes_by_cause[i] != 0;
  wsf_pack_key(pk, "closes_by_cause");
  msgpack_pack_map(pk, n);
  for (int i = 0; i < WSF_CAUSE_COUNT; i++)
    if (s->closes_by_cause[i]) {
      wsf_pack_str(pk, wsf_cause_name((wsf_cause)i));
      msgpack_pack_uint64(pk, s->closes_by_cause[i]);
    }
  kv_uint(pk, "msgs_in", s->msgs_in);
  kv_uint(pk, "msgs_out", s->msgs_out);
  kv_uint(pk, "bytes_in", s->bytes_in);
  kv_uint(pk, "bytes_out", s->bytes_out);
  kv_uint(pk, "inbox_dropped", s->inbox_dropped);
  kv_uint(pk, "records_forgotten", s->records_forgotten);
  wsf_pack_key(pk, "deflate");
  msgpack_pack_map(pk, 4);
  rpc_kv_deflate_counts(pk, &s->deflate);
  kv_uint(pk, "control_clients", d->control_clients);
  wsf_pack_key(pk, "control_limits");
  msgpack_pack_map(pk, CTL_LIMIT_COUNT);
  for (int i = 0; i < CTL_LIMIT_COUNT; i++)
    kv_uint(pk, rpc_ctl_limit_names[i], d->rpc ? d->rpc->limit_hits[i] : 0);
  kv_uint(pk, "heartbeats_sent", s->heartbeats_sent);
  wsf_pack_key(pk, "output");
  msgpack_pack_map(pk, 5);
  kv_uint(pk, "max_bytes", d->cfg.max_output_bytes);
  kv_uint(pk, "stall_ms", d->cfg.output_stall_ms);
  kv_uint(pk, "heartbeats_skipped", s->heartbeats_skipped);
  kv_uint(pk, "pongs_coalesced", s->pongs_coalesced);
  kv_uint(pk, "reads_paused", s->reads_paused);
  wsf_pack_key(pk, "heartbeat_late_us");
  pack_hist_summary(pk, &s->heartbeat_late);
  wsf_pack_key(pk, "ping_rtt_us");
  pack_hist_summary(pk, &s->ping_rtt);
  wsf_pack_key(pk, "loop_lag_us");
  pack_hist_summary(pk, &s->loop_lag);
  kv_uint(pk, "uptime_us", wsf_now_us() - d->started_us);
  msgpack_pack_map(out, count_objects(&pairs) / 2);
  out->callback(out->data, pairs.data, pairs.size);
  msgpack_sbuffer_destroy(&pairs);
}

/* ---- open ---------------------------------------------------------------- */

void rpc_pack_deflate_params(msgpack_packer *pk, const wsf_deflate_params *a) {
  msgpack_pack_map(pk, 4);
  kv_uint(pk, "client_max_window_bits", a->client_max_window_bits);
  kv_uint(pk, "server_max_window_bits", a->server_max_window_bits);
  kv_bool(pk, "client_no_context_takeover", a->client_no_context_takeover);
  kv_bool(pk, "server_no_context_takeover", a->server_no_context_takeover);
}
