/* UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF), whole or incremental: a text message's frames are checked
 * as they arrive, so a byte that can begin no valid text fails at once (RFC
 * 6455 §8.1 fail-fast, Autobahn 6.x) and a character split across two reads
 * or fragments carries over in the state.
 *
 * Runs of ASCII are skipped 8 bytes per step: wslay's per-byte DFA took
 * 26.5 % of the daemon's CPU echoing 16 MiB text (tests/bench/RESULTS.md). */
#ifndef WSF_UTF8_H
#define WSF_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a text stands after the bytes seen: inside a character (need > 0
 * continuation bytes to come, the next one within [lo, hi]) or between two. */
typedef struct wsf_utf8 {
  uint8_t need;
  uint8_t lo, hi;
} wsf_utf8;

#define WSF_UTF8_START ((wsf_utf8){0, 0x80, 0xbf})

/* The next n bytes of a text: false as soon as one cannot continue a valid
 * text (*st is then meaningless), else true with *st updated. */
bool wsf_utf8_feed(wsf_utf8 *st, const uint8_t *s, size_t n);

/* The text seen so far ends between two characters (a valid whole). */
static inline bool wsf_utf8_complete(const wsf_utf8 *st) {
  return st->need == 0;
}

/* s[0..n) is valid UTF-8 as a whole. (protocol/codec.c keeps its own
 * wsf_utf8_valid for msgpack strings: the codec library links without the
 * daemon core.) */
bool wsf_utf8_whole_valid(const uint8_t *s, size_t n);

#endif
