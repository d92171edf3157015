/* WebSocket sessions over real loopback TCP: a client wsf_ws and a server
 * wsf_ws on one uv loop, or one wsf_ws fed crafted frames directly while the
 * other end of the socket is a raw byte collector (so what the session writes
 * back, pongs and close frames, is checked on the wire).
 *
 * The memory guarantee is asserted throughout: the wslay context exists
 * mid-frame and mid-fragmented-message, and is gone once the session is at
 * rest. The pair and its wire helpers are in wspair.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "ws.h"
#include "wspair.h"

static bool server_raw_has_pong(void) {
  parsed f;
  return raw_has_frame(&server, WSF_WS_PONG, &f);
}

static bool client_raw_has_close(void) {
  parsed f;
  return raw_has_frame(&client, WSF_WS_CLOSE, &f);
}

/* ---- tests over the wire, both ends are sessions ---- */

static bool server_has_1(void) {
  return server.n_msgs >= 1;
}
static bool server_has_2(void) {
  return server.n_msgs >= 2;
}
static bool client_has_1(void) {
  return client.n_msgs >= 1;
}
static bool client_has_2(void) {
  return client.n_msgs >= 2;
}

static void test_text_and_binary_messages_both_ways(void) {
  pair_open(NULL, 1 << 20, 1 << 20, NULL);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"hello server", 12) == 0);
  CHECK(client.ws.ctx == NULL); /* written out: nothing in flight */
  CHECK(run_until(server_has_1, 5000));
  CHECK(stored_is(&server.msgs[0], WSF_WS_TEXT, "hello server", 12));
  CHECK(server.ws.ctx == NULL);

  uint8_t bin[256];
  for (int i = 0; i < 256; i++)
    bin[i] = (uint8_t)i; /* NUL and invalid UTF-8 bytes: fine in binary */
  CHECK(wsf_ws_send(&server.ws, WSF_WS_BINARY, bin, sizeof bin) == 0);
  CHECK(server.ws.ctx == NULL);
  CHECK(run_until(client_has_1, 5000));
  CHECK(stored_is(&client.msgs[0], WSF_WS_BINARY, bin, sizeof bin));
  CHECK(client.ws.ctx == NULL);

  /* Large messages (64-bit length, many socket reads) and an empty one. */
  size_t big_len = 300000;
  uint8_t *big = malloc(big_len);
  for (size_t i = 0; i < big_len; i++)
    big[i] = (uint8_t)(i * 7 + 3);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_BINARY, big, big_len) == 0);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"", 0) == 0);
  CHECK(run_until(server_has_2, 5000));
  CHECK(stored_is(&server.msgs[1], WSF_WS_BINARY, big, big_len));
  CHECK(server.n_msgs == 3 && stored_is(&server.msgs[2], WSF_WS_TEXT, "", 0));
  CHECK(wsf_ws_send(&server.ws, WSF_WS_BINARY, big, big_len) == 0);
  CHECK(run_until(client_has_2, 5000));
  CHECK(stored_is(&client.msgs[1], WSF_WS_BINARY, big, big_len));
  CHECK(client.ws.ctx == NULL && server.ws.ctx == NULL);
  CHECK(client.protocol_errors == 0 && server.protocol_errors == 0);
  CHECK(client.feed_failures == 0 && server.feed_failures == 0);
  free(big);
  pair_close();
}

static bool server_has_pong(void) {
  return server.pongs >= 1;
}

static void test_ping_is_answered_with_pong(void) {
  pair_open(NULL, 1 << 20, 1 << 20, NULL);
  CHECK(wsf_ws_send(&server.ws, WSF_WS_PING, (const uint8_t *)"are you there", 13) == 0);
  CHECK(run_until(server_has_pong, 5000));
  CHECK(client.pings == 1 && client.ping_len == 13 && memcmp(client.ping_data, "are you there", 13) == 0);
  CHECK(server.pong_len == 13 && memcmp(server.pong_data, "are you there", 13) == 0);
  CHECK(client.n_msgs == 0 && server.n_msgs == 0);
  CHECK(client.ws.ctx == NULL && server.ws.ctx == NULL);
  pair_close();
}

/* The error convention (ARCHITECTURE.md "Errors"): a send wslay will not
 * frame is UV_EINVAL and leaves the session usable; one after our close is
 * UV_EPIPE. */
static void test_send_errors_are_libuv_codes(void) {
  pair_open(NULL, 1 << 20, 1 << 20, NULL);
  uint8_t big[126] = {0};
  CHECK(wsf_ws_send(&client.ws, WSF_WS_PING, big, sizeof big) == UV_EINVAL); /* control frame > 125 */
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"still fine", 10) == 0);
  CHECK(wsf_ws_close(&client.ws, 1000, NULL, 0) == 0);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_PING, (const uint8_t *)"x", 1) == UV_EPIPE);
  CHECK(client.protocol_errors == 0);
  pair_close();
}

static bool both_close_frames(void) {
  return client.close_frames && server.close_frames;
}

static void test_close_handshake_client_initiated(void) {
  pair_open(NULL, 1 << 20, 1 << 20, NULL);
  CHECK(wsf_ws_close(&client.ws, 1000, "bye", 3) == 0);
  CHECK(client.ws.close_sent && !wsf_ws_close_done(&client.ws));
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"late", 4) == UV_EPIPE);
  CHECK(wsf_ws_close(&client.ws, 1000, NULL, 0) == UV_EPIPE); /* only once */
  CHECK(run_until(both_close_frames, 5000));
  CHECK(server.close_code == 1000);
  CHECK_STR(server.close_reason, "bye");
  CHECK(client.close_code == 1000); /* echoed by the server */
  CHECK(wsf_ws_close_done(&client.ws) && wsf_ws_close_done(&server.ws));
  CHECK(server.ws.close_code_sent == 1000 && client.ws.close_code_received == 1000);
  CHECK(client.protocol_errors == 0 && server.protocol_errors == 0);
  CHECK(server.n_msgs == 0);
  pair_close();
}

static void test_close_handshake_server_initiated(void) {
  pair_open(NULL, 1 << 20, 1 << 20, NULL);
  const char *reason = "server going away";
  CHECK(wsf_ws_close(&server.ws, 4001, reason, strlen(reason)) == 0);
  CHECK(run_until(both_close_frames, 5000));
  CHECK(client.close_code == 4001);
  CHECK_STR(client.close_reason, reason);
  CHECK(server.close_code == 4001);
  CHECK(client.ws.close_code_sent == 4001);
  CHECK(wsf_ws_close_done(&client.ws) && wsf_ws_close_done(&server.ws));
  CHECK(client.protocol_errors == 0 && server.protocol_errors == 0);
  pair_close();
}

static bool client_protocol_error(void) {
  return client.protocol_errors > 0;
}
static bool server_has_close_frame(void) {
  return server.close_frames > 0;
}

static void test_invalid_utf8_text_is_1007(void) {
  pair_open(NULL, 1 << 20, 1 << 20, NULL);
  const uint8_t bad[] = {'o', 'k', 0xc3, 0x28}; /* 0xc3 needs a continuation byte */
  CHECK(wsf_ws_send(&server.ws, WSF_WS_TEXT, bad, sizeof bad) == 0);
  CHECK(run_until(client_protocol_error, 5000));
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1007);
  CHECK(client.n_msgs == 0);
  CHECK(client.feed_failures >= 1);
  CHECK(run_until(server_has_close_frame, 5000));
  CHECK(server.close_code == 1007); /* the close went out on the wire */
  pair_close();
}

static void test_message_over_max_is_1009(void) {
  pair_open(NULL, 1000, 1 << 20, NULL);
  uint8_t data[1001];
  memset(data, 'x', sizeof data);
  CHECK(wsf_ws_send(&server.ws, WSF_WS_TEXT, data, 1000) == 0); /* exactly the limit: fine */
  CHECK(run_until(client_has_1, 5000));
  CHECK(client.msgs[0].len == 1000);
  CHECK(wsf_ws_send(&server.ws, WSF_WS_TEXT, data, 1001) == 0);
  CHECK(run_until(client_protocol_error, 5000));
  CHECK(client.protocol_error_code == 1009);
  CHECK(client.n_msgs == 1);
  CHECK(run_until(server_has_close_frame, 5000));
  CHECK(server.close_code == 1009);
  pair_close();
}

/* ---- crafted frames fed straight into one session ---- */

/* Feeds a byte stream in pieces of the given sizes (cycled). */
static int feed_in_pieces(wsf_ws *ws, const uint8_t *data, size_t len, const size_t *sizes, size_t n_sizes) {
  size_t off = 0, k = 0;
  while (off < len) {
    size_t n = sizes[k++ % n_sizes];
    if (n > len - off)
      n = len - off;
    if (wsf_ws_feed(ws, data + off, n) != 0)
      return -1;
    off += n;
  }
  return 0;
}

static void test_context_exists_only_mid_frame(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  CHECK(client.ws.ctx == NULL);
  uint8_t payload[70000];
  for (size_t i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)('a' + i % 26);
  /* 7-bit, 16-bit and 64-bit lengths; fed one byte at a time. */
  size_t lens[] = {0, 5, 125, 126, 300, 65535, 65536, 70000};
  uint8_t *buf = malloc(sizeof payload + 14);
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    size_t n = frame(buf, FRAME_FIN, WSF_WS_TEXT, payload, lens[k]);
    int mid_ok = 1;
    for (size_t i = 0; i + 1 < n; i++) {
      CHECK(wsf_ws_feed(&client.ws, buf + i, 1) == 0);
      if (client.ws.ctx == NULL)
        mid_ok = 0;
    }
    CHECK(mid_ok); /* never at rest before the last byte */
    CHECK(client.n_msgs == (int)k);
    CHECK(wsf_ws_feed(&client.ws, buf + n - 1, 1) == 0);
    CHECK(client.ws.ctx == NULL);
    CHECK(client.n_msgs == (int)k + 1);
    CHECK(stored_is(&client.msgs[k], WSF_WS_TEXT, payload, lens[k]));
  }
  /* An empty feed at rest keeps it at rest. */
  CHECK(wsf_ws_feed(&client.ws, buf, 0) == 0);
  CHECK(client.ws.ctx == NULL);
  free(buf);
  pair_close();
}

/* Many frames in one stream, cut at random points: the context is NULL
 * exactly when the cut falls on a frame boundary. */
static void test_random_splits_keep_messages_and_rest_state(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  enum { N = 60 };
  size_t cap = 0;
  size_t msg_len[N];
  srand(99);
  for (int i = 0; i < N; i++) {
    msg_len[i] = (size_t)(rand() % 5 == 0 ? rand() % 5000 : rand() % 200);
    cap += msg_len[i] + 14;
  }
  uint8_t *stream = malloc(cap);
  uint8_t *payload = malloc(5000);
  size_t *boundary = malloc(N * sizeof *boundary);
  size_t len = 0;
  for (int i = 0; i < N; i++) {
    for (size_t k = 0; k < msg_len[i]; k++)
      payload[k] = (uint8_t)(i + k);
    len += frame(stream + len, FRAME_FIN, WSF_WS_BINARY, payload, msg_len[i]);
    boundary[i] = len;
  }
  size_t off = 0;
  int b = 0, wrong_rest = 0;
  while (off < len) {
    size_t n = 1 + (size_t)rand() % 700;
    if (n > len - off)
      n = len - off;
    CHECK(wsf_ws_feed(&client.ws, stream + off, n) == 0);
    off += n;
    while (b < N && boundary[b] < off)
      b++;
    bool at_boundary = b < N && boundary[b] == off;
    if ((client.ws.ctx == NULL) != at_boundary)
      wrong_rest++;
  }
  CHECK(wrong_rest == 0);
  CHECK(client.n_msgs == N);
  for (int i = 0; i < N && i < client.n_msgs; i++) {
    for (size_t k = 0; k < msg_len[i]; k++)
      payload[k] = (uint8_t)(i + k);
    CHECK(stored_is(&client.msgs[i], WSF_WS_BINARY, payload, msg_len[i]));
  }
  CHECK(client.ws.ctx == NULL);
  free(stream);
  free(payload);
  free(boundary);
  pair_close();
}

static void test_fragmented_message_with_interleaved_control_frames(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  uint8_t f[6][64];
  size_t n[6];
  n[0] = frame(f[0], 0, WSF_WS_TEXT, "Hel", 3);
  n[1] = frame(f[1], FRAME_FIN, WSF_WS_PING, "p1", 2);
  n[2] = frame(f[2], 0, 0, "lo, ", 4);
  n[3] = frame(f[3], FRAME_FIN, WSF_WS_PONG, "x", 1);
  n[4] = frame(f[4], 0, 0, "", 0);
  n[5] = frame(f[5], FRAME_FIN, 0, "world", 5);
  for (int i = 0; i < 5; i++) {
    CHECK(wsf_ws_feed(&client.ws, f[i], n[i]) == 0);
    CHECK(client.ws.ctx != NULL); /* the message is still open */
    CHECK(client.n_msgs == 0);
  }
  CHECK(client.pings == 1 && client.ping_len == 2 && memcmp(client.ping_data, "p1", 2) == 0);
  CHECK(client.pongs == 1 && client.pong_len == 1);
  CHECK(wsf_ws_feed(&client.ws, f[5], n[5]) == 0);
  CHECK(client.n_msgs == 1);
  CHECK(stored_is(&client.msgs[0], WSF_WS_TEXT, "Hello, world", 12));
  CHECK(client.ws.ctx == NULL);

  /* The pong for the ping in the middle went out, masked as a client must. */
  CHECK(run_until(server_raw_has_pong, 5000));
  parsed pong;
  CHECK(raw_has_frame(&server, WSF_WS_PONG, &pong));
  CHECK(pong.masked && pong.fin && pong.len == 2 && memcmp(pong.payload, "p1", 2) == 0);

  /* A binary message in three fragments with a ping between, all in one feed,
   * then the same bytes dribbled in 3-byte pieces. */
  uint8_t stream[256];
  size_t len = 0;
  len += frame(stream + len, 0, WSF_WS_BINARY, "\x00\x01", 2);
  len += frame(stream + len, FRAME_FIN, WSF_WS_PING, "", 0);
  len += frame(stream + len, 0, 0, "\xff", 1);
  len += frame(stream + len, FRAME_FIN, 0, "\x02", 1);
  CHECK(wsf_ws_feed(&client.ws, stream, len) == 0);
  CHECK(client.n_msgs == 2 && stored_is(&client.msgs[1], WSF_WS_BINARY, "\x00\x01\xff\x02", 4));
  CHECK(client.ws.ctx == NULL);
  size_t three[] = {3};
  CHECK(feed_in_pieces(&client.ws, stream, len, three, 1) == 0);
  CHECK(client.n_msgs == 3 && stored_is(&client.msgs[2], WSF_WS_BINARY, "\x00\x01\xff\x02", 4));
  CHECK(client.pings == 3);
  CHECK(client.ws.ctx == NULL);
  CHECK(client.protocol_errors == 0);
  pair_close();
}

static void test_close_frame_without_code_reads_1005_and_is_answered(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  uint8_t f[16];
  size_t n = frame(f, FRAME_FIN, WSF_WS_CLOSE, "", 0);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
  CHECK(client.close_frames == 1 && client.close_code == 1005 && client.close_reason[0] == 0);
  CHECK(client.protocol_errors == 0);
  CHECK(wsf_ws_close_done(&client.ws));
  CHECK(run_until(server_raw_has_close, 5000));
  parsed close;
  CHECK(raw_has_frame(&server, WSF_WS_CLOSE, &close));
  CHECK(close.masked && close.len == 0); /* echoes "no code" */
  pair_close();
}

/* wslay 1.1.1 checks a close reason's UTF-8 per chunk it reads: ws.c must
 * hand it a close frame whole, however the bytes arrive. */
static void test_close_frame_split_anywhere_keeps_its_code_and_reason(void) {
  static const char payload[] = "\x0f\xa0"
                                "caf\xc3\xa9 ferm\xc3\xa9"; /* 4000, "café fermé" */
  const size_t payload_len = sizeof payload - 1;
  uint8_t f[64], text[16];
  size_t t = frame(text, FRAME_FIN, WSF_WS_TEXT, "before", 6);
  memcpy(f, text, t);
  size_t n = t + frame(f + t, FRAME_FIN, WSF_WS_CLOSE, payload, payload_len);
  for (size_t cut = 1; cut < n; cut++) {
    pair_open(&server, 1 << 20, 1 << 20, NULL);
    CHECK(wsf_ws_feed(&client.ws, f, cut) == 0);
    CHECK(client.close_frames == 0);
    CHECK(client.n_msgs == (cut >= t ? 1 : 0));
    CHECK(wsf_ws_feed(&client.ws, f + cut, n - cut) == 0);
    CHECK(client.protocol_errors == 0);
    CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_TEXT, "before", 6));
    CHECK(client.close_frames == 1 && client.close_code == 4000);
    CHECK_STR(client.close_reason, "caf\xc3\xa9 ferm\xc3\xa9");
    CHECK(client.ws.held == NULL && client.ws.held_len == 0);
    pair_close();
  }
}

/* Every code a server may send reaches on_close_frame as sent, with its
 * reason, and is echoed (RFC 6455 §5.5.1); every code invalid on the wire
 * fails the session with 1002 and is named in the failure. wslay alone stops
 * at 1011: 1012-1014 are the codes this pins. */
static void test_close_codes_at_every_boundary(void) {
  static const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                   1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
  static const uint16_t invalid[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
    CHECK(wsf_ws_close_code_valid(valid[i]));
    pair_open(&server, 1 << 20, 1 << 20, NULL);
    uint8_t payload[16] = {(uint8_t)(valid[i] >> 8), (uint8_t)valid[i]};
    memcpy(payload + 2, "try later", 9);
    uint8_t f[32];
    size_t n = frame(f, FRAME_FIN, WSF_WS_CLOSE, payload, 11);
    CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
    CHECK(client.protocol_errors == 0);
    CHECK(client.close_frames == 1 && client.close_code == valid[i]);
    CHECK_STR(client.close_reason, "try later");
    CHECK(wsf_ws_close_done(&client.ws));
    CHECK(run_until(server_raw_has_close, 5000));
    parsed echo;
    CHECK(raw_has_frame(&server, WSF_WS_CLOSE, &echo));
    CHECK(echo.masked && echo.len == 11 && memcmp(echo.payload, payload, 11) == 0);
    pair_close();
  }
  for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
    CHECK(!wsf_ws_close_code_valid(invalid[i]));
    pair_open(&server, 1 << 20, 1 << 20, NULL);
    uint8_t payload[2] = {(uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i]};
    uint8_t f[16];
    size_t n = frame(f, FRAME_FIN, WSF_WS_CLOSE, payload, 2);
    CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
    CHECK(client.close_frames == 0);
    CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1002);
    char buf[96], want[96];
    snprintf(want, sizeof want, "the server sent close code %u, which is not allowed on the wire",
             invalid[i]);
    CHECK_STR(wsf_ws_failure_detail(&client.ws, buf, sizeof buf), want);
    CHECK(run_until(server_raw_has_close, 5000));
    uint16_t code = 0;
    CHECK(raw_close_code(&server, &code) && code == 1002);
    pair_close();
  }
}

/* A 1-byte close payload has half a code (1002); a reason that is not UTF-8
 * is 1007; a close answering ours is not echoed; bytes after a close are
 * not read. */
static void test_malformed_close_frames_and_the_answer_to_ours(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  uint8_t f[32];
  size_t n = frame(f, FRAME_FIN, WSF_WS_CLOSE, "\x03", 1);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  CHECK(client.protocol_error_code == 1002 && client.close_frames == 0);
  char buf[96];
  CHECK(wsf_ws_failure_detail(&client.ws, buf, sizeof buf) != NULL);
  pair_close();

  pair_open(&server, 1 << 20, 1 << 20, NULL);
  n = frame(f, FRAME_FIN, WSF_WS_CLOSE, "\x0f\xa0\xc3(", 4);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  CHECK(client.protocol_error_code == 1007 && client.close_frames == 0);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1007);
  pair_close();

  pair_open(&server, 1 << 20, 1 << 20, NULL);
  CHECK(wsf_ws_close(&client.ws, 1000, "bye", 3) == 0);
  n = frame(f, FRAME_FIN, WSF_WS_CLOSE, "\x03\xf5", 2); /* 1013 */
  n += frame(f + n, FRAME_FIN, WSF_WS_TEXT, "after", 5);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
  CHECK(client.close_frames == 1 && client.close_code == 1013 && client.n_msgs == 0);
  CHECK(wsf_ws_close_done(&client.ws) && client.ws.close_code_sent == 1000);
  CHECK(run_until(server_raw_has_close, 5000));
  CHECK(raw_close_code(&server, &code) && code == 1000);
  size_t frames = 0, off = 0;
  parsed p;
  while ((n = parse_frame(server.rx + off, server.rx_len - off, &p)) > 0) {
    frames++;
    off += n;
  }
  CHECK(frames == 1); /* our close, no echo */
  pair_close();
}

static int raw_pongs(const peer *p, parsed *last) {
  int n = 0;
  size_t off = 0, len;
  parsed f;
  while ((len = parse_frame(p->rx + off, p->rx_len - off, &f)) > 0) {
    if (f.opcode == WSF_WS_PONG) {
      n++;
      *last = f;
    }
    off += len;
  }
  return n;
}

static bool never(void) {
  return false;
}

static int want_pongs;
static bool server_raw_has_pongs(void) {
  parsed f;
  return raw_pongs(&server, &f) >= want_pongs;
}

/* While output waits for the peer, only the latest ping is answered: its
 * pong is held until a write completes (here the pending byte is faked, as
 * the transport would show a peer that stopped reading), on both the fast
 * path (whole pings) and the path through wslay (pings inside a fragmented
 * message, and a ping split across reads). */
static void test_pings_while_output_waits_get_one_pong_for_the_latest(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  uint8_t f[64];
  size_t n = frame(f, FRAME_FIN, WSF_WS_PING, "now", 3);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0); /* output empty: answered at once */
  want_pongs = 1;
  CHECK(run_until(server_raw_has_pongs, 5000));

  client.t.write_pending_bytes = 1;
  for (int i = 0; i < 100; i++) {
    char payload[16];
    int len = snprintf(payload, sizeof payload, "p%d", i);
    n = frame(f, FRAME_FIN, WSF_WS_PING, payload, (size_t)len);
    CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
    CHECK(client.ws.ping_coalesced == (i > 0));
  }
  /* a ping between fragments, and one split across reads */
  uint8_t stream[64];
  size_t len = frame(stream, 0, WSF_WS_TEXT, "ab", 2);
  len += frame(stream + len, FRAME_FIN, WSF_WS_PING, "mid", 3);
  len += frame(stream + len, FRAME_FIN, 0, "cd", 2);
  len += frame(stream + len, FRAME_FIN, WSF_WS_PING, "last", 4);
  CHECK(wsf_ws_feed(&client.ws, stream, len - 3) == 0);
  CHECK(wsf_ws_feed(&client.ws, stream + len - 3, 3) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_TEXT, "abcd", 4));
  CHECK(client.pings == 103);
  client.t.write_pending_bytes = 0;
  run_until(never, 100);
  parsed last;
  CHECK(raw_pongs(&server, &last) == 1); /* nothing more went out */
  wsf_ws_written(&client.ws);
  want_pongs = 2;
  CHECK(run_until(server_raw_has_pongs, 5000));
  CHECK(raw_pongs(&server, &last) == 2 && last.len == 4 && memcmp(last.payload, "last", 4) == 0);
  CHECK(client.ws.held_pong == NULL);
  wsf_ws_written(&client.ws); /* nothing held: nothing sent */
  CHECK(client.protocol_errors == 0);
  pair_close();
}

/* A fragmented message is charged 128 bytes per continuation frame beyond
 * its payload: 1-byte fragments hit max_message_bytes (1009, named) long
 * before wslay's per-fragment heap (~96 bytes each) adds up; a message in a
 * few fragments within the limit is delivered, and the charge starts again
 * with each message. */
static void test_tiny_fragments_are_charged_against_max_message_bytes(void) {
  pair_open(&server, 1000, 1 << 20, NULL);
  uint8_t stream[512];
  size_t len = frame(stream, 0, WSF_WS_TEXT, "ab", 2);
  for (int i = 0; i < 3; i++)
    len += frame(stream + len, 0, 0, "cd", 2);
  len += frame(stream + len, FRAME_FIN, 0, "!", 1); /* 9 bytes + 4 x 128 charged: fits */
  CHECK(wsf_ws_feed(&client.ws, stream, len) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_TEXT, "abcdcdcd!", 9));
  CHECK(wsf_ws_feed(&client.ws, stream, len) == 0); /* again: the charge restarted */
  CHECK(client.n_msgs == 2);

  len = frame(stream, 0, WSF_WS_TEXT, "x", 1);
  CHECK(wsf_ws_feed(&client.ws, stream, len) == 0);
  int frames = 1, rv = 0;
  while (rv == 0 && frames < 100) {
    uint8_t f[8];
    size_t n = frame(f, 0, 0, "y", 1);
    rv = wsf_ws_feed(&client.ws, f, n);
    frames++;
  }
  CHECK(rv == UV_EPROTO && frames == 9); /* 1 + 8 x 129 > 1000 */
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1009);
  char buf[160];
  const char *why = wsf_ws_failure_detail(&client.ws, buf, sizeof buf);
  CHECK(why && strstr(why, "fragmented message over max_message_bytes after 9 frames"));
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1009);
  pair_close();
}

static void test_masked_frame_from_server_is_1002(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  uint8_t f[32];
  size_t n = frame(f, FRAME_FIN | FRAME_MASK, WSF_WS_TEXT, "masked", 6);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1002);
  CHECK(client.n_msgs == 0);
  /* A failed session stays failed and quiet. */
  n = frame(f, FRAME_FIN, WSF_WS_TEXT, "later", 5);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  CHECK(client.protocol_errors == 1 && client.n_msgs == 0);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"x", 1) == UV_EPIPE);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1002);
  pair_close();
}

static void test_unmasked_frame_from_client_is_1002(void) {
  pair_open(&client, 1 << 20, 1 << 20, NULL);
  uint8_t f[32];
  size_t n = frame(f, FRAME_FIN | FRAME_MASK, WSF_WS_TEXT, "fine", 4);
  CHECK(wsf_ws_feed(&server.ws, f, n) == 0);
  CHECK(server.n_msgs == 1 && stored_is(&server.msgs[0], WSF_WS_TEXT, "fine", 4));
  CHECK(server.ws.ctx == NULL);
  n = frame(f, FRAME_FIN, WSF_WS_TEXT, "bare", 4);
  CHECK(wsf_ws_feed(&server.ws, f, n) == UV_EPROTO);
  CHECK(server.protocol_errors == 1 && server.protocol_error_code == 1002);
  CHECK(run_until(client_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&client, &code) && code == 1002);
  parsed close;
  CHECK(raw_has_frame(&client, WSF_WS_CLOSE, &close) && !close.masked); /* servers never mask */
  pair_close();
}

static void test_invalid_utf8_in_a_later_fragment_is_1007(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  uint8_t stream[64];
  size_t len = 0;
  len += frame(stream + len, 0, WSF_WS_TEXT, "caf", 3);
  len += frame(stream + len, 0, 0, "\xc3", 1); /* split code point: fine so far */
  size_t valid_len = len;
  len += frame(stream + len, FRAME_FIN, 0, "\xa9!", 2);
  CHECK(wsf_ws_feed(&client.ws, stream, len) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_TEXT, "caf\xc3\xa9!", 6));

  /* Same prefix, but the code point is never completed. */
  len = valid_len;
  len += frame(stream + len, FRAME_FIN, 0, "(", 1);
  CHECK(wsf_ws_feed(&client.ws, stream, len) == UV_EPROTO);
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1007);
  CHECK(client.n_msgs == 1);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1007);
  pair_close();
}

static void test_fragmented_message_over_max_is_1009(void) {
  pair_open(&server, 1000, 1 << 20, NULL);
  uint8_t part[600];
  memset(part, 'y', sizeof part);
  uint8_t f[700];
  size_t n = frame(f, 0, WSF_WS_BINARY, part, sizeof part);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0); /* 600 of 1000: fine */
  n = frame(f, FRAME_FIN, 0, part, sizeof part);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO); /* 1200 in total */
  CHECK(client.protocol_error_code == 1009 && client.n_msgs == 0);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1009);
  pair_close();
}

/* Frames that break RFC 6455 where wslay's event layer checks them: the
 * session fails with 1002, on our side and on the wire. */
static void test_broken_frames_are_1002(void) {
  struct {
    uint8_t bytes[4];
    size_t len;
  } cases[] = {
      {{0x83, 0x00}, 2}, /* reserved data opcode 3 */
      {{0x8b, 0x00}, 2}, /* reserved control opcode 11 */
      {{0x80, 0x00}, 2}, /* continuation with nothing open */
      {{0xc1, 0x00}, 2}, /* RSV1 without an extension */
      {{0x01, 0x00}, 2}, /* text fragment ... */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pair_open(&server, 1 << 20, 1 << 20, NULL);
    int rv = wsf_ws_feed(&client.ws, cases[i].bytes, cases[i].len);
    if (i == 4) { /* ... followed by a new text frame instead of a continuation */
      CHECK(rv == 0 && client.ws.ctx != NULL);
      rv = wsf_ws_feed(&client.ws, (const uint8_t *)"\x81\x00", 2);
    }
    CHECK(rv == UV_EPROTO);
    CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1002);
    CHECK(client.pings == 0 && client.n_msgs == 0);
    CHECK(run_until(server_raw_has_close, 5000));
    uint16_t code = 0;
    CHECK(raw_close_code(&server, &code) && code == 1002);
    pair_close();
  }
}

/* Violations that wslay's frame layer catches (fragmented or oversized
 * control frames, non-minimal or 64-bit-sign lengths) also end the session
 * before any callback sees the frame and put a close frame on the wire.
 * Known gap: wslay answers these with a close without a code and ws.c then
 * reports 1011, not 1002 (see the report on ws.c); this test pins what holds. */
static void test_frame_layer_violations_are_1002(void) {
  struct {
    uint8_t bytes[10];
    size_t len;
  } cases[] = {
      {{0x09, 0x00}, 2},                                                  /* ping without FIN */
      {{0x89, 0x7e, 0x00, 0x7e}, 4},                                      /* ping of 126 bytes */
      {{0x82, 0x7e, 0x00, 0x05}, 4},                                      /* 16-bit length for 5 bytes */
      {{0x82, 0x7f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}, 10}, /* length with bit 63 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pair_open(&server, 1 << 20, 1 << 20, NULL);
    CHECK(wsf_ws_feed(&client.ws, cases[i].bytes, cases[i].len) == UV_EPROTO);
    CHECK(client.protocol_errors == 1);
    CHECK(client.pings == 0 && client.n_msgs == 0);
    CHECK(client.ws.failed);
    CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"x", 1) == UV_EPIPE);
    CHECK(run_until(server_raw_has_close, 5000));
    uint16_t code = 0;
    CHECK(raw_close_code(&server, &code));
    CHECK(code == 1002);
    CHECK(client.protocol_error_code == 1002);
    pair_close();
  }
}

/* frame.c judges a header on its first two bytes: a reserved bit, a wrong
 * mask or a continuation with nothing open fails the session before the
 * 64-bit length that follows has arrived (wslay's frame layer waits for the
 * whole header before its event layer looks at these bits). */
static void test_header_rules_are_judged_before_the_length_arrives(void) {
  static const uint8_t cases[][2] = {
      {0xa2, 0x7f}, /* RSV2 on a binary frame, 64-bit length to come */
      {0x82, 0xff}, /* masked towards the client, 64-bit length to come */
      {0x00, 0x7f}, /* continuation with nothing open, 64-bit length to come */
      {0x86, 0x7e}, /* reserved opcode 6, 16-bit length to come */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pair_open(&server, 1 << 20, 1 << 20, NULL);
    CHECK(wsf_ws_feed(&client.ws, cases[i], 2) == UV_EPROTO);
    CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1002);
    CHECK(run_until(server_raw_has_close, 5000));
    uint16_t code = 0;
    CHECK(raw_close_code(&server, &code) && code == 1002);
    pair_close();
  }
}

/* A one-frame message longer than a read is assembled by ws.c, not wslay
 * (ws.c "long frames"): text checked as it arrives, so a bad byte fails the
 * read it arrives in (1007), not the end of the message; a character cut
 * between two reads carries over; masked frames (towards a server) are
 * unmasked at any offset; frames after it in the same read are read too. */
static size_t utf8_text(uint8_t *s, size_t n) {
  static const char *pieces[] = {"abcdefghij", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x98", " "};
  size_t len = 0;
  for (size_t k = 0;; k++) {
    const char *p = pieces[k % 5];
    size_t pl = strlen(p);
    if (len + pl > n)
      break;
    memcpy(s + len, p, pl);
    len += pl;
  }
  return len;
}

static void test_long_frames_are_checked_as_they_arrive(void) {
  enum { BIG = 200000 };
  uint8_t *text = malloc(BIG), *wire = malloc(BIG + 64);
  size_t tlen = utf8_text(text, BIG);
  static const size_t pieces[] = {1, 7, 4093, 65536, 3};
  for (int side = 0; side < 2; side++) { /* 0: to a client (unmasked), 1: to a server (masked) */
    peer *raw = side ? &client : &server, *fed = side ? &server : &client;
    unsigned mask = side ? FRAME_MASK : 0;
    pair_open(raw, 1 << 20, 1 << 20, NULL);
    size_t n = frame(wire, FRAME_FIN | mask, WSF_WS_TEXT, text, tlen);
    n += frame(wire + n, FRAME_FIN | mask, WSF_WS_TEXT, "after", 5); /* in the same last read */
    size_t off = 0, k = 0;
    bool mid_ok = true;
    while (off < n) {
      size_t c = pieces[k++ % 5];
      c = c > n - off ? n - off : c;
      CHECK(wsf_ws_feed(&fed->ws, wire + off, c) == 0);
      off += c;
      if (off < n - 11 && fed->ws.ctx == NULL)
        mid_ok = false; /* a frame in flight keeps a context */
    }
    CHECK(mid_ok);
    CHECK(fed->n_msgs == 2 && fed->protocol_errors == 0);
    CHECK(fed->n_msgs >= 1 && stored_is(&fed->msgs[0], WSF_WS_TEXT, text, tlen));
    CHECK(fed->n_msgs >= 2 && stored_is(&fed->msgs[1], WSF_WS_TEXT, "after", 5));
    CHECK(fed->ws.ctx == NULL && fed->ws.long_frame == NULL);
    pair_close();
  }

  /* A surrogate in the second 64 KiB read: that read fails, with 1007. */
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  memcpy(text + 100000, "\xed\xa0\x80", 3);
  size_t n = frame(wire, FRAME_FIN, WSF_WS_TEXT, text, tlen);
  CHECK(wsf_ws_feed(&client.ws, wire, 65536) == 0);
  CHECK(wsf_ws_feed(&client.ws, wire + 65536, 65536) == UV_EPROTO);
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1007 && client.n_msgs == 0);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1007);
  CHECK(wsf_ws_feed(&client.ws, wire + 131072, n - 131072) == UV_EPROTO); /* nothing more is read */
  CHECK(client.n_msgs == 0);
  pair_close();

  /* Text that ends inside a character fails at its last byte. */
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  utf8_text(text, BIG);
  text[tlen - 1] = 0xe2;
  n = frame(wire, FRAME_FIN, WSF_WS_TEXT, text, tlen);
  CHECK(wsf_ws_feed(&client.ws, wire, n - 1) == 0);
  CHECK(wsf_ws_feed(&client.ws, wire + n - 1, 1) == UV_EPROTO);
  CHECK(client.protocol_error_code == 1007 && client.n_msgs == 0);
  pair_close();

  /* Binary is not text: any bytes. Over max_message_bytes stays 1009. */
  pair_open(&server, 150000, 1 << 20, NULL);
  n = frame(wire, FRAME_FIN, WSF_WS_BINARY, text, 150000);
  CHECK(wsf_ws_feed(&client.ws, wire, 70000) == 0 && wsf_ws_feed(&client.ws, wire + 70000, n - 70000) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_BINARY, text, 150000));
  n = frame(wire, FRAME_FIN, WSF_WS_BINARY, text, 150001);
  CHECK(wsf_ws_feed(&client.ws, wire, 70000) == UV_EPROTO);
  CHECK(client.protocol_error_code == 1009 && client.n_msgs == 1);
  pair_close();
  free(text);
  free(wire);
}

/* The receiver may keep a long frame's buffer (wsf_ws_take_message): the
 * message itself, NUL-terminated, and ws.c no longer frees it; a message
 * that came another way (whole in one read) is not offered. */
static wsf_msg *taken;
static int offered;
static void take_on_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  (void)opcode;
  offered++;
  wsf_msg *m = wsf_ws_take_message(ws, data, len);
  if (m && !taken)
    taken = m;
  else
    free(m);
}

static void test_a_long_frames_buffer_can_be_taken(void) {
  pair_open(&server, 1 << 20, 1 << 20, NULL);
  const wsf_ws_callbacks *recording = client.ws.cb;
  static const wsf_ws_callbacks take_cb = {.on_message = take_on_message};
  client.ws.cb = &take_cb;
  enum { LEN = 100000 };
  uint8_t *payload = malloc(LEN), *wire = malloc(LEN + 14);
  for (size_t i = 0; i < LEN; i++)
    payload[i] = (uint8_t)('a' + i % 26);
  size_t n = frame(wire, FRAME_FIN, WSF_WS_BINARY, payload, LEN);
  CHECK(wsf_ws_feed(&client.ws, wire, 5000) == 0 && wsf_ws_feed(&client.ws, wire + 5000, n - 5000) == 0);
  CHECK(offered == 1 && taken != NULL);
  CHECK(taken && taken->len == LEN && memcmp(taken->data, payload, LEN) == 0 && taken->data[LEN] == '\0');
  free(taken);
  taken = NULL;
  n = frame(wire, FRAME_FIN, WSF_WS_TEXT, "whole", 5);
  CHECK(wsf_ws_feed(&client.ws, wire, n) == 0);
  CHECK(offered == 2 && taken == NULL);
  client.ws.cb = recording;
  free(payload);
  free(wire);
  pair_close();
}

int main(void) {
  RUN(test_text_and_binary_messages_both_ways);
  RUN(test_ping_is_answered_with_pong);
  RUN(test_close_handshake_client_initiated);
  RUN(test_send_errors_are_libuv_codes);
  RUN(test_close_handshake_server_initiated);
  RUN(test_invalid_utf8_text_is_1007);
  RUN(test_message_over_max_is_1009);
  RUN(test_context_exists_only_mid_frame);
  RUN(test_random_splits_keep_messages_and_rest_state);
  RUN(test_fragmented_message_with_interleaved_control_frames);
  RUN(test_close_frame_without_code_reads_1005_and_is_answered);
  RUN(test_close_frame_split_anywhere_keeps_its_code_and_reason);
  RUN(test_close_codes_at_every_boundary);
  RUN(test_malformed_close_frames_and_the_answer_to_ours);
  RUN(test_pings_while_output_waits_get_one_pong_for_the_latest);
  RUN(test_tiny_fragments_are_charged_against_max_message_bytes);
  RUN(test_masked_frame_from_server_is_1002);
  RUN(test_unmasked_frame_from_client_is_1002);
  RUN(test_invalid_utf8_in_a_later_fragment_is_1007);
  RUN(test_fragmented_message_over_max_is_1009);
  RUN(test_broken_frames_are_1002);
  RUN(test_frame_layer_violations_are_1002);
  RUN(test_header_rules_are_judged_before_the_length_arrives);
  RUN(test_long_frames_are_checked_as_they_arrive);
  RUN(test_a_long_frames_buffer_can_be_taken);
  return wsf_test_result();
}
