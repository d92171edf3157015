/* The control server's private seam: the state its files share. Bottom to
 * top: rpc_io.c (framing, write batching, waiting requests), rpc_pack.c (the
 * msgpack writer of the views), rpc_request.c (field getters, common errors),
 * rpc_methods_*.c (the method groups), rpc_dispatch.c (the method table),
 * rpc.c (listeners and authentication). Each calls only files below it;
 * rpc_io.c reaches dispatch through wsf_rpc.on_request. Nothing outside
 * rpc*.c includes it. */
#ifndef WSF_RPC_INTERNAL_H
#define WSF_RPC_INTERNAL_H

#include <msgpack.h>

#include "codec.h"
#include "rpc.h"
#include "rpc_out.h"
#include "util.h"

/* A control connection. Pending requests hold a reference, so a client that
 * disconnects mid-request is freed only when its last request completes (the
 * response is then dropped). */
typedef struct wsf_ctl {
  union {
    uv_pipe_t pipe;
    uv_tcp_t tcp;
    uv_stream_t stream;
    uv_handle_t handle;
  } h;
  wsf_daemon *d;
  wsf_rpc_decoder *dec;
  msgpack_sbuffer out;
  msgpack_packer pk;
  size_t write_pending;
  uint32_t refs;
  uint32_t events;         /* subscription bitmask */
  uint32_t n_pendings;     /* requests waiting (max_waits_per_client) */
  wsf_timer auth_deadline; /* TCP: the hello with the token must come before it */
  bool closed, is_tcp, authed, in_read, dirty;
  struct wsf_ctl *next, *prev;
  struct wsf_ctl *next_dirty; /* packed output waiting for this loop turn's flush */
  struct pending *pendings;   /* requests that wait: cancelled when the client goes */
} wsf_ctl;

/* Limits of the control side (PROTOCOL.md §9, "Control-side limits"): each
 * is named in the error or log line when hit and counted in stats
 * `control_limits`. */
#define CTL_LIMITS(X)                                                                                        \
  X(PREAUTH_REQUEST_BYTES, "preauth_request_bytes")                                                          \
  X(AUTH_TIMEOUT_MS, "auth_timeout_ms")                                                                      \
  X(MAX_UNAUTHENTICATED, "max_unauthenticated")                                                              \
  X(MAX_CONTROL_CLIENTS, "max_control_clients")                                                              \
  X(MAX_CONTROL_OUTPUT_BYTES, "max_control_output_bytes")                                                    \
  X(MAX_WAITS_PER_CLIENT, "max_waits_per_client")                                                            \
  X(MAX_WAITS_PER_CONN, "max_waits_per_conn")                                                                \
  X(MAX_REQUEST_BYTES, "max_request_bytes")                                                                  \
  X(MAX_REQUEST_OBJECTS, "max_request_objects")

enum ctl_limit {
#define X(id, name) CTL_##id,
  CTL_LIMITS(X)
#undef X
      CTL_LIMIT_COUNT
};

/* The names of the limits, in enum order (stats `control_limits`). */
extern const char *const rpc_ctl_limit_names[CTL_LIMIT_COUNT];

/* Before a TCP client has authenticated it may hold little: a hello with the
 * token is ~90 bytes and 8 objects. Without these, 30 idle clients each
 * buffering a 16 MiB request held +480 MB and the descriptors they held kept
 * WebSockets from opening (issue 14). */
#define PREAUTH_MAX_REQUEST_BYTES 4096
#define PREAUTH_MAX_OBJECTS 64
#define AUTH_TIMEOUT_MS 5000
#define MAX_UNAUTHENTICATED 16
/* A pending request costs ~300 bytes (its wait, match and timer): 32,768 per
 * client is ~10 MB, above the 19,000 opens a client may pipeline. */
#define MAX_WAITS_PER_CLIENT 32768
/* recv/request/ping waiting on one connection: each message that arrives is
 * matched against every recv waiter in turn. A close is never refused. */
#define MAX_WAITS_PER_CONN 64
/* One list reply at most (or a quarter of max_control_output_bytes if less):
 * the rest is paged with `offset` (list used to pack everything, and a reply
 * over 64 MiB dropped its client). */
#define LIST_REPLY_MAX_BYTES (4u << 20)

typedef struct wsf_rpc {
  uv_prepare_t flusher; /* before the loop blocks: one write per client for all it was sent */
  wsf_ctl *dirty;
  uv_pipe_t unix_listener;
  uv_tcp_t tcp_listener;
  bool has_unix, has_tcp;
  char token[65];
  wsf_ctl *clients;
  uint32_t unauthenticated; /* TCP clients that have not sent the token yet */
  uint64_t limit_hits[CTL_LIMIT_COUNT];
  /* Each decoded request (rpc.c: authentication, then rpc_dispatch): a
   * pointer, so the framing below does not call up into the methods. */
  void (*on_request)(wsf_ctl *ctl, const wsf_rpc_request *req);
} wsf_rpc;

enum pending_method { P_OPEN, P_RECV, P_REQUEST, P_PING, P_CLOSE };

typedef struct pending {
  wsf_wait w;
  wsf_ctl *ctl;
  struct pending *next, *prev;
  uint32_t msgid;
  uint8_t method;
  uint32_t timeout_ms;
  size_t sent_bytes;
  uint64_t sent_us;
  uint64_t paced_us; /* request on a connection with a rate_limit: the expected wait before the write */
  char *conn_name;   /* open: for errors that come before a connection exists */
} pending;

typedef struct req_ctx {
  wsf_ctl *ctl;
  wsf_daemon *d;
  uint32_t msgid;
  const msgpack_object *params;
} req_ctx;

/* ---- packing helpers: one key and its value (rpc_out.h) ---------------------- */

static inline void kv_uint(msgpack_packer *pk, const char *k, uint64_t v) {
  msgpack_sbuffer *sb = out_sb(pk);
  out_cstr(pk, sb, k);
  out_uint(sb, v);
}

static inline void kv_str(msgpack_packer *pk, const char *k, const char *v) {
  msgpack_sbuffer *sb = out_sb(pk);
  out_cstr(pk, sb, k);
  if (v)
    out_cstr(pk, sb, v);
  else
    out_byte(sb, 0xc0);
}

static inline void kv_bool(msgpack_packer *pk, const char *k, bool v) {
  msgpack_sbuffer *sb = out_sb(pk);
  out_cstr(pk, sb, k);
  out_byte(sb, v ? 0xc3 : 0xc2);
}

static inline void kv_us(msgpack_packer *pk, const char *k, uint64_t v) {
  msgpack_sbuffer *sb = out_sb(pk);
  out_cstr(pk, sb, k);
  if (v == WSF_NEVER)
    out_byte(sb, 0xc0);
  else
    out_uint(sb, v);
}

/* ---- rpc_io.c: a control client's bytes in and out -------------------------- */

void rpc_ctl_unref(wsf_ctl *ctl);        /* frees it with its last reference */
void rpc_ctl_close(wsf_ctl *ctl);        /* idempotent; cancels its waiting requests */
void rpc_ctl_flush(wsf_ctl *ctl);        /* writes what was packed now */
void rpc_ctl_done_packing(wsf_ctl *ctl); /* a reply is packed: flushed this loop turn */
void rpc_flush_dirty(uv_prepare_t *h);   /* the flusher: every client with packed output */
void rpc_ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void rpc_on_ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
void rpc_send_error(wsf_ctl *ctl, uint32_t msgid, const char *code, const char *message);
void rpc_send_error_limit(wsf_ctl *ctl, uint32_t msgid, const char *limit, const char *message);
void rpc_send_ctl_limit(wsf_ctl *ctl, uint32_t msgid, enum ctl_limit limit, const char *message);
/* A waiting request bound to r's client (owned by it until rpc_pending_free),
 * or NULL after answering limit_exceeded. */
pending *rpc_pending_new(req_ctx *r, uint8_t method, const wsf_conn *c);
void rpc_pending_free(pending *p);

/* ---- rpc.c: who may talk ------------------------------------------------------- */

/* A TCP client's first request must be hello with the token: true when
 * ctl may go on (authenticated now or before), false after refusing it. */
bool rpc_authenticate(wsf_ctl *ctl, const wsf_rpc_request *req);

/* ---- rpc_dispatch.c: requests to method groups --------------------------------- */

void rpc_dispatch(wsf_ctl *ctl, const wsf_rpc_request *req);

/* ---- rpc_request.c: what every method uses --------------------------------------- */

/* Field getters: true when absent or valid (value left as default), false
 * after answering bad_request. */
bool rpc_bad(req_ctx *r, const char *fmt, const char *field);
bool rpc_get_uint(req_ctx *r, const msgpack_object *map, const char *key, uint64_t *v, uint64_t max);
bool rpc_get_u32(req_ctx *r, const msgpack_object *map, const char *key, uint32_t *v);
bool rpc_get_bool(req_ctx *r, const msgpack_object *map, const char *key, bool *v);
bool rpc_get_str(req_ctx *r, const msgpack_object *map, const char *key, const char **s, size_t *len);
bool rpc_get_map(req_ctx *r, const msgpack_object *map, const char *key, const msgpack_object **m);
wsf_conn *rpc_get_conn(req_ctx *r); /* the required `conn`, or NULL after answering */
void rpc_send_conn_closed(wsf_ctl *ctl, uint32_t msgid, const wsf_conn *c);
void rpc_send_no_such_conn(wsf_ctl *ctl, uint32_t msgid, const char *name, size_t len);
bool rpc_sendable_close_code(uint64_t code);

/* ---- the method groups ---------------------------------------------------------- */

/* Every method, once: the dispatch table and hello's `methods` list are both
 * made from it (they were two lists kept in step by hand). Columns: name,
 * handler, and whether it starts something new (refused while shutting down).
 * The order is the order hello lists them in. Groups: rpc_methods_conn.c
 * (one connection's life), rpc_methods_query.c (reading state),
 * rpc_methods_admin.c (the session and the fleet). */
#define RPC_METHODS(X)                                                                                       \
  X(hello, rpc_do_hello, false)                                                                              \
  X(open, rpc_do_open, true)                                                                                 \
  X(send, rpc_do_send, false)                                                                                \
  X(recv, rpc_do_recv, false)                                                                                \
  X(request, rpc_do_request, false)                                                                          \
  X(ping, rpc_do_ping, false)                                                                                \
  X(close, rpc_do_close, false)                                                                              \
  X(status, rpc_do_status, false)                                                                            \
  X(list, rpc_do_list, false)                                                                                \
  X(stats, rpc_do_stats, false)                                                                              \
  X(reset, rpc_do_reset, false)                                                                              \
  X(subscribe, rpc_do_subscribe, false)

#define X(name, fn, starts) void fn(req_ctx *r);
RPC_METHODS(X)
#undef X

typedef struct rpc_method {
  const char *name;
  size_t name_len;
  void (*fn)(req_ctx *r);
  bool refused_while_shutting_down;
} rpc_method;
extern const rpc_method rpc_methods[];
extern const size_t rpc_method_count;
/* Registers the lifecycle notifications (rpc_methods_admin.c) with conn. */
void rpc_notify_start(wsf_daemon *d);

/* The notification events, in bit order of a subscription mask. */
extern const char *const rpc_event_names[];
extern const size_t rpc_event_count;

/* ---- rpc_pack.c ------------------------------------------------------------------- */

/* rpc_sbuffer_write (rpc_out.h): msgpack_sbuffer_write under the memory
 * rule: out of memory aborts with the size instead of returning -1, which
 * would leave a half-packed reply that corrupts the client's framing. Every
 * packer of a control reply uses it. */

struct wsf_view;
/* Packs a view (view.h) as a map of the fields control replies carry. pk
 * writes through rpc_sbuffer_write (the view is written into its sbuffer directly). */
void rpc_pack_view(msgpack_packer *pk, const struct wsf_view *v);
void wsf_rpc_pack_stats(wsf_daemon *d, msgpack_packer *pk);
void wsf_rpc_pack_record(msgpack_packer *pk, const wsf_close_record *r);
void wsf_rpc_pack_timings(msgpack_packer *pk, const wsf_timings *t);

#endif
