/* open's protocol layer fields (preset, preset_options, framing, session,
 * auto_reply): parsed and compiled for rpc_do_open. Only rpc*.c include it. */
#ifndef WSF_RPC_OPEN_PROTO_H
#define WSF_RPC_OPEN_PROTO_H

#include "rpc_internal.h"

typedef struct rpc_open_proto {
  wsf_proto *proto; /* a reference (rpc_open_proto_done), or NULL: nothing asked for */
  char *url;        /* socketio4: the URL with EIO=4&transport=websocket, or NULL */
  size_t url_len;
  bool has_keepalive;               /* the preset's keepalive, used when the open gives none */
  wsf_keepalive keepalive;          /* strings point into the request or static text */
  const char *subprotocol;          /* offered when the open offers none (stomp12: v12.stomp), or NULL */
  const msgpack_object *rate_limit; /* echo-heartbeat's preset_options.rate_limit map, or NULL */
} rpc_open_proto;

/* True after filling out; false after answering bad_request (out then holds nothing). */
bool rpc_parse_proto(req_ctx *r, rpc_open_proto *out);
void rpc_open_proto_done(req_ctx *r, rpc_open_proto *out);

#endif
