#include "ws.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "util.h"

/* ---- frame-boundary scanner ------------------------------------------
 * wslay keeps its parse state private. To free its context between frames we
 * track the frame boundaries of the received stream ourselves: only headers
 * are looked at, payloads are skipped in bulk. */

static size_t header_size(const uint8_t *hdr, size_t have) {
  if (have < 2)
    return 2;
  uint8_t len7 = hdr[1] & 0x7f;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return 2 + ext + ((hdr[1] & 0x80) ? 4 : 0);
}

/* Frame headers wslay's frame layer rejects without a close code (it would
 * send a bare close frame and fail): caught here so the peer gets 1002. */
static bool header_violates(const uint8_t *h, uint64_t payload) {
  uint8_t len7 = h[1] & 0x7f;
  if (len7 == 126 && payload < 126)
    return true; /* lengths use the minimal encoding */
  if (len7 == 127 && (payload < 65536 || (payload >> 63)))
    return true;
  return false;
}

/* Tracks frame boundaries over data; returns how many bytes wslay may see:
 * all of them, or those before the last byte of a header that breaks the
 * framing rules (ws->scan_violation is then set). */
static size_t scan(wsf_ws *ws, const uint8_t *data, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (ws->scan_payload_left > 0) {
      size_t n = len - i < ws->scan_payload_left ? len - i : (size_t)ws->scan_payload_left;
      ws->scan_payload_left -= n;
      i += n;
      continue;
    }
    ws->scan_hdr[ws->scan_hdr_len++] = data[i++];
    /* wslay judges a control frame on its first two bytes, before any extended length */
    if (ws->scan_hdr_len == 2 && (ws->scan_hdr[0] & 0x08) &&
        (!(ws->scan_hdr[0] & 0x80) || (ws->scan_hdr[1] & 0x7f) > 125)) {
      ws->scan_violation = 1;
      return i - 1;
    }
    if (ws->scan_hdr_len < header_size(ws->scan_hdr, ws->scan_hdr_len))
      continue;
    const uint8_t *h = ws->scan_hdr;
    uint8_t len7 = h[1] & 0x7f;
    uint64_t payload = len7;
    if (len7 == 126)
      payload = (uint64_t)h[2] << 8 | h[3];
    else if (len7 == 127)
      for (int b = 0; b < 8; b++)
        payload = payload << 8 | h[2 + b];
    if (header_violates(h, payload)) {
      ws->scan_violation = 1;
      return i - 1;
    }
    int opcode = h[0] & 0x0f;
    bool fin = h[0] & 0x80;
    if (opcode < 8) /* data or continuation: control frames may interleave */
      ws->scan_fragmented = !fin;
    ws->scan_payload_left = payload;
    ws->scan_hdr_len = 0;
  }
  return len;
}

/* ---- wslay callbacks -------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user) {
  (void)flags;
  wsf_ws *ws = user;
  if (ws->feed_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < ws->feed_len ? len : ws->feed_len;
  memcpy(buf, ws->feed_data, n);
  ws->feed_data += n;
  ws->feed_len -= n;
  return (ssize_t)n;
}

/* wslay hands over a frame header and its payload in separate calls; they
 * are gathered here and written once per flush: one syscall, and no small
 * header segment for Nagle to hold back. One buffer serves every session. */
static struct {
  uint8_t *data;
  size_t len, cap;
} out;

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user) {
  (void)flags;
  (void)user;
  if (out.len + len > out.cap) {
    size_t cap = out.cap ? out.cap : 64 * 1024;
    while (cap < out.len + len)
      cap *= 2;
    uint8_t *p = realloc(out.data, cap);
    if (!p) {
      wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
      return -1;
    }
    out.data = p;
    out.cap = cap;
  }
  memcpy(out.data + out.len, data, len);
  out.len += len;
  return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user) {
  (void)ctx;
  (void)user;
  return wsf_random(buf, len);
}

/* ---- permessage-deflate on received messages ------------------------- */

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
 * wslay checks text as it arrives, but not when RSV1 says it is compressed. */
static bool utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint8_t lo = 0x80, hi = 0xbf; /* range of the first continuation byte */
    if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      if (c == 0xe0)
        lo = 0xa0;
      else if (c == 0xed)
        hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      if (c == 0xf0)
        lo = 0x90;
      else if (c == 0xf4)
        hi = 0x8f;
    } else {
      return false;
    }
    if (n - i - 1 < k || s[i + 1] < lo || s[i + 1] > hi)
      return false;
    for (size_t j = 2; j <= k; j++)
      if ((s[i + j] & 0xc0) != 0x80)
        return false;
    i += k + 1;
  }
  return true;
}

/* Fails the session from inside wslay's receive loop, the way wslay fails it
 * itself: a close with the code, and no more reading (wsf_ws_feed reports it). */
static void fail_in_callback(wsf_ws *ws, uint16_t code) {
  wslay_event_queue_close(ws->ctx, code, NULL, 0);
  wslay_event_shutdown_read(ws->ctx);
}

enum { DEFLATE_FAIL_NONE, DEFLATE_FAIL_CORRUPT, DEFLATE_FAIL_TOO_BIG, DEFLATE_FAIL_UTF8 };

static void on_data_message(wsf_ws *ws, const struct wslay_event_on_msg_recv_arg *arg) {
  const uint8_t *data = arg->msg;
  size_t len = arg->msg_length;
  if (ws->deflate) {
    wsf_deflate_counters *c = wsf_deflate_counters_of(ws->deflate);
    c->bytes_in_compressed += len;
    /* wslay refuses RSV1 on continuation and control frames (1002), so rsv
     * here is the first frame's, and the whole message is compressed. */
    if (arg->rsv & WSLAY_RSV1_BIT) {
      int rv = wsf_deflate_decompress(ws->deflate, arg->msg, arg->msg_length, ws->max_message_bytes, &data, &len);
      if (rv != WSF_DEFLATE_OK) {
        ws->deflate_failure = rv == WSF_DEFLATE_TOO_BIG   ? DEFLATE_FAIL_TOO_BIG
                              : rv == WSF_DEFLATE_CORRUPT ? DEFLATE_FAIL_CORRUPT
                                                          : DEFLATE_FAIL_NONE;
        fail_in_callback(ws, rv == WSF_DEFLATE_TOO_BIG ? 1009 : rv == WSF_DEFLATE_CORRUPT ? 1007 : 1011);
        wsf_deflate_trim_buffers();
        return;
      }
      if (arg->opcode == WSLAY_TEXT_FRAME && !utf8_valid(data, len)) {
        ws->deflate_failure = DEFLATE_FAIL_UTF8;
        fail_in_callback(ws, 1007);
        wsf_deflate_trim_buffers();
        return;
      }
    }
    c->bytes_in += len;
  }
  if (ws->cb->on_message)
    ws->cb->on_message(ws, arg->opcode, data, len);
  if (ws->deflate)
    wsf_deflate_trim_buffers();
}

static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user) {
  (void)ctx;
  wsf_ws *ws = user;
  switch (arg->opcode) {
  case WSLAY_TEXT_FRAME:
  case WSLAY_BINARY_FRAME:
    on_data_message(ws, arg);
    break;
  case WSLAY_PING:
    if (ws->cb->on_ping)
      ws->cb->on_ping(ws, arg->msg, arg->msg_length);
    break;
  case WSLAY_PONG:
    if (ws->cb->on_pong)
      ws->cb->on_pong(ws, arg->msg, arg->msg_length);
    break;
  case WSLAY_CONNECTION_CLOSE: {
    ws->close_received = 1;
    ws->close_code_received = arg->status_code ? arg->status_code : 1005;
    const uint8_t *reason = arg->msg_length > 2 ? arg->msg + 2 : NULL;
    size_t reason_len = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
    if (ws->cb->on_close_frame)
      ws->cb->on_close_frame(ws, ws->close_code_received, reason, reason_len);
    break;
  }
  }
}

static const struct wslay_event_callbacks wslay_callbacks = {
    recv_cb, send_cb, genmask_cb, NULL, NULL, NULL, on_msg_cb,
};

static int ensure_ctx(wsf_ws *ws) {
  if (ws->ctx)
    return 0;
  int rv = ws->server ? wslay_event_context_server_init(&ws->ctx, &wslay_callbacks, ws)
                      : wslay_event_context_client_init(&ws->ctx, &wslay_callbacks, ws);
  if (rv != 0) {
    ws->ctx = NULL;
    return -1;
  }
  wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_message_bytes);
  /* A fresh context allows no RSV bit: say again that RSV1 means compressed. */
  if (ws->deflate)
    wslay_event_config_set_allowed_rsv_bits(ws->ctx, WSLAY_RSV1_BIT);
  return 0;
}

/* At rest: between frames both ways, no fragmented message open, no close
 * in progress. A fresh context is then equivalent to the current one. */
static void release_if_at_rest(wsf_ws *ws) {
  if (!ws->ctx || ws->in_callback || ws->failed || ws->close_sent || ws->close_received)
    return;
  if (ws->scan_hdr_len || ws->scan_payload_left || ws->scan_fragmented)
    return;
  if (wslay_event_want_write(ws->ctx) || wslay_event_get_close_sent(ws->ctx) ||
      wslay_event_get_close_received(ws->ctx))
    return;
  wslay_event_context_free(ws->ctx);
  ws->ctx = NULL;
}

/* Writes what wslay queued and notices a close it queued on its own. */
static int flush(wsf_ws *ws) {
  out.len = 0;
  int rv = wslay_event_send(ws->ctx);
  size_t len = out.len;
  out.len = 0;
  int wrv = len ? wsf_transport_write(ws->transport, out.data, len) : 0;
  if (out.cap > (1u << 20)) { /* a huge message passed: don't keep its buffer */
    free(out.data);
    out.data = NULL;
    out.cap = 0;
  }
  if (rv != 0 || wrv != 0) {
    ws->failed = 1;
    return -1;
  }
  if (wslay_event_get_close_sent(ws->ctx) && !ws->close_sent) {
    ws->close_sent = 1;
    ws->close_code_sent = wslay_event_get_status_code_sent(ws->ctx);
  }
  return 0;
}

void wsf_ws_init(wsf_ws *ws, wsf_transport *t, bool server, uint64_t max_message_bytes,
                 const wsf_ws_callbacks *cb) {
  memset(ws, 0, sizeof *ws);
  ws->transport = t;
  ws->server = server;
  ws->max_message_bytes = max_message_bytes;
  ws->cb = cb;
}

void wsf_ws_free(wsf_ws *ws) {
  if (ws->ctx) {
    wslay_event_context_free(ws->ctx);
    ws->ctx = NULL;
  }
  wsf_deflate_free(ws->deflate);
  ws->deflate = NULL;
}

int wsf_ws_enable_deflate(wsf_ws *ws, const wsf_deflate_params *agreed) {
  if (!ws->deflate && !(ws->deflate = wsf_deflate_new(agreed, ws->server)))
    return -1;
  if (ws->ctx)
    wslay_event_config_set_allowed_rsv_bits(ws->ctx, WSLAY_RSV1_BIT);
  return 0;
}

const wsf_deflate_counters *wsf_ws_deflate_counters(const wsf_ws *ws) {
  return ws->deflate ? wsf_deflate_counters_of(ws->deflate) : NULL;
}

int wsf_ws_feed(wsf_ws *ws, const uint8_t *data, size_t len) {
  if (ws->failed)
    return -1;
  if (ensure_ctx(ws) != 0) {
    ws->failed = 1;
    return -1;
  }
  ws->feed_data = data;
  ws->feed_len = scan(ws, data, len);
  ws->in_callback = 1;
  int rv = wslay_event_recv(ws->ctx);
  ws->in_callback = 0;
  ws->feed_data = NULL;
  ws->feed_len = 0;
  bool read_stopped = !wslay_event_get_read_enabled(ws->ctx);
  if (ws->scan_violation && !read_stopped && !ws->close_received) {
    wslay_event_queue_close(ws->ctx, 1002, NULL, 0);
    wslay_event_shutdown_read(ws->ctx);
    read_stopped = true;
  }
  if (flush(ws) != 0 || rv != 0)
    ws->failed = 1;
  /* wslay stops reading and queues a close (1002, 1007, 1009) when the peer
   * breaks the protocol; a close frame from the peer also stops reading. */
  if (read_stopped && !ws->close_received && !ws->failed) {
    ws->failed = 1;
    if (ws->cb->on_protocol_error)
      ws->cb->on_protocol_error(ws, ws->close_sent ? ws->close_code_sent : 1002);
    return -1;
  }
  if (ws->failed) {
    if (ws->cb->on_protocol_error)
      ws->cb->on_protocol_error(ws, 1011);
    return -1;
  }
  release_if_at_rest(ws);
  return 0;
}

int wsf_ws_send(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  if (ws->failed || ws->close_sent)
    return -1;
  if (ensure_ctx(ws) != 0)
    return -1;
  struct wslay_event_msg msg = {(uint8_t)opcode, data, len};
  uint8_t rsv = WSLAY_RSV_NONE;
  if (ws->deflate && (opcode == WSF_WS_TEXT || opcode == WSF_WS_BINARY)) {
    if (wsf_deflate_compress(ws->deflate, data, len, &msg.msg, &msg.msg_length) != WSF_DEFLATE_OK)
      return -1;
    rsv = WSLAY_RSV1_BIT;
  }
  int rv = wslay_event_queue_msg_ex(ws->ctx, &msg, rsv); /* copies the payload */
  if (rsv) {
    wsf_deflate_trim_buffers();
    if (rv != 0) { /* the peer will never see it: its history must not be used */
      wsf_deflate_discard_compressor(ws->deflate);
    } else {
      wsf_deflate_counters *c = wsf_deflate_counters_of(ws->deflate);
      c->bytes_out += len;
      c->bytes_out_compressed += msg.msg_length;
    }
  }
  if (rv != 0)
    return -1;
  if (flush(ws) != 0)
    return -1;
  release_if_at_rest(ws);
  return 0;
}

int wsf_ws_close(wsf_ws *ws, uint16_t code, const char *reason, size_t reason_len) {
  if (ws->failed || ws->close_sent)
    return -1;
  if (ensure_ctx(ws) != 0)
    return -1;
  if (reason_len > 123)
    reason_len = 123;
  if (wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, reason_len) != 0)
    return -1;
  return flush(ws);
}

const char *wsf_ws_deflate_failure(const wsf_ws *ws) {
  switch (ws->deflate_failure) {
  case DEFLATE_FAIL_CORRUPT:
    return "bad DEFLATE data";
  case DEFLATE_FAIL_TOO_BIG:
    return "inflated message over max_message_bytes";
  case DEFLATE_FAIL_UTF8:
    return "invalid UTF-8 in a compressed text message";
  }
  return NULL;
}

bool wsf_ws_close_done(const wsf_ws *ws) { return ws->close_sent && ws->close_received; }
