#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *key_of(const void *item) {
  return *(char *const *)item;
}

/* FNV-1a: short names, no adversary that benefits from collisions here
 * beyond slowing its own control socket. 32 bits: a table never reaches 2^32
 * slots (--max-connections is a uint32), and at 19,000 connections (32,768
 * slots) the stored hashes take 6.9 bytes per connection instead of 13.8. */
static uint32_t hash_name(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)s[i];
    h *= 16777619u;
  }
  return h | 1; /* never 0: 0 marks an empty slot in hashes */
}

void wsf_registry_init(wsf_registry *r) {
  memset(r, 0, sizeof *r);
}

void wsf_registry_free(wsf_registry *r) {
  free(r->slots);
  free(r->hashes);
  memset(r, 0, sizeof *r);
}

void *wsf_registry_get(const wsf_registry *r, const char *name, size_t len) {
  if (!r->count)
    return NULL;
  uint32_t h = hash_name(name, len);
  size_t mask = r->capacity - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (!r->slots[i])
      return NULL;
    if (r->hashes[i] == h) {
      const char *k = key_of(r->slots[i]);
      if (strlen(k) == len && memcmp(k, name, len) == 0)
        return r->slots[i];
    }
  }
}

static void insert(void **slots, uint32_t *hashes, size_t capacity, void *item, uint32_t h) {
  size_t mask = capacity - 1;
  size_t i = h & mask;
  while (slots[i])
    i = (i + 1) & mask;
  slots[i] = item;
  hashes[i] = h;
}

static void grow(wsf_registry *r) {
  size_t cap = r->capacity ? r->capacity * 2 : 64;
  void **slots = wsf_xcalloc(cap, sizeof *slots);
  uint32_t *hashes = wsf_xcalloc(cap, sizeof *hashes);
  for (size_t i = 0; i < r->capacity; i++)
    if (r->slots[i])
      insert(slots, hashes, cap, r->slots[i], r->hashes[i]);
  free(r->slots);
  free(r->hashes);
  r->slots = slots;
  r->hashes = hashes;
  r->capacity = cap;
}

void wsf_registry_put(wsf_registry *r, void *item) {
  if ((r->count + 1) * 4 > r->capacity * 3)
    grow(r);
  const char *k = key_of(item);
  insert(r->slots, r->hashes, r->capacity, item, hash_name(k, strlen(k)));
  r->count++;
}

void wsf_registry_remove(wsf_registry *r, void *item) {
  if (!r->count)
    return;
  size_t mask = r->capacity - 1;
  const char *k = key_of(item);
  size_t i = hash_name(k, strlen(k)) & mask;
  while (r->slots[i] && r->slots[i] != item)
    i = (i + 1) & mask;
  if (!r->slots[i])
    return;
  r->slots[i] = NULL;
  r->count--;
  /* Backward-shift the cluster after the hole so lookups never stop early. */
  for (size_t j = (i + 1) & mask; r->slots[j]; j = (j + 1) & mask) {
    size_t home = r->hashes[j] & mask;
    /* Move j into the hole i unless its home lies cyclically in (i, j]. */
    int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      r->slots[i] = r->slots[j];
      r->hashes[i] = r->hashes[j];
      r->slots[j] = NULL;
      i = j;
    }
  }
}
