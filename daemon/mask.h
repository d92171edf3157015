/* WebSocket masking (RFC 6455 §5.3): payload byte i is XORed with key[i % 4].
 * A word at a time, for any alignment and length. */
#ifndef WSF_MASK_H
#define WSF_MASK_H

#include <stddef.h>
#include <stdint.h>

/* dst[i] = src[i] ^ key[(offset + i) & 3] for i < len. dst may equal src (in
 * place) but must not otherwise overlap it. offset is the position of src[0]
 * in the frame's payload, so a payload can be masked in pieces. */
void wsf_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], size_t offset);

#endif
