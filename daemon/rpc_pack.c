/* The msgpack writer of the views (view.h): control replies and
 * notifications. Map sizes come from the field lists. */
#include "rpc_internal.h"

#include <string.h>

#include "util.h"
#include "view.h"

int rpc_sbuffer_write(void *sbuf, const char *buf, size_t len) {
  msgpack_sbuffer *sb = sbuf;
  if (sb->alloc - sb->size < len) {
    size_t cap = sb->alloc ? sb->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
    while (cap < sb->size + len)
      cap *= 2;
    sb->data = wsf_xrealloc(sb->data, cap);
    sb->alloc = cap;
  }
  memcpy(sb->data + sb->size, buf, len);
  sb->size += len;
  return 0;
}

static void pack_hist_summary(msgpack_packer *pk, const wsf_hist *h) {
  msgpack_pack_map(pk, 4);
  kv_uint(pk, "count", h->total);
  kv_uint(pk, "p50", wsf_hist_quantile(h, 0.50));
  kv_uint(pk, "p99", wsf_hist_quantile(h, 0.99));
  kv_uint(pk, "max", h->max_us);
}

static void pack_counts(msgpack_packer *pk, const wsf_view_counts *c) {
  msgpack_pack_map(pk, wsf_view_counts_listed(c));
  for (size_t i = 0; i < c->n; i++) {
    uint64_t x = c->value(c->ctx, i);
    if (!x && !c->keep_zeros)
      continue;
    char buf[16];
    wsf_pack_str(pk, c->key(c->ctx, i, buf));
    msgpack_pack_uint64(pk, x);
  }
}

void rpc_pack_view(msgpack_packer *pk, const wsf_view *v) {
  msgpack_pack_map(pk, wsf_view_count(v, WSF_TO_RPC));
  for (uint16_t i = 0; i < v->n; i++) {
    const wsf_view_field *f = &v->f[i];
    if (!(f->to & WSF_TO_RPC))
      continue;
    wsf_pack_key(pk, f->name);
    switch (f->kind) {
    case WSF_VK_UINT:
      msgpack_pack_uint64(pk, f->v.u);
      break;
    case WSF_VK_US:
      if (f->v.u == WSF_NEVER)
        msgpack_pack_nil(pk);
      else
        msgpack_pack_uint64(pk, f->v.u);
      break;
    case WSF_VK_STR:
      if (f->v.s)
        wsf_pack_str(pk, f->v.s);
      else
        msgpack_pack_nil(pk);
      break;
    case WSF_VK_BOOL:
      if (f->v.b)
        msgpack_pack_true(pk);
      else
        msgpack_pack_false(pk);
      break;
    case WSF_VK_MAP:
      if (f->v.map)
        rpc_pack_view(pk, f->v.map);
      else
        msgpack_pack_nil(pk);
      break;
    case WSF_VK_HIST:
      pack_hist_summary(pk, f->v.hist);
      break;
    case WSF_VK_COUNTS:
      pack_counts(pk, f->v.counts);
      break;
    case WSF_VK_LIST:
      msgpack_pack_array(pk, (uint32_t)f->v.list->n);
      for (size_t j = 0; j < f->v.list->n; j++) {
        wsf_view item;
        rpc_pack_view(pk, f->v.list->item(f->v.list->ctx, j, &item));
      }
      break;
    }
  }
}

void wsf_rpc_pack_record(msgpack_packer *pk, const wsf_close_record *r) {
  wsf_view v;
  rpc_pack_view(pk, wsf_view_record(&v, r));
}

void wsf_rpc_pack_timings(msgpack_packer *pk, const wsf_timings *t) {
  wsf_view v;
  rpc_pack_view(pk, wsf_view_timings(&v, t));
}

static const char *limit_key(const void *ctx, size_t i, char buf[16]) {
  (void)ctx;
  (void)buf;
  return rpc_ctl_limit_names[i];
}

static uint64_t limit_value(const void *ctx, size_t i) {
  const wsf_rpc *rpc = ctx;
  return rpc ? rpc->limit_hits[i] : 0;
}

void wsf_rpc_pack_stats(wsf_daemon *d, msgpack_packer *pk) {
  const wsf_view_counts limits = {
      .n = CTL_LIMIT_COUNT, .ctx = d->rpc, .key = limit_key, .value = limit_value, .keep_zeros = true};
  wsf_stats_view v;
  rpc_pack_view(pk, wsf_view_stats(&v, d, wsf_now_us(), &limits));
}
