/* libFuzzer target for wsf_ws_feed: arbitrary bytes from the peer.
 *
 * Input: byte 0 = flags, byte 1 = split seed, the rest = the byte stream.
 *   flags bit 0: server role (else client), bit 1: max message 200 bytes
 *   (else 1 MiB), bit 2: send messages and pings between pieces.
 *
 * Oracle: the same stream goes into two sessions, once in one feed and once
 * in data-derived pieces (with sends in between when bit 2 is set). Freeing
 * and re-creating the wslay context between frames must be invisible, so
 * both must report exactly the same callbacks; any difference aborts. Close
 * frames are cut anywhere too: ws.c hands them to wslay whole (wslay 1.1.1
 * checks a close reason's UTF-8 per chunk it reads).
 *
 * Writes (pongs, close frames, sends) go to a transport on /dev/null, so the
 * sessions keep going past their first reply (see wsfuzz.h).
 *
 * The frame codec alone (frame.c) on the stream's first header: every prefix
 * answers "more" until one answers what the whole stream answers, and stays
 * so; a header it accepts re-encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "transport.h"
#include "util.h"
#include "ws.h"
#include "wsfuzz.h"

typedef struct session {
  wsf_ws ws;
  uint64_t hash; /* FNV-1a over every callback and its arguments */
  uint32_t events;
  int protocol_errors;
} session;

static void mix(session *s, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    s->hash = (s->hash ^ b[i]) * 0x100000001b3ull;
}

static void event(wsf_ws *ws, int kind, uint32_t code, const uint8_t *data, size_t len) {
  session *s = wsf_container_of(ws, session, ws);
  s->events++;
  uint64_t hdr[3] = {(uint64_t)kind, code, len};
  mix(s, hdr, sizeof hdr);
  if (len)
    mix(s, data, len);
}

static void on_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  REQUIRE(opcode == WSF_WS_TEXT || opcode == WSF_WS_BINARY);
  REQUIRE(len <= ws->max_message_bytes);
  event(ws, 1, (uint32_t)opcode, data, len);
}
static void on_ping(wsf_ws *ws, const uint8_t *data, size_t len) {
  REQUIRE(len <= 125);
  event(ws, 2, 0, data, len);
}
static void on_pong(wsf_ws *ws, const uint8_t *data, size_t len) {
  REQUIRE(len <= 125);
  event(ws, 3, 0, data, len);
}
static void on_close_frame(wsf_ws *ws, uint16_t code, const uint8_t *reason, size_t len) {
  REQUIRE(len <= 123);
  event(ws, 4, code, reason, len);
}
static void on_protocol_error(wsf_ws *ws, uint16_t code) {
  wsf_container_of(ws, session, ws)->protocol_errors++;
  event(ws, 5, code, NULL, 0);
}

static const wsf_ws_callbacks callbacks = {on_message, on_ping, on_pong, on_close_frame, on_protocol_error};

static void run_whole(session *s, bool server, uint64_t max, const uint8_t *data, size_t len) {
  wsf_ws_init(&s->ws, &sink, server, max, &callbacks);
  if (wsf_ws_feed(&s->ws, data, len) != 0)
    REQUIRE(s->protocol_errors == 1);
  wsf_ws_free(&s->ws);
}

static void run_pieces(session *s, bool server, uint64_t max, bool sends, uint8_t seed, const uint8_t *data,
                       size_t len) {
  wsf_ws_init(&s->ws, &sink, server, max, &callbacks);
  uint32_t state = 0x9e3779b9u ^ seed ^ (uint32_t)len << 8;
  size_t off = 0;
  while (off < len) {
    uint32_t r = next_rand(&state);
    /* Mostly small pieces, so headers and payloads are cut everywhere. */
    size_t n = r % 4 == 0 ? 1 + (r >> 8) % 300 : 1 + (r >> 8) % 7;
    if (n > len - off)
      n = len - off;
    int rv = wsf_ws_feed(&s->ws, data + off, n);
    if (rv != 0) {
      REQUIRE(s->protocol_errors == 1);
      REQUIRE(wsf_ws_feed(&s->ws, data, len) == UV_EPROTO); /* failed sessions stay failed */
      break;
    }
    off += n;
    /* At rest means nothing is pending (no long frame either): the context is gone. */
    if (!s->ws.close_sent && !s->ws.close_received && !s->ws.scan_hdr_len && !s->ws.scan_payload_left &&
        !s->ws.scan_fragmented && !s->ws.long_frame)
      REQUIRE(s->ws.ctx == NULL);
    if (sends && r % 8 == 1) {
      int opcode = r & 0x100 ? WSF_WS_PING : WSF_WS_TEXT;
      int sent = wsf_ws_send(&s->ws, opcode, (const uint8_t *)"fuzz", 4);
      REQUIRE(sent == 0 || s->ws.close_sent || s->ws.failed);
    }
  }
  wsf_ws_free(&s->ws);
}

static void check_codec(const uint8_t *p, size_t len) {
  wsf_frame_header whole, h;
  int want = wsf_frame_decode_header(p, len, &whole);
  bool decided = false;
  for (size_t have = 0; have <= len && have <= WSF_FRAME_HEADER_MAX; have++) {
    int r = wsf_frame_decode_header(p, have, &h);
    if (!decided && r == 0)
      continue;
    REQUIRE(r == want); /* the first answer that is not "more" is the final one */
    decided = true;
  }
  REQUIRE(decided || want == 0);
  if (want <= 0 || whole.payload_len > len - (size_t)want || !whole.fin)
    return;
  /* a whole frame that fits: encoding its header fields and payload gives its bytes back */
  uint8_t *again = malloc(WSF_FRAME_HEADER_MAX + (size_t)whole.payload_len);
  uint8_t *plain = malloc(whole.payload_len ? (size_t)whole.payload_len : 1);
  const uint8_t *payload = p + want;
  if (whole.masked)
    for (size_t i = 0; i < whole.payload_len; i++)
      plain[i] = payload[i] ^ whole.mask[i & 3];
  else if (whole.payload_len)
    memcpy(plain, payload, (size_t)whole.payload_len);
  size_t n = wsf_frame_encode(again, whole.opcode, whole.rsv, plain, (size_t)whole.payload_len,
                              whole.masked ? whole.mask : NULL);
  REQUIRE(n == (size_t)want + whole.payload_len);
  REQUIRE(memcmp(again, p, n) == 0);
  free(again);
  free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t flags = data[0], seed = data[1];
  bool server = flags & 1;
  uint64_t max = flags & 2 ? 200 : 1 << 20;
  data += 2;
  size -= 2;
  /* An exactly sized copy, so ASan sees any read past the end. */
  uint8_t *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  check_codec(copy, size);

  session whole = {.hash = 0xcbf29ce484222325ull}, pieces = {.hash = 0xcbf29ce484222325ull};
  run_whole(&whole, server, max, copy, size);
  run_pieces(&pieces, server, max, flags & 4, seed, copy, size);
  REQUIRE(whole.events == pieces.events);
  REQUIRE(whole.hash == pieces.hash);
  REQUIRE(whole.protocol_errors <= 1);
  free(copy);
  return 0;
}
