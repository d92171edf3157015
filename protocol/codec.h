/* wsfleet control-protocol codec: msgpack-RPC framing and named-field params.
 *
 * Bytes in, structs out; bytes out from structs. No I/O and no libuv, so it is
 * unit-tested against protocol/vectors/ and fuzzed alone (see PROTOCOL.md). */
#ifndef WSF_CODEC_H
#define WSF_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Result of wsf_rpc_decoder_next(). */
enum wsf_rpc_status {
  WSF_RPC_NEED_MORE = 0,  /* no complete message buffered */
  WSF_RPC_REQUEST = 1,    /* *req holds a valid request */
  WSF_RPC_INVALID = 2,    /* a complete msgpack object that is not a valid request:
                             answer bad_request (req->msgid if req->has_msgid), keep going */
  WSF_RPC_MALFORMED = -1, /* bytes are not msgpack: framing lost, close the connection */
  WSF_RPC_TOO_LARGE = -2, /* a message exceeds max_request_bytes or the object limit
                             (wsf_rpc_decoder_limit_hit() tells which): close the connection */
};

typedef struct wsf_rpc_decoder wsf_rpc_decoder;

typedef struct wsf_rpc_request {
  uint32_t msgid;
  bool has_msgid;
  const char *method; /* not NUL-terminated */
  size_t method_len;
  /* The params map (never NULL for WSF_RPC_REQUEST: an empty params array
   * yields an empty map). Valid until wsf_rpc_request_release(). */
  const msgpack_object *params;
  const char *invalid_reason; /* for WSF_RPC_INVALID: words for the error message */
  msgpack_zone *zone;         /* owns params; released by wsf_rpc_request_release() */
} wsf_rpc_request;

/* Objects (every str, int, nil, array, map key and value...) one request may
 * hold. msgpack-c builds a 24-byte msgpack_object for each, so without this
 * bound a 16 MiB request of one-byte nils made the daemon allocate 384 MiB at
 * once (peak RSS 414 MB measured); 65,536 objects cost at most 1.5 MiB, and a
 * real request (an open with 64 headers and 32 subprotocols) holds ~300. */
#define WSF_RPC_DEFAULT_MAX_OBJECTS 65536

wsf_rpc_decoder *wsf_rpc_decoder_new(size_t max_request_bytes);
void wsf_rpc_decoder_free(wsf_rpc_decoder *dec);
/* Changes both limits (for the next bytes fed): TCP control starts a client
 * with small limits and raises them once it authenticates. */
void wsf_rpc_decoder_set_limits(wsf_rpc_decoder *dec, size_t max_request_bytes, size_t max_objects);
/* After WSF_RPC_TOO_LARGE: the limit that was hit, "max_request_bytes" or
 * "max_request_objects" (NULL before). */
const char *wsf_rpc_decoder_limit_hit(const wsf_rpc_decoder *dec);

/* Buffers len bytes. Returns 0, or WSF_RPC_TOO_LARGE when the message in
 * progress exceeds max_request_bytes or the object limit. */
int wsf_rpc_decoder_feed(wsf_rpc_decoder *dec, const char *buf, size_t len);

/* Extracts the next message. Call until it returns WSF_RPC_NEED_MORE or < 0.
 * For WSF_RPC_REQUEST and WSF_RPC_INVALID call wsf_rpc_request_release(req)
 * when done with it. */
int wsf_rpc_decoder_next(wsf_rpc_decoder *dec, wsf_rpc_request *req);
void wsf_rpc_request_release(wsf_rpc_request *req);

bool wsf_rpc_method_is(const wsf_rpc_request *req, const char *name);

/* Named-field access on a params map (or any str-keyed map). */
enum wsf_field_status {
  WSF_FIELD_ABSENT = 0, /* missing, or present as nil */
  WSF_FIELD_OK = 1,
  WSF_FIELD_WRONG_TYPE = -1,
};

const msgpack_object *wsf_field(const msgpack_object *map, const char *key);
/* str only */
int wsf_field_str(const msgpack_object *map, const char *key, const char **s, size_t *len);
/* str or bin; *is_bin tells which */
int wsf_field_bytes(const msgpack_object *map, const char *key, const char **p, size_t *len, bool *is_bin);
/* non-negative integer (positive fixint/uint, or a negative int is WRONG_TYPE) */
int wsf_field_uint(const msgpack_object *map, const char *key, uint64_t *v);
int wsf_field_bool(const msgpack_object *map, const char *key, bool *v);
/* map or array: *out points into the map */
int wsf_field_map(const msgpack_object *map, const char *key, const msgpack_object **out);
int wsf_field_array(const msgpack_object *map, const char *key, const msgpack_object **out);

/* Encoding. The daemon packs results with msgpack_packer directly; these
 * helpers fix the envelope so every response has the same shape. */
/* Text the daemon did not write itself (a close reason, a handshake body or a
 * header from a server) may be any bytes; a msgpack str must be UTF-8. These
 * pack it as str with each invalid sequence replaced by U+FFFD (PROTOCOL.md
 * §3), so a client's strict decoder never rejects a response. */
void wsf_pack_str(msgpack_packer *pk, const char *s); /* NUL-terminated */
void wsf_pack_text(msgpack_packer *pk, const char *s, size_t len);
/* Whole and well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
bool wsf_utf8_valid(const char *s, size_t len);
/* Length of the well-formed UTF-8 sequence at p (1..4), or 0 where there is none. */
size_t wsf_utf8_seq(const uint8_t *p, size_t avail);
void wsf_pack_key(msgpack_packer *pk, const char *key); /* same as wsf_pack_str, reads better in maps */
/* [1, msgid, nil, <caller packs the result map next>] */
void wsf_pack_result_header(msgpack_packer *pk, uint32_t msgid);
/* [1, msgid, {code, message, <caller packs n_details more key/value pairs>}, nil]
 * The caller packs exactly n_details key/value pairs, then calls wsf_pack_error_end(). */
void wsf_pack_error_begin(msgpack_packer *pk, uint32_t msgid, const char *code, const char *message,
                          size_t n_details);
void wsf_pack_error_end(msgpack_packer *pk);
/* [2, method, [<caller packs the one params map next>]] */
void wsf_pack_notification_header(msgpack_packer *pk, const char *method);

#endif
