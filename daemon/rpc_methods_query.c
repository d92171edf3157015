/* The methods that read state: status, list, stats. */
#include "rpc_internal.h"

#include <string.h>

/* ---- status / list / stats / reset / subscribe ------------------------------------ */

void rpc_do_status(req_ctx *r) {
  wsf_conn *c = rpc_get_conn(r);
  if (!c)
    return;
  msgpack_packer *pk = &r->ctl->pk;
  uint64_t now = wsf_now_us();
  bool opened = c->counted_open;
  wsf_pack_result_header(pk, r->msgid);
  msgpack_pack_map(pk, 21);
  kv_str(pk, "conn", c->name);
  kv_str(pk, "state", wsf_conn_state_name(c->state));
  wsf_pack_key(pk, "deflate");
  if (c->deflate) {
    msgpack_pack_map(pk, 5);
    wsf_pack_key(pk, "agreed");
    rpc_pack_deflate_params(pk, &c->deflate->agreed);
    rpc_kv_deflate_counts(pk, &c->deflate->seen);
  } else {
    msgpack_pack_nil(pk);
  }
  kv_str(pk, "url", c->url);
  kv_str(pk, "subprotocol", c->subprotocol);
  kv_uint(pk, "reused_count", c->reused_count);
  kv_uint(pk, "opened_at_ms", opened ? c->opened_at_ms : 0);
  kv_uint(pk, "age_us", now - (opened ? c->opened_us : c->started_us));
  kv_uint(pk, "msgs_in", c->msgs_in);
  kv_uint(pk, "msgs_out", c->msgs_out);
  kv_uint(pk, "bytes_in", c->bytes_in);
  kv_uint(pk, "bytes_out", c->bytes_out);
  kv_us(pk, "since_sent_us", c->last_sent_us == WSF_NEVER ? WSF_NEVER : now - c->last_sent_us);
  kv_us(pk, "since_recv_us", c->last_recv_us == WSF_NEVER ? WSF_NEVER : now - c->last_recv_us);
  kv_us(pk, "since_ping_us", c->last_ping_us == WSF_NEVER ? WSF_NEVER : now - c->last_ping_us);
  kv_us(pk, "since_pong_us", c->last_pong_us == WSF_NEVER ? WSF_NEVER : now - c->last_pong_us);
  kv_us(pk, "ping_rtt_us", c->ping_rtt_us ? c->ping_rtt_us : WSF_NEVER);
  wsf_pack_key(pk, "inbox");
  msgpack_pack_map(pk, 3);
  kv_uint(pk, "messages", c->inbox.count);
  kv_uint(pk, "bytes", c->inbox.bytes);
  kv_uint(pk, "dropped", c->inbox.dropped);
  wsf_pack_key(pk, "keepalive");
  msgpack_pack_map(pk, 9);
  kv_str(pk, "mode", wsf_ka_mode_name(c->ka ? c->ka->mode : WSF_KA_NONE));
  kv_uint(pk, "interval_ms", c->ka ? c->ka->interval_ms : 0);
  kv_uint(pk, "jitter_ms", c->ka ? c->ka->jitter_ms : 0);
  kv_uint(pk, "pong_timeout_ms", c->ka ? c->ka->pong_timeout_ms : 0);
  kv_uint(pk, "reply_timeout_ms", c->ka ? c->ka->reply_timeout_ms : 0);
  kv_uint(pk, "sent", c->ka_sent);
  kv_uint(pk, "replies", c->ka_replies);
  kv_uint(pk, "late_us_max", c->ka_late_max_us);
  kv_uint(pk, "skipped", c->ka_skipped);
  wsf_pack_key(pk, "timings");
  wsf_rpc_pack_timings(pk, &c->timings);
  wsf_pack_key(pk, "record");
  if (c->record)
    wsf_rpc_pack_record(pk, c->record);
  else
    msgpack_pack_nil(pk);
  rpc_ctl_done_packing(r->ctl);
}

static bool state_is(const wsf_conn *c, const char *state, size_t state_len) {
  const char *name = wsf_conn_state_name(c->state);
  return !state || (strlen(name) == state_len && memcmp(name, state, state_len) == 0);
}

/* Pages: `offset` skips that many matching connections (in the registry's
 * order, stable while no connection is added or forgotten); a page ends at
 * `limit` entries or LIST_REPLY_MAX_BYTES, and `next_offset` says where the
 * next one starts (nil after the last). */
void rpc_do_list(req_ctx *r) {
  const char *state = NULL;
  size_t state_len = 0;
  uint32_t limit = 10000, offset = 0;
  if (!rpc_get_str(r, r->params, "state", &state, &state_len) ||
      !rpc_get_u32(r, r->params, "limit", &limit) || !rpc_get_u32(r, r->params, "offset", &offset))
    return;
  wsf_registry *reg = &r->d->conns;
  uint64_t now = wsf_now_us();
  uint32_t total = 0, listed = 0;
  bool more = false;
  size_t page_max = r->d->cfg.max_control_output_bytes / 4;
  if (page_max > LIST_REPLY_MAX_BYTES)
    page_max = LIST_REPLY_MAX_BYTES;
  msgpack_sbuffer page;
  msgpack_sbuffer_init(&page);
  msgpack_packer pk_page;
  msgpack_packer_init(&pk_page, &page, msgpack_sbuffer_write);
  for (size_t i = 0; i < reg->capacity; i++) {
    const wsf_conn *c = reg->slots[i];
    if (!c || !state_is(c, state, state_len))
      continue;
    total++;
    if (total <= offset || more)
      continue;
    if (listed == limit || page.size >= page_max) {
      more = true;
      continue;
    }
    listed++;
    msgpack_pack_map(&pk_page, 4);
    kv_str(&pk_page, "conn", c->name);
    kv_str(&pk_page, "state", wsf_conn_state_name(c->state));
    kv_str(&pk_page, "url", c->url);
    kv_uint(&pk_page, "age_us", now - (c->counted_open ? c->opened_us : c->started_us));
  }
  msgpack_packer *pk = &r->ctl->pk;
  wsf_pack_result_header(pk, r->msgid);
  msgpack_pack_map(pk, 3);
  wsf_pack_key(pk, "conns");
  msgpack_pack_array(pk, listed);
  if (page.size)
    msgpack_sbuffer_write(&r->ctl->out, page.data, page.size);
  msgpack_sbuffer_destroy(&page);
  kv_uint(pk, "total", total);
  wsf_pack_key(pk, "next_offset");
  if (more)
    msgpack_pack_uint64(pk, (uint64_t)offset + listed);
  else
    msgpack_pack_nil(pk);
  rpc_ctl_done_packing(r->ctl);
}

void rpc_do_stats(req_ctx *r) {
  wsf_pack_result_header(&r->ctl->pk, r->msgid);
  wsf_rpc_pack_stats(r->d, &r->ctl->pk);
  rpc_ctl_done_packing(r->ctl);
}
