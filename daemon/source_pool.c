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

void wsf_source_pool_init(wsf_source_pool *p) {
  memset(p, 0, sizeof *p);
  strcpy(p->rotations[0].name, "default");
  p->n_rotations = 1;
}

static bool good_pool_name(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > WSF_SOURCE_POOL_NAME_MAX)
    return false;
  for (const char *c = name; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
          *c == '_' || *c == '.'))
      return false;
  return true;
}

static bool is_member(const wsf_source_rotation *r, uint32_t index) {
  for (uint32_t i = 0; i < r->n; i++)
    if (r->members[i] == index)
      return true;
  return false;
}

static void add_member(wsf_source_rotation *r, uint32_t index) {
  r->members = wsf_xrealloc(r->members, (r->n + 1) * sizeof *r->members);
  r->members[r->n++] = index;
}

int wsf_source_pool_parse(wsf_source_pool *p, const char *name, const char *spec, char *err, size_t err_len) {
  wsf_source_rotation *r;
  if (strcmp(name, "default") == 0) {
    r = &p->rotations[0];
    if (r->n) {
      snprintf(err, err_len, "the default pool is given twice");
      return -1;
    }
  } else {
    if (!good_pool_name(name)) {
      snprintf(err, err_len, "'%s' is not a pool name (1 to %d letters, digits, '-', '_', '.')", name,
               WSF_SOURCE_POOL_NAME_MAX);
      return -1;
    }
    if (wsf_source_pool_find(p, name, strlen(name)) >= 0) {
      snprintf(err, err_len, "pool '%s' is given twice", name);
      return -1;
    }
    if (p->n_rotations == 1 + WSF_SOURCE_ROTATIONS_MAX) {
      snprintf(err, err_len, "more than %d named pools", WSF_SOURCE_ROTATIONS_MAX);
      return -1;
    }
    r = &p->rotations[p->n_rotations++];
    strcpy(r->name, name);
  }
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
      int i = find(p, &sa);
      if (i >= 0 && is_member(r, (uint32_t)i)) {
        snprintf(err, err_len, "'%.*s' lists an address twice", (int)len, s);
        return -1;
      }
      if (i < 0 && (i = append(p, &sa)) < 0) {
        snprintf(err, err_len, "more than %d source addresses", WSF_SOURCE_POOL_MAX);
        return -1;
      }
      add_member(r, (uint32_t)i);
    }
    if (!end)
      break;
    s = end + 1;
  }
  return 0;
}

int wsf_source_pool_find(const wsf_source_pool *p, const char *name, size_t len) {
  for (uint32_t i = 0; i < p->n_rotations; i++)
    if (strlen(p->rotations[i].name) == len && memcmp(p->rotations[i].name, name, len) == 0)
      return (int)i;
  return -1;
}

int wsf_source_pool_next(wsf_source_pool *p, uint32_t rotation, int family) {
  wsf_source_rotation *r = &p->rotations[rotation];
  /* Bounded by the rotation's length: a mixed pool skips the other family. */
  for (uint32_t tries = 0; tries < r->n; tries++) {
    uint32_t i = r->members[r->next];
    r->next = (r->next + 1) % r->n;
    if (p->addrs[i].sa.ss_family == family)
      return (int)i;
  }
  return -1;
}

uint64_t wsf_source_rotation_opens(const wsf_source_pool *p, uint32_t rotation) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < p->rotations[rotation].n; i++)
    sum += p->addrs[p->rotations[rotation].members[i]].opens;
  return sum;
}

uint64_t wsf_source_rotation_failures(const wsf_source_pool *p, uint32_t rotation) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < p->rotations[rotation].n; i++)
    sum += p->addrs[p->rotations[rotation].members[i]].failures;
  return sum;
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
  for (uint32_t i = 0; i < p->n_rotations; i++)
    free(p->rotations[i].members);
  free(p->addrs);
  memset(p, 0, sizeof *p);
}
