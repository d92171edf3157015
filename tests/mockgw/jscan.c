/* See jscan.h. A recursive-descent validator with a depth bound; every read
 * checks p < end first. */
#include "jscan.h"

#include <string.h>

typedef struct scan {
  const char *p, *end;
} scan;

static void skip_ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* s->p at the opening quote. Control characters must be escaped (RFC 8259). */
static int scan_string(scan *s) {
  if (s->p >= s->end || *s->p != '"') return -1;
  s->p++;
  while (s->p < s->end) {
    unsigned char c = (unsigned char)*s->p++;
    if (c == '"') return 0;
    if (c < 0x20) return -1;
    if (c != '\\') continue;
    if (s->p >= s->end) return -1;
    c = (unsigned char)*s->p++;
    switch (c) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
      break;
    case 'u':
      if (s->end - s->p < 4) return -1;
      for (int i = 0; i < 4; i++)
        if (hexval(s->p[i]) < 0) return -1;
      s->p += 4;
      break;
    default:
      return -1;
    }
  }
  return -1;
}

static int scan_digits(scan *s) {
  const char *start = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
  return s->p > start ? 0 : -1;
}

static int scan_number(scan *s) {
  if (s->p < s->end && *s->p == '-') s->p++;
  if (s->p < s->end && *s->p == '0') s->p++;
  else if (scan_digits(s) < 0) return -1;
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (scan_digits(s) < 0) return -1;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
    if (scan_digits(s) < 0) return -1;
  }
  return 0;
}

static int scan_literal(scan *s, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return -1;
  s->p += n;
  return 0;
}

static int scan_value(scan *s, int depth, jscan_val *v);

/* Members of an object (s->p at '{'). When key is non-NULL and found at this
 * level, *found is set to its value. */
static int scan_object(scan *s, int depth, const char *key, jscan_val *found, int *hit) {
  if (depth > JSCAN_MAX_DEPTH) return -1;
  s->p++; /* '{' */
  skip_ws(s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    return 0;
  }
  for (;;) {
    skip_ws(s);
    const char *kstart = s->p;
    if (scan_string(s) < 0) return -1;
    size_t klen = (size_t)(s->p - kstart) - 2;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':') return -1;
    s->p++;
    skip_ws(s);
    jscan_val v;
    if (scan_value(s, depth + 1, &v) < 0) return -1;
    if (key && !*hit && klen == strlen(key) && memcmp(kstart + 1, key, klen) == 0) {
      *found = v;
      *hit = 1;
    }
    skip_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == ',') {
      s->p++;
      continue;
    }
    if (*s->p == '}') {
      s->p++;
      return 0;
    }
    return -1;
  }
}

static int scan_array(scan *s, int depth) {
  if (depth > JSCAN_MAX_DEPTH) return -1;
  s->p++; /* '[' */
  skip_ws(s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    return 0;
  }
  for (;;) {
    skip_ws(s);
    jscan_val v;
    if (scan_value(s, depth + 1, &v) < 0) return -1;
    skip_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == ',') {
      s->p++;
      continue;
    }
    if (*s->p == ']') {
      s->p++;
      return 0;
    }
    return -1;
  }
}

static int scan_value(scan *s, int depth, jscan_val *v) {
  if (s->p >= s->end) return -1;
  const char *start = s->p;
  int rc, hit = 0;
  switch (*s->p) {
  case '"': v->type = JSCAN_STRING; rc = scan_string(s); break;
  case '{': v->type = JSCAN_OBJECT; rc = scan_object(s, depth, NULL, NULL, &hit); break;
  case '[': v->type = JSCAN_ARRAY; rc = scan_array(s, depth); break;
  case 't': v->type = JSCAN_TRUE; rc = scan_literal(s, "true"); break;
  case 'f': v->type = JSCAN_FALSE; rc = scan_literal(s, "false"); break;
  case 'n': v->type = JSCAN_NULL; rc = scan_literal(s, "null"); break;
  default: v->type = JSCAN_NUMBER; rc = scan_number(s); break;
  }
  v->p = start;
  v->len = (size_t)(s->p - start);
  return rc;
}

int jscan_get(const char *json, size_t len, const char *key, jscan_val *out) {
  if (!json) return -1;
  scan s = {json, json + len};
  skip_ws(&s);
  if (s.p >= s.end || *s.p != '{') return -1;
  jscan_val found = {JSCAN_NONE, NULL, 0};
  int hit = 0;
  if (scan_object(&s, 0, key, &found, &hit) < 0) return -1;
  skip_ws(&s);
  if (s.p != s.end) return -1;
  if (!hit) return 0;
  if (out) *out = found;
  return 1;
}

bool jscan_str_eq(const jscan_val *v, const char *s) {
  if (v->type != JSCAN_STRING) return false;
  size_t n;
  const char *raw = jscan_str_raw(v, &n);
  return n == strlen(s) && memcmp(raw, s, n) == 0;
}
