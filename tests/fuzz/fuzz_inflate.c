/* libFuzzer target for the permessage-deflate receive path.
 *
 * Input: byte 0 = flags, byte 1 = seed, then messages, each a 2-byte
 * little-endian length and that many compressed payload bytes (the last one
 * takes what is left).
 *   flags bits 0-2: the peer's window bits (8 + value); bit 3: the peer uses
 *   no context takeover; bit 4: max message 300 bytes (else 1 MiB); bit 5:
 *   text (else binary); bit 6: server role (frames come masked).
 *
 * Three oracles:
 *  1. wsf_deflate_decompress alone: only OK, TOO_BIG or CORRUPT; never more
 *     than max bytes; what it inflates, our compressor and a fresh decoder
 *     turn back into the same bytes.
 *  2. The same payloads as RSV1 frames (split in two fragments when the seed
 *     says so) through a wsf_ws with deflate on give exactly the messages of
 *     (1), and end with the close code (1) implies: 1009 for a payload or
 *     inflated message over max, 1007 for bad DEFLATE or bad UTF-8 in text.
 *  3. Fed whole or in random pieces, the session reports the same events,
 *     its wslay context is gone at rest, and with no context takeover it
 *     holds no zlib memory between messages.
 * Writes go to a transport on /dev/null (see wsfuzz.h). */
#include <stdlib.h>
#include <string.h>

#include "deflate.h"
#include "transport.h"
#include "util.h"
#include "ws.h"
#include "wsfuzz.h"

#define MAX_MSGS 64

typedef struct msg {
  const uint8_t *p;
  size_t len;
} msg;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t msg_hash(int opcode, const uint8_t *d, size_t len) {
  uint64_t h = fnv(0xcbf29ce484222325ull, &opcode, sizeof opcode);
  h = fnv(h, &len, sizeof len);
  return fnv(h, d, len);
}

/* UTF-8 by code point ranges (written apart from ws.c's check on purpose). */
static bool utf8_ok(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k;
    if (s[i] < 0x80) {
      i++;
      continue;
    } else if ((s[i] & 0xe0) == 0xc0) {
      cp = s[i] & 0x1f, k = 1;
    } else if ((s[i] & 0xf0) == 0xe0) {
      cp = s[i] & 0x0f, k = 2;
    } else if ((s[i] & 0xf8) == 0xf0) {
      cp = s[i] & 0x07, k = 3;
    } else {
      return false;
    }
    if (n - i <= k)
      return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += k + 1;
  }
  return true;
}

/* ---- oracle 1: the decoder alone ---- */

typedef struct expected {
  uint64_t hashes[MAX_MSGS];
  int n;
  uint16_t close_code; /* 0: every message passed */
} expected;

static void decode_alone(const wsf_deflate_params *p, uint64_t max, int opcode, const msg *m,
                         const int *frames, int n, expected *e) {
  wsf_deflate *d = wsf_deflate_new(p, false);
  REQUIRE(d);
  memset(e, 0, sizeof *e);
  for (int i = 0; i < n; i++) {
    /* wslay refuses the payload before it is inflated; ws.c charges each continuation frame */
    if (m[i].len + (uint64_t)(frames[i] - 1) * WSF_WS_FRAGMENT_CHARGE > max) {
      e->close_code = 1009;
      break;
    }
    const uint8_t *out;
    size_t out_len;
    int rv = wsf_deflate_decompress(d, m[i].p, m[i].len, max, &out, &out_len);
    REQUIRE(rv == WSF_DEFLATE_OK || rv == WSF_DEFLATE_TOO_BIG || rv == WSF_DEFLATE_CORRUPT);
    if (rv != WSF_DEFLATE_OK) {
      e->close_code = rv == WSF_DEFLATE_TOO_BIG ? 1009 : 1007;
      break;
    }
    REQUIRE(out_len <= max);
    if (opcode == WSF_WS_TEXT && !utf8_ok(out, out_len)) {
      e->close_code = 1007;
      break;
    }
    if (p->server_no_context_takeover)
      REQUIRE(wsf_deflate_zlib_bytes(d) == 0);
    e->hashes[e->n++] = msg_hash(opcode, out, out_len);

    /* Round trip through our compressor and a fresh decoder. */
    uint8_t *plain = malloc(out_len ? out_len : 1);
    if (out_len)
      memcpy(plain, out, out_len);
    wsf_deflate_params rt = {15, 15, true, true, (int8_t)(i % 10 - 1), (uint8_t)(1 + i % 9)};
    wsf_deflate *c = wsf_deflate_new(&rt, false), *s = wsf_deflate_new(&rt, true);
    REQUIRE(c && s);
    const uint8_t *z, *back;
    size_t z_len, back_len;
    REQUIRE(wsf_deflate_compress(c, plain, out_len, &z, &z_len) == WSF_DEFLATE_OK);
    REQUIRE(z_len > 0);
    REQUIRE(wsf_deflate_decompress(s, z, z_len, out_len, &back, &back_len) == WSF_DEFLATE_OK);
    REQUIRE(back_len == out_len && memcmp(back, plain, out_len) == 0);
    REQUIRE(wsf_deflate_zlib_bytes(c) == 0 && wsf_deflate_zlib_bytes(s) == 0);
    wsf_deflate_free(c);
    wsf_deflate_free(s);
    free(plain);
  }
  wsf_deflate_free(d);
}

/* ---- oracles 2 and 3: a session ---- */

typedef struct session {
  wsf_ws ws;
  uint64_t hashes[MAX_MSGS];
  int n;
  uint64_t events; /* FNV over every callback */
  int protocol_errors;
  uint16_t code;
} session;

static void on_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  session *s = wsf_container_of(ws, session, ws);
  REQUIRE(len <= ws->max_message_bytes);
  uint64_t h = msg_hash(opcode, data, len);
  if (s->n < MAX_MSGS)
    s->hashes[s->n] = h;
  s->n++;
  s->events = fnv(s->events, &h, sizeof h);
}
static void on_ping(wsf_ws *ws, const uint8_t *data, size_t len) {
  (void)data;
  (void)len;
  session *s = wsf_container_of(ws, session, ws);
  s->events = fnv(s->events, "ping", 4);
}
static void on_protocol_error(wsf_ws *ws, uint16_t code) {
  session *s = wsf_container_of(ws, session, ws);
  s->protocol_errors++;
  s->code = code;
  s->events = fnv(s->events, &code, sizeof code);
}

static const wsf_ws_callbacks callbacks = {on_message, on_ping, NULL, NULL, on_protocol_error};

static size_t put_frame(uint8_t *out, bool fin, bool rsv1, int opcode, bool masked, const uint8_t *p,
                        size_t len) {
  static const uint8_t key[4] = {0x11, 0x7e, 0xa5, 0x03};
  size_t n = 0;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
  uint8_t m = masked ? 0x80 : 0;
  if (len < 126) {
    out[n++] = (uint8_t)(m | len);
  } else {
    out[n++] = m | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  }
  if (masked) {
    memcpy(out + n, key, 4);
    n += 4;
  }
  for (size_t i = 0; i < len; i++)
    out[n + i] = p[i] ^ (masked ? key[i % 4] : 0);
  return n + len;
}

static void run_session(session *s, const wsf_deflate_params *p, bool server, uint64_t max,
                        const uint8_t *stream, size_t len, bool pieces, uint32_t seed) {
  memset(s, 0, sizeof *s);
  s->events = 0xcbf29ce484222325ull;
  wsf_ws_init(&s->ws, &sink, server, max, &callbacks);
  wsf_ws_enable_deflate(&s->ws, p);
  uint32_t state = 0x9e3779b9u ^ seed;
  bool peer_resets = server ? p->client_no_context_takeover : p->server_no_context_takeover;
  size_t off = 0;
  while (off < len) {
    uint32_t r = next_rand(&state);
    size_t n = !pieces ? len : r % 4 == 0 ? 1 + (r >> 8) % 300 : 1 + (r >> 8) % 7;
    if (n > len - off)
      n = len - off;
    if (wsf_ws_feed(&s->ws, stream + off, n) != 0) {
      REQUIRE(s->protocol_errors == 1);
      break;
    }
    off += n;
    if (!s->ws.scan_hdr_len && !s->ws.scan_payload_left && !s->ws.scan_fragmented && !s->ws.long_frame) {
      REQUIRE(s->ws.ctx == NULL);
      if (peer_resets)
        REQUIRE(wsf_deflate_zlib_bytes(s->ws.deflate) == 0);
    }
  }
  wsf_ws_free(&s->ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t flags = data[0], seed = data[1];
  int bits = 8 + (flags & 7);
  bool peer_nct = flags & 8;
  uint64_t max = flags & 16 ? 300 : 1 << 20;
  int opcode = flags & 32 ? WSF_WS_TEXT : WSF_WS_BINARY;
  bool server = flags & 64;
  /* An exactly sized copy, so ASan sees any read past the end. */
  size -= 2;
  uint8_t *copy = malloc(size ? size : 1);
  memcpy(copy, data + 2, size);

  msg m[MAX_MSGS];
  int n = 0;
  for (size_t off = 0; off < size && n < MAX_MSGS;) {
    size_t len = size - off;
    if (len >= 2) {
      size_t want = copy[off] | (size_t)copy[off + 1] << 8;
      off += 2;
      len = want < size - off ? want : size - off;
    } else {
      off += len;
      len = 0;
    }
    m[n].p = copy + off;
    m[n++].len = len;
    off += len;
  }

  /* The peer's window and takeover, seen from whichever side we are. */
  wsf_deflate_params p = {(uint8_t)bits, (uint8_t)bits, peer_nct, peer_nct, -1, 8};
  /* Which messages go as two fragments, and where they are cut. */
  int frames[MAX_MSGS];
  size_t cuts[MAX_MSGS];
  uint32_t state = 0x85ebca6bu ^ seed;
  for (int i = 0; i < n; i++) {
    frames[i] = (next_rand(&state) & 3) == 0 && m[i].len >= 2 ? 2 : 1;
    cuts[i] = frames[i] == 2 ? 1 + next_rand(&state) % (m[i].len - 1) : 0;
  }
  expected e;
  decode_alone(&p, max, opcode, m, frames, n, &e);

  uint8_t *stream = malloc(size + (size_t)n * 2 * 8 + 16);
  size_t len = 0;
  for (int i = 0; i < n; i++) {
    if (frames[i] == 2) {
      size_t cut = cuts[i];
      len += put_frame(stream + len, false, true, opcode, server, m[i].p, cut);
      len += put_frame(stream + len, true, false, 0, server, m[i].p + cut, m[i].len - cut);
    } else {
      len += put_frame(stream + len, true, true, opcode, server, m[i].p, m[i].len);
    }
  }
  session whole, split;
  run_session(&whole, &p, server, max, stream, len, false, seed);
  run_session(&split, &p, server, max, stream, len, true, seed);
  REQUIRE(whole.events == split.events);
  REQUIRE(whole.n == e.n);
  for (int i = 0; i < e.n; i++)
    REQUIRE(whole.hashes[i] == e.hashes[i]);
  REQUIRE(whole.protocol_errors == (e.close_code != 0));
  REQUIRE(whole.code == e.close_code);
  free(stream);
  free(copy);
  return 0;
}
