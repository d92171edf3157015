/* Template expansion: see template.h. Two passes over the template (measure,
 * then write) so the bound is checked before anything is allocated. */
#include "template.h"

#include <string.h>

#include "util.h"

/* One step of the template at t[i]: the literal or value it stands for and
 * how many template bytes it took. */
static size_t step(const uint8_t *t, size_t len, size_t i, const wsf_span *groups, size_t n_groups,
                   wsf_template_lookup lookup, const void *ctx, wsf_span *piece) {
  if (t[i] != '$' || i + 1 >= len) {
    piece->p = (const char *)t + i;
    piece->len = 1;
    return 1;
  }
  uint8_t c = t[i + 1];
  if (c == '$') {
    piece->p = "$";
    piece->len = 1;
    return 2;
  }
  if (c >= '0' && c <= '9') {
    size_t g = (size_t)(c - '0');
    *piece = g < n_groups ? groups[g] : (wsf_span){NULL, 0};
    return 2;
  }
  if (c == '{') {
    const uint8_t *close = memchr(t + i + 2, '}', len - i - 2);
    if (close) {
      size_t name_len = (size_t)(close - (t + i + 2));
      *piece = lookup ? lookup(ctx, (const char *)t + i + 2, name_len) : (wsf_span){NULL, 0};
      return name_len + 3;
    }
  }
  piece->p = "$";
  piece->len = 1;
  return 1;
}

bool wsf_template_has_vars(const uint8_t *t, size_t len) {
  return memchr(t, '$', len) != NULL;
}

long wsf_template_expand(const uint8_t *t, size_t len, const wsf_span *groups, size_t n_groups,
                         wsf_template_lookup lookup, const void *ctx, size_t max, uint8_t **out) {
  size_t total = 0;
  wsf_span piece;
  for (size_t i = 0; i < len;) {
    i += step(t, len, i, groups, n_groups, lookup, ctx, &piece);
    total += piece.len;
    if (total > max)
      return -1;
  }
  uint8_t *buf = wsf_xmalloc(total ? total : 1), *w = buf;
  for (size_t i = 0; i < len;) {
    i += step(t, len, i, groups, n_groups, lookup, ctx, &piece);
    if (piece.len)
      memcpy(w, piece.p, piece.len);
    w += piece.len;
  }
  *out = buf;
  return (long)total;
}
