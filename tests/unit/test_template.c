/* template.c: $0..$9, ${name}, $$, a lone $, the size bound. */
#include <stdlib.h>

#include "template.h"
#include "testlib.h"

static wsf_span lookup(const void *ctx, const char *name, size_t len) {
  (void)ctx;
  if (len == 3 && memcmp(name, "sid", 3) == 0)
    return (wsf_span){"abc", 3};
  return (wsf_span){NULL, 0};
}

static char *expand(const char *t, size_t max, long *n) {
  wsf_span groups[3] = {{"PING 7", 6}, {"7", 1}, {NULL, 0}};
  uint8_t *out = NULL;
  *n = wsf_template_expand((const uint8_t *)t, strlen(t), groups, 3, lookup, NULL, max, &out);
  if (*n < 0)
    return NULL;
  char *s = malloc((size_t)*n + 1);
  memcpy(s, out, (size_t)*n);
  s[*n] = 0;
  free(out);
  return s;
}

static void check(const char *t, const char *want) {
  long n;
  char *got = expand(t, 1000, &n);
  CHECK(got && strcmp(got, want) == 0);
  if (got && strcmp(got, want) != 0)
    fprintf(stderr, "  %s -> '%s', want '%s'\n", t, got, want);
  free(got);
}

static void test_groups_captures_and_dollars(void) {
  check("PONG $1", "PONG 7");
  check("[$0]", "[PING 7]");
  check("$2$3$9.", "."); /* an empty group, groups past the match */
  check("${sid}/${nope}", "abc/");
  check("$$1 costs $", "$1 costs $");
  check("${unclosed", "${unclosed");
  check("$x", "$x");
  check("", "");
}

static void test_has_vars(void) {
  CHECK(!wsf_template_has_vars((const uint8_t *)"3", 1));
  CHECK(wsf_template_has_vars((const uint8_t *)"a$1", 3));
}

static void test_the_bound_is_checked_before_allocating(void) {
  long n;
  char *s = expand("$0$0", 12, &n);
  CHECK(s && n == 12);
  free(s);
  CHECK(expand("$0$0!", 12, &n) == NULL && n == -1);
}

int main(void) {
  RUN(test_groups_captures_and_dollars);
  RUN(test_has_vars);
  RUN(test_the_bound_is_checked_before_allocating);
  return wsf_test_result();
}
