/* Reply and session-send templates (open's auto_reply and session), without I/O.
 *
 * `$0`..`$9`: the regex groups of the match ($0 the whole match; empty when
 * there is no regex or no such group). `${name}`: a session capture (empty
 * when not captured). `$$`: a dollar. Any other `$` is itself. */
#ifndef WSF_TEMPLATE_H
#define WSF_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wsf_span {
  const char *p; /* NULL = empty */
  size_t len;
} wsf_span;

/* A capture's value by name, or an empty span. */
typedef wsf_span (*wsf_template_lookup)(const void *ctx, const char *name, size_t len);

/* True when expanding t can give anything but t itself (it holds a `$`):
 * replies without one are sent as stored, with no copy. */
bool wsf_template_has_vars(const uint8_t *t, size_t len);

/* Expands t into a new buffer (*out, the caller frees it; set even for an
 * empty result). groups[0..n_groups) are the match's groups. Returns the
 * length, or -1 when it would exceed max (nothing is allocated then). */
long wsf_template_expand(const uint8_t *t, size_t len, const wsf_span *groups, size_t n_groups,
                         wsf_template_lookup lookup, const void *ctx, size_t max, uint8_t **out);

#endif
