/* Source addresses: the daemon-wide pool (--source-addresses) that opens
 * rotate over, and the addresses `open` names itself (`source`), each with
 * its counters. Parsing and choosing only: no I/O (binding is transport.c's).
 *
 * Why: one source address reaches one destination address:port through at
 * most ~28,000 ephemeral ports (Linux's 32768-60999), and past ~14,000 each
 * connect() spent ~240 us in the kernel's port search (RESULTS.md D). With
 * several source addresses bound with IP_BIND_ADDRESS_NO_PORT the kernel
 * picks the port per 4-tuple, so each address has its own ~28,000. */
#ifndef WSF_SOURCE_POOL_H
#define WSF_SOURCE_POOL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Addresses the pool holds at most, the rotation and those `open` named
 * together: each costs ~200 bytes, and a list longer than this is a
 * mistake in a range rather than a plan (1,000,000 connections need 36). */
#define WSF_SOURCE_POOL_MAX 1024

typedef struct wsf_source_addr {
  struct sockaddr_storage sa; /* port 0: the kernel picks it */
  char text[48];              /* as inet_ntop writes it */
  uint64_t opens;             /* connections through it that reached open */
  uint64_t failures;          /* binds and connects from it that failed */
} wsf_source_addr;

/* Named pools (--source-pool NAME=LIST|RANGE) and the default one
 * (--source-addresses, named "default"): each rotates over its own members.
 * At most this many besides the default: a pool per network or region,
 * not per connection. */
#define WSF_SOURCE_ROTATIONS_MAX 16
#define WSF_SOURCE_POOL_NAME_MAX 32

typedef struct wsf_source_rotation {
  char name[WSF_SOURCE_POOL_NAME_MAX + 1];
  uint32_t *members; /* owned: indexes into the pool's addrs (an address may be in several pools) */
  uint32_t n;
  uint32_t next; /* round-robin cursor into members */
} wsf_source_rotation;

typedef struct wsf_source_pool {
  wsf_source_addr *addrs; /* owned, never moved: the pools' addresses, then those open named */
  uint32_t n;
  /* rotations[0] is "default" (--source-addresses; empty without it), then the named pools */
  wsf_source_rotation rotations[1 + WSF_SOURCE_ROTATIONS_MAX];
  uint32_t n_rotations; /* 1 + named pools */
} wsf_source_pool;

/* Prepares an empty pool with an empty default rotation. */
void wsf_source_pool_init(wsf_source_pool *p);

/* Parses "LIST|RANGE": comma-separated IPv4 or IPv6 addresses and IPv4
 * ranges "A-B" (inclusive, ascending), e.g. "127.0.0.1-127.0.0.8,127.0.1.1",
 * into the members of the rotation `name` ("default": --source-addresses,
 * which must be parsed first; another name adds a pool: letters, digits,
 * '-', '_', '.'). An address already in another pool is shared with it;
 * one listed twice in the same spec is refused (the rotation would favour
 * it). 0, or -1 with why in err. */
int wsf_source_pool_parse(wsf_source_pool *p, const char *name, const char *spec, char *err, size_t err_len);

/* The rotation named (len bytes), or -1. */
int wsf_source_pool_find(const wsf_source_pool *p, const char *name, size_t len);

/* The next address of the rotation of this family (AF_INET or AF_INET6), or
 * -1 when the rotation has none of it (the kernel then chooses). */
int wsf_source_pool_next(wsf_source_pool *p, uint32_t rotation, int family);

/* The index of the address text (an IPv4 or IPv6 literal), added outside
 * the rotations if new; -1 when it is not an address (*full false) or the
 * pool holds WSF_SOURCE_POOL_MAX already (*full true). */
int wsf_source_pool_intern(wsf_source_pool *p, const char *text, size_t len, bool *full);

/* A rotation's members' counters, summed. */
uint64_t wsf_source_rotation_opens(const wsf_source_pool *p, uint32_t rotation);
uint64_t wsf_source_rotation_failures(const wsf_source_pool *p, uint32_t rotation);

void wsf_source_pool_free(wsf_source_pool *p);

#endif
