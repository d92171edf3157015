/* What every method uses to read its request and answer common errors: the
 * field getters, the connection a request names, conn_closed and no_such_conn. */
#include "rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rpc_send_conn_closed(wsf_ctl *ctl, uint32_t msgid, const wsf_conn *c) {
  /* While the reconnect policy reopens it: reconnecting, and the record of the ending. */
  wsf_reconnect_info ri;
  bool reconnecting = wsf_conn_reconnect_info(c, &ri) && ri.waiting;
  const wsf_close_record *rec = reconnecting ? ri.ending : c->record;
  wsf_pack_error_begin(&ctl->pk, msgid, "conn_closed", rec ? rec->summary : "connection closed",
                       2 + reconnecting);
  kv_str(&ctl->pk, "conn", c->name);
  wsf_pack_key(&ctl->pk, "record");
  if (rec)
    wsf_rpc_pack_record(&ctl->pk, rec);
  else
    msgpack_pack_nil(&ctl->pk);
  if (reconnecting)
    kv_bool(&ctl->pk, "reconnecting", true);
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

bool rpc_sendable_close_code(uint64_t code) {
  return code == 1000 || code == 1001 || code == 1003 || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}
