/* Name → connection map: open addressing, linear probing, tombstone-free
 * deletion (backward shift). O(1) expected per operation, no scans. */
#ifndef WSF_REGISTRY_H
#define WSF_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

typedef struct wsf_registry {
  void **slots; /* each item starts with its name pointer: see wsf_registry_key */
  uint32_t *hashes;
  size_t capacity; /* power of two */
  size_t count;
} wsf_registry;

/* Items are structs whose first member is `char *name` (NUL-terminated). */
void wsf_registry_init(wsf_registry *r);
void wsf_registry_free(wsf_registry *r);
void *wsf_registry_get(const wsf_registry *r, const char *name, size_t len);
/* The name must be absent. The table grows as needed (out of memory aborts). */
void wsf_registry_put(wsf_registry *r, void *item);
void wsf_registry_remove(wsf_registry *r, void *item);
/* Iteration: for (size_t i = 0; i < r->capacity; i++) if (r->slots && r->slots[i]) ... */

#endif
