/* libFuzzer target for wsf_json_field (and the JSON criterion of wsf_match).
 *
 * Input: byte 0 = path length (mod 64), then the path, then the document.
 * The document is copied into a buffer of exactly its length, so reading
 * one byte past len is an ASan report. A found value must lie inside the
 * document, a string value must sit between quotes, and a matcher built
 * from the same path and that value must accept the document. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"

#define REQUIRE(c)                                                                                           \
  do {                                                                                                       \
    if (!(c))                                                                                                \
      abort();                                                                                               \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t path_len = data[0] % 64;
  if (path_len > size - 1)
    path_len = size - 1;
  char path[64];
  memcpy(path, data + 1, path_len);
  path[path_len] = '\0';
  size_t len = size - 1 - path_len;
  char *doc = malloc(len ? len : 1);
  memcpy(doc, data + 1 + path_len, len);

  const char *value = NULL;
  size_t value_len = 0;
  bool is_string = false;
  bool found = wsf_json_field(doc, len, path, &value, &value_len, &is_string);
  /* Deterministic: the same call gives the same answer. */
  const char *value2 = NULL;
  size_t value_len2 = 0;
  REQUIRE(wsf_json_field(doc, len, path, &value2, &value_len2, NULL) == found);
  if (found) {
    REQUIRE(value2 == value && value_len2 == value_len);
    REQUIRE(value >= doc && value_len <= len && (size_t)(value - doc) <= len - value_len);
    if (is_string) {
      REQUIRE(value > doc && value[-1] == '"');
      REQUIRE((size_t)(value - doc) + value_len < len && value[value_len] == '"');
    } else {
      REQUIRE(value_len > 0);
    }
  }

  /* The matcher agrees with the scanner, when the path is one it accepts
   * (no NUL inside, no empty segment) and the value has no NUL byte. */
  wsf_match m;
  char err[128];
  if (strlen(path) == path_len &&
      wsf_match_init(&m, NULL, 0, NULL, 0, path, path_len, NULL, 0, err, sizeof err) == 0) {
    REQUIRE(wsf_match_test(&m, doc, len) == found);
    wsf_match_free(&m);
    if (found && !memchr(value, '\0', value_len)) {
      REQUIRE(wsf_match_init(&m, NULL, 0, NULL, 0, path, path_len, value, value_len, err, sizeof err) == 0);
      REQUIRE(wsf_match_test(&m, doc, len));
      wsf_match_free(&m);
    }
  }
  free(doc);
  return 0;
}
