/* Message matching for recv: substring, POSIX extended regex, JSON field. */
#ifndef WSF_MATCH_H
#define WSF_MATCH_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "template.h" /* wsf_span */

typedef struct wsf_match {
  char *contains; /* NULL = any */
  size_t contains_len;
  regex_t *regex;   /* NULL = any */
  char *json_field; /* dotted path, NULL = any */
  char *json_value; /* NULL with json_field set: the field only has to exist */
  uint8_t opcode;   /* the `type` criterion: 0 = any, 1 text, 2 binary (auto_reply, session) */
  bool groups;      /* the regex keeps its groups (wsf_match_init_groups) */
} wsf_match;

/* $0..$9 of a template. */
#define WSF_MATCH_MAX_GROUPS 10

/* Compiles the criteria (copies every string). Returns 0, or -1 with words
 * in err (e.g. the regcomp message for a bad regex). */
int wsf_match_init(wsf_match *m, const char *contains, size_t contains_len, const char *regex,
                   size_t regex_len, const char *json_field, size_t json_field_len, const char *json_value,
                   size_t json_value_len, char *err, size_t errlen);
/* As wsf_match_init, with a regex whose groups wsf_match_test_groups reports
 * (auto_reply templates, session captures); set m->opcode for `type`. */
int wsf_match_init_groups(wsf_match *m, const char *contains, size_t contains_len, const char *regex,
                          size_t regex_len, const char *json_field, size_t json_field_len,
                          const char *json_value, size_t json_value_len, char *err, size_t errlen);
void wsf_match_free(wsf_match *m);
bool wsf_match_empty(const wsf_match *m);
/* Binary-safe: data need not be NUL-terminated and may hold NUL bytes. */
bool wsf_match_test(const wsf_match *m, const char *data, size_t len);
/* wsf_match_test plus the type criterion; groups[0..n_groups) get the
 * regex's groups (spans into data; empty when absent or without a regex). */
bool wsf_match_test_groups(const wsf_match *m, int opcode, const char *data, size_t len, wsf_span *groups,
                           size_t n_groups);

/* Finds the value of a dotted path ("a.b.0.c": object keys, array indices)
 * in a JSON text. On success (*value, *value_len) span the value as written
 * (strings without quotes, escapes left as written). Never reads past len;
 * malformed JSON simply does not match. */
bool wsf_json_field(const char *json, size_t len, const char *path, const char **value, size_t *value_len,
                    bool *is_string);

/* The whole text is one valid JSON value (same scanner, same depth bound). */
bool wsf_json_valid(const char *json, size_t len);

#endif
