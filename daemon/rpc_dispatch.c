/* Requests to method groups: the method table, the field getters every
 * method uses, and the waiting requests a client holds. */
#include "rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rpc_send_conn_closed(wsf_ctl *ctl, uint32_t msgid, const wsf_conn *c) {
  wsf_pack_error_begin(&ctl->pk, msgid, "conn_closed", c->record ? c->record->summary : "connection closed",
                       2);
  kv_str(&ctl->pk, "conn", c->name);
  wsf_pack_key(&ctl->pk, "record");
  if (c->record)
    wsf_rpc_pack_record(&ctl->pk, c->record);
  else
    msgpack_pack_nil(&ctl->pk);
  wsf_pack_error_end(&ctl->pk);
  rpc_ctl_done_packing(ctl);
}

void rpc_send_no_such_conn(wsf_ctl *ctl, uint32_t msgid, const char *name, size_t len) {
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
  rpc_ctl_done_packing(ctl);
}

/* ---- request parsing helpers ---------------------------------------------- */

bool rpc_bad(req_ctx *r, const char *fmt, const char *field) {
  char msg[200];
  snprintf(msg, sizeof msg, fmt, field);
  rpc_send_error(r->ctl, r->msgid, "bad_request", msg);
  return false;
}

/* Each getter: true when absent or valid (value left as default), false after
 * answering bad_request. */
bool rpc_get_uint(req_ctx *r, const msgpack_object *map, const char *key, uint64_t *v, uint64_t max) {
  uint64_t x;
  int st = wsf_field_uint(map, key, &x);
  if (st == WSF_FIELD_WRONG_TYPE)
    return rpc_bad(r, "field '%s' must be a non-negative integer", key);
  if (st == WSF_FIELD_OK) {
    if (x > max)
      return rpc_bad(r, "field '%s' is too large", key);
    *v = x;
  }
  return true;
}

bool rpc_get_u32(req_ctx *r, const msgpack_object *map, const char *key, uint32_t *v) {
  uint64_t x = *v;
  if (!rpc_get_uint(r, map, key, &x, UINT32_MAX))
    return false;
  *v = (uint32_t)x;
  return true;
}

bool rpc_get_bool(req_ctx *r, const msgpack_object *map, const char *key, bool *v) {
  if (wsf_field_bool(map, key, v) == WSF_FIELD_WRONG_TYPE)
    return rpc_bad(r, "field '%s' must be a boolean", key);
  return true;
}

bool rpc_get_str(req_ctx *r, const msgpack_object *map, const char *key, const char **s, size_t *len) {
  if (wsf_field_str(map, key, s, len) == WSF_FIELD_WRONG_TYPE)
    return rpc_bad(r, "field '%s' must be a string", key);
  return true;
}

bool rpc_get_map(req_ctx *r, const msgpack_object *map, const char *key, const msgpack_object **m) {
  int st = wsf_field_map(map, key, m);
  if (st == WSF_FIELD_WRONG_TYPE)
    return rpc_bad(r, "field '%s' must be a map", key);
  if (st == WSF_FIELD_ABSENT)
    *m = NULL;
  return true;
}

/* The connection named by the required `conn` field, or NULL after answering. */
wsf_conn *rpc_get_conn(req_ctx *r) {
  const char *name;
  size_t len;
  int st = wsf_field_str(r->params, "conn", &name, &len);
  if (st != WSF_FIELD_OK) {
    rpc_bad(r, "field '%s' (a string) is required", "conn");
    return NULL;
  }
  wsf_conn *c = wsf_conn_find(r->d, name, len);
  if (!c)
    rpc_send_no_such_conn(r->ctl, r->msgid, name, len);
  return c;
}

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
  free(p);
  rpc_ctl_unref(ctl);
}

/* ---- rpc_dispatch --------------------------------------------------------------------- */

const rpc_method rpc_methods[] = {
#define X(name, fn, starts) {#name, fn, starts},
    RPC_METHODS(X)
#undef X
};
const size_t rpc_method_count = WSF_ARRAY_LEN(rpc_methods);

void rpc_dispatch(wsf_ctl *ctl, const wsf_rpc_request *req) {
  req_ctx r = {ctl, ctl->d, req->msgid, req->params};
  if (!rpc_authenticate(ctl, req))
    return;
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
    rpc_ctl_close(ctl);
    return;
  }
  for (size_t i = 0; i < rpc_method_count; i++) {
    if (wsf_rpc_method_is(req, rpc_methods[i].name)) {
      if (ctl->d->shutting_down && rpc_methods[i].refused_while_shutting_down) {
        rpc_send_error(ctl, req->msgid, "shutting_down", "the daemon is shutting down");
        return;
      }
      rpc_methods[i].fn(&r);
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
  rpc_ctl_done_packing(ctl);
}
