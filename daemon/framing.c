/* Records inside WebSocket messages: see framing.h. */
#include "framing.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int wsf_framing_terminator(wsf_framing_mode m) {
  switch (m) {
  case WSF_FRAMING_RECORD_SEPARATOR:
    return 0x1E;
  case WSF_FRAMING_STOMP:
    return 0;
  default:
    return -1;
  }
}

void wsf_framer_init(wsf_framer *f, wsf_framing_mode mode, size_t max_record_bytes) {
  memset(f, 0, sizeof *f);
  f->mode = (uint8_t)mode;
  f->max_record_bytes = max_record_bytes;
}

void wsf_framer_free(wsf_framer *f) {
  free(f->carry);
  f->carry = NULL;
  f->carry_len = 0;
}

/* Appends the unterminated tail of a message to the carry; false when the
 * record would outgrow its bound. */
static bool carry_more(wsf_framer *f, int opcode, const uint8_t *data, size_t len) {
  if (len == 0)
    return true;
  if (f->carry_len + len > f->max_record_bytes) {
    wsf_framer_free(f);
    return false;
  }
  if (!f->carry_len)
    f->carry_opcode = (uint8_t)opcode;
  f->carry = wsf_xrealloc(f->carry, f->carry_len + len);
  memcpy(f->carry + f->carry_len, data, len);
  f->carry_len += len;
  return true;
}

int wsf_framer_feed(wsf_framer *f, int opcode, const uint8_t *data, size_t len,
                    const wsf_framing_callbacks *cb, void *ctx) {
  int term = wsf_framing_terminator(f->mode);
  if (term < 0) {
    if (len > f->max_record_bytes)
      return WSF_FRAMING_TOO_BIG; /* ws.c enforces it before us; kept so the bound holds alone */
    return cb->on_record(ctx, opcode, data, len) ? WSF_FRAMING_OK : WSF_FRAMING_STOPPED;
  }
  const uint8_t *p = data, *end = data + len;
  while (p < end) {
    /* Between STOMP frames (nothing carried), each EOL is a heart-beat; a "\r\n" may be cut
     * between two messages (its "\r" then waits alone in the carry). */
    if (f->mode == WSF_FRAMING_STOMP && f->carry_len == 1 && f->carry[0] == '\r' && *p == '\n') {
      wsf_framer_free(f);
      p++;
      if (!cb->on_heartbeat(ctx))
        return WSF_FRAMING_STOPPED;
      continue;
    }
    if (f->mode == WSF_FRAMING_STOMP && !f->carry_len) {
      if (*p == '\n') {
        p++;
        if (!cb->on_heartbeat(ctx))
          return WSF_FRAMING_STOPPED;
        continue;
      }
      if (*p == '\r' && end - p >= 2 && p[1] == '\n') {
        p += 2;
        if (!cb->on_heartbeat(ctx))
          return WSF_FRAMING_STOPPED;
        continue;
      }
    }
    const uint8_t *stop = memchr(p, term, (size_t)(end - p));
    if (!stop)
      return carry_more(f, opcode, p, (size_t)(end - p)) ? WSF_FRAMING_OK : WSF_FRAMING_TOO_BIG;
    size_t piece = (size_t)(stop - p);
    bool go;
    if (f->carry_len) {
      if (!carry_more(f, opcode, p, piece))
        return WSF_FRAMING_TOO_BIG;
      /* The record leaves the carry before the call: a callback may end the connection. */
      uint8_t *rec = f->carry;
      size_t rec_len = f->carry_len;
      int rec_opcode = f->carry_opcode;
      f->carry = NULL;
      f->carry_len = 0;
      go = cb->on_record(ctx, rec_opcode, rec, rec_len);
      free(rec);
    } else if (piece == 0 && f->mode == WSF_FRAMING_RECORD_SEPARATOR) {
      go = true; /* an empty record (two separators): nothing to deliver */
    } else {
      if (piece > f->max_record_bytes)
        return WSF_FRAMING_TOO_BIG;
      go = cb->on_record(ctx, opcode, p, piece);
    }
    if (!go)
      return WSF_FRAMING_STOPPED;
    p = stop + 1;
  }
  return WSF_FRAMING_OK;
}
