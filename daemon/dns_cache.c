#include "dns_cache.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static wsf_dns_entry *find(wsf_dns_cache *c, const char *host, uint16_t port) {
  for (wsf_dns_entry *e = c->head; e; e = e->next)
    if (e->port == port && strcmp(e->host, host) == 0)
      return e;
  return NULL;
}

static void unlink_entry(wsf_dns_cache *c, wsf_dns_entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void push_front(wsf_dns_cache *c, wsf_dns_entry *e) {
  e->next = c->head;
  if (c->head)
    c->head->prev = e;
  c->head = e;
  if (!c->tail)
    c->tail = e;
}

wsf_dns_entry *wsf_dns_cache_fresh(wsf_dns_cache *c, const char *host, uint16_t port, uint64_t now_us) {
  wsf_dns_entry *e = find(c, host, port);
  return e && e->n && now_us < e->expires_us ? e : NULL;
}

wsf_dns_entry *wsf_dns_cache_put(wsf_dns_cache *c, const char *host, uint16_t port,
                                 const struct addrinfo *res, uint64_t now_us) {
  wsf_dns_addr addrs[WSF_DNS_MAX_ADDRS];
  uint8_t n = 0;
  for (const struct addrinfo *ai = res; ai && n < WSF_DNS_MAX_ADDRS; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in))
      memcpy(&addrs[n++].in4, ai->ai_addr, sizeof(struct sockaddr_in));
    else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6))
      memcpy(&addrs[n++].in6, ai->ai_addr, sizeof(struct sockaddr_in6));
  }
  if (!n)
    return NULL;
  wsf_dns_entry *e = find(c, host, port);
  if (e) {
    unlink_entry(c, e);
  } else {
    if (c->count == WSF_DNS_CACHE_MAX_NAMES) { /* forget the least recently resolved */
      wsf_dns_entry *old = c->tail;
      unlink_entry(c, old);
      free(old->host);
      free(old);
      c->count--;
    }
    e = wsf_xcalloc(1, sizeof *e);
    e->host = wsf_xstrndup(host, strlen(host));
    e->port = port;
    c->count++;
  }
  memcpy(e->addrs, addrs, n * sizeof *addrs);
  e->n = n;
  e->expires_us = now_us + c->ttl_us;
  push_front(c, e);
  return e;
}

uint32_t wsf_dns_entry_start(wsf_dns_entry *e) {
  return e->cursor++ % e->n;
}

void wsf_dns_cache_free(wsf_dns_cache *c) {
  for (wsf_dns_entry *e = c->head, *next; e; e = next) {
    next = e->next;
    free(e->host);
    free(e);
  }
  c->head = c->tail = NULL;
  c->count = 0;
}
