/* wsf_mask against the byte-at-a-time loop ws.c used before (the RFC 6455
 * definition): random data, every src/dst alignment, every key phase, lengths
 * around the word and block edges, in place and not, with guard bytes around
 * the output. Then the throughput of both on 16 MiB, side by side. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "mask.h"
#include "testlib.h"

__attribute__((noinline)) static void mask_bytes(uint8_t *dst, const uint8_t *src, size_t len,
                                                 const uint8_t key[4], size_t offset) {
  for (size_t i = 0; i < len; i++)
    dst[i] = src[i] ^ key[(offset + i) & 3];
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint8_t next_byte(void) { /* xorshift64: reproducible, no libc state */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint8_t)(rng >> 24);
}

enum { MAXLEN = 300, GUARD = 16 };

static void test_equals_the_byte_loop_at_every_alignment_phase_and_length(void) {
  static uint8_t src[MAXLEN + 64], want[MAXLEN + 64], got[MAXLEN + 64 + 2 * GUARD];
  int bad = 0, cases = 0;
  for (size_t len = 0; len <= MAXLEN; len += len < 80 ? 1 : 7) {
    for (size_t sa = 0; sa < 8; sa++) {
      for (size_t da = 0; da < 8; da++) {
        for (size_t offset = 0; offset < 8; offset++) {
          uint8_t key[4] = {next_byte(), next_byte(), next_byte(), next_byte()};
          for (size_t i = 0; i < len; i++)
            src[sa + i] = next_byte();
          memset(got, 0xa5, sizeof got);
          mask_bytes(want, src + sa, len, key, offset);
          wsf_mask(got + GUARD + da, src + sa, len, key, offset);
          bool ok = memcmp(got + GUARD + da, want, len) == 0;
          for (size_t g = 0; g < GUARD + da; g++)
            ok = ok && got[g] == 0xa5;
          for (size_t g = GUARD + da + len; g < sizeof got; g++)
            ok = ok && got[g] == 0xa5;
          /* in place, at the source's alignment */
          wsf_mask(src + sa, src + sa, len, key, offset);
          ok = ok && memcmp(src + sa, want, len) == 0;
          bad += !ok;
          cases++;
        }
      }
    }
  }
  CHECK(bad == 0);
  printf("# %d cases (length x src alignment x dst alignment x key phase), %d differ\n", cases, bad);
}

static void test_a_payload_masked_in_pieces_equals_it_masked_whole(void) {
  enum { LEN = 100000 };
  uint8_t *src = malloc(LEN), *whole = malloc(LEN), *pieces = malloc(LEN);
  CHECK(src && whole && pieces);
  if (!src || !whole || !pieces)
    goto out;
  for (size_t i = 0; i < LEN; i++)
    src[i] = next_byte();
  uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  wsf_mask(whole, src, LEN, key, 0);
  for (size_t at = 0; at < LEN;) {
    size_t n = 1 + next_byte() * 3u;
    if (n > LEN - at)
      n = LEN - at;
    wsf_mask(pieces + at, src + at, n, key, at);
    at += n;
  }
  CHECK(memcmp(whole, pieces, LEN) == 0);
  mask_bytes(pieces, src, LEN, key, 0);
  CHECK(memcmp(whole, pieces, LEN) == 0);
out:
  free(src);
  free(whole);
  free(pieces);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a pass/fail figure: printed for RESULTS.md (CPU time, so a busy machine
 * slows both sides alike). Misaligned by one byte, as a frame's payload after
 * its header is. */
static void test_throughput_side_by_side(void) {
  enum { LEN = 16 << 20, ROUNDS = 5 };
  uint8_t *src = malloc(LEN + 1), *dst = malloc(LEN + 16);
  CHECK(src && dst);
  if (!src || !dst)
    goto out;
  for (size_t i = 0; i < LEN + 1; i++)
    src[i] = (uint8_t)(i * 131u);
  uint8_t key[4] = {1, 2, 3, 4};
  double best_bytes = 1e9, best_words = 1e9;
  for (int r = 0; r < ROUNDS; r++) {
    double t0 = now_s();
    mask_bytes(dst + 14, src + 1, LEN, key, 0);
    double t1 = now_s();
    wsf_mask(dst + 14, src + 1, LEN, key, 0);
    double t2 = now_s();
    if (t1 - t0 < best_bytes)
      best_bytes = t1 - t0;
    if (t2 - t1 < best_words)
      best_words = t2 - t1;
  }
  CHECK(dst[14] == (src[1] ^ key[0]));
  printf(
      "# masking 16 MiB (best of %d): byte loop %.2f ms (%.0f MiB/s), wsf_mask %.2f ms (%.0f MiB/s): x%.1f\n",
      ROUNDS, best_bytes * 1e3, 16 / best_bytes, best_words * 1e3, 16 / best_words, best_bytes / best_words);
out:
  free(src);
  free(dst);
}

int main(void) {
  RUN(test_equals_the_byte_loop_at_every_alignment_phase_and_length);
  RUN(test_a_payload_masked_in_pieces_equals_it_masked_whole);
  RUN(test_throughput_side_by_side);
  return wsf_test_result();
}
