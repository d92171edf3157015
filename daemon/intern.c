/* Shared immutable byte blocks: see intern.h. */
#include "intern.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* FNV-1a from a per-process random basis: a server that picks header values
 * cannot aim them at one bucket without knowing the seed. */
static uint32_t hash_bytes(uint64_t seed, const uint8_t *p, size_t len) {
  uint64_t h = 14695981039346656037ull ^ seed;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return (uint32_t)(h ^ (h >> 32));
}

static void grow(wsf_intern_table *t) {
  uint32_t n = t->n_buckets ? t->n_buckets * 2 : 16;
  wsf_interned **buckets = wsf_xcalloc(n, sizeof *buckets);
  for (uint32_t i = 0; i < t->n_buckets; i++)
    for (wsf_interned *e = t->buckets[i], *next; e; e = next) {
      next = e->next;
      e->next = buckets[e->hash & (n - 1)];
      buckets[e->hash & (n - 1)] = e;
    }
  free(t->buckets);
  t->buckets = buckets;
  t->n_buckets = n;
}

const wsf_interned *wsf_intern(wsf_intern_table *t, const void *data, size_t len) {
  if (!t->n_buckets) {
    t->seed = wsf_random_u64();
    grow(t);
  }
  uint32_t h = hash_bytes(t->seed, data, len);
  for (wsf_interned *e = t->buckets[h & (t->n_buckets - 1)]; e; e = e->next)
    if (e->hash == h && e->len == len && memcmp(e->data, data, len) == 0) {
      e->refs++;
      return e;
    }
  if (t->count >= t->n_buckets)
    grow(t);
  wsf_interned *e = wsf_xmalloc(sizeof *e + len + 1);
  e->refs = 1;
  e->hash = h;
  e->len = (uint32_t)len;
  memcpy(e->data, data, len);
  e->data[len] = '\0';
  wsf_interned **bucket = &t->buckets[h & (t->n_buckets - 1)];
  e->next = *bucket;
  *bucket = e;
  t->count++;
  return e;
}

void wsf_intern_release(wsf_intern_table *t, const wsf_interned *block) {
  if (!block)
    return;
  wsf_interned *e = (wsf_interned *)block; /* ours: handed out const so users cannot write it */
  if (--e->refs > 0)
    return;
  for (wsf_interned **p = &t->buckets[e->hash & (t->n_buckets - 1)]; *p; p = &(*p)->next)
    if (*p == e) {
      *p = e->next;
      break;
    }
  t->count--;
  free(e);
}

void wsf_intern_table_free(wsf_intern_table *t) {
  free(t->buckets);
  memset(t, 0, sizeof *t);
}
