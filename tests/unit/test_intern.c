/* Shared byte blocks (intern.h): equal content is one block with a count of
 * its users, the last release frees it, the table keeps finding blocks while
 * it grows, and every block reads as a C string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "testlib.h"

static void test_equal_content_is_one_block(void) {
  wsf_intern_table t = {0};
  const char a[] = "upgrade\0websocket\0connection\0Upgrade\0sec-websocket-accept\0";
  const wsf_interned *x = wsf_intern(&t, a, sizeof a - 1);
  const wsf_interned *y = wsf_intern(&t, a, sizeof a - 1);
  CHECK(x == y && x->refs == 2 && t.count == 1);
  CHECK(x->len == sizeof a - 1 && memcmp(x->data, a, sizeof a - 1) == 0 && x->data[x->len] == '\0');
  const wsf_interned *z = wsf_intern(&t, a, sizeof a - 2); /* a prefix is other content */
  CHECK(z != x && t.count == 2);
  const wsf_interned *empty = wsf_intern(&t, "", 0);
  CHECK(empty->len == 0 && empty->data[0] == '\0' && t.count == 3);
  wsf_intern_release(&t, y);
  CHECK(x->refs == 1 && t.count == 3);
  wsf_intern_release(&t, x);
  wsf_intern_release(&t, z);
  wsf_intern_release(&t, empty);
  wsf_intern_release(&t, NULL);
  CHECK(t.count == 0);
  wsf_intern_table_free(&t);
}

/* 20,000 distinct blocks (a gateway with a request id per connection), each
 * taken twice: found again after every growth, all freed at the end (ASan
 * and valgrind see any leak). */
static void test_many_distinct_blocks(void) {
  enum { N = 20000 };
  wsf_intern_table t = {0};
  const wsf_interned **kept = malloc(N * sizeof *kept);
  char buf[64];
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof buf, "x-request-id%c%08d", '\0', i);
    kept[i] = wsf_intern(&t, buf, (size_t)n);
  }
  CHECK(t.count == N && t.n_buckets >= N);
  int same = 0;
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof buf, "x-request-id%c%08d", '\0', i);
    same += wsf_intern(&t, buf, (size_t)n) == kept[i];
  }
  CHECK(same == N && t.count == N);
  for (int i = 0; i < N; i++) {
    wsf_intern_release(&t, kept[i]);
    wsf_intern_release(&t, kept[i]);
  }
  CHECK(t.count == 0);
  free(kept);
  wsf_intern_table_free(&t);
}

int main(void) {
  RUN(test_equal_content_is_one_block);
  RUN(test_many_distinct_blocks);
  return wsf_test_result();
}
