#include "source_pool.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Reads one literal of at most len bytes into sa (port 0). */
static bool parse_addr(const char *s, size_t len, struct sockaddr_storage *sa) {
  char buf[64];
  if (len == 0 || len >= sizeof buf)
    return false;
  memcpy(buf, s, len);
  buf[len] = '\0';
  memset(sa, 0, sizeof *sa);
  struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
  if (inet_pton(AF_INET, buf, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, buf, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    return true;
  }
  return false;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family)
    return false;
  if (a->ss_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                16) == 0;
}

static int find(const wsf_source_pool *p, const struct sockaddr_storage *sa) {
  for (uint32_t i = 0; i < p->n; i++)
    if (same_addr(&p->addrs[i].sa, sa))
      return (int)i;
  return -1;
}

static int append(wsf_source_pool *p, const struct sockaddr_storage *sa) {
  if (p->n == WSF_SOURCE_POOL_MAX)
    return -1;
  /* Allocated whole at the first address, so an address never moves: close
   * records point at its text (pages are touched only as addresses come). */
  if (!p->addrs)
    p->addrs = wsf_xmalloc(WSF_SOURCE_POOL_MAX * sizeof *p->addrs);
  wsf_source_addr *a = &p->addrs[p->n];
  memset(a, 0, sizeof *a);
  a->sa = *sa;
  const void *raw = sa->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                             : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
  inet_ntop(sa->ss_family, raw, a->text, sizeof a->text);
  return (int)p->n++;
}

int wsf_source_pool_parse(wsf_source_pool *p, const char *spec, char *err, size_t err_len) {
  const char *s = spec;
  while (1) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *dash = memchr(s, '-', len);
    struct sockaddr_storage first, last;
    if (!parse_addr(s, dash ? (size_t)(dash - s) : len, &first) ||
        (dash && !parse_addr(dash + 1, len - (size_t)(dash + 1 - s), &last))) {
      snprintf(err, err_len, "'%.*s' is not an address or a range A-B", (int)len, s);
      return -1;
    }
    uint32_t lo = 0, hi = 0;
    if (dash) {
      if (first.ss_family != AF_INET || last.ss_family != AF_INET) {
        snprintf(err, err_len, "'%.*s': ranges are IPv4 only (list IPv6 addresses one by one)", (int)len, s);
        return -1;
      }
      lo = ntohl(((struct sockaddr_in *)&first)->sin_addr.s_addr);
      hi = ntohl(((struct sockaddr_in *)&last)->sin_addr.s_addr);
      if (hi < lo) {
        snprintf(err, err_len, "'%.*s': the range's end is below its start", (int)len, s);
        return -1;
      }
    }
    for (uint64_t x = lo; x <= hi; x++) {
      struct sockaddr_storage sa = first;
      if (dash)
        ((struct sockaddr_in *)&sa)->sin_addr.s_addr = htonl((uint32_t)x);
      if (find(p, &sa) >= 0) {
        snprintf(err, err_len, "'%.*s' lists an address twice", (int)len, s);
        return -1;
      }
      if (append(p, &sa) < 0) {
        snprintf(err, err_len, "more than %d source addresses", WSF_SOURCE_POOL_MAX);
        return -1;
      }
    }
    if (!end)
      break;
    s = end + 1;
  }
  p->n_rotating = p->n;
  return 0;
}

int wsf_source_pool_next(wsf_source_pool *p, int family) {
  /* Bounded by the rotation's length: a mixed pool skips the other family. */
  for (uint32_t tries = 0; tries < p->n_rotating; tries++) {
    uint32_t i = p->next;
    p->next = (p->next + 1) % p->n_rotating;
    if (p->addrs[i].sa.ss_family == family)
      return (int)i;
  }
  return -1;
}

int wsf_source_pool_intern(wsf_source_pool *p, const char *text, size_t len, bool *full) {
  struct sockaddr_storage sa;
  *full = false;
  if (!parse_addr(text, len, &sa))
    return -1;
  int i = find(p, &sa);
  if (i >= 0)
    return i;
  i = append(p, &sa);
  *full = i < 0;
  return i;
}

void wsf_source_pool_free(wsf_source_pool *p) {
  free(p->addrs);
  memset(p, 0, sizeof *p);
}
