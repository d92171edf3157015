#include "wspair.h"

#include <stdlib.h>
#include <uv.h>

#include "testlib.h"
#include "util.h"

peer client, server;

static uv_loop_t loop;
static uv_tcp_t listener;
static bool listener_closed;
static bool server_raw; /* the server peer is accepted inside the loop: its raw flag waits here */

/* ---- session callbacks: record everything ---- */

static peer *peer_of(wsf_ws *ws) {
  return wsf_container_of(ws, peer, ws);
}

static void on_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  peer *p = peer_of(ws);
  if (p->n_msgs == PAIR_MAX_MSGS)
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

static void on_closed(wsf_transport *t) {
  wsf_container_of(t, peer, t)->closed = true;
}

static const wsf_transport_callbacks transport_cbs = {on_connect, NULL, on_data, on_end, on_closed, NULL};

static void on_connection(uv_stream_t *l, int status) {
  CHECK(status == 0);
  CHECK(wsf_transport_init(l->loop, &server.t, &transport_cbs) == 0);
  CHECK(uv_accept(l, (uv_stream_t *)&server.t.tcp) == 0);
  CHECK(wsf_transport_read_start(&server.t) == 0);
  server.raw = server_raw;
  server.connected = true;
}

/* ---- loop ---- */

static bool watchdog_fired;
static void on_watchdog(uv_timer_t *h) {
  watchdog_fired = true;
  uv_stop(h->loop);
}

bool run_until(bool (*cond)(void), uint64_t timeout_ms) {
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

static bool both_connected(void) {
  return client.connected && server.connected;
}

void pair_open(peer *raw_side, uint64_t client_max, uint64_t server_max, const wsf_deflate_params *deflate) {
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
  if (deflate) {
    wsf_ws_enable_deflate(&client.ws, deflate);
    wsf_ws_enable_deflate(&server.ws, deflate);
    CHECK(wsf_ws_deflate_counters(&client.ws) != NULL);
  }
}

static bool all_closed(void) {
  return client.closed && server.closed && listener_closed;
}
static void on_listener_closed(uv_handle_t *h) {
  (void)h;
  listener_closed = true;
}

void pair_close(void) {
  wsf_ws_free(&client.ws);
  wsf_ws_free(&server.ws);
  CHECK(client.ws.deflate == NULL && server.ws.deflate == NULL);
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

bool stored_is(const stored *s, int opcode, const void *data, size_t len) {
  return s->opcode == opcode && s->len == len && (len == 0 || memcmp(s->data, data, len) == 0);
}

/* ---- frames on the wire ---- */

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

size_t frame(uint8_t *out, unsigned bits, int opcode, const void *payload, size_t len) {
  size_t n = 0;
  out[n++] = (uint8_t)((bits & FRAME_FIN ? 0x80 : 0) | (bits & FRAME_RSV1 ? 0x40 : 0) | opcode);
  bool masked = bits & FRAME_MASK;
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

/* All three length forms are walked, so a raw peer's stream can hold data
 * frames of any size before the control frame a test looks for. */
size_t parse_frame(const uint8_t *buf, size_t have, parsed *f) {
  if (have < 2)
    return 0;
  f->fin = buf[0] & 0x80;
  f->opcode = buf[0] & 0x0f;
  f->masked = buf[1] & 0x80;
  uint64_t len = buf[1] & 0x7f;
  size_t n = 2;
  if (len >= 126) {
    size_t ext = len == 126 ? 2 : 8;
    if (have < n + ext)
      return 0;
    len = 0;
    for (size_t i = 0; i < ext; i++)
      len = len << 8 | buf[n + i];
    n += ext;
  }
  uint8_t key[4] = {0};
  if (f->masked) {
    if (have < n + 4)
      return 0;
    memcpy(key, buf + n, 4);
    n += 4;
  }
  if (len > have - n)
    return 0;
  f->len = (size_t)len;
  for (size_t i = 0; i < f->len && i < sizeof f->payload; i++)
    f->payload[i] = buf[n + i] ^ key[i % 4];
  return n + f->len;
}

bool raw_has_frame(const peer *p, int opcode, parsed *out) {
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

bool raw_close_code(const peer *p, uint16_t *code) {
  parsed f;
  if (!raw_has_frame(p, WSF_WS_CLOSE, &f) || f.len < 2)
    return false;
  *code = (uint16_t)(f.payload[0] << 8 | f.payload[1]);
  return true;
}

bool server_raw_has_close(void) {
  parsed f;
  return raw_has_frame(&server, WSF_WS_CLOSE, &f);
}
