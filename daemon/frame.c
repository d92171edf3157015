/* WebSocket frame headers, decoded and encoded without I/O (frame.h). */
#include "frame.h"

#include <string.h>

#include "mask.h"

int wsf_frame_decode_header(const uint8_t *p, size_t have, wsf_frame_header *h) {
  if (have < 2)
    return 0;
  uint8_t opcode = p[0] & 0x0f, len7 = p[1] & 0x7f;
  bool fin = p[0] & 0x80, masked = p[1] & 0x80;
  h->opcode = opcode;
  h->rsv = (p[0] >> 4) & 0x7;
  h->fin = fin;
  h->masked = masked;
  if (wsf_frame_is_control(opcode) && (!fin || len7 > WSF_FRAME_CONTROL_MAX))
    return WSF_FRAME_E_CONTROL; /* known from two bytes, before any extended length */
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  size_t need = 2 + ext + (masked ? 4 : 0);
  if (have < need)
    return 0;
  uint64_t len = len7;
  if (ext) {
    len = 0;
    for (size_t b = 0; b < ext; b++)
      len = len << 8 | p[2 + b];
    if ((ext == 2 && len < 126) || (ext == 8 && (len <= 0xffff || (len >> 63))))
      return WSF_FRAME_E_LENGTH;
  }
  h->payload_len = len;
  if (masked)
    memcpy(h->mask, p + 2 + ext, 4);
  h->header_len = (uint8_t)need;
  return (int)need;
}

int wsf_frame_check(const wsf_frame_header *h, bool from_client, uint8_t allowed_rsv, bool fragmented) {
  if ((h->opcode > WSF_FRAME_BINARY && h->opcode < WSF_FRAME_CLOSE) || h->opcode > WSF_FRAME_PONG)
    return WSF_FRAME_E_OPCODE;
  /* an extension's bit marks a message: its first frame only (RFC 7692 §6) */
  if (h->opcode == WSF_FRAME_CONTINUATION || wsf_frame_is_control(h->opcode))
    allowed_rsv = 0;
  if (h->rsv & ~allowed_rsv)
    return WSF_FRAME_E_RSV;
  if (h->masked != from_client)
    return WSF_FRAME_E_MASK;
  if (!wsf_frame_is_control(h->opcode) && (h->opcode == WSF_FRAME_CONTINUATION) != fragmented)
    return WSF_FRAME_E_SEQUENCE;
  return 0;
}

size_t wsf_frame_encode_header(uint8_t *dst, uint8_t opcode, uint8_t rsv, size_t len, const uint8_t *key) {
  size_t n = 0;
  dst[n++] = (uint8_t)(0x80 | (rsv & 0x7) << 4 | (opcode & 0x0f));
  uint8_t mask_bit = key ? 0x80 : 0;
  if (len <= WSF_FRAME_CONTROL_MAX) {
    dst[n++] = (uint8_t)(mask_bit | len);
  } else if (len <= 0xffff) {
    dst[n++] = mask_bit | 126;
    dst[n++] = (uint8_t)(len >> 8);
    dst[n++] = (uint8_t)len;
  } else {
    dst[n++] = mask_bit | 127;
    for (int i = 7; i >= 0; i--)
      dst[n++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  if (key) {
    memcpy(dst + n, key, 4);
    n += 4;
  }
  return n;
}

size_t wsf_frame_encode(uint8_t *dst, uint8_t opcode, uint8_t rsv, const uint8_t *payload, size_t len,
                        const uint8_t *key) {
  size_t n = wsf_frame_encode_header(dst, opcode, rsv, len, key);
  if (key) {
    wsf_mask(dst + n, payload, len, key, 0);
  } else if (len) {
    memcpy(dst + n, payload, len);
  }
  return n + len;
}

const char *wsf_frame_error_words(int error) {
  switch (error) {
  case WSF_FRAME_E_CONTROL:
    return "control frame fragmented or over 125 bytes";
  case WSF_FRAME_E_LENGTH:
    return "payload length not in its minimal encoding";
  case WSF_FRAME_E_OPCODE:
    return "reserved opcode";
  case WSF_FRAME_E_RSV:
    return "reserved bit set without an extension that defines it";
  case WSF_FRAME_E_MASK:
    return "masking against the direction of the frame";
  case WSF_FRAME_E_SEQUENCE:
    return "a continuation frame without a message, or a new message inside a fragmented one";
  }
  return "no error";
}
