/* Masking 8 bytes at a time: the frame writer masked one byte at a time, and a
 * 16 MiB message cost ~1 ns per byte there (tests/unit/test_mask.c prints the
 * ratio; RESULTS.md). Loads and stores go through memcpy, which compiles to
 * plain (unaligned-safe) moves, so neither pointer needs any alignment; the
 * stores are aligned anyway after a short head, which is what counts. */
#include "mask.h"

#include <string.h>

void wsf_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], size_t offset) {
  size_t i = 0;
  /* Head: bytes until dst is 8-byte aligned (or the payload ends). */
  while (i < len && ((uintptr_t)(dst + i) & 7) != 0) {
    dst[i] = src[i] ^ key[(offset + i) & 3];
    i++;
  }
  if (len - i >= 8) {
    /* The key as it lines up from byte i on, repeated over 8 bytes: in memory
     * order, so the XOR is the same on either byte order. */
    uint8_t k8[8];
    for (int j = 0; j < 8; j++)
      k8[j] = key[(offset + i + (size_t)j) & 3];
    uint64_t k;
    memcpy(&k, k8, 8);
    for (; len - i >= 32; i += 32) {
      uint64_t w[4];
      memcpy(w, src + i, 32);
      w[0] ^= k;
      w[1] ^= k;
      w[2] ^= k;
      w[3] ^= k;
      memcpy(dst + i, w, 32);
    }
    for (; len - i >= 8; i += 8) {
      uint64_t w;
      memcpy(&w, src + i, 8);
      w ^= k;
      memcpy(dst + i, &w, 8);
    }
  }
  for (; i < len; i++)
    dst[i] = src[i] ^ key[(offset + i) & 3];
}
