#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "frame.h"
#include "mask.h"
#include "utf8.h"
#include "util.h"

/* ---- frame-boundary scanner ------------------------------------------
 * wslay keeps its parse state private. To free its context between frames we
 * track the frame boundaries of the received stream ourselves: only headers
 * are looked at (decoded by frame.c, which also judges them: a header wslay's
 * frame layer would reject without a close code is caught here so the peer
 * gets 1002), payloads are skipped in bulk. */

/* A complete, well-formed close or ping frame found by scan: read by ws.c
 * itself, not by wslay (see read_close and answer_ping). */
typedef struct control_frame {
  const uint8_t *payload; /* NULL: none in the chunk */
  size_t len;
  uint8_t opcode;
  bool masked;
  uint8_t mask[4];
} control_frame;

/* Reads a control frame ws.c handles itself: a close, or a ping. */
static bool read_here(int opcode) {
  return opcode == WSF_WS_CLOSE || opcode == WSF_WS_PING;
}

/* Tracks frame boundaries over data; returns how many bytes wslay may see:
 * all of them, or those before the last byte of a header that breaks the
 * framing rules (ws->scan_violation is then set), or those before a close or
 * ping frame. Such a frame that is not complete yet is held (*hold_from; the
 * scanner is then left at the boundary before it): wslay 1.1.1 checks a close
 * reason's UTF-8 from byte 2 of every chunk it reads, so a close frame split
 * mid-character would read as invalid (1007), and a ping is answered here
 * (answer_ping). A complete one with a well-formed header goes to *ctl; the
 * scan stops after it (the caller scans the rest once it is handled). So
 * does a whole data message in one frame that goes on past the chunk, its
 * header begun in this chunk: to *long_frame, wslay seeing only the bytes
 * before it (see long_frame_feed). */
static size_t scan(wsf_ws *ws, const uint8_t *data, size_t len, size_t *hold_from, control_frame *ctl,
                   wsf_frame_header *long_frame) {
  size_t i = 0, frame_start = SIZE_MAX;
  bool in_control = false, header_here = false;
  *hold_from = len;
  ctl->payload = NULL;
  long_frame->header_len = 0;
  while (i < len) {
    if (ws->scan_payload_left > 0) {
      size_t n = len - i < ws->scan_payload_left ? len - i : (size_t)ws->scan_payload_left;
      ws->scan_payload_left -= n;
      i += n;
      continue;
    }
    if (ws->scan_hdr_len == 0) {
      frame_start = i;
      header_here = true;
      in_control = read_here(data[i] & 0x0f);
    }
    ws->scan_hdr[ws->scan_hdr_len++] = data[i++];
    /* judged as soon as the bytes seen break a rule (a control frame on its
     * first two bytes, before any extended length, as wslay judges it) */
    wsf_frame_header fh;
    int hr = wsf_frame_decode_header(ws->scan_hdr, ws->scan_hdr_len, &fh);
    /* the session's rules from the first two bytes, so that wslay, which
     * sees only the bytes before the judged one, never judges a header */
    if (hr < 0 || (ws->scan_hdr_len == 2 && wsf_frame_check(&fh, ws->server, ws->deflate ? WSF_FRAME_RSV1 : 0,
                                                            ws->scan_fragmented) != 0)) {
      ws->scan_violation = 1;
      return i - 1;
    }
    if (hr == 0)
      continue;
    uint64_t payload = fh.payload_len;
    int opcode = fh.opcode;
    bool fin = fh.fin;
    if (!wsf_frame_is_control(fh.opcode)) { /* data or continuation: control frames may interleave */
      ws->scan_fragmented = !fin;
      if (opcode != 0) {
        ws->scan_msg_charge = 0;
        ws->scan_msg_frames = 0;
      }
      ws->scan_msg_frames++;
      ws->scan_msg_charge += payload + (opcode == 0 ? WSF_WS_FRAGMENT_CHARGE : 0);
      if (opcode == 0 && ws->scan_msg_charge > ws->max_message_bytes) {
        ws->scan_too_big = 1; /* wslay never sees this frame: feed fails the session with 1009 */
        return i - 1;
      }
    }
    if (header_here && !wsf_frame_is_control(fh.opcode) && opcode != 0 && fin && payload > len - i &&
        payload <= ws->max_message_bytes) {
      *long_frame = fh; /* its payload starts at i: read by long_frame_feed, not wslay */
      ws->scan_hdr_len = 0;
      return frame_start;
    }
    if (read_here(opcode) && fh.rsv == 0 && fh.masked == (bool)ws->server && len - i >= payload) {
      ctl->payload = data + i;
      ctl->len = (size_t)payload;
      ctl->opcode = (uint8_t)opcode;
      ctl->masked = fh.masked;
      if (fh.masked)
        memcpy(ctl->mask, fh.mask, 4);
      ws->scan_hdr_len = 0;
      return frame_start;
    }
    ws->scan_payload_left = payload;
    ws->scan_hdr_len = 0;
  }
  if (in_control && frame_start != SIZE_MAX && (ws->scan_hdr_len || ws->scan_payload_left)) {
    *hold_from = frame_start;
    ws->scan_hdr_len = 0;
    ws->scan_payload_left = 0;
    return frame_start;
  }
  return len;
}

/* ---- wslay callbacks -------------------------------------------------- */

/* What wslay's recv callback reads from: on wsf_ws_feed's stack, pointed to by
 * ws->feed only while wslay_event_recv runs (8 bytes per session, not 16). */
struct wsf_ws_feed_span {
  const uint8_t *data;
  size_t len;
};

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user) {
  (void)flags;
  wsf_ws *ws = user;
  struct wsf_ws_feed_span *f = ws->feed;
  if (!f || f->len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < f->len ? len : f->len;
  memcpy(buf, f->data, n);
  f->data += n;
  f->len -= n;
  return (ssize_t)n;
}

/* wslay hands over a frame header and its payload in separate calls; they
 * are gathered here and written once per flush: one syscall, and no small
 * header segment for Nagle to hold back. One buffer serves every session. */
static struct {
  uint8_t *data;
  size_t len, cap;
} out;

/* Room for len more bytes in out (one message: callers are bounded by
 * max_message_bytes or the output cap). Out of memory aborts. */
static uint8_t *out_reserve(size_t len) {
  if (out.len + len > out.cap) {
    size_t cap = out.cap ? out.cap : 64 * 1024;
    while (cap < out.len + len)
      cap *= 2;
    out.data = wsf_xrealloc(out.data, cap);
    out.cap = cap;
  }
  return out.data + out.len;
}

/* Writes out's bytes to the transport and empties it. */
static int out_write(wsf_ws *ws) {
  size_t len = out.len;
  out.len = 0;
  int rv = len ? wsf_transport_write(ws->transport, out.data, len) : 0;
  if (out.cap > (1u << 20)) { /* a huge message passed: don't keep its buffer */
    free(out.data);
    out.data = NULL;
    out.cap = 0;
  }
  return rv;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user) {
  (void)flags;
  (void)user;
  (void)ctx;
  memcpy(out_reserve(len), data, len);
  out.len += len;
  return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user) {
  (void)ctx;
  (void)user;
  return wsf_random(buf, len) == 0 ? 0 : -1; /* wslay's callback convention */
}

/* ---- permessage-deflate on received messages ------------------------- */

/* Fails the session from inside wslay's receive loop, the way wslay fails it
 * itself: a close with the code, and no more reading (wsf_ws_feed reports it). */
static void ensure_ctx(wsf_ws *ws);

static void fail_in_callback(wsf_ws *ws, uint16_t code) {
  ensure_ctx(ws); /* none while long_frame_feed delivers */
  wslay_event_queue_close(ws->ctx, code, NULL, 0);
  wslay_event_shutdown_read(ws->ctx);
}

enum { DEFLATE_FAIL_NONE, DEFLATE_FAIL_CORRUPT, DEFLATE_FAIL_TOO_BIG, DEFLATE_FAIL_UTF8 };

/* A whole data message, reassembled by wslay or by long_frame_feed; text
 * that is not compressed has been UTF-8 checked already. */
static void on_data_message(wsf_ws *ws, int opcode, bool compressed, const uint8_t *msg, size_t msg_len) {
  const uint8_t *data = msg;
  size_t len = msg_len;
  if (ws->deflate) {
    wsf_deflate_counters *c = wsf_deflate_counters_of(ws->deflate);
    c->bytes_in_compressed += len;
    if (compressed) {
      int rv = wsf_deflate_decompress(ws->deflate, msg, msg_len, ws->max_message_bytes, &data, &len);
      if (rv != WSF_DEFLATE_OK) {
        ws->deflate_failure = rv == WSF_DEFLATE_TOO_BIG   ? DEFLATE_FAIL_TOO_BIG
                              : rv == WSF_DEFLATE_CORRUPT ? DEFLATE_FAIL_CORRUPT
                                                          : DEFLATE_FAIL_NONE;
        fail_in_callback(ws, rv == WSF_DEFLATE_TOO_BIG ? 1009 : rv == WSF_DEFLATE_CORRUPT ? 1007 : 1011);
        wsf_deflate_trim_buffers();
        return;
      }
      if (opcode == WSF_WS_TEXT && !wsf_utf8_whole_valid(data, len)) {
        ws->deflate_failure = DEFLATE_FAIL_UTF8;
        fail_in_callback(ws, 1007);
        wsf_deflate_trim_buffers();
        return;
      }
    }
    c->bytes_in += len;
  }
  if (ws->cb->on_message)
    ws->cb->on_message(ws, opcode, data, len);
  if (ws->deflate)
    wsf_deflate_trim_buffers();
}

static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user) {
  (void)ctx;
  wsf_ws *ws = user;
  switch (arg->opcode) {
  case WSLAY_TEXT_FRAME:
  case WSLAY_BINARY_FRAME:
    /* frame.c's check (scan) refuses RSV1 on continuation and control frames
     * (1002), so rsv here is the first frame's: the whole message is compressed */
    on_data_message(ws, arg->opcode, arg->rsv & WSLAY_RSV1_BIT, arg->msg, arg->msg_length);
    break;
  case WSLAY_PING: /* one ws.c did not read itself (a malformed one fails next): wslay queued its pong */
    ws->ping_coalesced = 0;
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

/* ---- close frames, read here -----------------------------------------
 * wslay 1.1.1 accepts only 1000-1011 and 3000-4999 in a received close frame
 * and answers anything else with 1002, so a gateway's 1012 Service Restart,
 * 1013 Try Again Later or 1014 Bad Gateway (IANA-registered, sent by servers
 * shedding load) would be lost and recorded as our protocol error. A close
 * frame is short and arrives whole (scan holds it back until then), so ws.c
 * reads it itself: the code and reason as sent, the echo RFC 6455 §5.5.1
 * asks for, and 1002 for a code that is invalid on the wire. */

bool wsf_ws_close_code_valid(uint16_t code) {
  /* RFC 6455 §7.4: 1004-1006 and 1015 are never sent, 1016-2999 are
   * unassigned, below 1000 and from 5000 on are not used. */
  return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
         (code >= 3000 && code <= 4999);
}

/* The peer's close frame (whole, with a well-formed header); wslay has read
 * everything before it and still reads. */
static void unmask(const control_frame *f, uint8_t *p) {
  if (f->masked)
    wsf_mask(p, f->payload, f->len, f->mask, 0);
  else if (f->len)
    memcpy(p, f->payload, f->len);
}

static void read_close(wsf_ws *ws, const control_frame *f) {
  uint8_t p[125];
  unmask(f, p);
  uint16_t code = f->len >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 0;
  uint16_t fail = 0;
  if (f->len == 1) {
    ws->bad_close = WSF_WS_BAD_CLOSE_LENGTH;
    fail = 1002;
  } else if (f->len >= 2 && !wsf_ws_close_code_valid(code)) {
    ws->bad_close = WSF_WS_BAD_CLOSE_CODE;
    ws->bad_close_code = code;
    fail = 1002;
  } else if (f->len > 2 && !wsf_utf8_whole_valid(p + 2, f->len - 2)) {
    ws->bad_close = WSF_WS_BAD_CLOSE_REASON;
    ws->bad_close_code = code;
    fail = 1007;
  }
  wslay_event_shutdown_read(ws->ctx);
  if (fail) {
    wslay_event_queue_close(ws->ctx, fail, NULL, 0);
    return;
  }
  ws->close_received = 1;
  ws->close_code_received = code ? code : 1005;
  const uint8_t *reason = f->len > 2 ? p + 2 : NULL;
  size_t reason_len = f->len > 2 ? f->len - 2 : 0;
  /* The echo carries the code and reason received (none when none came);
   * after our own close it is not sent (wslay refuses a second close). */
  if (!ws->close_sent)
    wslay_event_queue_close(ws->ctx, code, reason, reason_len);
  if (ws->cb->on_close_frame)
    ws->cb->on_close_frame(ws, ws->close_code_received, reason, reason_len);
}

const char *wsf_ws_failure_detail(const wsf_ws *ws, char *buf, size_t cap) {
  if (ws->scan_too_big) {
    snprintf(buf, cap,
             "a fragmented message over max_message_bytes after %u frames (%u bytes charged per continuation "
             "frame)",
             ws->scan_msg_frames, WSF_WS_FRAGMENT_CHARGE);
    return buf;
  }
  switch (ws->bad_close) {
  case WSF_WS_BAD_CLOSE_LENGTH:
    snprintf(buf, cap, "the server's close frame had a 1-byte payload");
    return buf;
  case WSF_WS_BAD_CLOSE_CODE:
    snprintf(buf, cap, "the server sent close code %u, which is not allowed on the wire", ws->bad_close_code);
    return buf;
  case WSF_WS_BAD_CLOSE_REASON:
    snprintf(buf, cap, "the server sent close code %u with a reason that is not UTF-8", ws->bad_close_code);
    return buf;
  }
  return NULL;
}

static const struct wslay_event_callbacks wslay_callbacks = {
    recv_cb, send_cb, genmask_cb, NULL, NULL, NULL, on_msg_cb,
};

/* wslay has no allocator hook: its WSLAY_ERR_NOMEM is turned into the
 * memory rule's abort here (ARCHITECTURE.md), so no caller sees it. */
static int wslay_checked(int rv) {
  if (rv == WSLAY_ERR_NOMEM)
    wsf_out_of_memory("wslay");
  return rv;
}

/* wslay's other refusals as the error convention's codes (ARCHITECTURE.md
 * "Errors"): a message after our close, or arguments it will not frame. */
static int wslay_to_uv(int rv) {
  switch (rv) {
  case 0:
    return 0;
  case WSLAY_ERR_NO_MORE_MSG:
    return UV_EPIPE;
  case WSLAY_ERR_INVALID_ARGUMENT:
    return UV_EINVAL;
  default:
    return UV_EPROTO;
  }
}

/* wslay's context init fails only out of memory. */
static void ensure_ctx(wsf_ws *ws) {
  if (ws->ctx)
    return;
  wslay_checked(ws->server ? wslay_event_context_server_init(&ws->ctx, &wslay_callbacks, ws)
                           : wslay_event_context_client_init(&ws->ctx, &wslay_callbacks, ws));
  wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_message_bytes);
  /* A fresh context allows no RSV bit: say again that RSV1 means compressed. */
  if (ws->deflate)
    wslay_event_config_set_allowed_rsv_bits(ws->ctx, WSLAY_RSV1_BIT);
}

/* At rest: between frames both ways, no fragmented message open, no close
 * in progress. A fresh context is then equivalent to the current one. */
static void release_if_at_rest(wsf_ws *ws) {
  if (!ws->ctx || ws->in_callback || ws->failed || ws->close_sent || ws->close_received)
    return;
  if (ws->scan_hdr_len || ws->scan_payload_left || ws->scan_fragmented || ws->long_frame)
    return; /* mid-frame: kept, so a context exists exactly while a frame is in flight */
  if (wslay_event_want_write(ws->ctx) || wslay_event_get_close_sent(ws->ctx) ||
      wslay_event_get_close_received(ws->ctx))
    return;
  wslay_event_context_free(ws->ctx);
  ws->ctx = NULL;
}

/* Writes what wslay queued and notices a close it queued on its own. */
static int flush(wsf_ws *ws) {
  out.len = 0;
  int rv = wslay_checked(wslay_event_send(ws->ctx));
  int wrv = out_write(ws);
  if (rv != 0 || wrv != 0) {
    ws->failed = 1;
    return wrv ? wrv : wslay_to_uv(rv);
  }
  if (wslay_event_get_close_sent(ws->ctx) && !ws->close_sent) {
    ws->close_sent = 1;
    ws->close_code_sent = wslay_event_get_status_code_sent(ws->ctx);
  }
  return 0;
}

/* ---- at rest, without wslay ---------------------------------------------
 * Heartbeats and request/reply traffic mostly meet a session at rest, where
 * building a wslay context (8.6 KiB, zeroed) for one small frame would cost
 * more than the frame. Frames that need no state are handled here instead:
 * sends of whole messages, and received chunks made only of complete,
 * unfragmented, well-formed data, ping and pong frames. Anything else (a
 * close, a fragment, a split frame, a doubtful byte) goes to wslay, which
 * then has the whole chunk and the last word on its validity. */

/* One whole frame into out: header, masking key (client side), payload. */
static int write_frame(wsf_ws *ws, int opcode, bool rsv1, const uint8_t *data, size_t len) {
  uint8_t key[4];
  int rv = ws->server ? 0 : wsf_random(key, sizeof key);
  if (rv != 0)
    return rv;
  uint8_t *dst = out_reserve(WSF_FRAME_HEADER_MAX + len);
  out.len +=
      wsf_frame_encode(dst, (uint8_t)opcode, rsv1 ? WSF_FRAME_RSV1 : 0, data, len, ws->server ? NULL : key);
  return 0;
}

/* A data message over this goes out in pieces of this size: masked into out
 * one piece at a time and handed to the transport, instead of into one
 * message-sized buffer (a fresh 16 MiB mapping per 16 MiB message: its page
 * faults and unmapping were 10-15 % of the daemon's CPU echoing them). */
#define SEND_PIECE (256u * 1024)

/* A whole data frame straight to the transport, at rest (nothing queued in
 * wslay, so the order holds). Payloads over SEND_PIECE go in pieces. */
static int send_frame_direct(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  out.len = 0;
  if (len <= SEND_PIECE) {
    int rv = write_frame(ws, opcode, false, data, len);
    return rv ? rv : out_write(ws);
  }
  uint8_t key[4];
  int rv = ws->server ? 0 : wsf_random(key, sizeof key);
  if (rv != 0)
    return rv;
  const uint8_t *masking = ws->server ? NULL : key;
  out.len = wsf_frame_encode_header(out_reserve(WSF_FRAME_HEADER_MAX + SEND_PIECE), (uint8_t)opcode, 0, len,
                                    masking);
  for (size_t off = 0; off < len && rv == 0; off += SEND_PIECE) {
    size_t n = len - off < SEND_PIECE ? len - off : SEND_PIECE;
    if (masking)
      wsf_mask(out_reserve(n), data + off, n, masking, off);
    else
      memcpy(out_reserve(n), data + off, n);
    out.len += n;
    rv = out_write(ws); /* the header goes with the first piece */
  }
  return rv;
}

/* ---- pongs ---------------------------------------------------------------
 * A ping is answered at once while the output is empty. While bytes wait
 * for the peer to read them, only the latest ping is answered (RFC 6455
 * §5.5.3 allows it): its pong is held here and written when a queued write
 * completes, so a peer that pings and never reads gets one pong per write it
 * lets through, not one per ping (one queued pong per ping grew the daemon
 * by 530 MB under 185 MB of pings). */

static int write_pong(wsf_ws *ws, const uint8_t *data, size_t len) {
  out.len = 0;
  int rv = write_frame(ws, WSF_WS_PONG, false, data, len);
  if (rv == 0)
    rv = out_write(ws);
  if (rv != 0)
    ws->failed = 1;
  return rv;
}

static void answer_ping(wsf_ws *ws, const uint8_t *data, size_t len) {
  ws->ping_coalesced = 0;
  if (ws->close_sent || ws->failed)
    return; /* no frame after our close */
  if (ws->transport->write_pending_bytes == 0 && !ws->held_pong) {
    write_pong(ws, data, len);
    return;
  }
  if (ws->held_pong)
    ws->ping_coalesced = 1; /* the pong held so far is never sent */
  else
    ws->held_pong = wsf_xmalloc(125);
  memcpy(ws->held_pong, data, len);
  ws->held_pong_len = (uint8_t)len;
}

void wsf_ws_written(wsf_ws *ws) {
  if (!ws->held_pong)
    return;
  uint8_t *p = ws->held_pong;
  ws->held_pong = NULL;
  if (!ws->close_sent && !ws->failed)
    write_pong(ws, p, ws->held_pong_len);
  free(p);
}

static void read_ping(wsf_ws *ws, const control_frame *f) {
  uint8_t p[125];
  unmask(f, p);
  answer_ping(ws, p, f->len);
  if (ws->cb->on_ping)
    ws->cb->on_ping(ws, p, f->len);
}

/* The frames of a received chunk, if it is made only of frames the fast path
 * takes; returns how many, 0 when wslay must see the chunk. */
typedef struct fast_frame {
  uint8_t opcode;
  const uint8_t *payload, *mask;
  size_t len;
} fast_frame;

#define FAST_MAX_FRAMES 64

static size_t fast_parse(const wsf_ws *ws, const uint8_t *p, size_t len, fast_frame *frames) {
  size_t n = 0, i = 0;
  while (i < len) {
    wsf_frame_header h;
    if (n == FAST_MAX_FRAMES || wsf_frame_decode_header(p + i, len - i, &h) <= 0)
      return 0;
    /* whole (FIN), no RSV, masked only towards a server, a data, ping or pong frame */
    if (!h.fin || wsf_frame_check(&h, ws->server, 0, false) != 0 || h.opcode == WSF_FRAME_CLOSE)
      return 0;
    if (h.payload_len > ws->max_message_bytes || len - i - h.header_len < h.payload_len)
      return 0;
    frames[n].opcode = h.opcode;
    frames[n].payload = p + i + h.header_len;
    frames[n].mask = h.masked ? p + i + h.header_len - 4 : NULL;
    frames[n].len = (size_t)h.payload_len;
    if (h.opcode == WSF_WS_TEXT && !h.masked && !wsf_utf8_whole_valid(frames[n].payload, frames[n].len))
      return 0;
    n++;
    i += h.header_len + (size_t)h.payload_len;
  }
  return n;
}

/* Delivers what fast_parse accepted, answering pings as wslay would. */
static void fast_deliver(wsf_ws *ws, const fast_frame *frames, size_t n) {
  static uint8_t *unmasked;
  static size_t unmasked_cap;
  ws->in_callback = 1;
  for (size_t f = 0; f < n && !ws->failed; f++) {
    const uint8_t *data = frames[f].payload;
    size_t len = frames[f].len;
    if (frames[f].mask) { /* server side: unmask into a scratch buffer */
      if (len > unmasked_cap) {
        unmasked = wsf_xrealloc(unmasked, len);
        unmasked_cap = len;
      }
      wsf_mask(unmasked, data, len, frames[f].mask, 0);
      data = unmasked;
    }
    switch (frames[f].opcode) {
    case WSF_WS_TEXT:
    case WSF_WS_BINARY:
      if (ws->cb->on_message)
        ws->cb->on_message(ws, frames[f].opcode, data, len);
      break;
    case WSF_WS_PING:
      answer_ping(ws, data, len);
      if (ws->cb->on_ping)
        ws->cb->on_ping(ws, data, len);
      break;
    case WSF_WS_PONG:
      if (ws->cb->on_pong)
        ws->cb->on_pong(ws, data, len);
      break;
    }
  }
  ws->in_callback = 0;
  if (unmasked_cap > (1u << 20)) {
    free(unmasked);
    unmasked = NULL;
    unmasked_cap = 0;
  }
}

/* A masked text frame can only be checked once unmasked. */
static bool fast_text_valid(const fast_frame *frames, size_t n) {
  static uint8_t buf[4096];
  for (size_t f = 0; f < n; f++) {
    if (frames[f].opcode != WSF_WS_TEXT || !frames[f].mask)
      continue;
    if (frames[f].len > sizeof buf)
      return false; /* long masked text: wslay validates it */
    wsf_mask(buf, frames[f].payload, frames[f].len, frames[f].mask, 0);
    if (!wsf_utf8_whole_valid(buf, frames[f].len))
      return false;
  }
  return true;
}

/* ---- data frames longer than a read, assembled here ---------------------
 * A message sent as one frame that goes on past the chunk its header came in
 * (every message over a read's 64 KiB) is read by ws.c, not wslay: wslay
 * checked text with a per-byte DFA (26.5 % of the daemon's CPU echoing 16 MiB
 * text), then copied the frame's chunk into a flat message. Here the payload
 * goes once from the reads into one buffer, text is checked as it arrives
 * (utf8.c: a bad byte fails the session at once, with 1007), and the message
 * is delivered from that buffer, which the receiver may keep
 * (wsf_ws_take_message): no copy into the inbox either. wslay stays between frames meanwhile (scan
 * gave it only the bytes before the header); fragmented messages, and frames over max_message_bytes (1009),
 * stay wslay's. */

struct wsf_ws_long_frame {
  wsf_msg *msg; /* the payload, in the shape the inbox keeps (wsf_ws_take_message); cap >= len bytes */
  size_t cap, len, have;
  wsf_utf8 utf8;
  uint8_t opcode;
  bool compressed, masked;
  uint8_t mask[4];
};

/* One buffer kept between messages for the whole loop (as deflate.c keeps
 * its shared buffers), for long frames whose buffer nobody takes (the
 * compressed ones, inflated elsewhere; a session's own steps). Larger ones
 * are freed after their message, so RSS does not keep the largest message
 * ever received. */
#define LONG_FRAME_SPARE_MAX (1u << 20)
static struct {
  wsf_msg *msg;
  size_t cap;
} spare;

static void long_frame_begin(wsf_ws *ws, const wsf_frame_header *h) {
  struct wsf_ws_long_frame *lf = wsf_xmalloc(sizeof *lf);
  lf->len = (size_t)h->payload_len; /* <= max_message_bytes */
  if (spare.msg && spare.cap >= lf->len) {
    lf->msg = spare.msg;
    lf->cap = spare.cap;
    spare.msg = NULL;
    spare.cap = 0;
  } else {
    lf->msg = wsf_msg_alloc(lf->len);
    lf->cap = lf->len;
  }
  lf->have = 0;
  lf->utf8 = WSF_UTF8_START;
  lf->opcode = h->opcode;
  lf->compressed = h->rsv & WSF_FRAME_RSV1;
  lf->masked = h->masked;
  memcpy(lf->mask, h->mask, 4);
  ws->long_frame = lf;
}

static void long_frame_end(wsf_ws *ws) {
  struct wsf_ws_long_frame *lf = ws->long_frame;
  ws->long_frame = NULL;
  if (lf->msg && lf->cap <= LONG_FRAME_SPARE_MAX && lf->cap > spare.cap) {
    free(spare.msg);
    spare.msg = lf->msg;
    spare.cap = lf->cap;
  } else {
    free(lf->msg);
  }
  free(lf);
}

wsf_msg *wsf_ws_take_message(wsf_ws *ws, const uint8_t *data, size_t len) {
  struct wsf_ws_long_frame *lf = ws->long_frame;
  if (!lf || !lf->msg || data != lf->msg->data || len != lf->len)
    return NULL;
  wsf_msg *m = lf->msg;
  lf->msg = NULL;
  m->len = len;
  m->data[len] = '\0'; /* a spare buffer may be longer */
  return m;
}

/* Fails the session for invalid text in a long frame, as wslay would. */
static void long_frame_fail_utf8(wsf_ws *ws) {
  long_frame_end(ws);
  ensure_ctx(ws);
  wslay_event_queue_close(ws->ctx, 1007, NULL, 0);
  wslay_event_shutdown_read(ws->ctx);
}

/* Takes the next bytes of the long frame's payload from data: *took of them.
 * Delivers the message once whole. Returns false when its text is not UTF-8
 * (a close with 1007 is then queued, and reading stopped). */
static bool long_frame_feed(wsf_ws *ws, const uint8_t *data, size_t len, size_t *took) {
  struct wsf_ws_long_frame *lf = ws->long_frame;
  size_t n = len < lf->len - lf->have ? len : lf->len - lf->have;
  uint8_t *dst = lf->msg->data + lf->have;
  if (lf->masked)
    wsf_mask(dst, data, n, lf->mask, lf->have);
  else
    memcpy(dst, data, n);
  lf->have += n;
  *took = n;
  bool text = lf->opcode == WSF_WS_TEXT && !lf->compressed; /* compressed text is checked once inflated */
  if (text && !wsf_utf8_feed(&lf->utf8, dst, n)) {
    long_frame_fail_utf8(ws);
    return false;
  }
  if (lf->have < lf->len)
    return true;
  if (text && !wsf_utf8_complete(&lf->utf8)) { /* ends inside a character */
    long_frame_fail_utf8(ws);
    return false;
  }
  ws->in_callback = 1;
  on_data_message(ws, lf->opcode, lf->compressed, lf->msg->data, lf->len);
  ws->in_callback = 0;
  long_frame_end(ws);
  return true;
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
  free(ws->held);
  ws->held = NULL;
  ws->held_len = 0;
  free(ws->held_pong);
  ws->held_pong = NULL;
  if (ws->long_frame)
    long_frame_end(ws);
  if (ws->ctx) {
    wslay_event_context_free(ws->ctx);
    ws->ctx = NULL;
  }
  wsf_deflate_free(ws->deflate);
  ws->deflate = NULL;
}

void wsf_ws_enable_deflate(wsf_ws *ws, const wsf_deflate_params *agreed) {
  if (!ws->deflate)
    ws->deflate = wsf_deflate_new(agreed, ws->server);
  if (ws->ctx)
    wslay_event_config_set_allowed_rsv_bits(ws->ctx, WSLAY_RSV1_BIT);
}

const wsf_deflate_counters *wsf_ws_deflate_counters(const wsf_ws *ws) {
  return ws->deflate ? wsf_deflate_counters_of(ws->deflate) : NULL;
}

static int feed(wsf_ws *ws, const uint8_t *data, size_t len);

int wsf_ws_feed(wsf_ws *ws, const uint8_t *data, size_t len) {
  if (!ws->held_len)
    return feed(ws, data, len);
  /* A close frame held back last time: it goes first, with what follows it. */
  uint8_t *joined = wsf_xmalloc(ws->held_len + len);
  memcpy(joined, ws->held, ws->held_len);
  memcpy(joined + ws->held_len, data, len);
  size_t joined_len = ws->held_len + len;
  free(ws->held);
  ws->held = NULL;
  ws->held_len = 0;
  int rv = feed(ws, joined, joined_len);
  free(joined);
  return rv;
}

/* After wslay (or long_frame_feed) read a chunk: the close a framing
 * violation calls for, our output, and the session's failure if any. */
static int finish_feed(wsf_ws *ws, int rv) {
  bool read_stopped = !wslay_event_get_read_enabled(ws->ctx);
  if ((ws->scan_violation || ws->scan_too_big) && !read_stopped && !ws->close_received) {
    wslay_event_queue_close(ws->ctx, ws->scan_too_big ? 1009 : 1002, NULL, 0);
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
    return UV_EPROTO;
  }
  if (ws->failed) { /* a write failed or wslay gave up: not the peer's protocol */
    if (ws->cb->on_protocol_error)
      ws->cb->on_protocol_error(ws, 1011);
    return UV_EPROTO;
  }
  release_if_at_rest(ws);
  return 0;
}

static int feed(wsf_ws *ws, const uint8_t *data, size_t len) {
  if (ws->failed)
    return UV_EPROTO;
  /* After the peer's close frame nothing more is read (wslay has stopped
   * reading too); after a framing violation the frame boundaries are lost. */
  if (ws->close_received || ws->scan_violation || ws->scan_too_big)
    return 0;
  if (ws->long_frame) { /* its payload first; frames after it as below */
    size_t took;
    bool ok = long_frame_feed(ws, data, len, &took);
    if (!ok || (ws->ctx && !wslay_event_get_read_enabled(ws->ctx)))
      return finish_feed(ws, 0);
    if (ws->failed) /* our write failed in the message's callback */
      return UV_EPROTO;
    data += took;
    len -= took;
    if (len == 0)
      return ws->ctx ? finish_feed(ws, 0) : 0;
  }
  if (!ws->ctx && !ws->deflate && !ws->scan_hdr_len && !ws->scan_payload_left && !ws->scan_fragmented) {
    fast_frame frames[FAST_MAX_FRAMES];
    size_t n = fast_parse(ws, data, len, frames);
    if (n && fast_text_valid(frames, n)) {
      fast_deliver(ws, frames, n);
      return ws->failed ? UV_EPROTO : 0;
    }
  }
  ensure_ctx(ws);
  /* wslay reads the bytes up to each close or ping frame, ws.c reads that
   * frame, and so on to the end of the chunk (or the close, or a long frame). */
  int rv = 0;
  size_t off = 0;
  for (;;) {
    size_t hold_from;
    control_frame ctl = {0};
    wsf_frame_header long_hdr;
    size_t before = scan(ws, data + off, len - off, &hold_from, &ctl, &long_hdr);
    struct wsf_ws_feed_span span = {data + off, before};
    ws->feed = &span;
    if (hold_from < len - off) { /* at most a header and 125 bytes of payload */
      ws->held = wsf_xmalloc(len - off - hold_from);
      memcpy(ws->held, data + off + hold_from, len - off - hold_from);
      ws->held_len = (uint8_t)(len - off - hold_from);
    }
    ws->in_callback = 1;
    rv = wslay_checked(wslay_event_recv(ws->ctx));
    ws->in_callback = 0;
    ws->feed = NULL;
    if (rv != 0 || !wslay_event_get_read_enabled(ws->ctx) || ws->failed)
      break;
    if (long_hdr.header_len) { /* it goes on past this chunk */
      long_frame_begin(ws, &long_hdr);
      size_t took;
      off += before + long_hdr.header_len;
      long_frame_feed(ws, data + off, len - off, &took); /* a bad byte queues 1007: finish_feed fails */
      break;
    }
    if (!ctl.payload)
      break;
    ws->in_callback = 1;
    if (ctl.opcode == WSF_WS_CLOSE)
      read_close(ws, &ctl);
    else
      read_ping(ws, &ctl);
    ws->in_callback = 0;
    off = (size_t)(ctl.payload - data) + ctl.len;
    if (ctl.opcode == WSF_WS_CLOSE || ws->failed || off == len)
      break;
  }
  return finish_feed(ws, rv);
}

int wsf_ws_send(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  if (ws->failed || ws->close_sent)
    return UV_EPIPE;
  if (!ws->ctx && !ws->deflate && (opcode != WSF_WS_PING && opcode != WSF_WS_PONG ? true : len <= 125)) {
    /* at rest nothing is queued in wslay, so a direct write keeps the order */
    int rv = send_frame_direct(ws, opcode, data, len);
    if (rv != 0)
      ws->failed = 1;
    return rv;
  }
  ensure_ctx(ws);
  struct wslay_event_msg msg = {(uint8_t)opcode, data, len};
  uint8_t rsv = WSLAY_RSV_NONE;
  if (ws->deflate && (opcode == WSF_WS_TEXT || opcode == WSF_WS_BINARY)) {
    if (wsf_deflate_compress(ws->deflate, data, len, &msg.msg, &msg.msg_length) != WSF_DEFLATE_OK)
      return UV_EIO; /* WSF_DEFLATE_ZLIB: a bug, not the message */
    rsv = WSLAY_RSV1_BIT;
  }
  int rv = wslay_checked(wslay_event_queue_msg_ex(ws->ctx, &msg, rsv)); /* copies the payload */
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
    return wslay_to_uv(rv);
  if ((rv = flush(ws)) != 0)
    return rv;
  release_if_at_rest(ws);
  return 0;
}

int wsf_ws_close(wsf_ws *ws, uint16_t code, const char *reason, size_t reason_len) {
  if (ws->failed || ws->close_sent)
    return UV_EPIPE;
  ensure_ctx(ws);
  if (reason_len > 123)
    reason_len = 123;
  int rv = wslay_checked(wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, reason_len));
  if (rv != 0)
    return wslay_to_uv(rv);
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

bool wsf_ws_close_done(const wsf_ws *ws) {
  return ws->close_sent && ws->close_received;
}
