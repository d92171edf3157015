/* The msgpack writer of the views (view.h): control replies and
 * notifications. Map sizes come from the field lists. */
#include "rpc_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "view.h"

/* Makes room for n more bytes (doubling, as msgpack_sbuffer does). */
static void grow(msgpack_sbuffer *sb, size_t n) {
  size_t cap = sb->alloc ? sb->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
  while (cap < sb->size + n)
    cap *= 2;
  sb->data = wsf_xrealloc(sb->data, cap);
  sb->alloc = cap;
}

int rpc_sbuffer_write(void *sbuf, const char *buf, size_t len) {
  msgpack_sbuffer *sb = sbuf;
  if (sb->alloc - sb->size < len)
    grow(sb, len);
  memcpy(sb->data + sb->size, buf, len);
  sb->size += len;
  return 0;
}

/* ---- the views, written straight into the output buffer ----------------------------
 * A view is mostly short ASCII keys and small integers. Through msgpack_packer
 * each key was two calls of the writer, a strlen and a UTF-8 check, and each
 * value one more call: 16,800 instructions per `status` reply (95 objects,
 * 572 bytes; callgrind, issue 19). These write the same bytes (msgpack's
 * shortest forms, as msgpack-c packs them: the shared vectors compare them)
 * into the sbuffer behind pk directly; a str that is long or not ASCII goes
 * through wsf_pack_text, which checks and repairs its UTF-8. */

static inline uint8_t *room(msgpack_sbuffer *sb, size_t n) {
  if (sb->alloc - sb->size < n)
    grow(sb, n);
  return (uint8_t *)sb->data + sb->size;
}

static inline void put_be(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static inline void put_byte(msgpack_sbuffer *sb, uint8_t b) {
  *room(sb, 1) = b;
  sb->size++;
}

static inline void put_uint(msgpack_sbuffer *sb, uint64_t v) {
  uint8_t *p = room(sb, 9);
  if (v < 0x80) {
    p[0] = (uint8_t)v;
    sb->size += 1;
  } else if (v <= UINT8_MAX) {
    p[0] = 0xcc;
    p[1] = (uint8_t)v;
    sb->size += 2;
  } else if (v <= UINT16_MAX) {
    p[0] = 0xcd;
    put_be(p + 1, v, 2);
    sb->size += 3;
  } else if (v <= UINT32_MAX) {
    p[0] = 0xce;
    put_be(p + 1, v, 4);
    sb->size += 5;
  } else {
    p[0] = 0xcf;
    put_be(p + 1, v, 8);
    sb->size += 9;
  }
}

/* A map (fix 0x80, 16-bit 0xde) or array (0x90, 0xdc) header; 32-bit past that. */
static inline void put_count(msgpack_sbuffer *sb, uint8_t fix, uint8_t wide16, uint32_t n) {
  uint8_t *p = room(sb, 5);
  if (n < 16) {
    p[0] = (uint8_t)(fix | n);
    sb->size += 1;
  } else if (n <= UINT16_MAX) {
    p[0] = wide16;
    put_be(p + 1, n, 2);
    sb->size += 3;
  } else {
    p[0] = (uint8_t)(wide16 + 1);
    put_be(p + 1, n, 4);
    sb->size += 5;
  }
}

static inline void put_map(msgpack_sbuffer *sb, size_t n) {
  put_count(sb, 0x80, 0xde, (uint32_t)n);
}

static inline void put_array(msgpack_sbuffer *sb, size_t n) {
  put_count(sb, 0x90, 0xdc, (uint32_t)n);
}

/* Whether the n bytes at p are ASCII, eight at a time (the last eight
 * overlapping the ones before when n is not a multiple of 8). */
static inline bool all_ascii(const char *p, size_t n) {
  uint64_t high = 0, w;
  if (n < 8) {
    for (size_t i = 0; i < n; i++)
      high |= (uint8_t)p[i];
    return !(high & 0x80);
  }
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&w, p + i, 8);
    high |= w;
  }
  memcpy(&w, p + n - 8, 8);
  return !((high | w) & 0x8080808080808080ull);
}

/* A NUL-terminated str: a fixstr copied whole when it is ASCII and at most
 * 31 bytes (every key), else wsf_pack_text. */
static void put_cstr(msgpack_packer *pk, msgpack_sbuffer *sb, const char *s) {
  size_t n = strlen(s);
  if (n < 32 && all_ascii(s, n)) {
    uint8_t *p = room(sb, 1 + n);
    p[0] = (uint8_t)(0xa0 | n);
    memcpy(p + 1, s, n);
    sb->size += 1 + n;
    return;
  }
  wsf_pack_text(pk, s, n);
}

static void pack_hist_summary(msgpack_packer *pk, msgpack_sbuffer *sb, const wsf_hist *h) {
  put_map(sb, 4);
  put_cstr(pk, sb, "count");
  put_uint(sb, h->total);
  put_cstr(pk, sb, "p50");
  put_uint(sb, wsf_hist_quantile(h, 0.50));
  put_cstr(pk, sb, "p99");
  put_uint(sb, wsf_hist_quantile(h, 0.99));
  put_cstr(pk, sb, "max");
  put_uint(sb, h->max_us);
}

static void pack_counts(msgpack_packer *pk, msgpack_sbuffer *sb, const wsf_view_counts *c) {
  put_map(sb, wsf_view_counts_listed(c));
  for (size_t i = 0; i < c->n; i++) {
    uint64_t x = c->value(c->ctx, i);
    if (!x && !c->keep_zeros)
      continue;
    char buf[16];
    put_cstr(pk, sb, c->key(c->ctx, i, buf));
    put_uint(sb, x);
  }
}

static void pack_view(msgpack_packer *pk, msgpack_sbuffer *sb, const wsf_view *v) {
  put_map(sb, wsf_view_count(v, WSF_TO_RPC));
  for (uint16_t i = 0; i < v->n; i++) {
    const wsf_view_field *f = &v->f[i];
    if (!(f->to & WSF_TO_RPC))
      continue;
    put_cstr(pk, sb, f->name);
    switch (f->kind) {
    case WSF_VK_UINT:
      put_uint(sb, f->v.u);
      break;
    case WSF_VK_US:
      if (f->v.u == WSF_NEVER)
        put_byte(sb, 0xc0);
      else
        put_uint(sb, f->v.u);
      break;
    case WSF_VK_STR:
      if (f->v.s)
        put_cstr(pk, sb, f->v.s);
      else
        put_byte(sb, 0xc0);
      break;
    case WSF_VK_BOOL:
      put_byte(sb, f->v.b ? 0xc3 : 0xc2);
      break;
    case WSF_VK_MAP:
      if (f->v.map)
        pack_view(pk, sb, f->v.map);
      else
        put_byte(sb, 0xc0);
      break;
    case WSF_VK_HIST:
      pack_hist_summary(pk, sb, f->v.hist);
      break;
    case WSF_VK_COUNTS:
      pack_counts(pk, sb, f->v.counts);
      break;
    case WSF_VK_LIST:
      put_array(sb, f->v.list->n);
      for (size_t j = 0; j < f->v.list->n; j++) {
        wsf_view item;
        pack_view(pk, sb, f->v.list->item(f->v.list->ctx, j, &item));
      }
      break;
    }
  }
}

void rpc_pack_view(msgpack_packer *pk, const wsf_view *v) {
  /* Every control packer writes through rpc_sbuffer_write (rpc.c, list's page). */
  if (pk->callback != rpc_sbuffer_write)
    abort();
  pack_view(pk, pk->data, v);
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
