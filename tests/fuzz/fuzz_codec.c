/* libFuzzer target for protocol/codec.c.
 *
 * The input is a byte stream from a control client. It is decoded several
 * ways: whole, in pseudo-random splits (seeded from the input), and holding
 * every request until the end (responses go out of order, so requests must
 * outlive later reads). Every way must give the same sequence of outcomes
 * (status, msgid, method, and a digest of every field read through every
 * accessor); a difference is a bug even when nothing crashes. Two limits are
 * used so that both the normal path and the max_request_bytes path run. */
#include "codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OUTCOMES = 256, MAX_HELD = 64, MAX_DEPTH = 8 };

struct outcome {
  int status;
  uint32_t msgid;
  bool has_msgid;
  uint64_t digest; /* method + every accessor result on the params */
  const char *reason;
};

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

static uint64_t mix_bytes(uint64_t h, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = mix(h, (uint8_t)p[i]); /* reads every byte: ASan checks them */
  return h;
}

/* Calls every accessor for every key of map, and recurses into maps and into
 * maps inside arrays, folding what they return into a digest. */
static uint64_t walk(const msgpack_object *map, int depth) {
  uint64_t h = 0;
  if (!map || map->type != MSGPACK_OBJECT_MAP || depth > MAX_DEPTH)
    return h;
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type != MSGPACK_OBJECT_STR || k->via.str.size > 64)
      continue;
    char key[65];
    memcpy(key, k->via.str.ptr, k->via.str.size);
    key[k->via.str.size] = '\0'; /* a key with a NUL inside looks up a shorter key: fine */
    const char *s = NULL;
    size_t len = 0;
    bool b = false;
    uint64_t u = 0;
    const msgpack_object *o = NULL;
    int rc = wsf_field_str(map, key, &s, &len);
    h = mix(h, (uint64_t)rc);
    if (rc == WSF_FIELD_OK)
      h = mix_bytes(h, s ? s : (abort(), s), len); /* never NULL, even "" */
    rc = wsf_field_bytes(map, key, &s, &len, &b);
    h = mix(h, (uint64_t)rc);
    if (rc == WSF_FIELD_OK)
      h = mix(mix_bytes(h, s ? s : (abort(), s), len), b);
    rc = wsf_field_uint(map, key, &u);
    h = mix(h, (uint64_t)rc);
    if (rc == WSF_FIELD_OK)
      h = mix(h, u);
    rc = wsf_field_bool(map, key, &b);
    h = mix(h, (uint64_t)rc);
    if (rc == WSF_FIELD_OK)
      h = mix(h, b);
    rc = wsf_field_map(map, key, &o);
    h = mix(h, (uint64_t)rc);
    if (rc == WSF_FIELD_OK)
      h = mix(h, walk(o, depth + 1));
    rc = wsf_field_array(map, key, &o);
    h = mix(h, (uint64_t)rc);
    if (rc == WSF_FIELD_OK)
      for (uint32_t j = 0; j < o->via.array.size; j++)
        h = mix(h, walk(&o->via.array.ptr[j], depth + 1));
    h = mix(h, wsf_field(map, key) != NULL);
  }
  return h;
}

static struct outcome describe(int status, const wsf_rpc_request *req) {
  struct outcome o = {
      .status = status, .msgid = req->msgid, .has_msgid = req->has_msgid, .reason = req->invalid_reason};
  if (status == WSF_RPC_REQUEST) {
    if (!req->params || req->params->type != MSGPACK_OBJECT_MAP || !req->method)
      abort();
    o.digest = mix(mix_bytes(0, req->method, req->method_len), walk(req->params, 0));
    o.digest = mix(o.digest, wsf_rpc_method_is(req, "send"));
  } else if (status == WSF_RPC_INVALID) {
    if (!req->invalid_reason || !*req->invalid_reason || req->params)
      abort();
  }
  return o;
}

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

enum mode { WHOLE, SPLIT, HOLD };

/* Decodes data; returns the number of outcomes written to out. */
static size_t run(const uint8_t *data, size_t size, size_t max, enum mode mode, uint64_t seed,
                  struct outcome *out) {
  wsf_rpc_decoder *dec = wsf_rpc_decoder_new(max);
  if (!dec)
    abort();
  wsf_rpc_request held[MAX_HELD];
  size_t n_held = 0, n = 0, fed = 0;
  int last = 0;
  uint64_t s = seed | 1;
  while (fed < size && last >= 0 && n < MAX_OUTCOMES) {
    size_t chunk = mode == WHOLE ? size - fed : 1 + rng(&s) % (rng(&s) % 2 ? 4 : 300);
    if (chunk > size - fed)
      chunk = size - fed;
    int frc = wsf_rpc_decoder_feed(dec, (const char *)data + fed, chunk);
    fed += chunk;
    if (frc != 0 && frc != WSF_RPC_TOO_LARGE)
      abort();
    for (;;) {
      wsf_rpc_request req;
      int rc = wsf_rpc_decoder_next(dec, &req);
      if (rc == WSF_RPC_NEED_MORE) {
        if (frc == WSF_RPC_TOO_LARGE)
          abort(); /* next() must report what feed() did */
        break;
      }
      if (n == MAX_OUTCOMES) {
        wsf_rpc_request_release(&req);
        break;
      }
      if (mode == HOLD && rc == WSF_RPC_REQUEST && n_held < MAX_HELD) {
        out[n++] = (struct outcome){.status = rc}; /* described at the end, after later reads */
        held[n_held++] = req;
      } else {
        out[n++] = describe(rc, &req);
        wsf_rpc_request_release(&req);
      }
      last = rc;
      if (rc < 0)
        break;
    }
  }
  /* Describe held requests now, releasing in reverse order, decoder gone. */
  wsf_rpc_decoder_free(dec);
  size_t k = n_held;
  for (size_t i = n; i-- > 0 && k > 0;) {
    if (out[i].status != WSF_RPC_REQUEST || out[i].has_msgid)
      continue; /* not a placeholder */
    wsf_rpc_request *r = &held[--k];
    out[i] = describe(WSF_RPC_REQUEST, r);
    wsf_rpc_request_release(r);
  }
  if (k != 0)
    abort();
  return n;
}

static bool same(const struct outcome *a, size_t na, const struct outcome *b, size_t nb) {
  if (na != nb)
    return false;
  for (size_t i = 0; i < na; i++)
    if (a[i].status != b[i].status || a[i].msgid != b[i].msgid || a[i].has_msgid != b[i].has_msgid ||
        a[i].digest != b[i].digest || (a[i].reason == NULL) != (b[i].reason == NULL) ||
        (a[i].reason && strcmp(a[i].reason, b[i].reason) != 0))
      return false;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct outcome ref[MAX_OUTCOMES], got[MAX_OUTCOMES];
  static const size_t limits[] = {1 << 20, 100};
  uint64_t seed = mix_bytes(size, (const char *)data, size < 64 ? size : 64);
  for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
    size_t nref = run(data, size, limits[l], WHOLE, 0, ref);
    size_t ngot = run(data, size, limits[l], SPLIT, seed + l, got);
    if (!same(ref, nref, got, ngot))
      abort();
    ngot = run(data, size, limits[l], HOLD, seed + 7 * l, got);
    if (!same(ref, nref, got, ngot))
      abort();
  }
  return 0;
}
