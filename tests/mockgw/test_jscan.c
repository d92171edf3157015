/* The chat protocol's JSON scanner: known answers, then garbage that must be
 * rejected without reading out of bounds (run under ASan/valgrind to see it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

static int failures, checks;
#define CHECK(c)                                                          \
  do {                                                                    \
    checks++;                                                             \
    if (!(c)) {                                                           \
      failures++;                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
    }                                                                     \
  } while (0)

/* Copies into an exact-size heap buffer so ASan sees any overread. */
static int get(const char *json, const char *key, jscan_val *v) {
  size_t n = strlen(json);
  char *buf = malloc(n ? n : 1);
  memcpy(buf, json, n);
  int rc = jscan_get(buf, n, key, v);
  if (rc == 1) v->p = json + (v->p - buf); /* point back into the literal */
  free(buf);
  return rc;
}

static void finds_top_level_string_fields(void) {
  jscan_val v;
  CHECK(get("{\"action\":\"echo\",\"message\":\"hi\"}", "action", &v) == 1);
  CHECK(jscan_str_eq(&v, "echo"));
  CHECK(get(" {\"a\" : {\"action\":\"x\"}, \"action\" : \"onMessage\" } ", "action", &v) == 1);
  CHECK(jscan_str_eq(&v, "onMessage"));
  CHECK(get("{\"message\":{\"text\":\"t\\\"q\",\"n\":[1,2.5e3,-0.1,true,false,null]}}", "message", &v) == 1);
  CHECK(v.type == JSCAN_OBJECT);
  jscan_val t;
  CHECK(jscan_get(v.p, v.len, "text", &t) == 1);
  size_t n;
  const char *raw = jscan_str_raw(&t, &n);
  CHECK(n == 4 && memcmp(raw, "t\\\"q", 4) == 0);
}

static void absent_key_is_zero(void) {
  jscan_val v;
  CHECK(get("{}", "action", &v) == 0);
  CHECK(get("{\"actions\":1}", "action", &v) == 0);
  CHECK(get("{\"x\":{\"action\":\"nested\"}}", "action", &v) == 0);
}

static void malformed_is_rejected(void) {
  static const char *bad[] = {
      "", "   ", "[]", "\"s\"", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}",
      "{\"a\":\"unterminated}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":01}", "{\"a\":1.}",
      "{\"a\":-}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":1} x", "{\"a\":[1,2}", "{\"a\":\"\x01\"}",
      "{a:1}", "{\"a\":1e}", "{\"a\":\"\\",
  };
  jscan_val v;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = get(bad[i], "a", &v);
    if (rc != -1) fprintf(stderr, "accepted: %s\n", bad[i]);
    CHECK(rc == -1);
  }
  CHECK(jscan_get(NULL, 0, "a", &v) == -1);
}

static void deep_nesting_is_bounded(void) {
  char buf[4096];
  size_t n = 0;
  buf[n++] = '{';
  memcpy(buf + n, "\"a\":", 4), n += 4;
  for (int i = 0; i < 1000; i++) buf[n++] = '[';
  for (int i = 0; i < 1000; i++) buf[n++] = ']';
  buf[n++] = '}';
  jscan_val v;
  CHECK(jscan_get(buf, n, "a", &v) == -1);
}

/* Random bytes and mutated valid objects: only -1/0/1, and any value found
 * lies inside the input. */
static void garbage_never_escapes_the_buffer(void) {
  static const char seed[] = "{\"action\":\"echo\",\"message\":{\"text\":\"hi \\u00e9\",\"n\":[1,{\"k\":null}]}}";
  uint64_t x = 88172645463325252ull;
  for (int round = 0; round < 200000; round++) {
    size_t n = (size_t)(x % 96);
    char *buf = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      if (round % 2 && i < sizeof seed - 1)
        buf[i] = (x % 8) ? seed[i] : (char)(x >> 24);
      else
        buf[i] = "{}[]\":,\\ tfnul0123456789.-eE"[x % 29];
    }
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    jscan_val v;
    int rc = jscan_get(buf, n, "action", &v);
    CHECK(rc >= -1 && rc <= 1);
    if (rc == 1) CHECK(v.p >= buf && v.p + v.len <= buf + n);
    free(buf);
  }
}

int main(void) {
  finds_top_level_string_fields();
  absent_key_is_zero();
  malformed_is_rejected();
  deep_nesting_is_bounded();
  garbage_never_escapes_the_buffer();
  printf("%s jscan: %d checks, %d failed\n", failures ? "not ok" : "ok", checks, failures);
  return failures ? 1 : 0;
}
