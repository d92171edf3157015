/* A WebSocket session (RFC 6455 after the upgrade), client or server role,
 * framed by wslay's event API over a wsf_transport.
 *
 * The wslay context (two 4 KiB buffers inside) exists only while a frame is
 * in flight: when the session is at rest (no partial frame either way, no
 * fragmented message open, nothing queued) it is freed, and re-created on the
 * next byte. A frame-boundary scanner in ws.c tells when wslay is at rest.
 * So an idle session costs this struct and nothing more. */
#ifndef WSF_WS_H
#define WSF_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

typedef struct wsf_ws wsf_ws;

enum wsf_ws_opcode { WSF_WS_TEXT = 1, WSF_WS_BINARY = 2, WSF_WS_CLOSE = 8, WSF_WS_PING = 9, WSF_WS_PONG = 10 };

typedef struct wsf_ws_callbacks {
  /* A complete data message (fragments reassembled, text already UTF-8 checked). */
  void (*on_message)(wsf_ws *ws, int opcode, const uint8_t *data, size_t len);
  /* A ping arrived (the pong is already queued) or a pong arrived. May be NULL. */
  void (*on_ping)(wsf_ws *ws, const uint8_t *data, size_t len);
  void (*on_pong)(wsf_ws *ws, const uint8_t *data, size_t len);
  /* The peer's close frame arrived (our answer is already queued unless we sent one first).
   * code is 1005 when the frame had no code. */
  void (*on_close_frame)(wsf_ws *ws, uint16_t code, const uint8_t *reason, size_t reason_len);
  /* The peer broke the protocol: wslay queued a close with this code (1002, 1007, 1009). */
  void (*on_protocol_error)(wsf_ws *ws, uint16_t code);
} wsf_ws_callbacks;

struct wsf_ws {
  wsf_transport *transport;
  const wsf_ws_callbacks *cb;
  struct wslay_event_context *ctx; /* NULL while at rest */
  uint64_t max_message_bytes;
  uint8_t server : 1;
  uint8_t close_sent : 1;
  uint8_t close_received : 1;
  uint8_t failed : 1;   /* protocol error: no more frames are processed */
  uint8_t in_callback : 1;
  /* frame-boundary scanner over received bytes (see ws.c) */
  uint8_t scan_hdr[14];
  uint8_t scan_hdr_len;
  uint8_t scan_fragmented : 1; /* a fragmented data message is open */
  uint8_t scan_violation : 1;  /* a frame header broke the framing rules */
  uint64_t scan_payload_left;
  uint16_t close_code_sent;
  uint16_t close_code_received;
  const uint8_t *feed_data; /* bytes being fed to wslay during wsf_ws_feed */
  size_t feed_len;
};

void wsf_ws_init(wsf_ws *ws, wsf_transport *t, bool server, uint64_t max_message_bytes,
                 const wsf_ws_callbacks *cb);
/* Release the wslay context, if any. Does not touch the transport. */
void wsf_ws_free(wsf_ws *ws);

/* Bytes from the transport (after the upgrade). Returns 0, or -1 when the
 * session failed (on_protocol_error was called). */
int wsf_ws_feed(wsf_ws *ws, const uint8_t *data, size_t len);

/* Queue a message and write it out. Returns 0 or -1 (closing, or out of memory). */
int wsf_ws_send(wsf_ws *ws, int opcode, const uint8_t *data, size_t len);
/* Queue a close frame (code 0 = no code). */
int wsf_ws_close(wsf_ws *ws, uint16_t code, const char *reason, size_t reason_len);

/* Both close frames exchanged. */
bool wsf_ws_close_done(const wsf_ws *ws);

#endif
