/* utf8.c: the incremental UTF-8 check that ws.c runs on text as it arrives. */
#include <stdint.h>
#include <stdlib.h>

#include "testlib.h"
#include "utf8.h"

/* An independent reading of RFC 3629: decode the code point, then judge it. */
static bool reference_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      k = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i - 1 < k)
      return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += k + 1;
  }
  return true;
}

/* Fed in two parts split at every point: the same answer as whole, and a
 * failure reported by the part holding the first byte that proves it. */
static bool split_everywhere_agrees(const uint8_t *s, size_t n) {
  bool whole = wsf_utf8_whole_valid(s, n);
  for (size_t cut = 0; cut <= n; cut++) {
    wsf_utf8 st = WSF_UTF8_START;
    bool a = wsf_utf8_feed(&st, s, cut);
    bool b = a && wsf_utf8_feed(&st, s + cut, n - cut);
    if ((b && wsf_utf8_complete(&st)) != whole)
      return false;
  }
  return true;
}

static void test_boundaries_of_every_rule(void) {
  static const struct {
    const char *bytes;
    size_t len;
    bool valid;
  } cases[] = {
      {"\x00", 1, true},
      {"\x7f", 1, true},
      {"\x80", 1, false},             /* a continuation byte first */
      {"\xbf", 1, false},             /* the last continuation byte */
      {"\xc0\x80", 2, false},         /* overlong U+0000 */
      {"\xc1\xbf", 2, false},         /* overlong U+007F */
      {"\xc2\x80", 2, true},          /* U+0080 */
      {"\xdf\xbf", 2, true},          /* U+07FF */
      {"\xc2\x7f", 2, false},         /* continuation below 0x80 */
      {"\xc2\xc0", 2, false},         /* continuation above 0xbf */
      {"\xe0\x9f\xbf", 3, false},     /* overlong U+07FF */
      {"\xe0\xa0\x80", 3, true},      /* U+0800 */
      {"\xed\x9f\xbf", 3, true},      /* U+D7FF */
      {"\xed\xa0\x80", 3, false},     /* U+D800, a surrogate */
      {"\xed\xbf\xbf", 3, false},     /* U+DFFF */
      {"\xee\x80\x80", 3, true},      /* U+E000 */
      {"\xef\xbf\xbf", 3, true},      /* U+FFFF */
      {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong U+FFFF */
      {"\xf0\x90\x80\x80", 4, true},  /* U+10000 */
      {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
      {"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
      {"\xf5\x80\x80\x80", 4, false}, /* above U+10FFFF by its lead */
      {"\xf8\x88\x80\x80\x80", 5, false},
      {"\xfe", 1, false},
      {"\xff", 1, false},
      {"\xc2", 1, false},            /* truncated: ends inside a character */
      {"\xe2\x82", 2, false},        /* the first two bytes of U+20AC */
      {"\xf0\x9f\x98", 3, false},    /* the first three of U+1F618 */
      {"\xe2\x82\xac", 3, true},     /* U+20AC */
      {"\xf0\x9f\x98\x98", 4, true}, /* U+1F618 */
      {"\xe2\x28\xa1", 3, false},    /* a lead, then ASCII */
      {"", 0, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const uint8_t *s = (const uint8_t *)cases[i].bytes;
    bool got = wsf_utf8_whole_valid(s, cases[i].len);
    if (got != cases[i].valid)
      fprintf(stderr, "case %zu: got %d\n", i, got);
    CHECK(got == cases[i].valid);
    CHECK(reference_valid(s, cases[i].len) == cases[i].valid);
    CHECK(split_everywhere_agrees(s, cases[i].len));
  }
}

/* Every sequence of one to three bytes, and four-byte ones over every lead
 * and second byte, agree with the reference. */
static void test_exhaustive_against_the_reference(void) {
  int wrong = 0;
  uint8_t s[4];
  for (uint32_t v = 0; v < (1u << 24); v++) {
    s[0] = (uint8_t)(v >> 16), s[1] = (uint8_t)(v >> 8), s[2] = (uint8_t)v;
    for (size_t n = 1; n <= 3; n++) {
      if (n < 3 && (v & ((1u << (8 * (3 - n))) - 1)) != 0)
        continue; /* shorter sequences once each */
      if (wsf_utf8_whole_valid(s, n) != reference_valid(s, n))
        wrong++;
    }
  }
  static const uint8_t tail[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
  for (unsigned lead = 0xc0; lead <= 0xff; lead++)
    for (unsigned b1 = 0; b1 <= 0xff; b1++)
      for (size_t x = 0; x < sizeof tail; x++)
        for (size_t y = 0; y < sizeof tail; y++) {
          s[0] = (uint8_t)lead, s[1] = (uint8_t)b1, s[2] = tail[x], s[3] = tail[y];
          if (wsf_utf8_whole_valid(s, 4) != reference_valid(s, 4) || !split_everywhere_agrees(s, 4))
            wrong++;
        }
  CHECK(wrong == 0);
}

/* A byte that ends the ASCII run at every offset from every alignment of
 * the buffer: the 8-byte steps must neither skip it nor read past the end. */
static void test_ascii_fast_path_at_every_alignment(void) {
  static uint64_t storage[8];
  uint8_t *base = (uint8_t *)storage;
  int wrong = 0;
  for (size_t align = 0; align < 8; align++)
    for (size_t n = 1; n <= 40; n++)
      for (size_t at = 0; at < n; at++) {
        uint8_t *s = base + align;
        memset(s, 'a', n);
        s[at] = 0xff; /* never valid */
        if (wsf_utf8_whole_valid(s, n))
          wrong++;
        memset(s, 'a', n);
        if (!wsf_utf8_whole_valid(s, n))
          wrong++;
        if (at + 1 < n) { /* a valid 2-byte character there */
          s[at] = 0xc3, s[at + 1] = 0xa9;
          if (!wsf_utf8_whole_valid(s, n))
            wrong++;
          s[at + 1] = 'a'; /* its continuation missing */
          if (wsf_utf8_whole_valid(s, n))
            wrong++;
        }
      }
  CHECK(wrong == 0);
}

/* As ws.c feeds a long text frame: characters cut at chunk ends carry over,
 * and a bad byte fails the chunk it arrives in, not the end of the text. */
static void test_characters_split_across_chunks_and_fail_fast(void) {
  wsf_utf8 st = WSF_UTF8_START;
  CHECK(wsf_utf8_feed(&st, (const uint8_t *)"abc\xf0\x9f", 5));
  CHECK(!wsf_utf8_complete(&st));
  CHECK(wsf_utf8_feed(&st, (const uint8_t *)"\x98", 1));
  CHECK(!wsf_utf8_complete(&st));
  CHECK(wsf_utf8_feed(&st, (const uint8_t *)"\x98xyz", 4));
  CHECK(wsf_utf8_complete(&st));
  /* 0xed then 0xa0 (a surrogate): refused on the 0xa0, in its own chunk */
  st = WSF_UTF8_START;
  CHECK(wsf_utf8_feed(&st, (const uint8_t *)"\xed", 1));
  CHECK(!wsf_utf8_feed(&st, (const uint8_t *)"\xa0\x80", 2));
  /* a lead that can begin nothing valid fails at once, before its continuations */
  st = WSF_UTF8_START;
  CHECK(!wsf_utf8_feed(&st, (const uint8_t *)"ok\xf5", 3));
  /* an empty chunk changes nothing */
  st = WSF_UTF8_START;
  CHECK(wsf_utf8_feed(&st, (const uint8_t *)"\xc3", 1));
  CHECK(wsf_utf8_feed(&st, NULL, 0));
  CHECK(wsf_utf8_feed(&st, (const uint8_t *)"\xa9", 1) && wsf_utf8_complete(&st));
}

/* Random mixes of ASCII runs and characters of every length, cut into
 * random chunks: the same answer as the reference. */
static void test_random_texts_in_random_chunks(void) {
  srand(7);
  uint8_t s[512];
  int wrong = 0;
  for (int round = 0; round < 20000; round++) {
    size_t n = (size_t)(rand() % (int)sizeof s);
    for (size_t i = 0; i < n; i++) /* mostly ASCII, some high bytes, rarely anything */
      s[i] = (uint8_t)(rand() % 8 ? rand() % 0x80 : rand() % 4 ? 0x80 + rand() % 0x40 : 0xc0 + rand() % 0x40);
    if (round % 2) { /* and valid texts, built from code points */
      n = 0;
      while (n + 4 <= sizeof s) {
        uint32_t cp = (uint32_t)rand() % (rand() % 3 ? 0x80 : 0x110000);
        if (cp >= 0xd800 && cp <= 0xdfff)
          continue;
        if (cp < 0x80)
          s[n++] = (uint8_t)cp;
        else if (cp < 0x800)
          s[n++] = (uint8_t)(0xc0 | cp >> 6), s[n++] = (uint8_t)(0x80 | (cp & 0x3f));
        else if (cp < 0x10000)
          s[n++] = (uint8_t)(0xe0 | cp >> 12), s[n++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)),
          s[n++] = (uint8_t)(0x80 | (cp & 0x3f));
        else
          s[n++] = (uint8_t)(0xf0 | cp >> 18), s[n++] = (uint8_t)(0x80 | (cp >> 12 & 0x3f)),
          s[n++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), s[n++] = (uint8_t)(0x80 | (cp & 0x3f));
        if (rand() % 64 == 0)
          break;
      }
      if (!reference_valid(s, n))
        wrong++; /* the generator itself */
    }
    wsf_utf8 st = WSF_UTF8_START;
    bool ok = true;
    for (size_t i = 0; i < n && ok;) {
      size_t k = 1 + (size_t)rand() % 40;
      if (k > n - i)
        k = n - i;
      ok = wsf_utf8_feed(&st, s + i, k);
      i += k;
    }
    if ((ok && wsf_utf8_complete(&st)) != reference_valid(s, n))
      wrong++;
  }
  CHECK(wrong == 0);
}

int main(void) {
  RUN(test_boundaries_of_every_rule);
  RUN(test_exhaustive_against_the_reference);
  RUN(test_ascii_fast_path_at_every_alignment);
  RUN(test_characters_split_across_chunks_and_fail_fast);
  RUN(test_random_texts_in_random_chunks);
  return wsf_test_result();
}
