/* DNS cache: answers kept for the TTL, the round-robin cursor per name
 * (kept across refreshes and with the cache off), the bound on names. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "dns_cache.h"
#include "testlib.h"

/* An addrinfo list of the given literals (v4 and v6), as getaddrinfo would give. */
static struct addrinfo *answer(const char *const *ips, int n, struct sockaddr_in6 *store) {
  static struct addrinfo ai[8];
  for (int i = 0; i < n; i++) {
    memset(&ai[i], 0, sizeof ai[i]);
    memset(&store[i], 0, sizeof store[i]);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&store[i];
    if (inet_pton(AF_INET, ips[i], &a4->sin_addr) == 1) {
      a4->sin_family = AF_INET;
      ai[i].ai_family = AF_INET;
      ai[i].ai_addrlen = sizeof *a4;
    } else {
      inet_pton(AF_INET6, ips[i], &store[i].sin6_addr);
      store[i].sin6_family = AF_INET6;
      ai[i].ai_family = AF_INET6;
      ai[i].ai_addrlen = sizeof store[i];
    }
    ai[i].ai_addr = (struct sockaddr *)&store[i];
    ai[i].ai_next = i + 1 < n ? &ai[i + 1] : NULL;
  }
  return n ? ai : NULL;
}

static void test_fresh_until_the_ttl(void) {
  wsf_dns_cache c = {.ttl_us = 30000000};
  struct sockaddr_in6 st[8];
  const char *ips[] = {"127.0.0.1", "::1"};
  CHECK(wsf_dns_cache_fresh(&c, "gw", 80, 0) == NULL);
  wsf_dns_entry *e = wsf_dns_cache_put(&c, "gw", 80, answer(ips, 2, st), 1000);
  CHECK(e && e->n == 2);
  CHECK(e->addrs[0].sa.sa_family == AF_INET && e->addrs[1].sa.sa_family == AF_INET6);
  CHECK(wsf_dns_cache_fresh(&c, "gw", 80, 1000 + 29999999) == e);
  CHECK(wsf_dns_cache_fresh(&c, "gw", 80, 1000 + 30000000) == NULL);
  CHECK(wsf_dns_cache_fresh(&c, "gw", 81, 1000) == NULL); /* per port */
  CHECK(wsf_dns_cache_fresh(&c, "other", 80, 1000) == NULL);
  wsf_dns_cache_free(&c);
}

static void test_round_robin_survives_refresh_and_ttl_zero(void) {
  wsf_dns_cache c = {.ttl_us = 0};
  struct sockaddr_in6 st[8];
  const char *ips[] = {"127.0.0.1", "::1", "127.0.0.2"};
  int seen[3] = {0};
  for (int i = 0; i < 30; i++) {
    wsf_dns_entry *e = wsf_dns_cache_put(&c, "gw", 80, answer(ips, 3, st), (uint64_t)i);
    CHECK(wsf_dns_cache_fresh(&c, "gw", 80, (uint64_t)i) == NULL); /* ttl 0: never fresh */
    seen[wsf_dns_entry_start(e)]++;
  }
  CHECK(seen[0] == 10 && seen[1] == 10 && seen[2] == 10);
  CHECK(c.count == 1);
  wsf_dns_cache_free(&c);
}

static void test_no_tcp_address_is_no_entry(void) {
  wsf_dns_cache c = {.ttl_us = 1};
  CHECK(wsf_dns_cache_put(&c, "gw", 80, NULL, 0) == NULL);
  CHECK(c.count == 0);
}

static void test_names_are_bounded_least_recent_forgotten(void) {
  wsf_dns_cache c = {.ttl_us = 1000000};
  struct sockaddr_in6 st[8];
  const char *ips[] = {"127.0.0.1"};
  char name[32];
  for (int i = 0; i < WSF_DNS_CACHE_MAX_NAMES + 10; i++) {
    snprintf(name, sizeof name, "gw%d", i);
    CHECK(wsf_dns_cache_put(&c, name, 80, answer(ips, 1, st), 0) != NULL);
  }
  CHECK(c.count == WSF_DNS_CACHE_MAX_NAMES);
  CHECK(wsf_dns_cache_fresh(&c, "gw0", 80, 0) == NULL);
  CHECK(wsf_dns_cache_fresh(&c, "gw9", 80, 0) == NULL);
  CHECK(wsf_dns_cache_fresh(&c, "gw10", 80, 0) != NULL);
  wsf_dns_cache_free(&c);
}

int main(void) {
  RUN(test_fresh_until_the_ttl);
  RUN(test_round_robin_survives_refresh_and_ttl_zero);
  RUN(test_no_tcp_address_is_no_entry);
  RUN(test_names_are_bounded_least_recent_forgotten);
  return wsf_test_result();
}
