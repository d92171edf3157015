/* Protocol records inside WebSocket messages (open's `framing`), without I/O.
 *
 * `message`: one record per message (nothing to split). `record_separator`:
 * records end with 0x1E, several per message (SignalR). `stomp`: frames end
 * with NUL; EOLs between frames ("\n" or "\r\n") are STOMP heart-beats, told
 * apart from records. A record may be split across messages: its first part
 * waits in a carry buffer, bounded by max_record_bytes (the open's
 * max_message_bytes), so a server that never sends the terminator cannot
 * grow it. A STOMP body holding NUL bytes (a content-length frame) is not
 * supported: its first NUL ends the frame. */
#ifndef WSF_FRAMING_H
#define WSF_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h" /* wsf_framing_mode and its names */

/* The byte that ends a record in mode m (0x1E, NUL), or -1 for `message`. */
int wsf_framing_terminator(wsf_framing_mode m);

/* What the splitter finds, in order. Each returns false to stop the feed
 * (the connection ended during the call): the rest of the message is then
 * dropped and the carry is left as it was. */
typedef struct wsf_framing_callbacks {
  bool (*on_record)(void *ctx, int opcode, const uint8_t *data, size_t len);
  bool (*on_heartbeat)(void *ctx); /* stomp: one EOL between frames */
} wsf_framing_callbacks;

/* One connection's splitter. The carry is allocated on first use and freed
 * when empty, so a connection between records holds no buffer. */
typedef struct wsf_framer {
  uint8_t mode; /* wsf_framing_mode */
  uint8_t carry_opcode;
  uint8_t *carry;
  size_t carry_len;
  size_t max_record_bytes;
} wsf_framer;

void wsf_framer_init(wsf_framer *f, wsf_framing_mode mode, size_t max_record_bytes);
void wsf_framer_free(wsf_framer *f);

enum wsf_framing_result {
  WSF_FRAMING_OK = 0,
  WSF_FRAMING_STOPPED = 1,  /* a callback returned false */
  WSF_FRAMING_TOO_BIG = -1, /* a record grew past max_record_bytes: the carry is dropped */
};
/* Splits one WebSocket message (data is only read during the call). */
int wsf_framer_feed(wsf_framer *f, int opcode, const uint8_t *data, size_t len,
                    const wsf_framing_callbacks *cb, void *ctx);

#endif
