/* A WebSocket session (RFC 6455 after the upgrade), client or server role,
 * over a wsf_transport.
 *
 * Who holds which rule. frame.c, a codec without I/O or state, is the one
 * place in our code that reads or writes a frame header, and the judge of
 * every header rule (lengths, control frames, reserved opcodes, RSV bits,
 * masking direction, fragment sequence): ws.c's frame-boundary scanner runs
 * it on every received header and fails the session with 1002 before wslay
 * sees the offending header, its path for whole frames at rest parses with
 * it, and every frame we write without wslay is encoded by it. wslay's event
 * API does what it alone does here: reassembling fragments, checking their
 * text as UTF-8 as it arrives, the 1009 size limit while reassembling,
 * queueing messages while output waits. A message in one frame longer than
 * the read its header came in is read by ws.c instead (long frames, ws.c:
 * utf8.c checks its text per read, 8 ASCII bytes a step). Its own header checks remain in the library,
 * but never decide: the headers it reads have passed frame.c. Close frames
 * and pings are read by ws.c (close codes wslay refuses, held pongs).
 *
 * Memory. The wslay context (two 4 KiB buffers inside; wslay's frame layer
 * alone keeps a 4 KiB input buffer too, measured from its struct, so it
 * cannot serve as the codec at rest) exists only while a frame is in flight:
 * when the session is at rest (no partial frame either way, no fragmented
 * message open, nothing queued) it is freed, and re-created on the next byte.
 * The scanner's 14-byte header buffer and counters below tell when wslay is
 * at rest. So an idle session costs this struct and nothing more.
 *
 * permessage-deflate (RFC 7692), when agreed in the handshake, is switched on
 * with wsf_ws_enable_deflate: data messages then go out compressed (RSV1) and
 * compressed ones coming in are inflated, bounded by max_message_bytes (1009),
 * and text is UTF-8 checked after inflating (1007). Its state sits behind one
 * pointer, NULL on sessions without it; see deflate.h for its memory. */
#ifndef WSF_WS_H
#define WSF_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deflate.h"
#include "frame.h"
#include "inbox.h"
#include "transport.h"

typedef struct wsf_ws wsf_ws;

/* A fragmented message is charged this much per continuation frame against
 * max_message_bytes, beyond its payload: wslay keeps each fragment in three
 * allocations (~96 bytes of heap), so 50 MB of 1-byte fragments held 1.5 GB.
 * Charged, a message's fragments cost at most about max_message_bytes. */
#define WSF_WS_FRAGMENT_CHARGE 128

enum wsf_ws_opcode {
  WSF_WS_TEXT = WSF_FRAME_TEXT,
  WSF_WS_BINARY = WSF_FRAME_BINARY,
  WSF_WS_CLOSE = WSF_FRAME_CLOSE,
  WSF_WS_PING = WSF_FRAME_PING,
  WSF_WS_PONG = WSF_FRAME_PONG
};

typedef struct wsf_ws_callbacks {
  /* A complete data message (fragments reassembled, inflated, text already UTF-8 checked). */
  void (*on_message)(wsf_ws *ws, int opcode, const uint8_t *data, size_t len);
  /* A ping arrived (its pong is written, or held while output waits: see
   * wsf_ws_written; ws->ping_coalesced says it replaced a held one) or a pong
   * arrived. May be NULL. */
  void (*on_ping)(wsf_ws *ws, const uint8_t *data, size_t len);
  void (*on_pong)(wsf_ws *ws, const uint8_t *data, size_t len);
  /* The peer's close frame arrived (our answer is already queued unless we sent one first).
   * code is 1005 when the frame had no code. */
  void (*on_close_frame)(wsf_ws *ws, uint16_t code, const uint8_t *reason, size_t reason_len);
  /* The peer broke the protocol: a close with this code was queued (1002, 1007, 1009;
   * 1011 when we failed, e.g. out of memory). */
  void (*on_protocol_error)(wsf_ws *ws, uint16_t code);
} wsf_ws_callbacks;

/* Layout (x86-64, gdb `ptype /o struct wsf_ws`): 120 bytes, embedded in every
 * connection: pointers, then 8-, 4-, 2- and 1-byte members, so no holes, 2 bytes of tail padding (136
 * bytes with the members in reading order). */
struct wsf_ws {
  wsf_transport *transport;
  const wsf_ws_callbacks *cb;
  struct wslay_event_context *ctx; /* NULL while at rest */
  wsf_deflate *deflate;            /* NULL unless permessage-deflate was agreed */
  /* the bytes being fed to wslay, only during wsf_ws_feed (they live on its stack) */
  struct wsf_ws_feed_span *feed;
  uint8_t *held;      /* the start of a close or ping frame that has not fully arrived (see ws.c) */
  uint8_t *held_pong; /* the latest ping's payload, answered once a write completes */
  struct wsf_ws_long_frame
      *long_frame; /* a one-frame message longer than a read, read by ws.c (NULL: none) */
  uint64_t max_message_bytes;
  /* frame-boundary scanner over received bytes (see ws.c) */
  uint64_t scan_msg_charge; /* the current data message's payload plus a charge per continuation frame */
  uint64_t scan_payload_left;
  uint32_t scan_msg_frames; /* frames of the current data message */
  uint16_t close_code_sent;
  uint16_t close_code_received;
  uint16_t bad_close_code; /* the code the peer's failing close frame carried */
  uint8_t scan_hdr[14];
  uint8_t scan_hdr_len;
  uint8_t bad_close; /* enum wsf_ws_bad_close: why the peer's close frame failed the session */
  uint8_t held_len;
  uint8_t held_pong_len;
  uint8_t server : 1;
  uint8_t close_sent : 1;
  uint8_t close_received : 1;
  uint8_t failed : 1; /* protocol error: no more frames are processed */
  uint8_t in_callback : 1;
  uint8_t deflate_failure : 2; /* why a compressed message failed the session (see ws.c) */
  uint8_t scan_fragmented : 1; /* a fragmented data message is open */
  uint8_t scan_violation : 1;  /* a frame header broke the framing rules */
  uint8_t scan_too_big : 1;    /* a fragmented message went over max_message_bytes as charged (ws.c) */
  uint8_t ping_coalesced : 1;  /* the last ping's pong replaced one never sent (for on_ping) */
};

void wsf_ws_init(wsf_ws *ws, wsf_transport *t, bool server, uint64_t max_message_bytes,
                 const wsf_ws_callbacks *cb);
/* Release the wslay context and the deflate state, if any. Does not touch the transport. */
void wsf_ws_free(wsf_ws *ws);

/* Bytes from the transport (after the upgrade). Returns 0, or UV_EPROTO when
 * the session failed (on_protocol_error was called with the close code that
 * says why: that callback, not this result, is where a failure is handled). */
int wsf_ws_feed(wsf_ws *ws, const uint8_t *data, size_t len);

/* The transport wrote queued bytes (its on_written): a pong held back while
 * output waited goes out now. */
void wsf_ws_written(wsf_ws *ws);

/* Queue a message and write it out. Returns 0 or a negative libuv code:
 * UV_EPIPE after our close or a failure, UV_EINVAL for a control frame
 * wslay will not frame (payload over 125 bytes), the transport's write
 * error, or UV_EIO (no entropy for the mask, or a zlib bug). */
int wsf_ws_send(wsf_ws *ws, int opcode, const uint8_t *data, size_t len);
/* Queue a close frame (code 0 = no code). Returns 0, UV_EPIPE when a close
 * was already sent or the session failed, or the transport's write error. */
int wsf_ws_close(wsf_ws *ws, uint16_t code, const char *reason, size_t reason_len);

/* Switches permessage-deflate on with the parameters agreed in the handshake
 * (wsf_deflate_client_check_answer / wsf_deflate_server_answer). Call after
 * wsf_ws_init, before the first frame is fed or sent. It cannot fail: out of
 * memory aborts (ARCHITECTURE.md, the memory rule). */
void wsf_ws_enable_deflate(wsf_ws *ws, const wsf_deflate_params *agreed);
/* Compressed and plain byte counts; NULL on a session without deflate.
 * They go with the session: copy them before wsf_ws_free. */
const wsf_deflate_counters *wsf_ws_deflate_counters(const wsf_ws *ws);

/* When a compressed message failed the session: what was wrong with it, in
 * words ("bad DEFLATE data" → 1007, "inflated message over
 * max_message_bytes" → 1009, "invalid UTF-8 in a compressed text message"
 * → 1007); NULL otherwise. For the close record's detail. */
const char *wsf_ws_deflate_failure(const wsf_ws *ws);

/* A close code a peer may send (RFC 6455 §7.4): 1000-1003, 1007-1014,
 * 3000-4999. A received close frame with any other code fails the session
 * with 1002, whatever wslay would say (it stops at 1011). */
bool wsf_ws_close_code_valid(uint16_t code);

enum wsf_ws_bad_close {
  WSF_WS_BAD_CLOSE_NONE,
  WSF_WS_BAD_CLOSE_LENGTH, /* a 1-byte payload: 1002 */
  WSF_WS_BAD_CLOSE_CODE,   /* a code not allowed on the wire: 1002 */
  WSF_WS_BAD_CLOSE_REASON, /* a reason that is not UTF-8: 1007 */
};
/* When the peer's close frame failed the session (why, naming the code it
 * carried) or a fragmented message did (how many frames): in words, written
 * into buf; NULL otherwise. For the close record's detail. */
const char *wsf_ws_failure_detail(const wsf_ws *ws, char *buf, size_t cap);

/* Inside on_message: the message's buffer itself when ws.c assembled it
 * (a one-frame message longer than a read, not compressed), handed over with
 * its len and NUL set and the rest of its header for the caller to fill; the
 * caller owns it (free()) and data stays valid until on_message returns.
 * NULL otherwise (copy data then). Saves a copy of a 16 MiB message. */
wsf_msg *wsf_ws_take_message(wsf_ws *ws, const uint8_t *data, size_t len);

/* Both close frames exchanged. */
bool wsf_ws_close_done(const wsf_ws *ws);

#endif
