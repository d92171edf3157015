#include "utf8.h"

#include <string.h>

#define ASCII_WORD_HIGH_BITS 0x8080808080808080ull

bool wsf_utf8_feed(wsf_utf8 *st, const uint8_t *s, size_t n) {
  /* the state in registers: wslay's DFA stored it to memory every byte,
   * 63 % of that function's samples under perf annotate */
  uint8_t need = st->need, lo = st->lo, hi = st->hi;
  size_t i = 0;
  while (i < n) {
    if (need == 0) {
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8); /* unaligned loads are one instruction on the targets we build for */
        if (w & ASCII_WORD_HIGH_BITS)
          break;
        i += 8;
      }
      if (i == n)
        break;
      uint8_t c = s[i++];
      if (c < 0x80)
        continue;
      lo = 0x80;
      hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
      } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
          lo = 0xa0; /* below: overlong */
        else if (c == 0xed)
          hi = 0x9f; /* above: a surrogate, U+D800..U+DFFF */
      } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
          lo = 0x90; /* below: overlong */
        else if (c == 0xf4)
          hi = 0x8f; /* above: beyond U+10FFFF */
      } else {
        return false; /* a continuation byte, 0xc0/0xc1 (overlong), 0xf5.. (beyond U+10FFFF) */
      }
    } else {
      uint8_t c = s[i++];
      if (c < lo || c > hi)
        return false;
      need--;
      lo = 0x80;
      hi = 0xbf;
    }
  }
  st->need = need;
  st->lo = lo;
  st->hi = hi;
  return true;
}

bool wsf_utf8_whole_valid(const uint8_t *s, size_t n) {
  wsf_utf8 st = WSF_UTF8_START;
  return wsf_utf8_feed(&st, s, n) && wsf_utf8_complete(&st);
}
