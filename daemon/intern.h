/* Immutable byte blocks shared by equal content, reference-counted.
 *
 * Thousands of connections to one gateway keep the same upgrade-response
 * headers (Sec-WebSocket-Accept, the only per-connection one, is checked and
 * not kept): one copy serves them all instead of ~112 bytes each, the largest
 * per-connection block after the connection itself (RESULTS.md, issue 19).
 * A gateway that adds a per-connection header (a request id) costs one block
 * per connection, as a plain copy would, plus this header.
 *
 * Chained hash table, doubled when it holds more blocks than buckets; the
 * hash is seeded per process, so a server cannot choose header values that
 * all land in one chain. Nothing here does I/O. */
#ifndef WSF_INTERN_H
#define WSF_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct wsf_interned {
  struct wsf_interned *next; /* in its bucket */
  uint32_t refs, hash;
  uint32_t len;
  char data[]; /* len bytes, then a NUL (text blocks read as C strings) */
} wsf_interned;

typedef struct wsf_intern_table {
  wsf_interned **buckets;
  uint32_t n_buckets, count;
  uint64_t seed;
} wsf_intern_table;

/* The block equal to data[0..len) with one more reference: the existing one,
 * or a new copy. Cannot fail (out of memory aborts, util.h). */
const wsf_interned *wsf_intern(wsf_intern_table *t, const void *data, size_t len);
/* Drops a reference; the last one frees the block. NULL is ignored. */
void wsf_intern_release(wsf_intern_table *t, const wsf_interned *block);
/* Frees the table; every block must have been released. */
void wsf_intern_table_free(wsf_intern_table *t);

#endif
