/* A control client's bytes: reading into the codec, the replies packed into
 * its output buffer, and one write per client per loop turn. */
#include "rpc_internal.h"

#include <stdlib.h>
#include <string.h>

const char *const rpc_ctl_limit_names[CTL_LIMIT_COUNT] = {
#define X(id, name) name,
    CTL_LIMITS(X)
#undef X
};

void rpc_ctl_unref(wsf_ctl *ctl) {
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
  char *owned; /* the output buffer itself, handed over (HANDOVER_MIN_BYTES), or NULL */
  char data[]; /* else a copy of the rest */
} write_req;

/* A rest at least this long is not copied: the write takes the output buffer
 * and the client starts a new one. The rest of a 4 MiB `recv` reply that the
 * Unix socket did not take at once was ~440 KiB copied per message
 * (callgrind), and all of a large reply when the client reads slowly; a short
 * rest is copied so the buffer is reused. */
#define HANDOVER_MIN_BYTES (256u << 10)

static void on_ctl_written(uv_write_t *req, int status) {
  write_req *wr = (write_req *)req;
  wsf_ctl *ctl = wr->ctl;
  ctl->write_pending -= wr->len;
  free(wr->owned);
  free(wr);
  if (status < 0 && !ctl->closed)
    rpc_ctl_close(ctl);
  rpc_ctl_unref(ctl);
}

/* Writes what the responses of this turn packed: one write per read batch. */
void rpc_ctl_flush(wsf_ctl *ctl) {
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
      rpc_ctl_close(ctl);
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
      rpc_ctl_close(ctl);
      return;
    }
    bool handover = rest >= HANDOVER_MIN_BYTES;
    write_req *wr = wsf_xmalloc(sizeof *wr + (handover ? 0 : rest));
    char *from = ctl->out.data + off;
    wr->owned = NULL;
    if (handover) {
      wr->owned = ctl->out.data;
      msgpack_sbuffer_init(&ctl->out);
    } else {
      memcpy(wr->data, from, rest);
      from = wr->data;
    }
    wr->ctl = ctl;
    wr->len = rest;
    ctl->refs++;
    ctl->write_pending += rest;
    uv_buf_t b = uv_buf_init(from, (unsigned)rest);
    if (uv_write(&wr->req, &ctl->h.stream, &b, 1, on_ctl_written) != 0) {
      ctl->write_pending -= rest;
      free(wr->owned);
      free(wr);
      ctl->refs--;
      ctl->out.size = 0;
      rpc_ctl_close(ctl);
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
void rpc_ctl_done_packing(wsf_ctl *ctl) {
  if (ctl->in_read || ctl->dirty)
    return;
  wsf_rpc *rpc = ctl->d->rpc;
  ctl->dirty = true;
  ctl->refs++;
  ctl->next_dirty = rpc->dirty;
  rpc->dirty = ctl;
}

void rpc_flush_dirty(uv_prepare_t *h) {
  wsf_rpc *rpc = h->data;
  /* Bounded by the clients dirty now; flushing packs nothing new. */
  while (rpc->dirty) {
    wsf_ctl *ctl = rpc->dirty;
    rpc->dirty = ctl->next_dirty;
    ctl->dirty = false;
    rpc_ctl_flush(ctl);
    rpc_ctl_unref(ctl);
  }
}

void rpc_send_error(wsf_ctl *ctl, uint32_t msgid, const char *code, const char *message) {
  wsf_pack_error_begin(&ctl->pk, msgid, code, message, 0);
  wsf_pack_error_end(&ctl->pk);
  rpc_ctl_done_packing(ctl);
}

void rpc_send_error_limit(wsf_ctl *ctl, uint32_t msgid, const char *limit, const char *message) {
  wsf_pack_error_begin(&ctl->pk, msgid, "limit_exceeded", message, 1);
  kv_str(&ctl->pk, "limit", limit);
  wsf_pack_error_end(&ctl->pk);
  rpc_ctl_done_packing(ctl);
}

/* A control-side limit: counted, then named in the error. */
void rpc_send_ctl_limit(wsf_ctl *ctl, uint32_t msgid, enum ctl_limit limit, const char *message) {
  ctl->d->rpc->limit_hits[limit]++;
  rpc_send_error_limit(ctl, msgid, rpc_ctl_limit_names[limit], message);
}

/* ---- control connections ------------------------------------------------------------ */

static void on_ctl_closed(uv_handle_t *h) {
  wsf_ctl *ctl = h->data;
  rpc_ctl_unref(ctl);
}

void rpc_ctl_close(wsf_ctl *ctl) {
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
      rpc_pending_free(p);
    }
  }
  uv_close(&ctl->h.handle, on_ctl_closed);
}

void rpc_ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char read_buf[64 * 1024]; /* one for all clients: the decoder copies what it keeps */
  *buf = uv_buf_init(read_buf, sizeof read_buf);
}

void rpc_on_ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  wsf_ctl *ctl = s->data;
  if (nread < 0) {
    rpc_ctl_close(ctl);
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
      ctl->d->rpc->on_request(ctl, &req);
      wsf_rpc_request_release(&req);
      /* One read may carry hundreds of opens (~50 µs each): heartbeats due meanwhile go out
       * between two of them, not after the whole batch (timer.h). */
      wsf_timers_run_overdue(&ctl->d->timers);
    } else if (st == WSF_RPC_INVALID) {
      rpc_send_error(ctl, req.has_msgid ? req.msgid : 0, "bad_request",
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
    snprintf(msg, sizeof msg, "request larger than %s; closing", rpc_ctl_limit_names[limit]);
    rpc_send_ctl_limit(ctl, 0, limit, msg);
  } else if (rv == WSF_RPC_MALFORMED)
    rpc_send_error(ctl, 0, "bad_request", "bytes are not msgpack; closing");
  ctl->in_read = false;
  rpc_ctl_flush(ctl);
  if (rv < 0)
    rpc_ctl_close(ctl);
  rpc_ctl_unref(ctl);
}

/* Pending requests freed, kept for the next ones: a `request` per echoed
 * message calloc'd and freed ~300 bytes, ~500 of the daemon's ~7,800
 * instructions per message (callgrind, issue 19). Bounded: a burst of 19,000
 * opens returns to malloc all but PENDING_SPARE_MAX. Reachable from here, so
 * not a leak at exit. */
#define PENDING_SPARE_MAX 1024
static pending *spare_pendings; /* linked through next */
static uint32_t n_spare_pendings;

/* Binds a pending request to its control client, or answers limit_exceeded
 * and returns NULL when the client or the connection c (NULL for open) has
 * as many waiting as allowed. */
pending *rpc_pending_new(req_ctx *r, uint8_t method, const wsf_conn *c) {
  if (r->ctl->n_pendings >= MAX_WAITS_PER_CLIENT) {
    rpc_send_ctl_limit(r->ctl, r->msgid, CTL_MAX_WAITS_PER_CLIENT,
                       "this control client has 32768 requests waiting");
    return NULL;
  }
  if (c) {
    uint32_t n = 0;
    for (const wsf_wait *w = c->waits_head; w && n < MAX_WAITS_PER_CONN; w = w->next)
      n += w->kind == WSF_WAIT_RECV || w->kind == WSF_WAIT_PING;
    if (n >= MAX_WAITS_PER_CONN) {
      rpc_send_ctl_limit(r->ctl, r->msgid, CTL_MAX_WAITS_PER_CONN, "this connection has 64 requests waiting");
      return NULL;
    }
  }
  r->ctl->n_pendings++;
  pending *p = spare_pendings;
  if (p) {
    spare_pendings = p->next;
    n_spare_pendings--;
    memset(p, 0, sizeof *p);
  } else {
    p = wsf_xcalloc(1, sizeof *p);
  }
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

void rpc_pending_free(pending *p) {
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
  if (n_spare_pendings < PENDING_SPARE_MAX) {
    p->next = spare_pendings;
    spare_pendings = p;
    n_spare_pendings++;
  } else {
    free(p);
  }
  rpc_ctl_unref(ctl);
}
