/* Resolved gateway names: the answers of getaddrinfo kept for --dns-cache-ms
 * and the round-robin cursor over each answer. A data structure only: the
 * lookup itself is conn_dial.c's (uv_getaddrinfo on libuv's thread pool).
 *
 * Policy (PROTOCOL.md §9): each open of a name starts at the next address
 * of its answer (round robin over opens), and falls back to the following
 * ones, in the answer's order, when a connect fails. The cursor outlives
 * the cached answer (it is per name:port), so the rotation also holds with
 * the cache off (--dns-cache-ms 0) and across refreshes. */
#ifndef WSF_DNS_CACHE_H
#define WSF_DNS_CACHE_H

#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Names remembered at most (answer and cursor): a test plan names a few
 * gateways; past this the least recently resolved is forgotten. */
#define WSF_DNS_CACHE_MAX_NAMES 256
/* Addresses kept per answer: more than a gateway's name returns. */
#define WSF_DNS_MAX_ADDRS 16

typedef union wsf_dns_addr {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} wsf_dns_addr;

typedef struct wsf_dns_entry {
  struct wsf_dns_entry *prev, *next; /* most recently resolved first */
  char *host;
  uint16_t port;
  uint64_t expires_us; /* the answer is fresh before this */
  uint32_t cursor;     /* the next open's first address */
  uint8_t n;
  wsf_dns_addr addrs[WSF_DNS_MAX_ADDRS];
} wsf_dns_entry;

typedef struct wsf_dns_cache {
  wsf_dns_entry *head, *tail;
  uint32_t count;
  uint64_t ttl_us; /* 0: every open resolves */
} wsf_dns_cache;

/* The entry of host:port whose answer is fresh at now_us, or NULL. */
wsf_dns_entry *wsf_dns_cache_fresh(wsf_dns_cache *c, const char *host, uint16_t port, uint64_t now_us);

/* Keeps the TCP addresses (IPv4, IPv6) of res for host:port, fresh for
 * ttl_us from now_us, keeping the name's cursor; the caller still frees
 * res. NULL when res holds no such address. */
wsf_dns_entry *wsf_dns_cache_put(wsf_dns_cache *c, const char *host, uint16_t port,
                                 const struct addrinfo *res, uint64_t now_us);

/* Where this open starts in e's answer; advances the cursor. */
uint32_t wsf_dns_entry_start(wsf_dns_entry *e);

void wsf_dns_cache_free(wsf_dns_cache *c);

#endif
