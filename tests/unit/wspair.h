/* A client and a server wsf_ws over real loopback TCP on one uv loop, for
 * test_ws and test_deflate. Either end may be a raw byte collector instead,
 * so what the other session writes is checked on the wire and crafted frames
 * are fed straight into it. One pair at a time, in the globals client and
 * server, so run_until conditions can be plain functions. Loop runs are
 * bounded by a watchdog; harness failures count as CHECK failures. */
#ifndef WSF_WSPAIR_H
#define WSF_WSPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"
#include "ws.h"

#define PAIR_MAX_MSGS 256 /* messages kept per peer; later ones are dropped */

typedef struct stored {
  int opcode;
  uint8_t *data;
  size_t len;
} stored;

/* One end of the pair: what its session reported, or (raw) the bytes it got. */
typedef struct peer {
  wsf_transport t;
  wsf_ws ws;
  bool raw; /* collect bytes instead of feeding the session */
  uint8_t *rx;
  size_t rx_len, rx_cap;
  stored msgs[PAIR_MAX_MSGS];
  int n_msgs;
  int pings, pongs;
  uint8_t ping_data[125], pong_data[125]; /* the last ones */
  size_t ping_len, pong_len;
  int close_frames;
  uint16_t close_code;
  char close_reason[128];
  int protocol_errors;
  uint16_t protocol_error_code;
  int feed_failures; /* wsf_ws_feed calls that returned non-zero */
  bool connected, ended, closed;
} peer;

extern peer client, server;

/* Connects a fresh pair. raw_side: NULL, &client or &server. deflate: NULL for
 * plain sessions, else both sessions switch permessage-deflate on with it. */
void pair_open(peer *raw_side, uint64_t client_max, uint64_t server_max, const wsf_deflate_params *deflate);
/* Frees both sessions (and checks their deflate state went with them), closes
 * the sockets and the listener, and releases everything collected. */
void pair_close(void);
/* Runs the loop until cond() holds or timeout_ms passes; says which. */
bool run_until(bool (*cond)(void), uint64_t timeout_ms);

bool stored_is(const stored *s, int opcode, const void *data, size_t len);

/* ---- frames on the wire ---- */
enum { FRAME_FIN = 1, FRAME_RSV1 = 2, FRAME_MASK = 4 };
/* Writes one frame (bits: FRAME_*) into out, which has room for len + 14. */
size_t frame(uint8_t *out, unsigned bits, int opcode, const void *payload, size_t len);

typedef struct parsed {
  bool fin, masked;
  int opcode;
  size_t len;
  uint8_t payload[125]; /* unmasked; only the first 125 bytes of a longer one */
} parsed;
/* Parses the frame at buf; returns its size, 0 if it is not all there. */
size_t parse_frame(const uint8_t *buf, size_t have, parsed *f);
/* The first frame with this opcode among those a raw peer collected. */
bool raw_has_frame(const peer *p, int opcode, parsed *out);
/* The code of the first close frame a raw peer collected; false if it has none. */
bool raw_close_code(const peer *p, uint16_t *code);
bool server_raw_has_close(void);

#endif
