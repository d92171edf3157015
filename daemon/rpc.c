#include "rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "codec.h"
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

static const char *const ctl_limit_names[] = {
#define X(id, name) name,
    CTL_LIMITS(X)
#undef X
};

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
  char *conn_name; /* open: for errors that come before a connection exists */
} pending;

static const char *const event_names[] = {"open", "close", "handshake_failed", "drop"};

static const char *const method_names[] = {
    "hello", "open",   "send", "recv",  "request", "ping",
    "close", "status", "list", "stats", "reset",   "subscribe",
};

/* ---- packing helpers ---------------------------------------------------- */

static void kv_uint(msgpack_packer *pk, const char *k, uint64_t v) {
  wsf_pack_key(pk, k);
  msgpack_pack_uint64(pk, v);
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v) {
  wsf_pack_key(pk, k);
  if (v)
    wsf_pack_str(pk, v);
  else
    msgpack_pack_nil(pk);
}

static void kv_bool(msgpack_packer *pk, const char *k, bool v) {
  wsf_pack_key(pk, k);
  if (v)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
}

static void kv_us(msgpack_packer *pk, const char *k, uint64_t v) {
  wsf_pack_key(pk, k);
  if (v == WSF_NEVER)
    msgpack_pack_nil(pk);
  else
    msgpack_pack_uint64(pk, v);
}

void wsf_rpc_pack_record(msgpack_packer *pk, const wsf_close_record *r) {
  msgpack_pack_map(pk, 18);
  kv_uint(pk, "code", r->code);
  kv_str(pk, "reason", r->reason);
  kv_str(pk, "initiator", wsf_initiator_name(r->initiator));
  kv_bool(pk, "clean", r->clean);
  kv_str(pk, "cause", wsf_cause_name(r->cause));
  kv_str(pk, "detail", r->detail);
  kv_uint(pk, "closed_at_ms", r->closed_at_ms);
  kv_uint(pk, "age_us", r->age_us);
  kv_us(pk, "since_sent_us", r->since_sent_us);
  kv_us(pk, "since_recv_us", r->since_recv_us);
  kv_us(pk, "since_ping_us", r->since_ping_us);
  kv_us(pk, "since_pong_us", r->since_pong_us);
  kv_uint(pk, "open_conns", r->open_conns);
  kv_uint(pk, "msgs_in", r->msgs_in);
  kv_uint(pk, "msgs_out", r->msgs_out);
  kv_uint(pk, "bytes_in", r->bytes_in);
  kv_uint(pk, "bytes_out", r->bytes_out);
  kv_str(pk, "summary", r->summary);
}

void wsf_rpc_pack_timings(msgpack_packer *pk, const wsf_timings *t) {
  msgpack_pack_map(pk, 6);
  kv_uint(pk, "queued_us", t->queued_us);
  kv_uint(pk, "dns_us", t->dns_us);
  kv_uint(pk, "connect_us", t->connect_us);
  kv_uint(pk, "tls_us", t->tls_us);
  kv_uint(pk, "upgrade_us", t->upgrade_us);
  kv_uint(pk, "total_us", t->total_us);
}

/* The four byte counts of permessage-deflate (the caller packs the map header). */
static void kv_deflate_counts(msgpack_packer *pk, const wsf_deflate_counters *c) {
  kv_uint(pk, "bytes_in_compressed", c->bytes_in_compressed);
  kv_uint(pk, "bytes_in", c->bytes_in);
  kv_uint(pk, "bytes_out_compressed", c->bytes_out_compressed);
  kv_uint(pk, "bytes_out", c->bytes_out);
}

static void pack_hist_summary(msgpack_packer *pk, const wsf_hist *h) {
  msgpack_pack_map(pk, 4);
  kv_uint(pk, "count", h->total);
  kv_uint(pk, "p50", wsf_hist_quantile(h, 0.50));
  kv_uint(pk, "p99", wsf_hist_quantile(h, 0.99));
  kv_uint(pk, "max", h->max_us);
}

/* The number of whole msgpack objects in buf. */
static size_t count_objects(const msgpack_sbuffer *buf) {
  msgpack_unpacked obj;
  msgpack_unpacked_init(&obj);
  size_t off = 0, n = 0;
  while (msgpack_unpack_next(&obj, buf->data, buf->size, &off) == MSGPACK_UNPACK_SUCCESS)
    n++;
  msgpack_unpacked_destroy(&obj);
  return n;
}

/* The pairs are packed into a scratch buffer and counted there before the
 * map header is written: a count kept by hand went wrong when two branches
 * each added a key and raised it to the same number, which merged silently. */
void wsf_rpc_pack_stats(wsf_daemon *d, msgpack_packer *out) {
  msgpack_sbuffer pairs;
  msgpack_sbuffer_init(&pairs);
  msgpack_packer scratch;
  msgpack_packer_init(&scratch, &pairs, msgpack_sbuffer_write);
  msgpack_packer *pk = &scratch;
  const wsf_stats *s = &d->stats;
  kv_uint(pk, "open", d->n_open);
  kv_uint(pk, "connecting", d->n_connecting);
  kv_uint(pk, "closing", d->n_closing);
  kv_uint(pk, "closed", d->n_closed);
  kv_uint(pk, "opened_total", s->opened_total);
  kv_uint(pk, "reused_total", s->reused_total);
  kv_uint(pk, "failed_total", s->failed_total);
  kv_uint(pk, "closed_total", s->closed_total);
  wsf_pack_key(pk, "closes_by_code");
  msgpack_pack_map(pk, s->n_codes_seen);
  for (uint16_t i = 0; i < s->n_codes_seen; i++) {
    char code[8];
    snprintf(code, sizeof code, "%u", s->codes_seen[i]);
    wsf_pack_str(pk, code);
    msgpack_pack_uint64(pk, s->closes_by_code[s->codes_seen[i]]);
  }
  size_t n = 0;
  for (int i = 0; i < WSF_CAUSE_COUNT; i++)
    n += s->closes_by_cause[i] != 0;
  wsf_pack_key(pk, "closes_by_cause");
  msgpack_pack_map(pk, n);
  for (int i = 0; i < WSF_CAUSE_COUNT; i++)
    if (s->closes_by_cause[i]) {
      wsf_pack_str(pk, wsf_cause_name((wsf_cause)i));
      msgpack_pack_uint64(pk, s->closes_by_cause[i]);
    }
  kv_uint(pk, "msgs_in", s->msgs_in);
  kv_uint(pk, "msgs_out", s->msgs_out);
  kv_uint(pk, "bytes_in", s->bytes_in);
  kv_uint(pk, "bytes_out", s->bytes_out);
  kv_uint(pk, "inbox_dropped", s->inbox_dropped);
  kv_uint(pk, "records_forgotten", s->records_forgotten);
  wsf_pack_key(pk, "deflate");
  msgpack_pack_map(pk, 4);
  kv_deflate_counts(pk, &s->deflate);
  kv_uint(pk, "control_clients", d->control_clients);
  wsf_pack_key(pk, "control_limits");
  msgpack_pack_map(pk, CTL_LIMIT_COUNT);
  for (int i = 0; i < CTL_LIMIT_COUNT; i++)
    kv_uint(pk, ctl_limit_names[i], d->rpc ? d->rpc->limit_hits[i] : 0);
  kv_uint(pk, "heartbeats_sent", s->heartbeats_sent);
  wsf_pack_key(pk, "output");
  msgpack_pack_map(pk, 5);
  kv_uint(pk, "max_bytes", d->cfg.max_output_bytes);
  kv_uint(pk, "stall_ms", d->cfg.output_stall_ms);
  kv_uint(pk, "heartbeats_skipped", s->heartbeats_skipped);
  kv_uint(pk, "pongs_coalesced", s->pongs_coalesced);
  kv_uint(pk, "reads_paused", s->reads_paused);
  wsf_pack_key(pk, "heartbeat_late_us");
  pack_hist_summary(pk, &s->heartbeat_late);
  wsf_pack_key(pk, "ping_rtt_us");
  pack_hist_summary(pk, &s->ping_rtt);
  wsf_pack_key(pk, "loop_lag_us");
  pack_hist_summary(pk, &s->loop_lag);
  kv_uint(pk, "uptime_us", wsf_now_us() - d->started_us);
  msgpack_pack_map(out, count_objects(&pairs) / 2);
  out->callback(out->data, pairs.data, pairs.size);
  msgpack_sbuffer_destroy(&pairs);
}

/* ---- output ------------------------------------------------------------- */

static void ctl_close(wsf_ctl *ctl);
static void pending_free(pending *p);

static void ctl_unref(wsf_ctl *ctl) {
  if (--ctl->refs > 0)
    return;
  wsf_rpc_decoder_free(ctl->dec);
  msgpack_sbuffer_destroy(&ctl->out);
  free(ctl);
}

typedef struct write_req {
  uv_write_t req;
  wsf_ctl *ctl;
  size_t len;
  char data[];
} write_req;

static void on_ctl_written(uv_write_t *req, int status) {
  write_req *wr = (write_req *)req;
  wsf_ctl *ctl = wr->ctl;
  ctl->write_pending -= wr->len;
  free(wr);
  if (status < 0 && !ctl->closed)
    ctl_close(ctl);
  ctl_unref(ctl);
}

/* Writes what the responses of this turn packed: one write per read batch. */
static void ctl_flush(wsf_ctl *ctl) {
  if (ctl->closed) {
    ctl->out.size = 0;
    return;
  }
  if (ctl->out.size == 0)
    return;
  size_t off = 0;
  if (ctl->write_pending == 0) { /* order matters: no try_write past queued bytes */
    uv_buf_t b = uv_buf_init(ctl->out.data, (unsigned)ctl->out.size);
    int n = uv_try_write(&ctl->h.stream, &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
      ctl->out.size = 0;
      ctl_close(ctl);
      return;
    }
    off = n > 0 ? (size_t)n : 0;
  }
  size_t rest = ctl->out.size - off;
  if (rest) {
    if (ctl->write_pending + rest > ctl->d->cfg.max_control_output_bytes) {
      ctl->d->rpc->limit_hits[CTL_MAX_CONTROL_OUTPUT_BYTES]++;
      wsf_log(
          WSF_LOG_WARN,
          "control client reads too slowly (%zu bytes pending, limit max_control_output_bytes): closing it",
          ctl->write_pending);
      ctl->out.size = 0;
      ctl_close(ctl);
      return;
    }
    write_req *wr = wsf_xmalloc(sizeof *wr + rest);
    memcpy(wr->data, ctl->out.data + off, rest);
    wr->ctl = ctl;
    wr->len = rest;
    ctl->refs++;
    ctl->write_pending += rest;
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)rest);
    if (uv_write(&wr->req, &ctl->h.stream, &b, 1, on_ctl_written) != 0) {
      ctl->write_pending -= rest;
      free(wr);
      ctl->refs--;
      ctl->out.size = 0;
      ctl_close(ctl);
      return;
    }
  }
  ctl->out.size = 0;
  if (ctl->out.alloc > (256u << 10)) { /* a burst passed (19,000 open results): give the memory back */
    msgpack_sbuffer_destroy(&ctl->out);
    msgpack_sbuffer_init(&ctl->out);
  }
}

/* Responses packed outside a read batch (completions, notifications) go
 * out before the loop next blocks (a prepare handle), together: a burst of completions on
 * many connections becomes one write per control client, not one each. */
static void ctl_done_packing(wsf_ctl *ctl) {
  if (ctl->in_read || ctl->dirty)
    return;
  wsf_rpc *rpc = ctl->d->rpc;
  ctl->dirty = true;
  ctl->refs++;
  ctl->next_dirty = rpc->dirty;
  rpc->dirty = ctl;
}

static void on_flusher(uv_prepare_t *h) {
  wsf_rpc *rpc = h->data;
  /* Bounded by the clients dirty now; flushing packs nothing new. */
  while (rpc->dirty) {
    wsf_ctl *ctl = rpc->dirty;
    rpc->dirty = ctl->next_dirty;
    ctl->dirty = false;
    ctl_flush(ctl);
    ctl_unref(ctl);
  }
}

static void send_error(wsf_ctl *ctl, uint32_t msgid, const char *code, const char *message) {
  wsf_pack_error_begin(&ctl->pk, msgid, code, message, 0);
  wsf_pack_error_end(&ctl->pk);
  ctl_done_packing(ctl);
}

static void send_error_limit(wsf_ctl *ctl, uint32_t msgid, const char *limit, const char *message) {
  wsf_pack_error_begin(&ctl->pk, msgid, "limit_exceeded", message, 1);
  kv_str(&ctl->pk, "limit", limit);
  wsf_pack_error_end(&ctl->pk);
  ctl_done_packing(ctl);
}

/* A control-side limit: counted, then named in the error. */
static void send_ctl_limit(wsf_ctl *ctl, uint32_t msgid, enum ctl_limit limit, const char *message) {
  ctl->d->rpc->limit_hits[limit]++;
  send_error_limit(ctl, msgid, ctl_limit_names[limit], message);
}

static void send_conn_closed(wsf_ctl *ctl, uint32_t msgid, const wsf_conn *c) {
  wsf_pack_error_begin(&ctl->pk, msgid, "conn_closed", c->record ? c->record->summary : "connection closed",
                       2);
  kv_str(&ctl->pk, "conn", c->name);
  wsf_pack_key(&ctl->pk, "record");
  if (c->record)
    wsf_rpc_pack_record(&ctl->pk, c->record);
  else
    msgpack_pack_nil(&ctl->pk);
  wsf_pack_error_end(&ctl->pk);
  ctl_done_packing(ctl);
}

static void send_no_such_conn(wsf_ctl *ctl, uint32_t msgid, const char *name, size_t len) {
  char msg[300];
  bool forgotten = wsf_conn_forgotten(ctl->d, name, len);
  snprintf(msg, sizeof msg,
           forgotten ? "connection '%.*s' ended and its close record was forgotten (over --max-records)"
                     : "no connection named '%.*s'",
           (int)(len > 200 ? 200 : len), name);
  wsf_pack_error_begin(&ctl->pk, msgid, "no_such_conn", msg, 1 + forgotten);
  if (forgotten)
    kv_bool(&ctl->pk, "forgotten", true);
  wsf_pack_key(&ctl->pk, "conn");
  wsf_pack_text(&ctl->pk, name, len);
  wsf_pack_error_end(&ctl->pk);
  ctl_done_packing(ctl);
}

/* ---- request parsing helpers ---------------------------------------------- */

typedef struct req_ctx {
  wsf_ctl *ctl;
  wsf_daemon *d;
  uint32_t msgid;
  const msgpack_object *params;
} req_ctx;

static bool bad(req_ctx *r, const char *fmt, const char *field) {
  char msg[200];
  snprintf(msg, sizeof msg, fmt, field);
  send_error(r->ctl, r->msgid, "bad_request", msg);
  return false;
}

/* Each getter: true when absent or valid (value left as default), false after
 * answering bad_request. */
static bool get_uint(req_ctx *r, const msgpack_object *map, const char *key, uint64_t *v, uint64_t max) {
  uint64_t x;
  int st = wsf_field_uint(map, key, &x);
  if (st == WSF_FIELD_WRONG_TYPE)
    return bad(r, "field '%s' must be a non-negative integer", key);
  if (st == WSF_FIELD_OK) {
    if (x > max)
      return bad(r, "field '%s' is too large", key);
    *v = x;
  }
  return true;
}

static bool get_u32(req_ctx *r, const msgpack_object *map, const char *key, uint32_t *v) {
  uint64_t x = *v;
  if (!get_uint(r, map, key, &x, UINT32_MAX))
    return false;
  *v = (uint32_t)x;
  return true;
}

static bool get_bool(req_ctx *r, const msgpack_object *map, const char *key, bool *v) {
  if (wsf_field_bool(map, key, v) == WSF_FIELD_WRONG_TYPE)
    return bad(r, "field '%s' must be a boolean", key);
  return true;
}

static bool get_str(req_ctx *r, const msgpack_object *map, const char *key, const char **s, size_t *len) {
  if (wsf_field_str(map, key, s, len) == WSF_FIELD_WRONG_TYPE)
    return bad(r, "field '%s' must be a string", key);
  return true;
}

static bool get_map(req_ctx *r, const msgpack_object *map, const char *key, const msgpack_object **m) {
  int st = wsf_field_map(map, key, m);
  if (st == WSF_FIELD_WRONG_TYPE)
    return bad(r, "field '%s' must be a map", key);
  if (st == WSF_FIELD_ABSENT)
    *m = NULL;
  return true;
}

/* The connection named by the required `conn` field, or NULL after answering. */
static wsf_conn *get_conn(req_ctx *r) {
  const char *name;
  size_t len;
  int st = wsf_field_str(r->params, "conn", &name, &len);
  if (st != WSF_FIELD_OK) {
    bad(r, "field '%s' (a string) is required", "conn");
    return NULL;
  }
  wsf_conn *c = wsf_conn_find(r->d, name, len);
  if (!c)
    send_no_such_conn(r->ctl, r->msgid, name, len);
  return c;
}

/* Binds a pending request to its control client, or answers limit_exceeded
 * and returns NULL when the client or the connection c (NULL for open) has
 * as many waiting as allowed. */
static pending *pending_new(req_ctx *r, uint8_t method, const wsf_conn *c) {
  if (r->ctl->n_pendings >= MAX_WAITS_PER_CLIENT) {
    send_ctl_limit(r->ctl, r->msgid, CTL_MAX_WAITS_PER_CLIENT,
                   "this control client has 32768 requests waiting");
    return NULL;
  }
  if (c) {
    uint32_t n = 0;
    for (const wsf_wait *w = c->waits_head; w && n < MAX_WAITS_PER_CONN; w = w->next)
      n += w->kind == WSF_WAIT_RECV || w->kind == WSF_WAIT_PING;
    if (n >= MAX_WAITS_PER_CONN) {
      send_ctl_limit(r->ctl, r->msgid, CTL_MAX_WAITS_PER_CONN, "this connection has 64 requests waiting");
      return NULL;
    }
  }
  r->ctl->n_pendings++;
  pending *p = wsf_xcalloc(1, sizeof *p);
  p->ctl = r->ctl;
  p->msgid = r->msgid;
  p->method = method;
  p->next = r->ctl->pendings;
  if (p->next)
    p->next->prev = p;
  r->ctl->pendings = p;
  r->ctl->refs++;
  return p;
}

static void pending_free(pending *p) {
  wsf_match_free(&p->w.match);
  free(p->conn_name);
  wsf_ctl *ctl = p->ctl;
  ctl->n_pendings--;
  if (p->prev)
    p->prev->next = p->next;
  else
    ctl->pendings = p->next;
  if (p->next)
    p->next->prev = p->prev;
  free(p);
  ctl_unref(ctl);
}

/* ---- hello --------------------------------------------------------------- */

static void do_hello(req_ctx *r) {
  msgpack_packer *pk = &r->ctl->pk;
  const wsf_config *cfg = &r->d->cfg;
  wsf_pack_result_header(pk, r->msgid);
  msgpack_pack_map(pk, 7);
  kv_str(pk, "server", "wsfleetd");
  kv_str(pk, "version", WSF_VERSION);
  kv_uint(pk, "protocol", 1);
  kv_uint(pk, "pid", (uint64_t)getpid());
  wsf_pack_key(pk, "limits");
  msgpack_pack_map(pk, 11);
  kv_uint(pk, "max_request_bytes", cfg->max_request_bytes);
  kv_uint(pk, "max_request_objects", WSF_RPC_DEFAULT_MAX_OBJECTS);
  kv_uint(pk, "max_control_clients", cfg->max_control_clients);
  kv_uint(pk, "max_control_output_bytes", cfg->max_control_output_bytes);
  kv_uint(pk, "max_waits_per_client", MAX_WAITS_PER_CLIENT);
  kv_uint(pk, "max_waits_per_conn", MAX_WAITS_PER_CONN);
  kv_uint(pk, "max_connections", cfg->max_connections);
  kv_uint(pk, "max_name_bytes", cfg->max_name_bytes);
  kv_uint(pk, "max_message_bytes", cfg->max_message_bytes);
  kv_uint(pk, "inbox_max_messages", cfg->inbox_max_messages);
  kv_uint(pk, "inbox_max_bytes", cfg->inbox_max_bytes);
  wsf_pack_key(pk, "methods");
  msgpack_pack_array(pk, WSF_ARRAY_LEN(method_names));
  for (size_t i = 0; i < WSF_ARRAY_LEN(method_names); i++)
    wsf_pack_str(pk, method_names[i]);
  wsf_pack_key(pk, "events");
  msgpack_pack_array(pk, WSF_ARRAY_LEN(event_names));
  for (size_t i = 0; i < WSF_ARRAY_LEN(event_names); i++)
    wsf_pack_str(pk, event_names[i]);
  ctl_done_packing(r->ctl);
}

/* ---- open ---------------------------------------------------------------- */

static void pack_deflate_params(msgpack_packer *pk, const wsf_deflate_params *a) {
  msgpack_pack_map(pk, 4);
  kv_uint(pk, "client_max_window_bits", a->client_max_window_bits);
  kv_uint(pk, "server_max_window_bits", a->server_max_window_bits);
  kv_bool(pk, "client_no_context_takeover", a->client_no_context_takeover);
  kv_bool(pk, "server_no_context_takeover", a->server_no_context_takeover);
}

static void pack_open_result(msgpack_packer *pk, uint32_t msgid, const wsf_conn *c, bool reused) {
  wsf_pack_result_header(pk, msgid);
  msgpack_pack_map(pk, 8);
  kv_str(pk, "conn", c->name);
  kv_bool(pk, "reused", reused);
  wsf_pack_key(pk, "deflate");
  if (c->deflate)
    pack_deflate_params(pk, &c->deflate->agreed);
  else
    msgpack_pack_nil(pk);
  kv_uint(pk, "status", 101);
  kv_str(pk, "subprotocol", c->subprotocol);
  wsf_pack_key(pk, "headers");
  msgpack_pack_map(pk, c->n_resp_headers);
  const char *h = c->resp_headers;
  for (uint16_t i = 0; i < c->n_resp_headers * 2; i++, h += strlen(h) + 1)
    wsf_pack_str(pk, h);
  wsf_pack_key(pk, "timings");
  wsf_rpc_pack_timings(pk, &c->timings);
  wsf_pack_key(pk, "tls");
  if (c->tls && c->tls_version) {
    msgpack_pack_map(pk, 3);
    kv_str(pk, "version", c->tls_version);
    kv_str(pk, "cipher", c->tls_cipher);
    kv_bool(pk, "verified", c->tls_verified);
  } else {
    msgpack_pack_nil(pk);
  }
}

static void on_open_done(wsf_wait *w, wsf_err err, wsf_msg *msg) {
  (void)msg;
  pending *p = wsf_container_of(w, pending, w);
  wsf_ctl *ctl = p->ctl;
  const wsf_conn *c = w->conn;
  if (!ctl->closed) {
    msgpack_packer *pk = &ctl->pk;
    if (err == WSF_OK) {
      pack_open_result(pk, p->msgid, c, w->reused);
    } else if (err == WSF_E_URL_MISMATCH) {
      char *msg = wsf_conn_url_mismatch_message(c, w->requested_url, w->requested_url_len);
      wsf_pack_error_begin(pk, p->msgid, wsf_err_code(err), msg, 3);
      kv_str(pk, "conn", c->name);
      kv_str(pk, "url", c->url);
      wsf_pack_key(pk, "requested_url");
      msgpack_pack_str_with_body(pk, w->requested_url, w->requested_url_len);
      wsf_pack_error_end(pk);
      free(msg);
    } else if (!c) {
      wsf_pack_error_begin(pk, p->msgid, wsf_err_code(err),
                           w->error_message ? w->error_message : "open failed", 1 + (err == WSF_E_LIMIT));
      kv_str(pk, "conn", p->conn_name);
      if (err == WSF_E_LIMIT)
        kv_str(pk, "limit", "max_connections");
      wsf_pack_error_end(pk);
    } else {
      const wsf_open_failure *f = c->failure;
      bool hs = err == WSF_E_HANDSHAKE;
      bool timeout = err == WSF_E_TIMEOUT;
      wsf_pack_error_begin(pk, p->msgid, wsf_err_code(err), f ? f->message : "open failed",
                           2 + (hs ? 2 : 0) + (timeout ? 1 : 0));
      kv_str(pk, "conn", c->name);
      wsf_pack_key(pk, "record");
      if (c->record)
        wsf_rpc_pack_record(pk, c->record);
      else
        msgpack_pack_nil(pk);
      if (hs) {
        kv_uint(pk, "http_status", f ? (uint64_t)f->http_status : 0);
        wsf_pack_key(pk, "body");
        if (f && f->body)
          wsf_pack_text(pk, f->body, f->body_len);
        else
          wsf_pack_str(pk, "");
      }
      if (timeout)
        kv_str(pk, "phase", w->error_phase ? w->error_phase : "connect");
      wsf_pack_error_end(pk);
    }
    ctl_done_packing(ctl);
  }
  pending_free(p);
}

#define MAX_HEADERS 64
#define MAX_SUBPROTOCOLS 32

static bool parse_keepalive(req_ctx *r, const msgpack_object *m, wsf_keepalive *ka) {
  if (!m)
    return true;
  const char *mode;
  size_t mode_len;
  int st = wsf_field_str(m, "mode", &mode, &mode_len);
  if (st == WSF_FIELD_WRONG_TYPE)
    return bad(r, "field '%s' must be a string", "keepalive.mode");
  if (st == WSF_FIELD_OK) {
    int found = -1;
    for (int i = 0; i < 4; i++)
      if (strlen(wsf_ka_mode_name(i)) == mode_len && memcmp(wsf_ka_mode_name(i), mode, mode_len) == 0)
        found = i;
    if (found < 0)
      return bad(r, "%s must be one of ping, text, binary, none", "keepalive.mode");
    ka->mode = (uint8_t)found;
  }
  bool jitter_given = wsf_field(m, "jitter_ms") != NULL;
  bool reply_timeout_given = wsf_field(m, "reply_timeout_ms") != NULL;
  if (!get_u32(r, m, "interval_ms", &ka->interval_ms) || !get_u32(r, m, "jitter_ms", &ka->jitter_ms) ||
      !get_u32(r, m, "pong_timeout_ms", &ka->pong_timeout_ms) ||
      !get_u32(r, m, "reply_timeout_ms", &ka->reply_timeout_ms))
    return false;
  if (!reply_timeout_given)
    ka->reply_timeout_ms = ka->pong_timeout_ms;
  if (!jitter_given && wsf_field(m, "interval_ms"))
    ka->jitter_ms = ka->interval_ms / 10;
  const char *payload;
  size_t payload_len;
  bool is_bin;
  st = wsf_field_bytes(m, "payload", &payload, &payload_len, &is_bin);
  if (st == WSF_FIELD_WRONG_TYPE)
    return bad(r, "field '%s' must be a string or binary", "keepalive.payload");
  if (st == WSF_FIELD_OK) {
    ka->payload = (uint8_t *)payload;
    ka->payload_len = payload_len;
  }
  if (!get_str(r, m, "reply_contains", (const char **)&ka->reply_contains, &ka->reply_contains_len))
    return false;
  if (ka->mode == WSF_KA_PING && ka->payload_len > 125)
    return bad(r, "%s: a ping payload is at most 125 bytes", "keepalive.payload");
  if ((ka->mode == WSF_KA_TEXT || ka->mode == WSF_KA_BINARY) && ka->payload_len == 0)
    return bad(r, "%s is required for text and binary heartbeats", "keepalive.payload");
  if (ka->mode != WSF_KA_NONE && ka->interval_ms == 0)
    return bad(r, "%s must be positive", "keepalive.interval_ms");
  return true;
}

/* NUL-terminated copies for the TLS file names (the codec's strings are not). */
static bool get_cstr(req_ctx *r, const msgpack_object *m, const char *key, char **out) {
  const char *s = NULL;
  size_t len = 0;
  if (!m)
    return true;
  if (!get_str(r, m, key, &s, &len))
    return false;
  if (s) {
    if (memchr(s, '\0', len))
      return bad(r, "field '%s' holds a NUL byte", key);
    *out = wsf_xstrndup(s, len);
  }
  return true;
}

/* open's deflate map → the offer (PROTOCOL.md §5, open). */
static bool parse_deflate(req_ctx *r, const msgpack_object *m, wsf_deflate_options *o) {
  *o = wsf_deflate_options_default();
  if (!m)
    return true;
  o->enabled = true; /* a deflate map turns it on unless enabled says otherwise */
  uint32_t server_bits = 0, level = UINT32_MAX, mem_level = 0;
  if (!get_bool(r, m, "enabled", &o->enabled) ||
      !get_bool(r, m, "client_no_context_takeover", &o->client_no_context_takeover) ||
      !get_bool(r, m, "server_no_context_takeover", &o->server_no_context_takeover) ||
      !get_u32(r, m, "server_max_window_bits", &server_bits) || !get_u32(r, m, "level", &level) ||
      !get_u32(r, m, "mem_level", &mem_level))
    return false;
  const msgpack_object *cbits = wsf_field(m, "client_max_window_bits");
  if (cbits && cbits->type == MSGPACK_OBJECT_BOOLEAN)
    o->client_max_window_bits = cbits->via.boolean ? WSF_DEFLATE_BITS_ANY : 0;
  else if (cbits && cbits->type == MSGPACK_OBJECT_POSITIVE_INTEGER && cbits->via.u64 <= 15)
    o->client_max_window_bits = (int)cbits->via.u64;
  else if (cbits && cbits->type != MSGPACK_OBJECT_NIL)
    return bad(r, "field '%s' must be 8..15 or true", "deflate.client_max_window_bits");
  o->server_max_window_bits = (int)(server_bits > 15 ? 16 : server_bits);
  o->level = level == UINT32_MAX ? -1 : (int)(level > 9 ? 10 : level);
  o->mem_level = (int)(mem_level > 9 ? 10 : mem_level);
  const char *why = wsf_deflate_options_check(o);
  if (why) {
    send_error(r->ctl, r->msgid, "bad_request", why);
    return false;
  }
  return true;
}

static void do_open(req_ctx *r) {
  wsf_daemon *d = r->d;
  const wsf_config *cfg = &d->cfg;
  wsf_open_params p = {0};
  const char *names[MAX_HEADERS], *values[MAX_HEADERS], *subs[MAX_SUBPROTOCOLS];
  size_t name_lens[MAX_HEADERS], value_lens[MAX_HEADERS], sub_lens[MAX_SUBPROTOCOLS];
  char *tls_strs[5] = {0};
  wsf_keepalive ka = cfg->keepalive;
  ka.next = NULL;

  if (wsf_field_str(r->params, "conn", &p.name, &p.name_len) != WSF_FIELD_OK || p.name_len == 0) {
    bad(r, "field '%s' (a non-empty string) is required", "conn");
    return;
  }
  if (p.name_len > cfg->max_name_bytes) {
    send_error_limit(r->ctl, r->msgid, "max_name_bytes", "connection name too long");
    return;
  }
  /* Names go to the event log, the metrics and C strings: a NUL would cut
   * them short there (two names would look the same), and invalid UTF-8
   * could not be sent back as str. */
  if (memchr(p.name, '\0', p.name_len) || !wsf_utf8_valid(p.name, p.name_len)) {
    bad(r, "field '%s' must be UTF-8 text without NUL bytes", "conn");
    return;
  }
  if (wsf_field_str(r->params, "url", &p.url, &p.url_len) != WSF_FIELD_OK) {
    bad(r, "field '%s' (a string) is required", "url");
    return;
  }
  p.reuse = WSF_REUSE_SAME_URL;
  p.connect_timeout_ms = cfg->connect_timeout_ms;
  p.max_message_bytes = cfg->max_message_bytes;
  p.inbox_max_messages = cfg->inbox_max_messages;
  p.inbox_max_bytes = cfg->inbox_max_bytes;
  p.tls_verify = cfg->tls_verify;
  const msgpack_object *headers = NULL, *subprotocols = NULL, *inbox = NULL, *keepalive = NULL, *tls = NULL,
                       *deflate = NULL;
  uint64_t max_msg = p.max_message_bytes, inbox_bytes = p.inbox_max_bytes;
  const msgpack_object *reuse = wsf_field(r->params, "reuse");
  if (reuse && reuse->type == MSGPACK_OBJECT_BOOLEAN)
    p.reuse = reuse->via.boolean ? WSF_REUSE_SAME_URL : WSF_REUSE_NEVER;
  else if (reuse && reuse->type == MSGPACK_OBJECT_STR && reuse->via.str.size == 3 &&
           memcmp(reuse->via.str.ptr, "any", 3) == 0)
    p.reuse = WSF_REUSE_ANY;
  else if (reuse && reuse->type != MSGPACK_OBJECT_NIL)
    return (void)bad(r, "field '%s' must be true, false or \"any\"", "reuse");
  if (!get_u32(r, r->params, "connect_timeout_ms", &p.connect_timeout_ms) ||
      !get_uint(r, r->params, "max_message_bytes", &max_msg, cfg->max_message_bytes) ||
      !get_map(r, r->params, "headers", &headers) || !get_map(r, r->params, "inbox", &inbox) ||
      !get_map(r, r->params, "keepalive", &keepalive) || !get_map(r, r->params, "tls", &tls) ||
      !get_map(r, r->params, "deflate", &deflate) || !parse_deflate(r, deflate, &p.deflate))
    return;
  p.max_message_bytes = max_msg;
  if (wsf_field_array(r->params, "subprotocols", &subprotocols) == WSF_FIELD_WRONG_TYPE) {
    bad(r, "field '%s' must be an array of strings", "subprotocols");
    return;
  }
  if (headers) {
    if (headers->type != MSGPACK_OBJECT_MAP || headers->via.map.size > MAX_HEADERS) {
      bad(r, "field '%s' must be a map of at most 64 string pairs", "headers");
      return;
    }
    for (uint32_t i = 0; i < headers->via.map.size; i++) {
      const msgpack_object_kv *kv = &headers->via.map.ptr[i];
      if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR) {
        bad(r, "field '%s' must map strings to strings", "headers");
        return;
      }
      names[i] = kv->key.via.str.ptr;
      name_lens[i] = kv->key.via.str.size;
      values[i] = kv->val.via.str.ptr;
      value_lens[i] = kv->val.via.str.size;
    }
    p.n_headers = headers->via.map.size;
  }
  if (subprotocols) {
    if (subprotocols->type != MSGPACK_OBJECT_ARRAY || subprotocols->via.array.size > MAX_SUBPROTOCOLS) {
      bad(r, "field '%s' must be an array of at most 32 strings", "subprotocols");
      return;
    }
    for (uint32_t i = 0; i < subprotocols->via.array.size; i++) {
      const msgpack_object *o = &subprotocols->via.array.ptr[i];
      if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0) {
        bad(r, "field '%s' must be an array of non-empty strings", "subprotocols");
        return;
      }
      subs[i] = o->via.str.ptr;
      sub_lens[i] = o->via.str.size;
    }
    p.n_subprotocols = subprotocols->via.array.size;
  }
  if (inbox && (!get_u32(r, inbox, "max_messages", &p.inbox_max_messages) ||
                !get_uint(r, inbox, "max_bytes", &inbox_bytes, SIZE_MAX)))
    return;
  p.inbox_max_bytes = inbox_bytes;
  if (!parse_keepalive(r, keepalive, &ka))
    return;
  if (tls) {
    if (!get_bool(r, tls, "verify", &p.tls_verify))
      return;
  }
  if (!get_cstr(r, tls, "ca_file", &tls_strs[0]) || !get_cstr(r, tls, "server_name", &tls_strs[1]) ||
      !get_cstr(r, tls, "cert_file", &tls_strs[2]) || !get_cstr(r, tls, "key_file", &tls_strs[3]) ||
      !get_cstr(r, tls, "ciphers", &tls_strs[4]))
    goto out;
  p.tls_ca_file = tls_strs[0] ? tls_strs[0] : cfg->tls_ca_file;
  /* "" means the URL host, as absent does: it used to switch the name check
   * off while the result still said verified. */
  p.tls_server_name = tls_strs[1] && *tls_strs[1] ? tls_strs[1] : NULL;
  p.tls_cert_file = tls_strs[2] ? tls_strs[2] : cfg->tls_cert_file;
  p.tls_key_file = tls_strs[3] ? tls_strs[3] : cfg->tls_key_file;
  p.tls_ciphers = tls_strs[4] ? tls_strs[4] : cfg->tls_ciphers;
  p.header_names = names;
  p.header_name_lens = name_lens;
  p.header_values = values;
  p.header_value_lens = value_lens;
  p.subprotocols = subs;
  p.subprotocol_lens = sub_lens;
  p.keepalive = &ka;
  pending *pr = pending_new(r, P_OPEN, NULL);
  if (!pr)
    goto out;
  pr->w.done = on_open_done;
  pr->conn_name = wsf_xstrndup(p.name, p.name_len);
  wsf_conn_open(d, &p, &pr->w);
out:
  for (size_t i = 0; i < WSF_ARRAY_LEN(tls_strs); i++)
    free(tls_strs[i]);
}

/* ---- send / recv / request ---------------------------------------------------- */

/* Reads data/type; returns the opcode or 0 after answering bad_request. */
static int get_message(req_ctx *r, const char **data, size_t *len) {
  bool is_bin;
  if (wsf_field_bytes(r->params, "data", data, len, &is_bin) != WSF_FIELD_OK) {
    bad(r, "field '%s' (a string or binary) is required", "data");
    return 0;
  }
  int opcode = is_bin ? WSF_WS_BINARY : WSF_WS_TEXT;
  const char *type;
  size_t type_len;
  int st = wsf_field_str(r->params, "type", &type, &type_len);
  if (st == WSF_FIELD_WRONG_TYPE) {
    bad(r, "field '%s' must be a string", "type");
    return 0;
  }
  if (st == WSF_FIELD_OK) {
    if (type_len == 4 && memcmp(type, "text", 4) == 0)
      opcode = WSF_WS_TEXT;
    else if (type_len == 6 && memcmp(type, "binary", 6) == 0)
      opcode = WSF_WS_BINARY;
    else {
      bad(r, "field '%s' must be text or binary", "type");
      return 0;
    }
  }
  return opcode;
}

static bool send_failed(req_ctx *r, wsf_conn *c, wsf_err err) {
  if (err == WSF_E_LIMIT)
    send_error_limit(r->ctl, r->msgid, "max_output_bytes",
                     "the connection's unsent output is over max_output_bytes");
  else
    send_conn_closed(r->ctl, r->msgid, c);
  return false;
}

static void do_send(req_ctx *r) {
  wsf_conn *c = get_conn(r);
  if (!c)
    return;
  const char *data;
  size_t len;
  int opcode = get_message(r, &data, &len);
  if (!opcode)
    return;
  wsf_err err = wsf_conn_send(c, opcode, (const uint8_t *)data, len);
  if (err != WSF_OK) {
    send_failed(r, c, err);
    return;
  }
  wsf_pack_result_header(&r->ctl->pk, r->msgid);
  msgpack_pack_map(&r->ctl->pk, 1);
  kv_uint(&r->ctl->pk, "bytes", len);
  ctl_done_packing(r->ctl);
}

static void on_recv_done(wsf_wait *w, wsf_err err, wsf_msg *m) {
  pending *p = wsf_container_of(w, pending, w);
  wsf_ctl *ctl = p->ctl;
  const wsf_conn *c = w->conn;
  if (!ctl->closed) {
    msgpack_packer *pk = &ctl->pk;
    if (err == WSF_OK) {
      uint64_t now = wsf_now_us();
      bool request = p->method == P_REQUEST;
      wsf_pack_result_header(pk, p->msgid);
      msgpack_pack_map(pk, 6 + (request ? 2 : 0));
      kv_str(pk, "type", m->opcode == WSF_WS_TEXT ? "text" : "binary");
      wsf_pack_key(pk, "data");
      if (m->opcode == WSF_WS_TEXT)
        msgpack_pack_str_with_body(pk, m->data, m->len);
      else
        msgpack_pack_bin_with_body(pk, m->data, m->len);
      kv_uint(pk, "waited_us", now - w->started_us);
      kv_uint(pk, "age_us", now - m->arrived_us);
      kv_uint(pk, "inbox", c->inbox.count);
      kv_uint(pk, "discarded", w->discarded);
      if (request) {
        kv_uint(pk, "bytes", p->sent_bytes);
        kv_uint(pk, "rtt_us", m->arrived_us - p->sent_us);
      }
      ctl_done_packing(ctl);
    } else if (err == WSF_E_TIMEOUT) {
      char msg[128];
      snprintf(msg, sizeof msg, "no matching message within %u ms", p->timeout_ms);
      send_error(ctl, p->msgid, "timeout", msg);
    } else {
      send_conn_closed(ctl, p->msgid, c);
    }
  }
  free(m);
  pending_free(p);
}

static bool parse_match(req_ctx *r, wsf_wait *w) {
  const char *contains = NULL, *regex = NULL, *field = NULL, *value = NULL;
  size_t contains_len = 0, regex_len = 0, field_len = 0, value_len = 0;
  if (!get_str(r, r->params, "contains", &contains, &contains_len) ||
      !get_str(r, r->params, "regex", &regex, &regex_len) ||
      !get_str(r, r->params, "json_field", &field, &field_len) ||
      !get_str(r, r->params, "json_value", &value, &value_len) ||
      !get_bool(r, r->params, "discard_unmatched", &w->discard_unmatched))
    return false;
  if (value && !field)
    return bad(r, "field '%s' needs json_field", "json_value");
  char err[200];
  if (wsf_match_init(&w->match, contains, contains_len, regex, regex_len, field, field_len, value, value_len,
                     err, sizeof err) != 0) {
    send_error(r->ctl, r->msgid, "bad_request", err);
    return false;
  }
  return true;
}

static void start_recv(req_ctx *r, wsf_conn *c, uint8_t method, const char *data, size_t len, int opcode) {
  uint32_t timeout_ms = 10000;
  if (!get_u32(r, r->params, "timeout_ms", &timeout_ms))
    return;
  pending *p = pending_new(r, method, c);
  if (!p)
    return;
  p->w.done = on_recv_done;
  p->timeout_ms = timeout_ms;
  if (!parse_match(r, &p->w)) {
    pending_free(p);
    return;
  }
  if (method == P_REQUEST) {
    /* Only a message that arrives after the send can be its reply. */
    p->w.min_seq = c->msg_seq;
    wsf_err err = wsf_conn_send(c, opcode, (const uint8_t *)data, len);
    if (err != WSF_OK) {
      send_failed(r, c, err);
      pending_free(p);
      return;
    }
    p->sent_bytes = len;
    p->sent_us = wsf_now_us();
  }
  wsf_conn_recv(c, &p->w, timeout_ms);
}

static void do_recv(req_ctx *r) {
  wsf_conn *c = get_conn(r);
  if (c)
    start_recv(r, c, P_RECV, NULL, 0, 0);
}

static void do_request(req_ctx *r) {
  wsf_conn *c = get_conn(r);
  if (!c)
    return;
  const char *data;
  size_t len;
  int opcode = get_message(r, &data, &len);
  if (opcode)
    start_recv(r, c, P_REQUEST, data, len, opcode);
}

/* ---- ping / close -------------------------------------------------------------- */

static void on_ping_done(wsf_wait *w, wsf_err err, wsf_msg *m) {
  (void)m;
  pending *p = wsf_container_of(w, pending, w);
  wsf_ctl *ctl = p->ctl;
  if (!ctl->closed) {
    if (err == WSF_OK) {
      wsf_pack_result_header(&ctl->pk, p->msgid);
      msgpack_pack_map(&ctl->pk, 1);
      kv_uint(&ctl->pk, "rtt_us", w->rtt_us);
      ctl_done_packing(ctl);
    } else if (err == WSF_E_TIMEOUT) {
      char msg[96];
      snprintf(msg, sizeof msg, "no pong within %u ms", p->timeout_ms);
      send_error(ctl, p->msgid, "timeout", msg);
    } else {
      send_conn_closed(ctl, p->msgid, w->conn);
    }
  }
  pending_free(p);
}

static void do_ping(req_ctx *r) {
  wsf_conn *c = get_conn(r);
  if (!c)
    return;
  const char *data = NULL;
  size_t len = 0;
  bool is_bin;
  uint32_t timeout_ms = 10000;
  if (wsf_field_bytes(r->params, "data", &data, &len, &is_bin) == WSF_FIELD_WRONG_TYPE) {
    bad(r, "field '%s' must be a string or binary", "data");
    return;
  }
  if (len > 125) {
    bad(r, "field '%s': a ping payload is at most 125 bytes", "data");
    return;
  }
  if (!get_u32(r, r->params, "timeout_ms", &timeout_ms))
    return;
  pending *p = pending_new(r, P_PING, c);
  if (!p)
    return;
  p->w.done = on_ping_done;
  p->timeout_ms = timeout_ms;
  wsf_conn_ping(c, &p->w, (const uint8_t *)data, len, timeout_ms);
}

static void on_close_done(wsf_wait *w, wsf_err err, wsf_msg *m) {
  (void)m;
  (void)err;
  pending *p = wsf_container_of(w, pending, w);
  wsf_ctl *ctl = p->ctl;
  const wsf_conn *c = w->conn;
  if (!ctl->closed) {
    msgpack_packer *pk = &ctl->pk;
    const wsf_close_record *rec = c->record;
    wsf_pack_result_header(pk, p->msgid);
    msgpack_pack_map(pk, 5);
    kv_uint(pk, "code", rec ? rec->code : 1006);
    kv_str(pk, "reason", rec ? rec->reason : "");
    kv_str(pk, "initiator", wsf_initiator_name(rec ? rec->initiator : WSF_BY_NONE));
    kv_bool(pk, "clean", rec && rec->clean);
    wsf_pack_key(pk, "record");
    if (rec)
      wsf_rpc_pack_record(pk, rec);
    else
      msgpack_pack_nil(pk);
    ctl_done_packing(ctl);
  }
  pending_free(p);
}

static bool sendable_close_code(uint64_t code) {
  return code == 1000 || code == 1001 || code == 1003 || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

static void do_close(req_ctx *r) {
  wsf_conn *c = get_conn(r);
  if (!c)
    return;
  uint64_t code = 1000;
  uint32_t timeout_ms = 5000;
  const char *reason = "";
  size_t reason_len = 0;
  if (!get_uint(r, r->params, "code", &code, 65535) || !get_u32(r, r->params, "timeout_ms", &timeout_ms) ||
      !get_str(r, r->params, "reason", &reason, &reason_len))
    return;
  if (!sendable_close_code(code)) {
    bad(r, "field '%s' is not a close code a client may send", "code");
    return;
  }
  if (reason_len > 123) {
    bad(r, "field '%s' is longer than 123 bytes", "reason");
    return;
  }
  pending *p = pending_new(r, P_CLOSE, NULL); /* a close is always accepted */
  if (!p)
    return;
  p->w.done = on_close_done;
  wsf_conn_close(c, &p->w, (uint16_t)code, reason ? reason : "", reason_len, timeout_ms);
}

/* ---- status / list / stats / reset / subscribe ------------------------------------ */

static void do_status(req_ctx *r) {
  wsf_conn *c = get_conn(r);
  if (!c)
    return;
  msgpack_packer *pk = &r->ctl->pk;
  uint64_t now = wsf_now_us();
  bool opened = c->counted_open;
  wsf_pack_result_header(pk, r->msgid);
  msgpack_pack_map(pk, 21);
  kv_str(pk, "conn", c->name);
  kv_str(pk, "state", wsf_conn_state_name(c->state));
  wsf_pack_key(pk, "deflate");
  if (c->deflate) {
    msgpack_pack_map(pk, 5);
    wsf_pack_key(pk, "agreed");
    pack_deflate_params(pk, &c->deflate->agreed);
    kv_deflate_counts(pk, &c->deflate->seen);
  } else {
    msgpack_pack_nil(pk);
  }
  kv_str(pk, "url", c->url);
  kv_str(pk, "subprotocol", c->subprotocol);
  kv_uint(pk, "reused_count", c->reused_count);
  kv_uint(pk, "opened_at_ms", opened ? c->opened_at_ms : 0);
  kv_uint(pk, "age_us", now - (opened ? c->opened_us : c->started_us));
  kv_uint(pk, "msgs_in", c->msgs_in);
  kv_uint(pk, "msgs_out", c->msgs_out);
  kv_uint(pk, "bytes_in", c->bytes_in);
  kv_uint(pk, "bytes_out", c->bytes_out);
  kv_us(pk, "since_sent_us", c->last_sent_us == WSF_NEVER ? WSF_NEVER : now - c->last_sent_us);
  kv_us(pk, "since_recv_us", c->last_recv_us == WSF_NEVER ? WSF_NEVER : now - c->last_recv_us);
  kv_us(pk, "since_ping_us", c->last_ping_us == WSF_NEVER ? WSF_NEVER : now - c->last_ping_us);
  kv_us(pk, "since_pong_us", c->last_pong_us == WSF_NEVER ? WSF_NEVER : now - c->last_pong_us);
  kv_us(pk, "ping_rtt_us", c->ping_rtt_us ? c->ping_rtt_us : WSF_NEVER);
  wsf_pack_key(pk, "inbox");
  msgpack_pack_map(pk, 3);
  kv_uint(pk, "messages", c->inbox.count);
  kv_uint(pk, "bytes", c->inbox.bytes);
  kv_uint(pk, "dropped", c->inbox.dropped);
  wsf_pack_key(pk, "keepalive");
  msgpack_pack_map(pk, 9);
  kv_str(pk, "mode", wsf_ka_mode_name(c->ka ? c->ka->mode : WSF_KA_NONE));
  kv_uint(pk, "interval_ms", c->ka ? c->ka->interval_ms : 0);
  kv_uint(pk, "jitter_ms", c->ka ? c->ka->jitter_ms : 0);
  kv_uint(pk, "pong_timeout_ms", c->ka ? c->ka->pong_timeout_ms : 0);
  kv_uint(pk, "reply_timeout_ms", c->ka ? c->ka->reply_timeout_ms : 0);
  kv_uint(pk, "sent", c->ka_sent);
  kv_uint(pk, "replies", c->ka_replies);
  kv_uint(pk, "late_us_max", c->ka_late_max_us);
  kv_uint(pk, "skipped", c->ka_skipped);
  wsf_pack_key(pk, "timings");
  wsf_rpc_pack_timings(pk, &c->timings);
  wsf_pack_key(pk, "record");
  if (c->record)
    wsf_rpc_pack_record(pk, c->record);
  else
    msgpack_pack_nil(pk);
  ctl_done_packing(r->ctl);
}

static bool state_is(const wsf_conn *c, const char *state, size_t state_len) {
  const char *name = wsf_conn_state_name(c->state);
  return !state || (strlen(name) == state_len && memcmp(name, state, state_len) == 0);
}

/* Pages: `offset` skips that many matching connections (in the registry's
 * order, stable while no connection is added or forgotten); a page ends at
 * `limit` entries or LIST_REPLY_MAX_BYTES, and `next_offset` says where the
 * next one starts (nil after the last). */
static void do_list(req_ctx *r) {
  const char *state = NULL;
  size_t state_len = 0;
  uint32_t limit = 10000, offset = 0;
  if (!get_str(r, r->params, "state", &state, &state_len) || !get_u32(r, r->params, "limit", &limit) ||
      !get_u32(r, r->params, "offset", &offset))
    return;
  wsf_registry *reg = &r->d->conns;
  uint64_t now = wsf_now_us();
  uint32_t total = 0, listed = 0;
  bool more = false;
  size_t page_max = r->d->cfg.max_control_output_bytes / 4;
  if (page_max > LIST_REPLY_MAX_BYTES)
    page_max = LIST_REPLY_MAX_BYTES;
  msgpack_sbuffer page;
  msgpack_sbuffer_init(&page);
  msgpack_packer pk_page;
  msgpack_packer_init(&pk_page, &page, msgpack_sbuffer_write);
  for (size_t i = 0; i < reg->capacity; i++) {
    const wsf_conn *c = reg->slots[i];
    if (!c || !state_is(c, state, state_len))
      continue;
    total++;
    if (total <= offset || more)
      continue;
    if (listed == limit || page.size >= page_max) {
      more = true;
      continue;
    }
    listed++;
    msgpack_pack_map(&pk_page, 4);
    kv_str(&pk_page, "conn", c->name);
    kv_str(&pk_page, "state", wsf_conn_state_name(c->state));
    kv_str(&pk_page, "url", c->url);
    kv_uint(&pk_page, "age_us", now - (c->counted_open ? c->opened_us : c->started_us));
  }
  msgpack_packer *pk = &r->ctl->pk;
  wsf_pack_result_header(pk, r->msgid);
  msgpack_pack_map(pk, 3);
  wsf_pack_key(pk, "conns");
  msgpack_pack_array(pk, listed);
  if (page.size)
    msgpack_sbuffer_write(&r->ctl->out, page.data, page.size);
  msgpack_sbuffer_destroy(&page);
  kv_uint(pk, "total", total);
  wsf_pack_key(pk, "next_offset");
  if (more)
    msgpack_pack_uint64(pk, (uint64_t)offset + listed);
  else
    msgpack_pack_nil(pk);
  ctl_done_packing(r->ctl);
}

static void do_stats(req_ctx *r) {
  wsf_pack_result_header(&r->ctl->pk, r->msgid);
  wsf_rpc_pack_stats(r->d, &r->ctl->pk);
  ctl_done_packing(r->ctl);
}

static void do_reset(req_ctx *r) {
  uint64_t code = 1001;
  const char *reason = "reset";
  size_t reason_len = 5;
  if (!get_uint(r, r->params, "code", &code, 65535) || !get_str(r, r->params, "reason", &reason, &reason_len))
    return;
  if (!sendable_close_code(code)) {
    bad(r, "field '%s' is not a close code a client may send", "code");
    return;
  }
  char reason_buf[124];
  snprintf(reason_buf, sizeof reason_buf, "%.*s", (int)(reason_len > 123 ? 123 : reason_len),
           reason ? reason : "");
  uint32_t forgotten = 0;
  uint32_t closed = wsf_conns_reset(r->d, (uint16_t)code, reason_buf, &forgotten);
  wsf_pack_result_header(&r->ctl->pk, r->msgid);
  msgpack_pack_map(&r->ctl->pk, 2);
  kv_uint(&r->ctl->pk, "closed", closed);
  kv_uint(&r->ctl->pk, "forgotten", forgotten);
  ctl_done_packing(r->ctl);
}

static void do_subscribe(req_ctx *r) {
  const msgpack_object *events;
  if (wsf_field_array(r->params, "events", &events) != WSF_FIELD_OK || events->type != MSGPACK_OBJECT_ARRAY) {
    bad(r, "field '%s' (an array of strings) is required", "events");
    return;
  }
  uint32_t mask = 0;
  for (uint32_t i = 0; i < events->via.array.size; i++) {
    const msgpack_object *o = &events->via.array.ptr[i];
    int found = -1;
    for (size_t e = 0; o->type == MSGPACK_OBJECT_STR && e < WSF_ARRAY_LEN(event_names); e++)
      if (strlen(event_names[e]) == o->via.str.size &&
          memcmp(event_names[e], o->via.str.ptr, o->via.str.size) == 0)
        found = (int)e;
    if (found < 0) {
      bad(r, "unknown event in '%s' (open, close, handshake_failed, drop)", "events");
      return;
    }
    mask |= 1u << found;
  }
  r->ctl->events = mask;
  msgpack_packer *pk = &r->ctl->pk;
  wsf_pack_result_header(pk, r->msgid);
  msgpack_pack_map(pk, 1);
  wsf_pack_key(pk, "events");
  msgpack_pack_array(pk, (size_t)__builtin_popcount(mask));
  for (size_t e = 0; e < WSF_ARRAY_LEN(event_names); e++)
    if (mask & (1u << e))
      wsf_pack_str(pk, event_names[e]);
  ctl_done_packing(r->ctl);
}

void wsf_rpc_notify(wsf_daemon *d, const char *event, const wsf_conn *c) {
  wsf_rpc *rpc = d->rpc;
  if (!rpc)
    return;
  uint32_t bit = 0;
  for (size_t e = 0; e < WSF_ARRAY_LEN(event_names); e++)
    if (strcmp(event_names[e], event) == 0)
      bit = 1u << e;
  for (wsf_ctl *ctl = rpc->clients; ctl; ctl = ctl->next) {
    if (!(ctl->events & bit) || ctl->closed)
      continue;
    msgpack_packer *pk = &ctl->pk;
    bool with_record = c->record && strcmp(event, "open") != 0;
    bool with_timings = strcmp(event, "open") == 0;
    bool with_drops = strcmp(event, "drop") == 0;
    bool with_error = strcmp(event, "handshake_failed") == 0 && c->failure;
    wsf_pack_notification_header(pk, "event");
    msgpack_pack_map(pk, 4 + with_record + with_timings + with_drops + with_error);
    kv_str(pk, "event", event);
    kv_str(pk, "conn", c->name);
    kv_str(pk, "url", c->url);
    kv_uint(pk, "at_ms", wsf_wall_ms());
    if (with_record) {
      wsf_pack_key(pk, "record");
      wsf_rpc_pack_record(pk, c->record);
    }
    if (with_timings) {
      wsf_pack_key(pk, "timings");
      wsf_rpc_pack_timings(pk, &c->timings);
    }
    if (with_drops)
      kv_uint(pk, "dropped", c->inbox.dropped);
    if (with_error) {
      const wsf_open_failure *f = c->failure;
      wsf_pack_key(pk, "error");
      msgpack_pack_map(pk, 4);
      kv_str(pk, "code", wsf_err_code(f->err));
      kv_str(pk, "message", f->message);
      kv_uint(pk, "http_status", (uint64_t)f->http_status);
      wsf_pack_key(pk, "body");
      wsf_pack_text(pk, f->body ? f->body : "", f->body ? f->body_len : 0);
    }
    ctl_done_packing(ctl);
  }
}

/* ---- dispatch --------------------------------------------------------------------- */

typedef void (*handler)(req_ctx *r);
static const struct {
  const char *name;
  handler fn;
} handlers[] = {
    {"hello", do_hello},     {"open", do_open},   {"send", do_send},   {"recv", do_recv},
    {"request", do_request}, {"ping", do_ping},   {"close", do_close}, {"status", do_status},
    {"list", do_list},       {"stats", do_stats}, {"reset", do_reset}, {"subscribe", do_subscribe},
};

static void dispatch(wsf_ctl *ctl, const wsf_rpc_request *req) {
  req_ctx r = {ctl, ctl->d, req->msgid, req->params};
  if (ctl->is_tcp && !ctl->authed) {
    const char *token;
    size_t len;
    wsf_rpc *rpc = ctl->d->rpc;
    if (wsf_rpc_method_is(req, "hello") &&
        wsf_field_str(req->params, "token", &token, &len) == WSF_FIELD_OK && len == 64 &&
        CRYPTO_memcmp(token, rpc->token, 64) == 0) {
      ctl->authed = true;
      rpc->unauthenticated--;
      wsf_timer_stop(&ctl->d->timers, &ctl->auth_deadline);
      wsf_rpc_decoder_set_limits(ctl->dec, ctl->d->cfg.max_request_bytes, WSF_RPC_DEFAULT_MAX_OBJECTS);
    } else {
      send_error(ctl, req->msgid, "unauthorized",
                 "the first request on TCP must be hello with the right token");
      ctl_flush(ctl);
      ctl_close(ctl);
      return;
    }
  }
  /* Responses this client has not read, packed or queued: a client that
   * pipelines requests with large replies (list, status) and does not read
   * goes before it makes the daemon pack without bound. */
  if (ctl->out.size + ctl->write_pending > ctl->d->cfg.max_control_output_bytes) {
    ctl->d->rpc->limit_hits[CTL_MAX_CONTROL_OUTPUT_BYTES]++;
    wsf_log(WSF_LOG_WARN,
            "control client has %zu bytes of responses unread (limit max_control_output_bytes): "
            "closing it",
            ctl->out.size + ctl->write_pending);
    ctl->out.size = 0;
    ctl_close(ctl);
    return;
  }
  for (size_t i = 0; i < WSF_ARRAY_LEN(handlers); i++) {
    if (wsf_rpc_method_is(req, handlers[i].name)) {
      if (ctl->d->shutting_down && handlers[i].fn == do_open) {
        send_error(ctl, req->msgid, "shutting_down", "the daemon is shutting down");
        return;
      }
      handlers[i].fn(&r);
      return;
    }
  }
  char msg[200];
  snprintf(msg, sizeof msg, "unknown method '%.*s'", (int)(req->method_len > 100 ? 100 : req->method_len),
           req->method);
  wsf_pack_error_begin(&ctl->pk, req->msgid, "unknown_method", msg, 1);
  wsf_pack_key(&ctl->pk, "method");
  wsf_pack_text(&ctl->pk, req->method, req->method_len);
  wsf_pack_error_end(&ctl->pk);
  ctl_done_packing(ctl);
}

/* ---- control connections ------------------------------------------------------------ */

static void on_ctl_closed(uv_handle_t *h) {
  wsf_ctl *ctl = h->data;
  ctl_unref(ctl);
}

static void ctl_close(wsf_ctl *ctl) {
  if (ctl->closed)
    return;
  ctl->closed = true;
  wsf_rpc *rpc = ctl->d->rpc;
  if (ctl->prev)
    ctl->prev->next = ctl->next;
  else
    rpc->clients = ctl->next;
  if (ctl->next)
    ctl->next->prev = ctl->prev;
  ctl->d->control_clients--;
  if (ctl->is_tcp && !ctl->authed)
    rpc->unauthenticated--;
  wsf_timer_stop(&ctl->d->timers, &ctl->auth_deadline);
  /* Its waiting requests go too: a recv nobody will read must not take a
   * message another client could. The one completing right now (if any) is
   * no longer linked and frees itself. */
  for (pending *p = ctl->pendings, *next; p; p = next) {
    next = p->next;
    if (p->w.linked) {
      wsf_wait_cancel(&p->w);
      pending_free(p);
    }
  }
  uv_close(&ctl->h.handle, on_ctl_closed);
}

static void ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char read_buf[64 * 1024]; /* one for all clients: the decoder copies what it keeps */
  *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  wsf_ctl *ctl = s->data;
  if (nread < 0) {
    ctl_close(ctl);
    return;
  }
  if (nread == 0)
    return;
  ctl->refs++; /* a handler may close the client */
  ctl->in_read = true;
  int rv = wsf_rpc_decoder_feed(ctl->dec, buf->base, (size_t)nread);
  while (rv == 0 && !ctl->closed) {
    wsf_rpc_request req;
    int st = wsf_rpc_decoder_next(ctl->dec, &req);
    if (st == WSF_RPC_NEED_MORE)
      break;
    if (st == WSF_RPC_REQUEST) {
      dispatch(ctl, &req);
      wsf_rpc_request_release(&req);
    } else if (st == WSF_RPC_INVALID) {
      send_error(ctl, req.has_msgid ? req.msgid : 0, "bad_request",
                 req.invalid_reason ? req.invalid_reason : "not a valid request");
      wsf_rpc_request_release(&req);
    } else {
      rv = st;
    }
  }
  if (rv == WSF_RPC_TOO_LARGE) {
    const char *hit = wsf_rpc_decoder_limit_hit(ctl->dec);
    enum ctl_limit limit = hit && strcmp(hit, "max_request_objects") == 0 ? CTL_MAX_REQUEST_OBJECTS
                           : ctl->is_tcp && !ctl->authed                  ? CTL_PREAUTH_REQUEST_BYTES
                                                                          : CTL_MAX_REQUEST_BYTES;
    char msg[160];
    snprintf(msg, sizeof msg, "request larger than %s; closing", ctl_limit_names[limit]);
    send_ctl_limit(ctl, 0, limit, msg);
  } else if (rv == WSF_RPC_MALFORMED)
    send_error(ctl, 0, "bad_request", "bytes are not msgpack; closing");
  ctl->in_read = false;
  ctl_flush(ctl);
  if (rv < 0)
    ctl_close(ctl);
  ctl_unref(ctl);
}

/* Tells a client which limit it hit, counted, and closes it. */
static void refuse_client(wsf_ctl *ctl, enum ctl_limit limit, const char *message) {
  bool was_in_read = ctl->in_read;
  ctl->in_read = true; /* flushed here, not by the flusher */
  send_ctl_limit(ctl, 0, limit, message);
  ctl_flush(ctl);
  ctl->in_read = was_in_read;
  ctl_close(ctl);
}

/* The oldest TCP client that has not authenticated (the list is newest first). */
static wsf_ctl *oldest_unauthenticated(wsf_rpc *rpc) {
  wsf_ctl *found = NULL;
  for (wsf_ctl *c = rpc->clients; c; c = c->next)
    if (c->is_tcp && !c->authed)
      found = c;
  return found;
}

static void on_auth_deadline(wsf_timer *t) {
  char msg[96];
  snprintf(msg, sizeof msg, "no hello with the token within %u ms; closing", AUTH_TIMEOUT_MS);
  refuse_client(wsf_container_of(t, wsf_ctl, auth_deadline), CTL_AUTH_TIMEOUT_MS, msg);
}

static void accept_client(uv_stream_t *server, bool is_tcp) {
  wsf_daemon *d = server->data;
  wsf_rpc *rpc = d->rpc;
  /* Unauthenticated TCP clients: the oldest makes room for the newest, so
   * idle connections cannot keep the one with the token out. */
  if (is_tcp && rpc->unauthenticated >= MAX_UNAUTHENTICATED)
    refuse_client(oldest_unauthenticated(rpc), CTL_MAX_UNAUTHENTICATED,
                  "too many TCP clients without the token (max_unauthenticated); closing the oldest");
  bool refused = d->control_clients >= d->cfg.max_control_clients;
  wsf_ctl *ctl = wsf_xcalloc(1, sizeof *ctl);
  ctl->d = d;
  ctl->is_tcp = is_tcp;
  ctl->refs = 1;
  wsf_timer_init(&ctl->auth_deadline, on_auth_deadline);
  int rv = is_tcp ? uv_tcp_init(d->loop, &ctl->h.tcp) : uv_pipe_init(d->loop, &ctl->h.pipe, 0);
  if (rv != 0) {
    free(ctl);
    return;
  }
  ctl->h.handle.data = ctl;
  ctl->dec = wsf_rpc_decoder_new(d->cfg.max_request_bytes);
  msgpack_sbuffer_init(&ctl->out);
  msgpack_packer_init(&ctl->pk, &ctl->out, msgpack_sbuffer_write);
  ctl->next = rpc->clients;
  if (rpc->clients)
    rpc->clients->prev = ctl;
  rpc->clients = ctl;
  d->control_clients++;
  if (is_tcp) {
    rpc->unauthenticated++;
    if (ctl->dec)
      wsf_rpc_decoder_set_limits(ctl->dec, PREAUTH_MAX_REQUEST_BYTES, PREAUTH_MAX_OBJECTS);
  }
  if (!ctl->dec || uv_accept(server, &ctl->h.stream) != 0) {
    ctl_close(ctl);
    return;
  }
  /* Over the limit: accepted only to be told so, then closed, so the
   * backlog does not keep it (and its descriptor) waiting. */
  if (refused) {
    refuse_client(ctl, CTL_MAX_CONTROL_CLIENTS, "too many control clients (max_control_clients); closing");
    return;
  }
  if (is_tcp)
    wsf_timer_start(&d->timers, &ctl->auth_deadline, (uint64_t)AUTH_TIMEOUT_MS * 1000);
  if (uv_read_start(&ctl->h.stream, ctl_alloc, on_ctl_read) != 0)
    ctl_close(ctl);
}

static void on_unix_connection(uv_stream_t *server, int status) {
  if (status == 0)
    accept_client(server, false);
}

static void on_tcp_connection(uv_stream_t *server, int status) {
  if (status == 0)
    accept_client(server, true);
}

/* ---- listening ------------------------------------------------------------------------ */

static bool is_hex64(const char *s, size_t len) {
  if (len == 65 && s[64] == '\n') /* written by hand with a final newline */
    len = 64;
  if (len != 64)
    return false;
  for (size_t i = 0; i < 64; i++)
    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
      return false;
  return true;
}

/* An existing token file must be ours, closed to others and hold the token:
 * one another user planted, or could read, would hand them the TCP control. */
static int load_or_create_token(wsf_rpc *rpc, const char *path) {
  char err[512];
  char *data;
  size_t len;
  struct stat st;
  if (lstat(path, &st) == 0 || errno != ENOENT) {
    if (wsf_read_regular_file(path, 65, true, &data, &len, err, sizeof err) != 0) {
      wsf_log(WSF_LOG_ERROR, "token file %s", err);
      return -1;
    }
    bool ok = is_hex64(data, len);
    if (ok)
      memcpy(rpc->token, data, 64);
    free(data);
    if (!ok) {
      wsf_log(WSF_LOG_ERROR, "token file %s must hold 64 hex characters", path);
      return -1;
    }
    rpc->token[64] = '\0';
    return 0;
  }
  unsigned char raw[32];
  if (wsf_random(raw, sizeof raw) != 0)
    return -1;
  for (int i = 0; i < 32; i++)
    snprintf(rpc->token + 2 * i, 3, "%02x", raw[i]);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, rpc->token, 64) != 64) {
    wsf_log(WSF_LOG_ERROR, "cannot write token file %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

static bool socket_is_live(const char *path) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sun.sun_path)
    return false;
  strcpy(sun.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  bool live = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
  close(fd);
  return live;
}

/* The socket's directory is private (0700, ours): the socket's own mode is
 * not honoured by every system, the directory's is. */
static int prepare_socket_dir(const char *socket_path) {
  char dir[4096], err[4200];
  snprintf(dir, sizeof dir, "%s", socket_path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return 0;
  *slash = '\0';
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    wsf_log(WSF_LOG_ERROR, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  if (wsf_check_private_dir(dir, err, sizeof err) != 0) {
    wsf_log(WSF_LOG_ERROR, "%s", err);
    return -1;
  }
  return 0;
}

static void notify_opened(void *ctx, const wsf_conn *c) {
  wsf_rpc_notify(ctx, "open", c);
}
static void notify_closed(void *ctx, const wsf_conn *c) {
  wsf_rpc_notify(ctx, "close", c);
}
static void notify_handshake_failed(void *ctx, const wsf_conn *c) {
  wsf_rpc_notify(ctx, "handshake_failed", c);
}
static void notify_inbox_dropped(void *ctx, const wsf_conn *c) {
  wsf_rpc_notify(ctx, "drop", c);
}
/* Lifecycle notifications to the control clients that subscribed. */
static const wsf_conn_observer notify_observer = {
    .opened = notify_opened,
    .closed = notify_closed,
    .handshake_failed = notify_handshake_failed,
    .inbox_dropped = notify_inbox_dropped,
};

int wsf_rpc_start(wsf_daemon *d) {
  wsf_rpc *rpc = wsf_xcalloc(1, sizeof *rpc);
  d->rpc = rpc;
  wsf_conn_observe(d, &notify_observer, d);
  uv_prepare_init(d->loop, &rpc->flusher);
  rpc->flusher.data = rpc;
  uv_prepare_start(&rpc->flusher, on_flusher);
  uv_unref((uv_handle_t *)&rpc->flusher);
  const char *path = d->cfg.socket_path;
  if (prepare_socket_dir(path) != 0)
    return -1;
  /* A stale socket from a crashed daemon is replaced; a live one is not. */
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
    if (socket_is_live(path)) {
      wsf_log(WSF_LOG_ERROR, "another wsfleetd is listening on %s", path);
      return -1;
    }
    unlink(path);
  }
  uv_pipe_init(d->loop, &rpc->unix_listener, 0);
  rpc->unix_listener.data = d;
  mode_t old = umask(0177);
  int rv = uv_pipe_bind(&rpc->unix_listener, path);
  umask(old);
  if (rv == 0)
    rv = uv_listen((uv_stream_t *)&rpc->unix_listener, 1024, on_unix_connection);
  if (rv != 0) {
    wsf_log(WSF_LOG_ERROR, "cannot listen on %s: %s", path, uv_strerror(rv));
    return -1;
  }
  chmod(path, 0600);
  rpc->has_unix = true;
  if (d->cfg.control_tcp) {
    struct sockaddr_storage addr;
    if (wsf_parse_addr_port(d->cfg.control_tcp, &addr) != 0) {
      wsf_log(WSF_LOG_ERROR,
              "--control-tcp wants a loopback ADDR:PORT such as 127.0.0.1:7411 or [::1]:7411, got '%s'",
              d->cfg.control_tcp);
      return -1;
    }
    if (!wsf_addr_is_loopback(&addr)) {
      wsf_log(WSF_LOG_ERROR, "--control-tcp binds only to loopback addresses (127.0.0.0/8, ::1)");
      return -1;
    }
    if (!d->cfg.token_file) {
      wsf_log(WSF_LOG_ERROR, "--control-tcp needs --token-file");
      return -1;
    }
    if (load_or_create_token(rpc, d->cfg.token_file) != 0)
      return -1;
    uv_tcp_init(d->loop, &rpc->tcp_listener);
    rpc->tcp_listener.data = d;
    rv = uv_tcp_bind(&rpc->tcp_listener, (const struct sockaddr *)&addr, 0);
    if (rv == 0)
      rv = uv_listen((uv_stream_t *)&rpc->tcp_listener, 1024, on_tcp_connection);
    if (rv != 0) {
      wsf_log(WSF_LOG_ERROR, "cannot listen on %s: %s", d->cfg.control_tcp, uv_strerror(rv));
      return -1;
    }
    rpc->has_tcp = true;
  }
  return 0;
}

void wsf_rpc_stop(wsf_daemon *d) {
  wsf_rpc *rpc = d->rpc;
  if (!rpc)
    return;
  if (rpc->has_unix) {
    uv_close((uv_handle_t *)&rpc->unix_listener, NULL);
    unlink(d->cfg.socket_path);
  }
  if (rpc->has_tcp)
    uv_close((uv_handle_t *)&rpc->tcp_listener, NULL);
  rpc->has_unix = rpc->has_tcp = false;
  on_flusher(&rpc->flusher);
  while (rpc->clients) {
    ctl_flush(rpc->clients);
    ctl_close(rpc->clients);
  }
  uv_close((uv_handle_t *)&rpc->flusher, NULL);
}
