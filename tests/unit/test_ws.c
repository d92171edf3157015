/* WebSocket sessions over real loopback TCP: a client wsf_ws and a server
 * wsf_ws on one uv loop, or one wsf_ws fed crafted frames directly while the
 * other end of the socket is a raw byte collector (so what the session writes
 * back, pongs and close frames, is checked on the wire).
 *
 * The memory guarantee is asserted throughout: the wslay context exists
 * mid-frame and mid-fragmented-message, and is gone once the session is at
 * rest. Every loop run is bounded by a watchdog. */
#include <stdlib.h>
#include <uv.h>

#include "testlib.h"
#include "transport.h"
#include "util.h"
#include "ws.h"

#define MAX_MSGS 256

typedef struct stored {
  int opcode;
  uint8_t *data;
  size_t len;
} stored;

typedef struct peer {
  wsf_transport t;
  wsf_ws ws;
  bool raw; /* collect bytes instead of feeding the session */
  uint8_t *rx;
  size_t rx_len, rx_cap;
  stored msgs[MAX_MSGS];
  int n_msgs;
  int pings, pongs;
  uint8_t ping_data[125], pong_data[125];
  size_t ping_len, pong_len;
  int close_frames;
  uint16_t close_code;
  char close_reason[128];
  int protocol_errors;
  uint16_t protocol_error_code;
  int feed_failures;
  bool connected, ended, closed;
} peer;

static uv_loop_t loop;
static uv_tcp_t listener;
static bool listener_closed;
static peer client, server;
static bool server_raw;

/* ---- session callbacks ---- */

static peer *peer_of(wsf_ws *ws) { return wsf_container_of(ws, peer, ws); }

static void on_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  peer *p = peer_of(ws);
  if (p->n_msgs == MAX_MSGS)
    return;
  stored *s = &p->msgs[p->n_msgs++];
  s->opcode = opcode;
  s->len = len;
  s->data = malloc(len + 1);
  if (len)
    memcpy(s->data, data, len);
}

static void on_ping(wsf_ws *ws, const uint8_t *data, size_t len) {
  peer *p = peer_of(ws);
  p->pings++;
  p->ping_len = len;
  if (len)
    memcpy(p->ping_data, data, len);
}

static void on_pong(wsf_ws *ws, const uint8_t *data, size_t len) {
  peer *p = peer_of(ws);
  p->pongs++;
  p->pong_len = len;
  if (len)
    memcpy(p->pong_data, data, len);
}

static void on_close_frame(wsf_ws *ws, uint16_t code, const uint8_t *reason, size_t reason_len) {
  peer *p = peer_of(ws);
  p->close_frames++;
  p->close_code = code;
  if (reason_len >= sizeof p->close_reason)
    reason_len = sizeof p->close_reason - 1;
  memcpy(p->close_reason, reason ? (const char *)reason : "", reason_len);
  p->close_reason[reason_len] = 0;
}

static void on_protocol_error(wsf_ws *ws, uint16_t code) {
  peer *p = peer_of(ws);
  p->protocol_errors++;
  p->protocol_error_code = code;
}

static const wsf_ws_callbacks ws_cbs = {on_message, on_ping, on_pong, on_close_frame, on_protocol_error};

/* ---- transport callbacks ---- */

static void on_data(wsf_transport *t, const uint8_t *data, size_t len) {
  peer *p = wsf_container_of(t, peer, t);
  if (p->raw) {
    if (p->rx_len + len > p->rx_cap) {
      p->rx_cap = (p->rx_len + len) * 2;
      p->rx = realloc(p->rx, p->rx_cap);
    }
    memcpy(p->rx + p->rx_len, data, len);
    p->rx_len += len;
    return;
  }
  if (wsf_ws_feed(&p->ws, data, len) != 0)
    p->feed_failures++;
}

static void on_connect(wsf_transport *t, int status) {
  peer *p = wsf_container_of(t, peer, t);
  CHECK(status == 0);
  p->connected = status == 0;
  CHECK(wsf_transport_read_start(t) == 0);
}

static void on_end(wsf_transport *t, wsf_end_cause cause, const char *detail) {
  (void)cause;
  (void)detail;
  wsf_container_of(t, peer, t)->ended = true;
}

static void on_closed(wsf_transport *t) { wsf_container_of(t, peer, t)->closed = true; }

static const wsf_transport_callbacks transport_cbs = {on_connect, NULL, on_data, on_end, on_closed};

static void on_connection(uv_stream_t *l, int status) {
  CHECK(status == 0);
  CHECK(wsf_transport_init(l->loop, &server.t, &transport_cbs) == 0);
  CHECK(uv_accept(l, (uv_stream_t *)&server.t.tcp) == 0);
  CHECK(wsf_transport_read_start(&server.t) == 0);
  server.raw = server_raw;
  server.connected = true;
}

/* ---- loop helpers ---- */

static bool watchdog_fired;
static void on_watchdog(uv_timer_t *h) {
  watchdog_fired = true;
  uv_stop(h->loop);
}

/* Runs the loop until cond() holds or timeout_ms passes; says which. */
static bool run_until(bool (*cond)(void), uint64_t timeout_ms) {
  uv_timer_t watchdog;
  uv_timer_init(&loop, &watchdog);
  uv_timer_start(&watchdog, on_watchdog, timeout_ms, 0);
  watchdog_fired = false;
  while (!cond() && !watchdog_fired)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&watchdog, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  return cond();
}

static bool both_connected(void) { return client.connected && server.connected; }

/* A connected pair; raw_side is NULL, &client or &server. */
static void pair_open(peer *raw_side, uint64_t client_max, uint64_t server_max) {
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  CHECK(uv_loop_init(&loop) == 0);
  uv_tcp_init(&loop, &listener);
  listener_closed = false;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  CHECK(uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0) == 0);
  CHECK(uv_listen((uv_stream_t *)&listener, 8, on_connection) == 0);
  int namelen = sizeof addr;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&addr, &namelen);

  server_raw = raw_side == &server;
  client.raw = raw_side == &client;
  CHECK(wsf_transport_init(&loop, &client.t, &transport_cbs) == 0);
  CHECK(wsf_transport_connect(&client.t, (const struct sockaddr *)&addr) == 0);
  CHECK(run_until(both_connected, 5000));
  wsf_ws_init(&client.ws, &client.t, false, client_max, &ws_cbs);
  wsf_ws_init(&server.ws, &server.t, true, server_max, &ws_cbs);
}

static bool all_closed(void) { return client.closed && server.closed && listener_closed; }
static void on_listener_closed(uv_handle_t *h) {
  (void)h;
  listener_closed = true;
}

static void pair_close(void) {
  wsf_ws_free(&client.ws);
  wsf_ws_free(&server.ws);
  wsf_transport_close(&client.t, false);
  if (server.connected)
    wsf_transport_close(&server.t, false);
  else
    server.closed = true;
  uv_close((uv_handle_t *)&listener, on_listener_closed);
  CHECK(run_until(all_closed, 5000));
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  peer *ps[2] = {&client, &server};
  for (int i = 0; i < 2; i++) {
    for (int k = 0; k < ps[i]->n_msgs; k++)
      free(ps[i]->msgs[k].data);
    free(ps[i]->rx);
  }
}

/* ---- frames on the wire ---- */

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Writes one frame into out (room for len + 14); returns its size. */
static size_t frame(uint8_t *out, bool fin, int opcode, bool masked, const void *payload, size_t len) {
  size_t n = 0;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
  uint8_t m = masked ? 0x80 : 0;
  if (len < 126) {
    out[n++] = (uint8_t)(m | len);
  } else if (len <= 0xffff) {
    out[n++] = m | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = m | 127;
    for (int i = 7; i >= 0; i--)
      out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  if (masked) {
    memcpy(out + n, mask_key, 4);
    n += 4;
  }
  for (size_t i = 0; i < len; i++)
    out[n + i] = ((const uint8_t *)payload)[i] ^ (masked ? mask_key[i % 4] : 0);
  return n + len;
}

typedef struct parsed {
  bool fin, masked;
  int opcode;
  uint8_t payload[256];
  size_t len;
} parsed;

/* Parses the frame at buf (unmasking it); returns its size, 0 if incomplete. */
static size_t parse_frame(const uint8_t *buf, size_t have, parsed *f) {
  if (have < 2)
    return 0;
  f->fin = buf[0] & 0x80;
  f->opcode = buf[0] & 0x0f;
  f->masked = buf[1] & 0x80;
  size_t len = buf[1] & 0x7f, n = 2;
  if (len >= 126)
    return 0; /* only small control frames are parsed here */
  uint8_t key[4] = {0};
  if (f->masked) {
    if (have < n + 4)
      return 0;
    memcpy(key, buf + n, 4);
    n += 4;
  }
  if (have < n + len)
    return 0;
  for (size_t i = 0; i < len; i++)
    f->payload[i] = buf[n + i] ^ key[i % 4];
  f->len = len;
  return n + len;
}

/* The raw side's bytes as frames: finds the first with the given opcode. */
static bool raw_has_frame(const peer *p, int opcode, parsed *out) {
  size_t off = 0;
  parsed f;
  for (size_t n; (n = parse_frame(p->rx + off, p->rx_len - off, &f)) > 0; off += n) {
    if (f.opcode == opcode) {
      *out = f;
      return true;
    }
  }
  return false;
}

static bool raw_close_code(const peer *p, uint16_t *code) {
  parsed f;
  if (!raw_has_frame(p, WSF_WS_CLOSE, &f) || f.len < 2)
    return false;
  *code = (uint16_t)(f.payload[0] << 8 | f.payload[1]);
  return true;
}

static bool server_raw_has_close(void) {
  parsed f;
  return raw_has_frame(&server, WSF_WS_CLOSE, &f);
}

static bool server_raw_has_pong(void) {
  parsed f;
  return raw_has_frame(&server, WSF_WS_PONG, &f);
}

static bool client_raw_has_close(void) {
  parsed f;
  return raw_has_frame(&client, WSF_WS_CLOSE, &f);
}

static bool stored_is(const stored *s, int opcode, const void *data, size_t len) {
  return s->opcode == opcode && s->len == len && memcmp(s->data, data, len) == 0;
}

/* ---- tests over the wire, both ends are sessions ---- */

static bool server_has_1(void) { return server.n_msgs >= 1; }
static bool server_has_2(void) { return server.n_msgs >= 2; }
static bool client_has_1(void) { return client.n_msgs >= 1; }
static bool client_has_2(void) { return client.n_msgs >= 2; }

static void test_text_and_binary_messages_both_ways(void) {
  pair_open(NULL, 1 << 20, 1 << 20);
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

static bool server_has_pong(void) { return server.pongs >= 1; }

static void test_ping_is_answered_with_pong(void) {
  pair_open(NULL, 1 << 20, 1 << 20);
  CHECK(wsf_ws_send(&server.ws, WSF_WS_PING, (const uint8_t *)"are you there", 13) == 0);
  CHECK(run_until(server_has_pong, 5000));
  CHECK(client.pings == 1 && client.ping_len == 13 && memcmp(client.ping_data, "are you there", 13) == 0);
  CHECK(server.pong_len == 13 && memcmp(server.pong_data, "are you there", 13) == 0);
  CHECK(client.n_msgs == 0 && server.n_msgs == 0);
  CHECK(client.ws.ctx == NULL && server.ws.ctx == NULL);
  pair_close();
}

static bool both_close_frames(void) { return client.close_frames && server.close_frames; }

static void test_close_handshake_client_initiated(void) {
  pair_open(NULL, 1 << 20, 1 << 20);
  CHECK(wsf_ws_close(&client.ws, 1000, "bye", 3) == 0);
  CHECK(client.ws.close_sent && !wsf_ws_close_done(&client.ws));
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"late", 4) == -1);
  CHECK(wsf_ws_close(&client.ws, 1000, NULL, 0) == -1); /* only once */
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
  pair_open(NULL, 1 << 20, 1 << 20);
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

static bool client_protocol_error(void) { return client.protocol_errors > 0; }
static bool server_has_close_frame(void) { return server.close_frames > 0; }

static void test_invalid_utf8_text_is_1007(void) {
  pair_open(NULL, 1 << 20, 1 << 20);
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
  pair_open(NULL, 1000, 1 << 20);
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
  pair_open(&server, 1 << 20, 1 << 20);
  CHECK(client.ws.ctx == NULL);
  uint8_t payload[70000];
  for (size_t i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)('a' + i % 26);
  /* 7-bit, 16-bit and 64-bit lengths; fed one byte at a time. */
  size_t lens[] = {0, 5, 125, 126, 300, 65535, 65536, 70000};
  uint8_t *buf = malloc(sizeof payload + 14);
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    size_t n = frame(buf, true, WSF_WS_TEXT, false, payload, lens[k]);
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
  pair_open(&server, 1 << 20, 1 << 20);
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
    len += frame(stream + len, true, WSF_WS_BINARY, false, payload, msg_len[i]);
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
  pair_open(&server, 1 << 20, 1 << 20);
  uint8_t f[6][64];
  size_t n[6];
  n[0] = frame(f[0], false, WSF_WS_TEXT, false, "Hel", 3);
  n[1] = frame(f[1], true, WSF_WS_PING, false, "p1", 2);
  n[2] = frame(f[2], false, 0, false, "lo, ", 4);
  n[3] = frame(f[3], true, WSF_WS_PONG, false, "x", 1);
  n[4] = frame(f[4], false, 0, false, "", 0);
  n[5] = frame(f[5], true, 0, false, "world", 5);
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
  len += frame(stream + len, false, WSF_WS_BINARY, false, "\x00\x01", 2);
  len += frame(stream + len, true, WSF_WS_PING, false, "", 0);
  len += frame(stream + len, false, 0, false, "\xff", 1);
  len += frame(stream + len, true, 0, false, "\x02", 1);
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
  pair_open(&server, 1 << 20, 1 << 20);
  uint8_t f[16];
  size_t n = frame(f, true, WSF_WS_CLOSE, false, "", 0);
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

static void test_masked_frame_from_server_is_1002(void) {
  pair_open(&server, 1 << 20, 1 << 20);
  uint8_t f[32];
  size_t n = frame(f, true, WSF_WS_TEXT, true, "masked", 6);
  CHECK(wsf_ws_feed(&client.ws, f, n) == -1);
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1002);
  CHECK(client.n_msgs == 0);
  /* A failed session stays failed and quiet. */
  n = frame(f, true, WSF_WS_TEXT, false, "later", 5);
  CHECK(wsf_ws_feed(&client.ws, f, n) == -1);
  CHECK(client.protocol_errors == 1 && client.n_msgs == 0);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"x", 1) == -1);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1002);
  pair_close();
}

static void test_unmasked_frame_from_client_is_1002(void) {
  pair_open(&client, 1 << 20, 1 << 20);
  uint8_t f[32];
  size_t n = frame(f, true, WSF_WS_TEXT, true, "fine", 4);
  CHECK(wsf_ws_feed(&server.ws, f, n) == 0);
  CHECK(server.n_msgs == 1 && stored_is(&server.msgs[0], WSF_WS_TEXT, "fine", 4));
  CHECK(server.ws.ctx == NULL);
  n = frame(f, true, WSF_WS_TEXT, false, "bare", 4);
  CHECK(wsf_ws_feed(&server.ws, f, n) == -1);
  CHECK(server.protocol_errors == 1 && server.protocol_error_code == 1002);
  CHECK(run_until(client_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&client, &code) && code == 1002);
  parsed close;
  CHECK(raw_has_frame(&client, WSF_WS_CLOSE, &close) && !close.masked); /* servers never mask */
  pair_close();
}

static void test_invalid_utf8_in_a_later_fragment_is_1007(void) {
  pair_open(&server, 1 << 20, 1 << 20);
  uint8_t stream[64];
  size_t len = 0;
  len += frame(stream + len, false, WSF_WS_TEXT, false, "caf", 3);
  len += frame(stream + len, false, 0, false, "\xc3", 1); /* split code point: fine so far */
  size_t valid_len = len;
  len += frame(stream + len, true, 0, false, "\xa9!", 2);
  CHECK(wsf_ws_feed(&client.ws, stream, len) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_TEXT, "caf\xc3\xa9!", 6));

  /* Same prefix, but the code point is never completed. */
  len = valid_len;
  len += frame(stream + len, true, 0, false, "(", 1);
  CHECK(wsf_ws_feed(&client.ws, stream, len) == -1);
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1007);
  CHECK(client.n_msgs == 1);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1007);
  pair_close();
}

static void test_fragmented_message_over_max_is_1009(void) {
  pair_open(&server, 1000, 1 << 20);
  uint8_t part[600];
  memset(part, 'y', sizeof part);
  uint8_t f[700];
  size_t n = frame(f, false, WSF_WS_BINARY, false, part, sizeof part);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0); /* 600 of 1000: fine */
  n = frame(f, true, 0, false, part, sizeof part);
  CHECK(wsf_ws_feed(&client.ws, f, n) == -1); /* 1200 in total */
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
    pair_open(&server, 1 << 20, 1 << 20);
    int rv = wsf_ws_feed(&client.ws, cases[i].bytes, cases[i].len);
    if (i == 4) { /* ... followed by a new text frame instead of a continuation */
      CHECK(rv == 0 && client.ws.ctx != NULL);
      rv = wsf_ws_feed(&client.ws, (const uint8_t *)"\x81\x00", 2);
    }
    CHECK(rv == -1);
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
      {{0x09, 0x00}, 2},                                           /* ping without FIN */
      {{0x89, 0x7e, 0x00, 0x7e}, 4},                               /* ping of 126 bytes */
      {{0x82, 0x7e, 0x00, 0x05}, 4},                               /* 16-bit length for 5 bytes */
      {{0x82, 0x7f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}, 10}, /* length with bit 63 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pair_open(&server, 1 << 20, 1 << 20);
    CHECK(wsf_ws_feed(&client.ws, cases[i].bytes, cases[i].len) == -1);
    CHECK(client.protocol_errors == 1);
    CHECK(client.pings == 0 && client.n_msgs == 0);
    CHECK(client.ws.failed);
    CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"x", 1) == -1);
    CHECK(run_until(server_raw_has_close, 5000));
    uint16_t code = 0;
    CHECK(raw_close_code(&server, &code));
    CHECK(code == 1002);
    CHECK(client.protocol_error_code == 1002);
    pair_close();
  }
}

int main(void) {
  RUN(test_text_and_binary_messages_both_ways);
  RUN(test_ping_is_answered_with_pong);
  RUN(test_close_handshake_client_initiated);
  RUN(test_close_handshake_server_initiated);
  RUN(test_invalid_utf8_text_is_1007);
  RUN(test_message_over_max_is_1009);
  RUN(test_context_exists_only_mid_frame);
  RUN(test_random_splits_keep_messages_and_rest_state);
  RUN(test_fragmented_message_with_interleaved_control_frames);
  RUN(test_close_frame_without_code_reads_1005_and_is_answered);
  RUN(test_masked_frame_from_server_is_1002);
  RUN(test_unmasked_frame_from_client_is_1002);
  RUN(test_invalid_utf8_in_a_later_fragment_is_1007);
  RUN(test_fragmented_message_over_max_is_1009);
  RUN(test_broken_frames_are_1002);
  RUN(test_frame_layer_violations_are_1002);
  return wsf_test_result();
}
