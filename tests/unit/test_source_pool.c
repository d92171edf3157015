/* Source pool: parsing LIST|RANGE (ranges, lists, IPv6, refusals), the
 * round robin per family, and addresses open names outside the rotation. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "source_pool.h"
#include "testlib.h"

static void test_range_and_list_expand_in_order(void) {
  wsf_source_pool p;
  wsf_source_pool_init(&p);
  char err[160] = "";
  CHECK(wsf_source_pool_parse(&p, "default", "127.0.0.1-127.0.0.8,127.0.1.1", err, sizeof err) == 0);
  CHECK(p.n == 9 && p.rotations[0].n == 9);
  CHECK_STR(p.addrs[0].text, "127.0.0.1");
  CHECK_STR(p.addrs[7].text, "127.0.0.8");
  CHECK_STR(p.addrs[8].text, "127.0.1.1");
  CHECK(p.addrs[3].sa.ss_family == AF_INET);
  CHECK(((struct sockaddr_in *)&p.addrs[3].sa)->sin_port == 0);
  wsf_source_pool_free(&p);
}

static void test_range_crosses_an_octet(void) {
  wsf_source_pool p;
  wsf_source_pool_init(&p);
  char err[160];
  CHECK(wsf_source_pool_parse(&p, "default", "10.0.0.254-10.0.1.1", err, sizeof err) == 0);
  CHECK(p.n == 4);
  CHECK_STR(p.addrs[2].text, "10.0.1.0");
  wsf_source_pool_free(&p);
}

static void test_refusals_say_why(void) {
  const char *bad[] = {"",
                       "127.0.0.1,",
                       "localhost",
                       "127.0.0.9-127.0.0.1",
                       "::1-::2",
                       "127.0.0.1,127.0.0.1",
                       "127.0.0.1-::1",
                       "1.2.3.4.5",
                       "10.0.0.0-10.0.255.255"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    wsf_source_pool p;
    wsf_source_pool_init(&p);
    char err[160] = "";
    CHECK(wsf_source_pool_parse(&p, "default", bad[i], err, sizeof err) == -1);
    CHECK(err[0] != '\0');
    wsf_source_pool_free(&p);
  }
  wsf_source_pool p;
  wsf_source_pool_init(&p);
  char err[160];
  CHECK(wsf_source_pool_parse(&p, "default", "127.0.0.9-127.0.0.1", err, sizeof err) == -1);
  CHECK(strstr(err, "below its start") != NULL);
  wsf_source_pool_free(&p);
  wsf_source_pool_init(&p);
  CHECK(wsf_source_pool_parse(&p, "default", "10.0.0.0-10.0.255.255", err, sizeof err) == -1);
  CHECK(strstr(err, "1024") != NULL);
  wsf_source_pool_free(&p);
}

static void test_round_robin_per_family(void) {
  wsf_source_pool p;
  wsf_source_pool_init(&p);
  char err[160];
  CHECK(wsf_source_pool_parse(&p, "default", "127.0.0.1,::1,127.0.0.2,127.0.0.3", err, sizeof err) == 0);
  int seen[4] = {0};
  for (int i = 0; i < 30; i++) {
    int k = wsf_source_pool_next(&p, 0, AF_INET);
    CHECK(k >= 0 && k != 1);
    if (k >= 0)
      seen[k]++;
  }
  CHECK(seen[0] == 10 && seen[2] == 10 && seen[3] == 10);
  CHECK(wsf_source_pool_next(&p, 0, AF_INET6) == 1);
  CHECK(wsf_source_pool_next(&p, 0, AF_INET6) == 1);
  wsf_source_pool_free(&p);
  wsf_source_pool_init(&p);
  CHECK(wsf_source_pool_next(&p, 0, AF_INET) == -1); /* empty: the kernel chooses */
}

static void test_intern_adds_outside_the_rotation(void) {
  wsf_source_pool p;
  wsf_source_pool_init(&p);
  char err[160];
  bool full;
  CHECK(wsf_source_pool_parse(&p, "default", "127.0.0.1-127.0.0.2", err, sizeof err) == 0);
  CHECK(wsf_source_pool_intern(&p, "127.0.0.2", 9, &full) == 1); /* already there */
  CHECK(wsf_source_pool_intern(&p, "127.0.0.5", 9, &full) == 2 && !full);
  CHECK(p.n == 3 && p.rotations[0].n == 2);
  for (int i = 0; i < 10; i++)
    CHECK(wsf_source_pool_next(&p, 0, AF_INET) != 2);
  CHECK(wsf_source_pool_intern(&p, "nope", 4, &full) == -1 && !full);
  CHECK(wsf_source_pool_intern(&p, "::1", 3, &full) == 3);
  const char *a = p.addrs[0].text;
  char text[32];
  for (int i = 4; i < WSF_SOURCE_POOL_MAX; i++) {
    snprintf(text, sizeof text, "10.1.%d.%d", i / 256, i % 256);
    CHECK(wsf_source_pool_intern(&p, text, strlen(text), &full) == i);
  }
  CHECK(wsf_source_pool_intern(&p, "10.9.9.9", 8, &full) == -1 && full);
  CHECK(a == p.addrs[0].text); /* never moved: close records point at it */
  wsf_source_pool_free(&p);
}

static void test_named_pools_rotate_over_their_own_members(void) {
  wsf_source_pool p;
  wsf_source_pool_init(&p);
  char err[160];
  CHECK(wsf_source_pool_parse(&p, "default", "127.0.0.1-127.0.0.2", err, sizeof err) == 0);
  CHECK(wsf_source_pool_parse(&p, "east", "127.0.0.2-127.0.0.4", err, sizeof err) == 0);
  CHECK(wsf_source_pool_parse(&p, "v6", "::1", err, sizeof err) == 0);
  CHECK(p.n == 5); /* 127.0.0.2 is shared by default and east: one address, one counter */
  int east = wsf_source_pool_find(&p, "east", 4);
  CHECK(east == 1 && wsf_source_pool_find(&p, "default", 7) == 0 &&
        wsf_source_pool_find(&p, "west", 4) == -1);
  int seen[5] = {0};
  for (int i = 0; i < 9; i++) {
    int k = wsf_source_pool_next(&p, (uint32_t)east, AF_INET);
    CHECK(k >= 1 && k <= 3);
    if (k >= 0 && k < 5)
      seen[k]++;
  }
  CHECK(seen[1] == 3 && seen[2] == 3 && seen[3] == 3);
  CHECK(wsf_source_pool_next(&p, 0, AF_INET) == 0); /* the default rotation keeps its own cursor */
  CHECK(wsf_source_pool_next(&p, (uint32_t)east, AF_INET6) == -1);
  p.addrs[1].opens = 5; /* 127.0.0.2: in both pools */
  p.addrs[3].opens = 2;
  p.addrs[0].failures = 1;
  CHECK(wsf_source_rotation_opens(&p, (uint32_t)east) == 7 && wsf_source_rotation_opens(&p, 0) == 5);
  CHECK(wsf_source_rotation_failures(&p, 0) == 1 && wsf_source_rotation_failures(&p, (uint32_t)east) == 0);
  CHECK(wsf_source_pool_parse(&p, "east", "127.0.0.9", err, sizeof err) == -1 && strstr(err, "twice"));
  CHECK(wsf_source_pool_parse(&p, "a b", "127.0.0.9", err, sizeof err) == -1 && strstr(err, "pool name"));
  CHECK(wsf_source_pool_parse(&p, "default", "127.0.0.9", err, sizeof err) == -1);
  wsf_source_pool_free(&p);
}

int main(void) {
  RUN(test_range_and_list_expand_in_order);
  RUN(test_range_crosses_an_octet);
  RUN(test_refusals_say_why);
  RUN(test_round_robin_per_family);
  RUN(test_intern_adds_outside_the_rotation);
  RUN(test_named_pools_rotate_over_their_own_members);
  return wsf_test_result();
}
