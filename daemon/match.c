/* Message matching for recv: substring, POSIX extended regex, JSON field.
 *
 * Every criterion sees the whole message, NUL bytes included: contains uses
 * memmem, the regex runs with glibc's REG_STARTEND over [0, len), and the
 * JSON scanner is bounded by len. */
#include "match.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Deeper documents do not match: each level costs a stack frame, and a
 * hostile message must not be able to exhaust the stack. */
#define JSON_MAX_DEPTH 64
/* Array index segments: more digits than this cannot be a real index. */
#define JSON_MAX_INDEX_DIGITS 9

static int fail(char *err, size_t errlen, const char *why) {
  if (err && errlen)
    snprintf(err, errlen, "%s", why);
  return -1;
}

static int match_init(wsf_match *m, const char *contains, size_t contains_len, const char *regex,
                      size_t regex_len, const char *json_field, size_t json_field_len, const char *json_value,
                      size_t json_value_len, int cflags, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  if (json_value && !json_field)
    return fail(err, errlen, "json_value needs json_field");
  if (json_field) {
    /* Empty segments would be ambiguous ("a." vs "a"); keys are never empty in practice. */
    if (json_field_len == 0 || json_field[0] == '.' || json_field[json_field_len - 1] == '.' ||
        memmem(json_field, json_field_len, "..", 2) || memchr(json_field, '\0', json_field_len))
      return fail(err, errlen, "json_field must be a dotted path of non-empty keys, e.g. body.type");
  }
  if (regex) {
    if (memchr(regex, '\0', regex_len))
      return fail(err, errlen, "regex contains a NUL byte");
    char *pattern = wsf_xstrndup(regex, regex_len);
    m->regex = wsf_xmalloc(sizeof *m->regex);
    int rc = regcomp(m->regex, pattern, REG_EXTENDED | cflags);
    free(pattern);
    if (rc != 0) {
      char msg[200];
      regerror(rc, m->regex, msg, sizeof msg);
      free(m->regex);
      m->regex = NULL;
      if (err && errlen)
        snprintf(err, errlen, "bad regex: %s", msg);
      return -1;
    }
  }
  if (contains) {
    m->contains = wsf_xstrndup(contains, contains_len);
    m->contains_len = contains_len;
  }
  if (json_field)
    m->json_field = wsf_xstrndup(json_field, json_field_len);
  if (json_value)
    m->json_value = wsf_xstrndup(json_value, json_value_len);
  return 0;
}

int wsf_match_init(wsf_match *m, const char *contains, size_t contains_len, const char *regex,
                   size_t regex_len, const char *json_field, size_t json_field_len, const char *json_value,
                   size_t json_value_len, char *err, size_t errlen) {
  return match_init(m, contains, contains_len, regex, regex_len, json_field, json_field_len, json_value,
                    json_value_len, REG_NOSUB, err, errlen);
}

int wsf_match_init_groups(wsf_match *m, const char *contains, size_t contains_len, const char *regex,
                          size_t regex_len, const char *json_field, size_t json_field_len,
                          const char *json_value, size_t json_value_len, char *err, size_t errlen) {
  int rc = match_init(m, contains, contains_len, regex, regex_len, json_field, json_field_len, json_value,
                      json_value_len, 0, err, errlen);
  if (rc == 0)
    m->groups = true;
  return rc;
}

void wsf_match_free(wsf_match *m) {
  free(m->contains);
  if (m->regex) {
    regfree(m->regex);
    free(m->regex);
  }
  free(m->json_field);
  free(m->json_value);
  memset(m, 0, sizeof *m);
}

bool wsf_match_empty(const wsf_match *m) {
  return !m->contains && !m->regex && !m->json_field && !m->opcode;
}

/* regexec over [data, data + len) with a NUL after the subject. REG_STARTEND bounds glibc's
 * matcher to [rm_so, rm_eo), but not every reader of the subject honours it: the sanitizers'
 * regexec interceptor reads to a NUL (and musl ignores the flag), and records inside a WebSocket
 * message (framing.c) or wslay's message buffers have none after them (ASan: a heap-buffer-overflow
 * read in test_proto_presets). The subject is copied: on the stack up to 4 KiB, the common case. */
static int regexec_span(const regex_t *re, const char *data, size_t len, size_t n, regmatch_t *spans) {
  char small[4096];
  char *copy = len < sizeof small ? small : wsf_xmalloc(len + 1);
  if (len)
    memcpy(copy, data, len);
  copy[len] = '\0';
  spans[0] = (regmatch_t){.rm_so = 0, .rm_eo = (regoff_t)len};
  int rc = regexec(re, copy, n, spans, REG_STARTEND);
  if (copy != small)
    free(copy);
  return rc;
}

bool wsf_match_test(const wsf_match *m, const char *data, size_t len) {
  if (m->contains && m->contains_len && !memmem(data, len, m->contains, m->contains_len))
    return false;
  if (m->regex) {
    /* REG_STARTEND (glibc, BSD): the subject is [rm_so, rm_eo), NUL bytes included. */
    if (len > (size_t)INT_MAX) /* regoff_t is an int */
      return false;
    regmatch_t span;
    if (regexec_span(m->regex, data, len, 1, &span) != 0)
      return false;
  }
  if (m->json_field) {
    const char *value;
    size_t value_len;
    bool is_string;
    if (!wsf_json_field(data, len, m->json_field, &value, &value_len, &is_string))
      return false;
    if (m->json_value) {
      size_t want = strlen(m->json_value);
      if (value_len != want || memcmp(value, m->json_value, want) != 0)
        return false;
    }
  }
  return true;
}

bool wsf_match_test_groups(const wsf_match *m, int opcode, const char *data, size_t len, wsf_span *groups,
                           size_t n_groups) {
  for (size_t i = 0; i < n_groups; i++)
    groups[i] = (wsf_span){NULL, 0};
  if (m->opcode && m->opcode != opcode)
    return false;
  if (!m->regex || !m->groups || n_groups == 0)
    return wsf_match_test(m, data, len);
  /* The regex runs once, with its groups; the other criteria as in wsf_match_test. */
  if (len > (size_t)INT_MAX)
    return false;
  regmatch_t spans[WSF_MATCH_MAX_GROUPS];
  size_t n = n_groups < WSF_MATCH_MAX_GROUPS ? n_groups : WSF_MATCH_MAX_GROUPS;
  if (regexec_span(m->regex, data, len, n, spans) != 0)
    return false;
  wsf_match rest = *m;
  rest.regex = NULL;
  if (!wsf_match_test(&rest, data, len))
    return false;
  for (size_t i = 0; i < n; i++)
    if (spans[i].rm_so >= 0 && spans[i].rm_eo >= spans[i].rm_so)
      groups[i] = (wsf_span){data + spans[i].rm_so, (size_t)(spans[i].rm_eo - spans[i].rm_so)};
  return true;
}

/* ---- JSON field scanner ------------------------------------------------
 * A strict RFC 8259 recogniser that walks the whole text once, following the
 * path on the way: the field counts only if the entire text is valid JSON,
 * so a truncated or garbled message never matches. No allocation; recursion
 * only for nesting, bounded by JSON_MAX_DEPTH. Object keys are compared with
 * the path segment as written between the quotes (escapes are not decoded),
 * and a key containing '.' cannot be reached. With duplicate keys the first
 * wins. */

typedef struct jscan {
  const char *p, *end;
  const char *path_end;
  const char *found; /* NULL until the path's value is seen */
  size_t found_len;
  bool found_string;
} jscan;

static void skip_ws(jscan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
static bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* At '"': moves past the closing quote; start and len span the raw contents. */
static bool scan_string(jscan *s, const char **start, size_t *len) {
  s->p++; /* opening quote */
  const char *begin = s->p;
  while (s->p < s->end) {
    unsigned char c = (unsigned char)*s->p;
    if (c == '"') {
      *start = begin;
      *len = (size_t)(s->p - begin);
      s->p++;
      return true;
    }
    if (c < 0x20)
      return false;
    if (c == '\\') {
      if (s->end - s->p < 2)
        return false;
      char e = s->p[1];
      if (e == 'u') {
        if (s->end - s->p < 6)
          return false;
        for (int i = 2; i < 6; i++)
          if (!is_hex(s->p[i]))
            return false;
        s->p += 6;
        continue;
      }
      if (!strchr("\"\\/bfnrt", e) || e == '\0')
        return false;
      s->p += 2;
      continue;
    }
    s->p++;
  }
  return false;
}

static bool scan_digits(jscan *s) {
  const char *begin = s->p;
  while (s->p < s->end && is_digit(*s->p))
    s->p++;
  return s->p > begin;
}

static bool scan_number(jscan *s) {
  if (s->p < s->end && *s->p == '-')
    s->p++;
  if (s->p >= s->end)
    return false;
  if (*s->p == '0')
    s->p++;
  else if (!scan_digits(s))
    return false;
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (!scan_digits(s))
      return false;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (!scan_digits(s))
      return false;
  }
  return true;
}

static bool scan_literal(jscan *s, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
    return false;
  s->p += n;
  return true;
}

/* The path segment at seg: [seg, end of segment). */
static const char *segment_end(const jscan *s, const char *seg) {
  const char *dot = memchr(seg, '.', (size_t)(s->path_end - seg));
  return dot ? dot : s->path_end;
}

/* The child's remaining path once the segment ending at seg_end matched;
 * path_end itself means "the child is the value sought". */
static const char *after_segment(const jscan *s, const char *seg_end) {
  return seg_end == s->path_end ? s->path_end : seg_end + 1;
}

static bool scan_value(jscan *s, const char *rest, int depth);

/* rest: the remaining path for this container, or NULL when off the path. */
static bool scan_object(jscan *s, const char *rest, int depth) {
  s->p++; /* '{' */
  skip_ws(s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    return true;
  }
  const char *seg_end = rest ? segment_end(s, rest) : NULL;
  for (;;) {
    skip_ws(s);
    if (s->p >= s->end || *s->p != '"')
      return false;
    const char *key;
    size_t key_len;
    if (!scan_string(s, &key, &key_len))
      return false;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
      return false;
    s->p++;
    const char *child = NULL;
    if (rest && key_len == (size_t)(seg_end - rest) && memcmp(key, rest, key_len) == 0)
      child = after_segment(s, seg_end);
    if (!scan_value(s, child, depth + 1))
      return false;
    skip_ws(s);
    if (s->p >= s->end)
      return false;
    if (*s->p == '}') {
      s->p++;
      return true;
    }
    if (*s->p != ',')
      return false;
    s->p++;
  }
}

static bool scan_array(jscan *s, const char *rest, int depth) {
  s->p++; /* '[' */
  skip_ws(s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    return true;
  }
  /* The segment names an element only if it is all digits. */
  long want = -1;
  const char *seg_end = NULL;
  if (rest) {
    seg_end = segment_end(s, rest);
    size_t n = (size_t)(seg_end - rest);
    if (n > 0 && n <= JSON_MAX_INDEX_DIGITS) {
      want = 0;
      for (size_t i = 0; i < n && want >= 0; i++)
        want = is_digit(rest[i]) ? want * 10 + (rest[i] - '0') : -1;
    }
  }
  for (long index = 0;; index++) {
    const char *child = index == want ? after_segment(s, seg_end) : NULL;
    if (!scan_value(s, child, depth + 1))
      return false;
    skip_ws(s);
    if (s->p >= s->end)
      return false;
    if (*s->p == ']') {
      s->p++;
      return true;
    }
    if (*s->p != ',')
      return false;
    s->p++;
  }
}

/* rest == s->path_end: this value is the one sought (first occurrence wins). */
static bool scan_value(jscan *s, const char *rest, int depth) {
  if (depth > JSON_MAX_DEPTH)
    return false;
  skip_ws(s);
  if (s->p >= s->end)
    return false;
  bool target = rest == s->path_end && !s->found;
  const char *rest_inside = rest == s->path_end ? NULL : rest;
  const char *start = s->p;
  bool ok;
  switch (*s->p) {
  case '"': {
    const char *str;
    size_t str_len;
    ok = scan_string(s, &str, &str_len);
    if (ok && target) {
      s->found = str;
      s->found_len = str_len;
      s->found_string = true;
    }
    return ok;
  }
  case '{':
    ok = scan_object(s, rest_inside, depth);
    break;
  case '[':
    ok = scan_array(s, rest_inside, depth);
    break;
  case 't':
    ok = scan_literal(s, "true");
    break;
  case 'f':
    ok = scan_literal(s, "false");
    break;
  case 'n':
    ok = scan_literal(s, "null");
    break;
  default:
    ok = scan_number(s);
    break;
  }
  if (ok && target) {
    s->found = start;
    s->found_len = (size_t)(s->p - start);
    s->found_string = false;
  }
  return ok;
}

bool wsf_json_field(const char *json, size_t len, const char *path, const char **value, size_t *value_len,
                    bool *is_string) {
  size_t path_len = strlen(path);
  if (path_len == 0 || path[0] == '.' || path[path_len - 1] == '.' || strstr(path, ".."))
    return false;
  jscan s = {.p = json, .end = json + len, .path_end = path + path_len};
  if (!scan_value(&s, path, 0))
    return false;
  skip_ws(&s);
  if (s.p != s.end || !s.found)
    return false;
  *value = s.found;
  *value_len = s.found_len;
  if (is_string)
    *is_string = s.found_string;
  return true;
}

bool wsf_json_valid(const char *json, size_t len) {
  static const char no_path[] = "";
  jscan s = {.p = json, .end = json + len, .path_end = no_path}; /* rest NULL: nothing is sought */
  if (!scan_value(&s, NULL, 0))
    return false;
  skip_ws(&s);
  return s.p == s.end;
}
