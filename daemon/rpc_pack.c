/* The msgpack writer of the views (view.h): control replies and
 * notifications. Map sizes come from the field lists. */
#include "rpc_internal.h"

#include <stdlib.h>
#include <string.h>

#include "rpc_out.h"
#include "util.h"
#include "view.h"

void rpc_out_grow(msgpack_sbuffer *sb, size_t n) {
  size_t cap = sb->alloc ? sb->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
  while (cap < sb->size + n)
    cap *= 2;
  sb->data = wsf_xrealloc(sb->data, cap);
  sb->alloc = cap;
}

int rpc_sbuffer_write(void *sbuf, const char *buf, size_t len) {
  msgpack_sbuffer *sb = sbuf;
  memcpy(out_room(sb, len), buf, len);
  sb->size += len;
  return 0;
}

/* ---- the views, written straight into the output buffer (rpc_out.h) ---------------- */

static void pack_hist_summary(msgpack_packer *pk, msgpack_sbuffer *sb, const wsf_hist *h) {
  out_map(sb, 4);
  out_cstr(pk, sb, "count");
  out_uint(sb, h->total);
  out_cstr(pk, sb, "p50");
  out_uint(sb, wsf_hist_quantile(h, 0.50));
  out_cstr(pk, sb, "p99");
  out_uint(sb, wsf_hist_quantile(h, 0.99));
  out_cstr(pk, sb, "max");
  out_uint(sb, h->max_us);
}

static void pack_counts(msgpack_packer *pk, msgpack_sbuffer *sb, const wsf_view_counts *c) {
  out_map(sb, wsf_view_counts_listed(c));
  for (size_t i = 0; i < c->n; i++) {
    uint64_t x = c->value(c->ctx, i);
    if (!x && !c->keep_zeros)
      continue;
    char buf[16];
    out_cstr(pk, sb, c->key(c->ctx, i, buf));
    out_uint(sb, x);
  }
}

static void pack_view(msgpack_packer *pk, msgpack_sbuffer *sb, const wsf_view *v) {
  out_map(sb, wsf_view_count(v, WSF_TO_RPC));
  for (uint16_t i = 0; i < v->n; i++) {
    const wsf_view_field *f = &v->f[i];
    if (!(f->to & WSF_TO_RPC))
      continue;
    if (f->name_len)
      out_fixstr(sb, f->name, f->name_len);
    else
      out_cstr(pk, sb, f->name);
    switch (f->kind) {
    case WSF_VK_UINT:
      out_uint(sb, f->v.u);
      break;
    case WSF_VK_US:
      if (f->v.u == WSF_NEVER)
        out_byte(sb, 0xc0);
      else
        out_uint(sb, f->v.u);
      break;
    case WSF_VK_STR:
      if (f->v.s)
        out_cstr(pk, sb, f->v.s);
      else
        out_byte(sb, 0xc0);
      break;
    case WSF_VK_BOOL:
      out_byte(sb, f->v.b ? 0xc3 : 0xc2);
      break;
    case WSF_VK_MAP:
      if (f->v.map)
        pack_view(pk, sb, f->v.map);
      else
        out_byte(sb, 0xc0);
      break;
    case WSF_VK_HIST:
      pack_hist_summary(pk, sb, f->v.hist);
      break;
    case WSF_VK_COUNTS:
      pack_counts(pk, sb, f->v.counts);
      break;
    case WSF_VK_LIST:
      out_array(sb, f->v.list->n);
      for (size_t j = 0; j < f->v.list->n; j++) {
        wsf_view item;
        pack_view(pk, sb, f->v.list->item(f->v.list->ctx, j, &item));
      }
      break;
    }
  }
}

void rpc_pack_view(msgpack_packer *pk, const wsf_view *v) {
  pack_view(pk, out_sb(pk), v);
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
