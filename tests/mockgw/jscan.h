/* A tiny JSON scanner for the mock gateway's chat protocol.
 *
 * No JSON library is available in C here, and the gateway needs only a few
 * top-level fields of small objects, so this scans in place: no allocation,
 * no unescaping, bounded nesting. Every byte is bounds-checked; garbage gives
 * -1, never a crash. A string value is returned as its raw literal (with the
 * quotes), which stays valid JSON when copied into a reply as is. */
#ifndef MGW_JSCAN_H
#define MGW_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSCAN_MAX_DEPTH 32

typedef enum jscan_type {
  JSCAN_NONE = 0,
  JSCAN_STRING,
  JSCAN_NUMBER,
  JSCAN_OBJECT,
  JSCAN_ARRAY,
  JSCAN_TRUE,
  JSCAN_FALSE,
  JSCAN_NULL,
} jscan_type;

typedef struct jscan_val {
  jscan_type type;
  const char *p; /* the value's text; strings include their quotes */
  size_t len;
} jscan_val;

/* Looks up key among the members of the object that makes up all of
 * [json, json+len) (surrounding whitespace allowed). The whole text is
 * validated first. Keys are compared as written (escapes are not decoded);
 * the first member with that key wins.
 * Returns 1 (found, *out set), 0 (a valid object without that key),
 * -1 (not a single valid JSON object). */
int jscan_get(const char *json, size_t len, const char *key, jscan_val *out);

/* A string value equals s, compared as written (no unescaping). */
bool jscan_str_eq(const jscan_val *v, const char *s);

/* The inside of a string literal (without its quotes), still escaped. */
static inline const char *jscan_str_raw(const jscan_val *v, size_t *len) {
  *len = v->len >= 2 ? v->len - 2 : 0;
  return v->p + 1;
}

#endif
