/* WebSocket frames (RFC 6455 §5.2) without I/O: the one place in our code
 * where a frame header is read or written.
 *
 * Decoding is fed the bytes seen so far of a header and answers: complete
 * (its length), more needed, or which rule they break, as soon as the bytes
 * seen prove it (a control frame is judged on its first two bytes, as wslay
 * does). The rules that hold for every frame are checked by the decoder
 * (control frames unfragmented and ≤ 125 bytes, lengths in their minimal
 * encoding and below 2^63); the rules that depend on the session (which RSV
 * bits an extension defines, which side masks, which opcodes are known) by
 * wsf_frame_check. Encoding writes a whole frame, masked when given a key.
 * Neither keeps state: a session at rest holds no codec state at all. */
#ifndef WSF_FRAME_H
#define WSF_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wsf_frame_opcode {
  WSF_FRAME_CONTINUATION = 0,
  WSF_FRAME_TEXT = 1,
  WSF_FRAME_BINARY = 2,
  WSF_FRAME_CLOSE = 8,
  WSF_FRAME_PING = 9,
  WSF_FRAME_PONG = 10,
};

#define WSF_FRAME_HEADER_MAX 14   /* 2 + 8 (64-bit length) + 4 (masking key) */
#define WSF_FRAME_CONTROL_MAX 125 /* payload of a close, ping or pong */
#define WSF_FRAME_RSV1 0x4        /* rsv as 3 bits: RSV1 RSV2 RSV3 (permessage-deflate: RSV1) */

typedef struct wsf_frame_header {
  uint64_t payload_len;
  uint8_t opcode;
  uint8_t rsv; /* RSV1..RSV3 as bits 2..0 */
  bool fin;
  bool masked;
  uint8_t mask[4]; /* when masked */
  uint8_t header_len;
} wsf_frame_header;

/* Why a frame breaks the rules (all of them 1002 for a peer). */
typedef enum wsf_frame_error {
  WSF_FRAME_E_CONTROL = -1,  /* a control frame fragmented or over 125 bytes */
  WSF_FRAME_E_LENGTH = -2,   /* a length not in its minimal encoding, or with bit 63 set */
  WSF_FRAME_E_OPCODE = -3,   /* a reserved opcode (3-7, 11-15) */
  WSF_FRAME_E_RSV = -4,      /* an RSV bit no agreed extension defines */
  WSF_FRAME_E_MASK = -5,     /* masked towards a client, or unmasked towards a server */
  WSF_FRAME_E_SEQUENCE = -6, /* a continuation without a message, a new message inside a fragmented one */
} wsf_frame_error;

static inline bool wsf_frame_is_control(uint8_t opcode) {
  return opcode & 0x8;
}

/* The header at the start of p[0..have): returns its length (2..14) with *h
 * filled when it is complete and keeps the rules for every frame, 0 when more
 * bytes are needed, or a wsf_frame_error once the bytes seen break a rule.
 * From two bytes on, opcode, rsv, fin and masked are filled even when the
 * answer is 0, so wsf_frame_check can judge a header before its length. */
int wsf_frame_decode_header(const uint8_t *p, size_t have, wsf_frame_header *h);

/* The session's rules on a header (its first two bytes suffice): 0, or a
 * wsf_frame_error. from_client: the peer is a client (its frames must be
 * masked, ours not); allowed_rsv: the RSV bits an agreed extension defines
 * (WSF_FRAME_RSV1), allowed on a message's first frame only; fragmented: a
 * fragmented data message is open (only continuations and control frames may
 * come), which the caller tracks from the frames' fin bits. */
int wsf_frame_check(const wsf_frame_header *h, bool from_client, uint8_t allowed_rsv, bool fragmented);

/* Writes one whole frame (FIN set) into dst, which has room for
 * WSF_FRAME_HEADER_MAX + len bytes: the header, then the masking key when
 * key is not NULL (client to server) and the payload masked with it, else
 * the payload as it is. Returns the bytes written. */
size_t wsf_frame_encode(uint8_t *dst, uint8_t opcode, uint8_t rsv, const uint8_t *payload, size_t len,
                        const uint8_t *key);

/* The header alone of such a frame (with its masking key when key is not
 * NULL): for a payload written after it in pieces. Returns its length. */
size_t wsf_frame_encode_header(uint8_t *dst, uint8_t opcode, uint8_t rsv, size_t len, const uint8_t *key);

/* Words for a wsf_frame_error ("control frame fragmented or over 125 bytes"). */
const char *wsf_frame_error_words(int error);

#endif
