/* The methods that read state: status, list, stats. */
#include "rpc_internal.h"

#include <string.h>

#include "view.h"

void rpc_do_status(req_ctx *r) {
  wsf_conn *c = rpc_get_conn(r);
  if (!c)
    return;
  wsf_status_view v;
  out_result_header(out_sb(&r->ctl->pk), r->msgid);
  rpc_pack_view(&r->ctl->pk, wsf_view_status(&v, c, wsf_now_us()));
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
  msgpack_packer_init(&pk_page, &page, rpc_sbuffer_write);
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
  out_result_header(out_sb(pk), r->msgid);
  msgpack_pack_map(pk, 3);
  wsf_pack_key(pk, "conns");
  msgpack_pack_array(pk, listed);
  if (page.size)
    rpc_sbuffer_write(&r->ctl->out, page.data, page.size);
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
  out_result_header(out_sb(&r->ctl->pk), r->msgid);
  wsf_rpc_pack_stats(r->d, &r->ctl->pk);
  rpc_ctl_done_packing(r->ctl);
}
