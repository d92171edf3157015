/* libFuzzer target for framing.c (records out of WebSocket messages) and
 * template.c (reply templates).
 *
 * Input: byte 0 = mode (mod 3) and the record bound (bits 2..7: 1..64 bytes),
 * bytes 1-2 = two split points, then the stream. Oracle: feeding the stream
 * whole or in three messages gives the same records and heart-beats (when no
 * record outgrew the bound either way); no record holds the terminator or
 * exceeds the bound. The same bytes are then expanded as a template: the
 * length is what the bound allows, and an expansion never reads outside. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "template.h"

#define REQUIRE(c)                                                                                           \
  do {                                                                                                       \
    if (!(c))                                                                                                \
      abort();                                                                                               \
  } while (0)

typedef struct seen {
  uint8_t out[8192];
  size_t len;
  int term;
  size_t max;
} seen;

static void put(seen *s, const void *p, size_t n) {
  if (s->len + n <= sizeof s->out) {
    memcpy(s->out + s->len, p, n);
    s->len += n;
  } else {
    s->len = sizeof s->out; /* saturated: compared as such */
  }
}

static bool on_record(void *ctx, int opcode, const uint8_t *data, size_t len) {
  seen *s = ctx;
  REQUIRE(opcode == 1);
  REQUIRE(len <= s->max);
  REQUIRE(s->term < 0 || !memchr(data, s->term, len));
  uint8_t mark[3] = {'R', (uint8_t)len, (uint8_t)(len >> 8)};
  put(s, mark, 3);
  put(s, data, len);
  return true;
}

static bool on_heartbeat(void *ctx) {
  put(ctx, "H", 1);
  return true;
}

static const wsf_framing_callbacks cb = {on_record, on_heartbeat};

static wsf_span lookup(const void *ctx, const char *name, size_t len) {
  (void)ctx;
  return (wsf_span){name, len}; /* a capture named x is x */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  wsf_framing_mode mode = (wsf_framing_mode)(data[0] % 3);
  size_t max = (size_t)(data[0] >> 2) + 1;
  const uint8_t *stream = data + 3;
  size_t len = size - 3;
  size_t a = len ? data[1] % (len + 1) : 0, b = len ? data[2] % (len + 1) : 0;
  if (a > b) {
    size_t t = a;
    a = b;
    b = t;
  }
  /* a copy of exactly len bytes: reading past it is an ASan report */
  uint8_t *copy = malloc(len ? len : 1);
  memcpy(copy, stream, len);

  static seen whole, split;
  memset(&whole, 0, sizeof whole);
  memset(&split, 0, sizeof split);
  whole.term = split.term = wsf_framing_terminator(mode);
  whole.max = split.max = max;
  wsf_framer f;
  wsf_framer_init(&f, mode, max);
  int r1 = wsf_framer_feed(&f, 1, copy, len, &cb, &whole);
  wsf_framer_free(&f);
  wsf_framer_init(&f, mode, max);
  int r2 = wsf_framer_feed(&f, 1, copy, a, &cb, &split);
  int r3 = r2 == WSF_FRAMING_OK ? wsf_framer_feed(&f, 1, copy + a, b - a, &cb, &split) : r2;
  int r4 = r3 == WSF_FRAMING_OK ? wsf_framer_feed(&f, 1, copy + b, len - b, &cb, &split) : r3;
  REQUIRE(f.carry_len <= max);
  wsf_framer_free(&f);
  if (mode != WSF_FRAMING_MESSAGE && r1 == WSF_FRAMING_OK && r4 == WSF_FRAMING_OK)
    REQUIRE(whole.len == split.len && memcmp(whole.out, split.out, whole.len) == 0);

  wsf_span groups[3] = {{(const char *)copy, len / 2}, {NULL, 0}, {(const char *)copy, len}};
  uint8_t *out = NULL;
  long n = wsf_template_expand(copy, len, groups, 3, lookup, NULL, 4 * len + 8, &out);
  REQUIRE(n >= -1 && (n < 0 || (size_t)n <= 4 * len + 8));
  if (n >= 0) {
    REQUIRE(out != NULL);
    if (!wsf_template_has_vars(copy, len))
      REQUIRE((size_t)n == len && memcmp(out, copy, len) == 0);
    free(out);
  }
  free(copy);
  return 0;
}
