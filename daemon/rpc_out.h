/* The msgpack writer of control replies, straight into a control client's
 * output buffer (the msgpack_sbuffer behind its packer, which writes through
 * rpc_sbuffer_write).
 *
 * A reply is mostly short ASCII keys and small integers. Through msgpack-c's
 * packer each key was two calls of the writer, a strlen and a UTF-8 check,
 * and each value one more call: 16,800 instructions per `status` reply (95
 * objects, 572 bytes) and 2,666 per echoed message's `request` reply
 * (callgrind, issue 19). These write the same bytes, msgpack's shortest forms
 * as msgpack-c packs them (test_control_replies_canonical compares them with
 * python msgpack's), with the room made once per item; a str that is long or
 * not ASCII goes through wsf_pack_text, which checks and repairs its UTF-8.
 * Only rpc*.c include it. */
#ifndef WSF_RPC_OUT_H
#define WSF_RPC_OUT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int rpc_sbuffer_write(void *sbuf, const char *buf, size_t len);
/* Makes room for n more bytes (doubling; out of memory aborts). */
void rpc_out_grow(msgpack_sbuffer *sb, size_t n);

/* The buffer behind pk: every control packer writes through rpc_sbuffer_write
 * (rpc.c, and list's page), so anything else is a bug, not a case. */
static inline msgpack_sbuffer *out_sb(msgpack_packer *pk) {
  if (pk->callback != rpc_sbuffer_write)
    abort();
  return pk->data;
}

static inline uint8_t *out_room(msgpack_sbuffer *sb, size_t n) {
  if (sb->alloc - sb->size < n)
    rpc_out_grow(sb, n);
  return (uint8_t *)sb->data + sb->size;
}

static inline void out_be(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* One byte: nil 0xc0, false 0xc2, true 0xc3. */
static inline void out_byte(msgpack_sbuffer *sb, uint8_t b) {
  *out_room(sb, 1) = b;
  sb->size++;
}

static inline void out_uint(msgpack_sbuffer *sb, uint64_t v) {
  uint8_t *p = out_room(sb, 9);
  if (v < 0x80) {
    p[0] = (uint8_t)v;
    sb->size += 1;
  } else if (v <= UINT8_MAX) {
    p[0] = 0xcc;
    p[1] = (uint8_t)v;
    sb->size += 2;
  } else if (v <= UINT16_MAX) {
    p[0] = 0xcd;
    out_be(p + 1, v, 2);
    sb->size += 3;
  } else if (v <= UINT32_MAX) {
    p[0] = 0xce;
    out_be(p + 1, v, 4);
    sb->size += 5;
  } else {
    p[0] = 0xcf;
    out_be(p + 1, v, 8);
    sb->size += 9;
  }
}

/* A header with a count or length: fix (below fix_max), then 8- (str, bin only),
 * 16- and 32-bit forms, whose tags follow each other (wide8 0 when there is none). */
static inline void out_head(msgpack_sbuffer *sb, uint8_t fix, uint32_t fix_max, uint8_t wide8, uint8_t wide16,
                            size_t n) {
  uint8_t *p = out_room(sb, 5);
  if (n < fix_max) {
    p[0] = (uint8_t)(fix | n);
    sb->size += 1;
  } else if (wide8 && n <= UINT8_MAX) {
    p[0] = wide8;
    p[1] = (uint8_t)n;
    sb->size += 2;
  } else if (n <= UINT16_MAX) {
    p[0] = wide16;
    out_be(p + 1, n, 2);
    sb->size += 3;
  } else {
    p[0] = (uint8_t)(wide16 + 1);
    out_be(p + 1, n, 4);
    sb->size += 5;
  }
}

static inline void out_map(msgpack_sbuffer *sb, size_t n) {
  out_head(sb, 0x80, 16, 0, 0xde, n);
}

static inline void out_array(msgpack_sbuffer *sb, size_t n) {
  out_head(sb, 0x90, 16, 0, 0xdc, n);
}

/* A str whose bytes are known to be UTF-8 (or a bin): header and body. */
static inline void out_body(msgpack_sbuffer *sb, bool bin, const void *data, size_t len) {
  if (bin)
    out_head(sb, 0, 0, 0xc4, 0xc5, len);
  else
    out_head(sb, 0xa0, 32, 0xd9, 0xda, len);
  memcpy(out_room(sb, len), data, len);
  sb->size += len;
}

/* Whether the n bytes at p are ASCII, eight (or four) at a time, the last
 * word overlapping the ones before. */
static inline bool out_ascii(const char *p, size_t n) {
  uint64_t high = 0, w;
  if (n < 8) {
    uint32_t a, b;
    if (n < 4) {
      for (size_t i = 0; i < n; i++)
        high |= (uint8_t)p[i];
      return !(high & 0x80);
    }
    memcpy(&a, p, 4);
    memcpy(&b, p + n - 4, 4);
    return !((a | b) & 0x80808080u);
  }
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&w, p + i, 8);
    high |= w;
  }
  memcpy(&w, p + n - 8, 8);
  return !((high | w) & 0x8080808080808080ull);
}

/* An ASCII str shorter than 32 bytes whose length is known (a view's field
 * name): the fixstr header and the bytes. */
static inline void out_fixstr(msgpack_sbuffer *sb, const char *s, size_t n) {
  uint8_t *p = out_room(sb, 1 + n);
  p[0] = (uint8_t)(0xa0 | n);
  memcpy(p + 1, s, n);
  sb->size += 1 + n;
}

/* A NUL-terminated str: a fixstr copied whole when it is ASCII and at most
 * 31 bytes (every key), else wsf_pack_text through pk. */
static inline void out_cstr(msgpack_packer *pk, msgpack_sbuffer *sb, const char *s) {
  size_t n = strlen(s);
  if (n < 32 && out_ascii(s, n)) {
    out_fixstr(sb, s, n);
    return;
  }
  wsf_pack_text(pk, s, n);
}

/* [1, msgid, nil, <the result next>] (wsf_pack_result_header's bytes). */
static inline void out_result_header(msgpack_sbuffer *sb, uint32_t msgid) {
  uint8_t *p = out_room(sb, 2);
  p[0] = 0x94;
  p[1] = 0x01;
  sb->size += 2;
  out_uint(sb, msgid);
  out_byte(sb, 0xc0);
}

#endif
