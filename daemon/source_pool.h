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

typedef struct wsf_source_pool {
  wsf_source_addr *addrs; /* owned, never moved; the first n_rotating are --source-addresses */
  uint32_t n;
  uint32_t n_rotating;
  uint32_t next; /* round-robin cursor into the rotation */
} wsf_source_pool;

/* Parses "LIST|RANGE": comma-separated IPv4 or IPv6 addresses and IPv4
 * ranges "A-B" (inclusive, ascending), e.g. "127.0.0.1-127.0.0.8,127.0.1.1",
 * into the pool's rotation (the pool must be empty). Duplicates are refused:
 * the rotation would favour them. 0, or -1 with why in err. */
int wsf_source_pool_parse(wsf_source_pool *p, const char *spec, char *err, size_t err_len);

/* The next address of the rotation of this family (AF_INET or AF_INET6), or
 * -1 when the rotation has none of it (the kernel then chooses). */
int wsf_source_pool_next(wsf_source_pool *p, int family);

/* The index of the address text (an IPv4 or IPv6 literal), added outside
 * the rotation if new; -1 when it is not an address (*full false) or the
 * pool holds WSF_SOURCE_POOL_MAX already (*full true). */
int wsf_source_pool_intern(wsf_source_pool *p, const char *text, size_t len, bool *full);

void wsf_source_pool_free(wsf_source_pool *p);

#endif
