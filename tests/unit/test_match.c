/* recv matching: substring, regex, JSON field; each alone and combined;
 * bad criteria rejected with words; hostile JSON never matches or crashes. */
#include <stdlib.h>

#include "match.h"
#include "testlib.h"

/* Criteria from C strings; NULL = not given. */
static int init(wsf_match *m, const char *contains, const char *regex, const char *field, const char *value,
                char *err, size_t errlen) {
  return wsf_match_init(m, contains, contains ? strlen(contains) : 0, regex, regex ? strlen(regex) : 0, field,
                        field ? strlen(field) : 0, value, value ? strlen(value) : 0, err, errlen);
}

static bool test_str(const wsf_match *m, const char *s) {
  return wsf_match_test(m, s, strlen(s));
}

/* The value of path in json as a fresh string, or NULL when it does not match. */
static char *field(const char *json, const char *path, bool *is_string) {
  const char *v;
  size_t n;
  if (!wsf_json_field(json, strlen(json), path, &v, &n, is_string))
    return NULL;
  char *out = malloc(n + 1);
  memcpy(out, v, n);
  out[n] = 0;
  return out;
}

static bool field_is(const char *json, const char *path, const char *want, bool want_string) {
  bool is_string = !want_string;
  char *got = field(json, path, &is_string);
  bool ok = got && strcmp(got, want) == 0 && is_string == want_string;
  if (!ok)
    fprintf(stderr, "  field %s in %s: got %s%s%s\n", path, json, got ? "'" : "", got ? got : "(no match)",
            got ? "'" : "");
  free(got);
  return ok;
}

static bool no_field(const char *json, const char *path) {
  char *got = field(json, path, NULL);
  free(got);
  return got == NULL;
}

static void test_empty_criteria_match_everything(void) {
  wsf_match m;
  CHECK(init(&m, NULL, NULL, NULL, NULL, NULL, 0) == 0);
  CHECK(wsf_match_empty(&m));
  CHECK(wsf_match_test(&m, "", 0));
  CHECK(test_str(&m, "anything"));
  wsf_match_free(&m);
}

static void test_contains_is_binary_safe(void) {
  wsf_match m;
  const char needle[] = {'b', 0, 'c'};
  CHECK(wsf_match_init(&m, needle, 3, NULL, 0, NULL, 0, NULL, 0, NULL, 0) == 0);
  CHECK(!wsf_match_empty(&m));
  const char hay[] = {'a', 0, 'b', 0, 'c', 'd'};
  CHECK(wsf_match_test(&m, hay, sizeof hay));
  CHECK(!wsf_match_test(&m, hay, 4)); /* needle would end past len */
  CHECK(!test_str(&m, "bc"));
  wsf_match_free(&m);

  CHECK(init(&m, "world", NULL, NULL, NULL, NULL, 0) == 0);
  CHECK(test_str(&m, "hello world"));
  CHECK(!test_str(&m, "hello worl"));
  CHECK(!test_str(&m, "WORLD"));
  /* Data need not be NUL-terminated: only len bytes are looked at. */
  CHECK(!wsf_match_test(&m, "hello worldwide", 10));
  wsf_match_free(&m);
}

static void test_regex_matches_anywhere(void) {
  wsf_match m;
  char err[256] = "";
  CHECK(init(&m, NULL, "\"type\": *\"(ack|nack)\"", NULL, NULL, err, sizeof err) == 0);
  CHECK(test_str(&m, "{\"id\":1,\"type\": \"ack\"}"));
  CHECK(test_str(&m, "{\"type\":\"nack\"}"));
  CHECK(!test_str(&m, "{\"type\":\"hello\"}"));
  wsf_match_free(&m);

  CHECK(init(&m, NULL, "^abc$", NULL, NULL, err, sizeof err) == 0);
  CHECK(test_str(&m, "abc"));
  CHECK(!test_str(&m, "xabc"));
  /* The end of the subject is len, not the C string's end. */
  CHECK(wsf_match_test(&m, "abcdef", 3));
  wsf_match_free(&m);
}

static void test_regex_sees_past_nul_bytes(void) {
  wsf_match m;
  CHECK(init(&m, NULL, "tail", NULL, NULL, NULL, 0) == 0);
  const char data[] = {'h', 'e', 'a', 'd', 0, 't', 'a', 'i', 'l'};
  CHECK(wsf_match_test(&m, data, sizeof data));
  CHECK(!wsf_match_test(&m, data, 8));
  wsf_match_free(&m);
}

static void test_bad_regex_is_reported(void) {
  wsf_match m;
  char err[256] = "";
  CHECK(init(&m, NULL, "(unclosed", NULL, NULL, err, sizeof err) == -1);
  CHECK(strstr(err, "regex") != NULL);
  CHECK(strlen(err) > strlen("bad regex: "));
  CHECK(m.regex == NULL);
  wsf_match_free(&m); /* safe after a failed init */

  err[0] = 0;
  CHECK(init(&m, NULL, "a{2,1}", NULL, NULL, err, sizeof err) == -1);
  CHECK(err[0] != 0);
  wsf_match_free(&m);

  CHECK(wsf_match_init(&m, NULL, 0, "a\0b", 3, NULL, 0, NULL, 0, err, sizeof err) == -1);
  CHECK(strstr(err, "NUL") != NULL);
  wsf_match_free(&m);

  /* A small error buffer is truncated, not overrun. */
  char small[8];
  memset(small, 'x', sizeof small);
  CHECK(init(&m, NULL, "[", NULL, NULL, small, 4) == -1);
  CHECK(strlen(small) == 3);
  CHECK(small[4] == 'x');
  wsf_match_free(&m);
}

static void test_bad_json_criteria_are_reported(void) {
  wsf_match m;
  char err[256] = "";
  CHECK(init(&m, NULL, NULL, NULL, "1", err, sizeof err) == -1);
  CHECK(strstr(err, "json_field") != NULL);
  const char *bad_paths[] = {"", ".a", "a.", "a..b"};
  for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++) {
    err[0] = 0;
    CHECK(init(&m, NULL, NULL, bad_paths[i], NULL, err, sizeof err) == -1);
    CHECK(err[0] != 0);
    wsf_match_free(&m);
  }
}

static void test_json_field_existence_and_value(void) {
  wsf_match m;
  CHECK(init(&m, NULL, NULL, "class", NULL, NULL, 0) == 0);
  CHECK(test_str(&m, "{\"class\":\"quote\"}"));
  CHECK(test_str(&m, "{\"a\":1,\"class\":null}"));
  CHECK(!test_str(&m, "{\"klass\":1}"));
  CHECK(!test_str(&m, "not json, \"class\":1"));
  wsf_match_free(&m);

  CHECK(init(&m, NULL, NULL, "body.type", "trade", NULL, 0) == 0);
  CHECK(test_str(&m, "{\"body\":{\"type\":\"trade\",\"px\":1.5}}"));
  CHECK(!test_str(&m, "{\"body\":{\"type\":\"quote\"}}"));
  CHECK(!test_str(&m, "{\"type\":\"trade\"}"));
  CHECK(!test_str(&m, "{\"body\":{\"type\":\"trade\"}")); /* truncated */
  wsf_match_free(&m);

  /* Numbers and literals compare as written; strings unquoted. */
  CHECK(init(&m, NULL, NULL, "n", "1.50", NULL, 0) == 0);
  CHECK(test_str(&m, "{\"n\": 1.50 }"));
  CHECK(!test_str(&m, "{\"n\": 1.5}"));
  CHECK(test_str(&m, "{\"n\": \"1.50\"}"));
  wsf_match_free(&m);
  CHECK(init(&m, NULL, NULL, "ok", "true", NULL, 0) == 0);
  CHECK(test_str(&m, "{\"ok\":true}"));
  CHECK(!test_str(&m, "{\"ok\":false}"));
  wsf_match_free(&m);
  CHECK(init(&m, NULL, NULL, "v", "null", NULL, 0) == 0);
  CHECK(test_str(&m, "{\"v\":null}"));
  wsf_match_free(&m);
  CHECK(init(&m, NULL, NULL, "s", "", NULL, 0) == 0);
  CHECK(test_str(&m, "{\"s\":\"\"}"));
  CHECK(!test_str(&m, "{\"s\":\"x\"}"));
  wsf_match_free(&m);
}

static void test_criteria_combine_with_and(void) {
  wsf_match m;
  CHECK(init(&m, "EUR", "px\":[0-9]+", "type", "trade", NULL, 0) == 0);
  CHECK(test_str(&m, "{\"type\":\"trade\",\"sym\":\"EURUSD\",\"px\":12}"));
  CHECK(!test_str(&m, "{\"type\":\"trade\",\"sym\":\"GBPUSD\",\"px\":12}"));    /* contains fails */
  CHECK(!test_str(&m, "{\"type\":\"trade\",\"sym\":\"EURUSD\",\"px\":\"x\"}")); /* regex fails */
  CHECK(!test_str(&m, "{\"type\":\"quote\",\"sym\":\"EURUSD\",\"px\":12}"));    /* json fails */
  wsf_match_free(&m);

  CHECK(init(&m, "a", "b", NULL, NULL, NULL, 0) == 0);
  CHECK(test_str(&m, "ab"));
  CHECK(!test_str(&m, "a"));
  CHECK(!test_str(&m, "b"));
  wsf_match_free(&m);
}

static void test_json_paths_into_nested_objects_and_arrays(void) {
  const char *doc = "{ \"a\" : { \"b\" : [ 10, {\"c\": \"deep\"}, [true, false] ] },"
                    "  \"list\": [], \"o\": {}, \"x\": -0.5e+3 }";
  CHECK(field_is(doc, "a.b.0", "10", false));
  CHECK(field_is(doc, "a.b.1.c", "deep", true));
  CHECK(field_is(doc, "a.b.2.1", "false", false));
  CHECK(field_is(doc, "a.b.1", "{\"c\": \"deep\"}", false));
  CHECK(field_is(doc, "a.b.2", "[true, false]", false));
  CHECK(field_is(doc, "list", "[]", false));
  CHECK(field_is(doc, "o", "{}", false));
  CHECK(field_is(doc, "x", "-0.5e+3", false));
  CHECK(no_field(doc, "a.b.3"));
  CHECK(no_field(doc, "a.b.x"));
  CHECK(no_field(doc, "a.c"));
  CHECK(no_field(doc, "list.0"));
  CHECK(no_field(doc, "x.y"));
  CHECK(no_field(doc, "a.b.1.c.d"));
  /* Top-level arrays are indexed too. */
  CHECK(field_is("[{\"id\":1},{\"id\":2}]", "1.id", "2", false));
  /* A key that is digits is still a key in an object. */
  CHECK(field_is("{\"0\":\"zero\"}", "0", "zero", true));
  /* The first of duplicate keys wins; values of other keys with the same
   * name deeper down are not confused with the path. */
  CHECK(field_is("{\"k\":1,\"k\":2}", "k", "1", false));
  CHECK(field_is("{\"x\":{\"k\":\"inner\"},\"k\":\"outer\"}", "k", "outer", true));
  /* A scalar document has no fields. */
  CHECK(no_field("\"k\"", "k"));
  CHECK(no_field("5", "0"));
}

static void test_json_strings_with_escapes(void) {
  /* Escaped quotes and backslashes inside strings do not end them. */
  CHECK(field_is("{\"a\":\"say \\\"hi\\\"\",\"b\":2}", "b", "2", false));
  CHECK(field_is("{\"a\":\"say \\\"hi\\\"\"}", "a", "say \\\"hi\\\"", true));
  CHECK(field_is("{\"a\":\"ends in backslash\\\\\",\"b\":3}", "b", "3", false));
  CHECK(field_is("{\"a\":\"\\u00e9\\n\\t\\/\"}", "a", "\\u00e9\\n\\t\\/", true));
  /* A key with an escaped quote is compared as written. */
  CHECK(field_is("{\"k\\\"q\":1}", "k\\\"q", "1", false));
  /* Braces and commas inside strings are not structure. */
  CHECK(field_is("{\"s\":\"}{,][:\",\"t\":\"ok\"}", "t", "ok", true));
  /* UTF-8 passes through. */
  CHECK(field_is("{\"name\":\"Zo\xc3\xab\"}", "name", "Zo\xc3\xab", true));
}

static void test_malformed_json_never_matches(void) {
  const char *bad[] = {
      "",
      "{",
      "{\"a\"",
      "{\"a\":",
      "{\"a\":1",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "{'a':1}",
      "{\"a\":01}",
      "{\"a\":1.}",
      "{\"a\":.5}",
      "{\"a\":1e}",
      "{\"a\":-}",
      "{\"a\":+1}",
      "{\"a\":tru}",
      "{\"a\":nul}",
      "{\"a\":truex}",
      "{\"a\":\"unterminated}",
      "{\"a\":\"bad escape \\x\"}",
      "{\"a\":\"short \\u12\"}",
      "{\"a\":\"raw\ncontrol\"}",
      "{\"a\":1}}",
      "{\"a\":1} trailing",
      "{\"a\":[1,2}",
      "{\"a\":[1,,2]}",
      "{\"a\":1,\"a\"}",
      "[1,2",
      "{\"a\":\"x\"}\"",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (!no_field(bad[i], "a"))
      fprintf(stderr, "  matched malformed: %s\n", bad[i]);
    CHECK(no_field(bad[i], "a"));
  }
  /* The same shapes, well-formed, do match (so the list above tests the flaw). */
  CHECK(field_is("{\"a\":1}", "a", "1", false));
  CHECK(field_is("{\"a\":[1,2]}", "a", "[1,2]", false));
  CHECK(field_is(" \t\r\n{\"a\":1} \n", "a", "1", false));
}

/* Every prefix of a valid document is cut mid-way and must not match (and must
 * not read past its length: run under valgrind/ASan to see that). */
static void test_truncated_documents_never_match_or_overread(void) {
  const char *doc = "{\"a\":{\"b\":[1,\"two\\\"\",{\"c\":null}],\"d\":-1.5e-7},\"e\":\"\\u0041\"}";
  size_t n = strlen(doc);
  for (size_t cut = 0; cut < n; cut++) {
    char *copy = malloc(cut ? cut : 1); /* exactly cut bytes: no NUL after them */
    memcpy(copy, doc, cut);
    const char *v;
    size_t vl;
    CHECK(!wsf_json_field(copy, cut, "a", &v, &vl, NULL));
    CHECK(!wsf_json_field(copy, cut, "e", &v, &vl, NULL));
    free(copy);
  }
  CHECK(field_is(doc, "a.b.1", "two\\\"", true));
  CHECK(field_is(doc, "a.d", "-1.5e-7", false));
}

static void test_deep_nesting_is_refused_without_overflow(void) {
  /* 64 levels of arrays around a field is fine ... */
  size_t depth = 63;
  size_t cap = 2 * depth + 64;
  char *doc = malloc(cap);
  size_t n = 0;
  n += (size_t)sprintf(doc + n, "{\"x\":");
  for (size_t i = 0; i < depth; i++)
    doc[n++] = '[';
  for (size_t i = 0; i < depth; i++)
    doc[n++] = ']';
  n += (size_t)sprintf(doc + n, ",\"k\":1}");
  const char *v;
  size_t vl;
  CHECK(wsf_json_field(doc, n, "k", &v, &vl, NULL));
  free(doc);

  /* ... a million is refused, quickly and without blowing the stack. */
  depth = 1000000;
  doc = malloc(2 * depth + 64);
  n = (size_t)sprintf(doc, "{\"k\":1,\"x\":");
  memset(doc + n, '[', depth);
  n += depth;
  memset(doc + n, ']', depth);
  n += depth;
  doc[n++] = '}';
  CHECK(!wsf_json_field(doc, n, "k", &v, &vl, NULL));
  free(doc);
}

static void test_json_field_in_match_handles_nul_bytes(void) {
  wsf_match m;
  CHECK(init(&m, NULL, NULL, "a", "b", NULL, 0) == 0);
  const char ok[] = "{\"a\":\"b\"}";
  CHECK(wsf_match_test(&m, ok, sizeof ok - 1));
  const char with_nul[] = "{\"a\":\"b\"}\0junk";
  CHECK(!wsf_match_test(&m, with_nul, sizeof with_nul - 1)); /* NUL is not whitespace */
  const char nul_in_string[] = "{\"a\":\"b\0\"}";
  CHECK(!wsf_match_test(&m, nul_in_string, sizeof nul_in_string - 1));
  wsf_match_free(&m);
}

static void test_json_valid_accepts_documents_and_refuses_garbage(void) {
  static const char *const valid[] = {"{}", " {\"a\":[1,2,{\"b\":null}]} ", "\"x\"", "-1.5e3", "true", "[]"};
  static const char *const invalid[] = {"",    "{",       "{\"a\":}", "[1,]", "{\"a\":1} x",
                                        "nul", "\"\\q\"", "{'a':1}"};
  for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
    CHECK(wsf_json_valid(valid[i], strlen(valid[i])));
  for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
    CHECK(!wsf_json_valid(invalid[i], strlen(invalid[i])));
  char deep[200];
  memset(deep, '[', sizeof deep);
  CHECK(!wsf_json_valid(deep, sizeof deep));
}

int main(void) {
  RUN(test_empty_criteria_match_everything);
  RUN(test_contains_is_binary_safe);
  RUN(test_regex_matches_anywhere);
  RUN(test_regex_sees_past_nul_bytes);
  RUN(test_bad_regex_is_reported);
  RUN(test_bad_json_criteria_are_reported);
  RUN(test_json_field_existence_and_value);
  RUN(test_criteria_combine_with_and);
  RUN(test_json_paths_into_nested_objects_and_arrays);
  RUN(test_json_strings_with_escapes);
  RUN(test_malformed_json_never_matches);
  RUN(test_truncated_documents_never_match_or_overread);
  RUN(test_deep_nesting_is_refused_without_overflow);
  RUN(test_json_field_in_match_handles_nul_bytes);
  RUN(test_json_valid_accepts_documents_and_refuses_garbage);
  return wsf_test_result();
}
