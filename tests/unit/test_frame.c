/* frame.c without sockets: every length boundary (7, 16 and 64 bits), the
 * minimal-encoding rule, control frames over 125 bytes or fragmented,
 * reserved opcodes, RSV bits, masking in the wrong direction, and a header
 * fed one byte more at a time (the answer is "more" until the byte that
 * completes or condemns it). Encode → decode round trips, masked and not. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"
#include "mask.h"
#include "testlib.h"

/* Every prefix shorter than `decided_at` answers "more bytes"; that prefix answers want. */
static void check_split(const uint8_t *p, size_t decided_at, int want) {
  wsf_frame_header h;
  for (size_t have = 0; have < decided_at; have++)
    CHECK(wsf_frame_decode_header(p, have, &h) == 0);
  CHECK(wsf_frame_decode_header(p, decided_at, &h) == want);
}

static void test_lengths_at_every_boundary_round_trip(void) {
  static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
  static const size_t hdr[] = {2, 2, 2, 4, 4, 4, 10, 10};
  uint8_t *payload = malloc(70000), *buf = malloc(70000 + WSF_FRAME_HEADER_MAX), *back = malloc(70000);
  for (size_t i = 0; i < 70000; i++)
    payload[i] = (uint8_t)(i * 7 + 3);
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
    for (int masked = 0; masked <= 1; masked++) {
      size_t n = wsf_frame_encode(buf, WSF_FRAME_BINARY, 0, payload, lens[k], masked ? key : NULL);
      size_t hl = hdr[k] + (masked ? 4 : 0);
      CHECK(n == hl + lens[k]);
      check_split(buf, hl, (int)hl);
      wsf_frame_header h;
      CHECK(wsf_frame_decode_header(buf, n, &h) == (int)hl);
      CHECK(h.payload_len == lens[k] && h.opcode == WSF_FRAME_BINARY && h.fin && h.rsv == 0);
      CHECK(h.masked == (bool)masked && h.header_len == hl);
      CHECK(wsf_frame_check(&h, masked, 0, false) == 0);
      if (masked) {
        CHECK(memcmp(h.mask, key, 4) == 0);
        wsf_mask(back, buf + hl, lens[k], h.mask, 0);
        CHECK(memcmp(back, payload, lens[k]) == 0);
      } else {
        CHECK(memcmp(buf + hl, payload, lens[k]) == 0);
      }
    }
  }
  free(payload);
  free(buf);
  free(back);
}

static void test_lengths_not_in_minimal_encoding_are_refused_once_complete(void) {
  uint8_t a[] = {0x82, 126, 0x00, 125}; /* 125 in 16 bits */
  check_split(a, 4, WSF_FRAME_E_LENGTH);
  uint8_t b[] = {0x82, 126, 0x00, 126}; /* 126 in 16 bits: the smallest allowed */
  check_split(b, 4, 4);
  uint8_t c[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}; /* 65535 in 64 bits */
  check_split(c, 10, WSF_FRAME_E_LENGTH);
  uint8_t d[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0x00, 0x00}; /* 65536 in 64 bits */
  check_split(d, 10, 10);
  uint8_t e[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}; /* bit 63 set */
  check_split(e, 10, WSF_FRAME_E_LENGTH);
  uint8_t f[] = {0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}; /* 2^63-1, masked */
  wsf_frame_header h;
  check_split(f, 14, 14);
  CHECK(wsf_frame_decode_header(f, 14, &h) == 14 && h.payload_len == UINT64_MAX >> 1 && h.masked);
}

static void test_control_frames_are_judged_on_their_first_two_bytes(void) {
  uint8_t big[] = {0x89, 126, 0x00, 0x7e}; /* a ping of 126 bytes */
  check_split(big, 2, WSF_FRAME_E_CONTROL);
  uint8_t over[] = {0x88, 127}; /* a close with a 64-bit length */
  check_split(over, 2, WSF_FRAME_E_CONTROL);
  uint8_t fragmented[] = {0x09, 0x00}; /* a ping without FIN */
  check_split(fragmented, 2, WSF_FRAME_E_CONTROL);
  uint8_t pong_max[] = {0x8a, 125};
  check_split(pong_max, 2, 2);
  uint8_t text_frag[] = {0x01, 0x05}; /* a data frame without FIN is fine */
  check_split(text_frag, 2, 2);
  uint8_t reserved_ctl[] = {0x0b, 0x00}; /* reserved control opcode 11, not FIN: still a control frame */
  check_split(reserved_ctl, 2, WSF_FRAME_E_CONTROL);
}

static void test_session_rules_opcodes_rsv_and_masking(void) {
  wsf_frame_header h;
  for (int op = 0; op < 16; op++) {
    uint8_t p[] = {(uint8_t)(0x80 | op), 0x00};
    CHECK(wsf_frame_decode_header(p, 2, &h) == 2);
    bool known = op <= 2 || (op >= 8 && op <= 10);
    if (!known)
      CHECK(wsf_frame_check(&h, false, 0, false) == WSF_FRAME_E_OPCODE);
    else if (op == WSF_FRAME_CONTINUATION)
      CHECK(wsf_frame_check(&h, false, 0, false) == WSF_FRAME_E_SEQUENCE);
    else
      CHECK(wsf_frame_check(&h, false, 0, false) == 0);
  }
  for (int rsv = 0; rsv < 8; rsv++) {
    uint8_t p[] = {(uint8_t)(0x80 | rsv << 4 | WSF_FRAME_TEXT), 0x00};
    CHECK(wsf_frame_decode_header(p, 2, &h) == 2 && h.rsv == rsv);
    CHECK((wsf_frame_check(&h, false, 0, false) == 0) == (rsv == 0));
    CHECK((wsf_frame_check(&h, false, WSF_FRAME_RSV1, false) == 0) == (rsv == 0 || rsv == WSF_FRAME_RSV1));
    if (rsv)
      CHECK(wsf_frame_check(&h, false, 0, false) == WSF_FRAME_E_RSV);
  }
  uint8_t masked_from_server[] = {0x81, 0x80, 1, 2, 3, 4};
  CHECK(wsf_frame_decode_header(masked_from_server, 6, &h) == 6);
  CHECK(wsf_frame_check(&h, false, 0, false) ==
        WSF_FRAME_E_MASK); /* we are the client: the server must not mask */
  CHECK(wsf_frame_check(&h, true, 0, false) == 0);
  uint8_t unmasked_from_client[] = {0x81, 0x00};
  CHECK(wsf_frame_decode_header(unmasked_from_client, 2, &h) == 2);
  CHECK(wsf_frame_check(&h, true, 0, false) == WSF_FRAME_E_MASK);
  CHECK(strcmp(wsf_frame_error_words(WSF_FRAME_E_MASK), "no error") != 0);
}

static void test_fragments_in_sequence_and_rsv1_on_first_frames_only(void) {
  wsf_frame_header h;
  uint8_t cont[] = {0x00, 0x01}, cont_fin[] = {0x80, 0x01}, text[] = {0x01, 0x01}, ping[] = {0x89, 0x00};
  CHECK(wsf_frame_decode_header(cont, 2, &h) == 2);
  CHECK(wsf_frame_check(&h, false, 0, true) == 0);
  CHECK(wsf_frame_check(&h, false, 0, false) == WSF_FRAME_E_SEQUENCE); /* no message to continue */
  CHECK(wsf_frame_decode_header(cont_fin, 2, &h) == 2 && wsf_frame_check(&h, false, 0, true) == 0);
  CHECK(wsf_frame_decode_header(text, 2, &h) == 2);
  CHECK(wsf_frame_check(&h, false, 0, true) == WSF_FRAME_E_SEQUENCE); /* a new message inside one */
  CHECK(wsf_frame_check(&h, false, 0, false) == 0);
  CHECK(wsf_frame_decode_header(ping, 2, &h) == 2);
  CHECK(wsf_frame_check(&h, false, 0, true) == 0); /* control frames interleave */
  uint8_t rsv1_text[] = {0xc1, 0x00}, rsv1_cont[] = {0xc0, 0x00}, rsv1_ping[] = {0xc9, 0x00};
  CHECK(wsf_frame_decode_header(rsv1_text, 2, &h) == 2 &&
        wsf_frame_check(&h, false, WSF_FRAME_RSV1, false) == 0);
  CHECK(wsf_frame_decode_header(rsv1_cont, 2, &h) == 2);
  CHECK(wsf_frame_check(&h, false, WSF_FRAME_RSV1, true) == WSF_FRAME_E_RSV);
  CHECK(wsf_frame_decode_header(rsv1_ping, 2, &h) == 2);
  CHECK(wsf_frame_check(&h, false, WSF_FRAME_RSV1, false) == WSF_FRAME_E_RSV);
  /* judged on two bytes: a 64-bit length still to come */
  uint8_t long_rsv2[] = {0xa2, 0x7f};
  CHECK(wsf_frame_decode_header(long_rsv2, 2, &h) == 0);
  CHECK(wsf_frame_check(&h, false, WSF_FRAME_RSV1, false) == WSF_FRAME_E_RSV);
}

static void test_encode_sets_fin_rsv_and_opcode(void) {
  uint8_t buf[WSF_FRAME_HEADER_MAX + 4];
  size_t n = wsf_frame_encode(buf, WSF_FRAME_TEXT, WSF_FRAME_RSV1, (const uint8_t *)"abcd", 4, NULL);
  CHECK(n == 6 && buf[0] == 0xc1 && buf[1] == 4 && memcmp(buf + 2, "abcd", 4) == 0);
  n = wsf_frame_encode(buf, WSF_FRAME_PONG, 0, NULL, 0, (const uint8_t[4]){9, 9, 9, 9});
  CHECK(n == 6 && buf[0] == 0x8a && buf[1] == 0x80);
}

/* A stream of frames, decoded header by header from every split point: the
 * same headers come out whatever the chunking. */
static void test_a_stream_split_at_every_byte_decodes_the_same(void) {
  uint8_t stream[512];
  size_t len = 0;
  static const size_t sizes[] = {0, 5, 125, 126, 200};
  const uint8_t key[4] = {1, 2, 3, 4};
  uint8_t payload[200] = {0};
  for (size_t k = 0; k < 5; k++)
    len += wsf_frame_encode(stream + len, k == 0 ? WSF_FRAME_PING : WSF_FRAME_TEXT, 0, payload, sizes[k],
                            k & 1 ? key : NULL);
  for (size_t split = 0; split <= len; split++) {
    /* bytes arrive as [0, split) then [split, len); a header is decoded from what has arrived */
    size_t at = 0, frames = 0;
    bool ok = true;
    while (at < len) {
      wsf_frame_header h;
      size_t have = (at < split ? split : len) - at;
      int r = wsf_frame_decode_header(stream + at, have, &h);
      if (r == 0 && at < split) {
        r = wsf_frame_decode_header(stream + at, len - at, &h); /* the second chunk came */
      }
      if (r <= 0) {
        ok = false;
        break;
      }
      ok = ok && h.payload_len == sizes[frames] && h.masked == (bool)(frames & 1);
      at += (size_t)r + h.payload_len;
      frames++;
    }
    CHECK(ok && frames == 5 && at == len);
  }
}

int main(void) {
  RUN(test_lengths_at_every_boundary_round_trip);
  RUN(test_lengths_not_in_minimal_encoding_are_refused_once_complete);
  RUN(test_control_frames_are_judged_on_their_first_two_bytes);
  RUN(test_session_rules_opcodes_rsv_and_masking);
  RUN(test_fragments_in_sequence_and_rsv1_on_first_frames_only);
  RUN(test_encode_sets_fin_rsv_and_opcode);
  RUN(test_a_stream_split_at_every_byte_decodes_the_same);
  return wsf_test_result();
}
