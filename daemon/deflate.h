/* permessage-deflate (RFC 7692): negotiation without I/O, and the per-session
 * compressor and decompressor (zlib raw DEFLATE).
 *
 * Negotiation: the client builds its offer from wsf_deflate_options and checks
 * the server's answer against it; the server picks the first acceptable offer
 * and builds its answer. Both end with wsf_deflate_params, which ws.c takes
 * (wsf_ws_enable_deflate).
 *
 * Memory: a session's wsf_deflate is a small struct; its zlib streams are
 * allocated on first use. A direction without context takeover frees its
 * stream after every message, so an idle session holds no zlib memory. With
 * context takeover the stream lives as long as the session:
 *   compressor   ~ 2^(window_bits+2) + 2^(mem_level+9) + 5.8 KiB
 *   decompressor ~ 2^window_bits + 7.1 KiB
 * (15 bits, mem_level 8: ~262 KiB + ~39 KiB; 10 bits, mem_level 1: ~11 KiB + ~8 KiB.)
 * Output buffers are shared by every session (one thread) and trimmed after
 * large messages. */
#ifndef WSF_DEFLATE_H
#define WSF_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSF_DEFLATE_BITS_ANY (-1) /* client_max_window_bits offered without a value */
#define WSF_DEFLATE_ERROR_LEN 160 /* room for a negotiation error message */
#define WSF_DEFLATE_OFFER_LEN 160 /* room for any offer or answer this module builds */

/* What a client offers, or what a server is willing to accept.
 * Window bits: 0 = parameter absent, 8..15 = that value; the client's
 * client_max_window_bits may also be WSF_DEFLATE_BITS_ANY. */
typedef struct wsf_deflate_options {
  bool enabled;
  int client_max_window_bits;
  int server_max_window_bits;
  bool client_no_context_takeover;
  bool server_no_context_takeover;
  int level;     /* zlib level 0..9, or -1 for zlib's default (6) */
  int mem_level; /* zlib memLevel 1..9 (less memory, less ratio), 0 = from the window */
} wsf_deflate_options;

/* Agreed parameters (window bits always 8..15; 15 when not limited), plus
 * this side's compression settings. */
typedef struct wsf_deflate_params {
  uint8_t client_max_window_bits;
  uint8_t server_max_window_bits;
  bool client_no_context_takeover;
  bool server_no_context_takeover;
  int8_t level;
  uint8_t mem_level; /* 0: wsf_deflate_mem_level_for_window(our window bits) */
} wsf_deflate_params;

/* The zlib memLevel used when none is set: min(8, window_bits - 4), at least 1. */
int wsf_deflate_mem_level_for_window(int window_bits);

/* Options with enabled = false, level -1, mem_level 0, nothing else set. */
wsf_deflate_options wsf_deflate_options_default(void);
/* NULL when the options are usable, else why not (static words). */
const char *wsf_deflate_options_check(const wsf_deflate_options *o);

/* ---- client side ---- */

/* The Sec-WebSocket-Extensions value to send. Returns its length (0 when
 * !o->enabled: send no header), or -1 with *error for bad options. */
int wsf_deflate_client_offer(const wsf_deflate_options *o, char offer[WSF_DEFLATE_OFFER_LEN],
                             const char **error);

/* Checks the server's Sec-WebSocket-Extensions value (NULL or "" when absent;
 * several header lines joined with ", ") against what the client offered.
 * Returns 1: deflate agreed, *agreed set (level and mem_level from o);
 *         0: the server declined (no extension in the answer);
 *        -1: the answer is not acceptable, error says why; the handshake
 *            must fail (RFC 6455 §4.1, RFC 7692 §5). */
int wsf_deflate_client_check_answer(const wsf_deflate_options *o, const char *answer,
                                    wsf_deflate_params *agreed, char error[WSF_DEFLATE_ERROR_LEN]);

/* ---- server side ---- */

/* Picks the first acceptable permessage-deflate offer in the client's
 * Sec-WebSocket-Extensions value (NULL when absent), per the server's config:
 * server_no_context_takeover / client_no_context_takeover are then always
 * agreed, server_max_window_bits caps the server's window, and
 * client_max_window_bits caps the client's when the client allows it.
 * Returns 1: answer (the header value to send) and *agreed set;
 *         0: nothing accepted (no offer, or each one declined: why in error,
 *            when there was an offer); answer without the extension. */
int wsf_deflate_server_answer(const wsf_deflate_options *cfg, const char *offers, wsf_deflate_params *agreed,
                              char answer[WSF_DEFLATE_OFFER_LEN], char error[WSF_DEFLATE_ERROR_LEN]);

/* ---- per-session state ---- */

typedef struct wsf_deflate wsf_deflate;

typedef struct wsf_deflate_counters { /* kept by ws.c */
  /* Data-message payload bytes: *_compressed as on the wire (compressed or
   * not), the others as the application sends or receives them. */
  uint64_t bytes_in_compressed, bytes_in;
  uint64_t bytes_out_compressed, bytes_out;
} wsf_deflate_counters;

enum wsf_deflate_status {
  WSF_DEFLATE_OK = 0,
  WSF_DEFLATE_TOO_BIG = -1, /* inflated beyond the limit */
  WSF_DEFLATE_CORRUPT = -2, /* not a valid DEFLATE stream */
  WSF_DEFLATE_ZLIB = -3,    /* zlib refused a stream it built itself: a bug, not traffic */
};

/* Never NULL (out of memory aborts, zlib's own allocations included). server:
 * which side this session is. */
wsf_deflate *wsf_deflate_new(const wsf_deflate_params *p, bool server);
void wsf_deflate_free(wsf_deflate *d);

/* Compresses one message; *out points into a shared buffer that stays valid
 * until the next wsf_deflate_compress call of any session. */
int wsf_deflate_compress(wsf_deflate *d, const uint8_t *in, size_t len, const uint8_t **out, size_t *out_len);
/* Decompresses one message's payload, producing at most max bytes
 * (WSF_DEFLATE_TOO_BIG beyond that: nothing larger is ever allocated).
 * *out is shared like the compressor's, until the next decompress call. */
int wsf_deflate_decompress(wsf_deflate *d, const uint8_t *in, size_t len, uint64_t max, const uint8_t **out,
                           size_t *out_len);
/* Resets the compressor after a message that was compressed but could not be
 * sent: the peer never saw it, so its history must not be referenced. */
void wsf_deflate_discard_compressor(wsf_deflate *d);

wsf_deflate_counters *wsf_deflate_counters_of(wsf_deflate *d);
const wsf_deflate_params *wsf_deflate_params_of(const wsf_deflate *d);
/* Bytes zlib holds for this session right now (0 when both streams are released). */
size_t wsf_deflate_zlib_bytes(const wsf_deflate *d);
/* Capacity of the shared output buffers (all sessions). */
size_t wsf_deflate_shared_bytes(void);
/* Frees the shared buffers if a large message grew them past 1 MiB; call
 * once the last output pointer is no longer used. */
void wsf_deflate_trim_buffers(void);

#endif
