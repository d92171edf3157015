/* The session and the fleet: hello, reset, subscribe, and the notifications
 * subscribers get. */
#include "rpc_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *const rpc_event_names[] = {"open", "close", "handshake_failed", "drop", "reconnect"};
const size_t rpc_event_count = WSF_ARRAY_LEN(rpc_event_names);

/* ---- hello --------------------------------------------------------------- */

void rpc_do_hello(req_ctx *r) {
  msgpack_packer *pk = &r->ctl->pk;
  const wsf_config *cfg = &r->d->cfg;
  out_result_header(out_sb(pk), r->msgid);
  msgpack_pack_map(pk, 7);
  kv_str(pk, "server", "wsfleetd");
  kv_str(pk, "version", WSF_VERSION);
  kv_uint(pk, "protocol", 1);
  kv_uint(pk, "pid", (uint64_t)getpid());
  wsf_pack_key(pk, "limits");
  msgpack_pack_map(pk, 15);
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
  /* the protocol layer's (PROTOCOL.md §5b, proto.h) */
  kv_uint(pk, "max_auto_reply_rules", WSF_MAX_RULES);
  kv_uint(pk, "max_session_steps", WSF_MAX_STEPS);
  kv_uint(pk, "max_captures", WSF_MAX_CAPTURES);
  kv_uint(pk, "max_reply_bytes", WSF_MAX_REPLY_BYTES);
  wsf_pack_key(pk, "methods");
  static const char *const methods[] = {
#define X(name, fn, starts) #name,
      RPC_METHODS(X)
#undef X
  };
  msgpack_pack_array(pk, WSF_ARRAY_LEN(methods));
  for (size_t i = 0; i < WSF_ARRAY_LEN(methods); i++)
    wsf_pack_str(pk, methods[i]);
  wsf_pack_key(pk, "events");
  msgpack_pack_array(pk, rpc_event_count);
  for (size_t i = 0; i < rpc_event_count; i++)
    wsf_pack_str(pk, rpc_event_names[i]);
  rpc_ctl_done_packing(r->ctl);
}

void rpc_do_reset(req_ctx *r) {
  uint64_t code = 1001;
  const char *reason = "reset";
  size_t reason_len = 5;
  if (!rpc_get_uint(r, r->params, "code", &code, 65535) ||
      !rpc_get_str(r, r->params, "reason", &reason, &reason_len))
    return;
  if (!rpc_sendable_close_code(code)) {
    rpc_bad(r, "field '%s' is not a close code a client may send", "code");
    return;
  }
  char reason_buf[124];
  snprintf(reason_buf, sizeof reason_buf, "%.*s", (int)(reason_len > 123 ? 123 : reason_len),
           reason ? reason : "");
  uint32_t forgotten = 0;
  uint32_t closed = wsf_conns_reset(r->d, (uint16_t)code, reason_buf, &forgotten);
  out_result_header(out_sb(&r->ctl->pk), r->msgid);
  msgpack_pack_map(&r->ctl->pk, 2);
  kv_uint(&r->ctl->pk, "closed", closed);
  kv_uint(&r->ctl->pk, "forgotten", forgotten);
  rpc_ctl_done_packing(r->ctl);
}

void rpc_do_subscribe(req_ctx *r) {
  const msgpack_object *events;
  if (wsf_field_array(r->params, "events", &events) != WSF_FIELD_OK || events->type != MSGPACK_OBJECT_ARRAY) {
    rpc_bad(r, "field '%s' (an array of strings) is required", "events");
    return;
  }
  uint32_t mask = 0;
  for (uint32_t i = 0; i < events->via.array.size; i++) {
    const msgpack_object *o = &events->via.array.ptr[i];
    int found = -1;
    for (size_t e = 0; o->type == MSGPACK_OBJECT_STR && e < rpc_event_count; e++)
      if (strlen(rpc_event_names[e]) == o->via.str.size &&
          memcmp(rpc_event_names[e], o->via.str.ptr, o->via.str.size) == 0)
        found = (int)e;
    if (found < 0) {
      rpc_bad(r, "unknown event in '%s' (open, close, handshake_failed, drop, reconnect)", "events");
      return;
    }
    mask |= 1u << found;
  }
  r->ctl->events = mask;
  msgpack_packer *pk = &r->ctl->pk;
  out_result_header(out_sb(pk), r->msgid);
  msgpack_pack_map(pk, 1);
  wsf_pack_key(pk, "events");
  msgpack_pack_array(pk, (size_t)__builtin_popcount(mask));
  for (size_t e = 0; e < rpc_event_count; e++)
    if (mask & (1u << e))
      wsf_pack_str(pk, rpc_event_names[e]);
  rpc_ctl_done_packing(r->ctl);
}

void wsf_rpc_notify(wsf_daemon *d, const char *event, const wsf_conn *c) {
  wsf_rpc *rpc = d->rpc;
  if (!rpc)
    return;
  uint32_t bit = 0;
  for (size_t e = 0; e < rpc_event_count; e++)
    if (strcmp(rpc_event_names[e], event) == 0)
      bit = 1u << e;
  for (wsf_ctl *ctl = rpc->clients; ctl; ctl = ctl->next) {
    if (!(ctl->events & bit) || ctl->closed)
      continue;
    msgpack_packer *pk = &ctl->pk;
    bool reconnected = strcmp(event, "reconnect") == 0;
    wsf_reconnect_info ri;
    bool policy = wsf_conn_reconnect_info(c, &ri);
    /* a reconnect's record is the ending it replaced */
    const wsf_close_record *record = reconnected ? (policy ? ri.last_record : NULL) : c->record;
    bool with_record = record && strcmp(event, "open") != 0;
    bool with_timings = strcmp(event, "open") == 0 || reconnected;
    bool with_drops = strcmp(event, "drop") == 0;
    bool with_error = strcmp(event, "handshake_failed") == 0 && c->failure;
    uint32_t next_attempt = strcmp(event, "close") == 0 ? wsf_conn_reconnect_next_attempt(c) : 0;
    bool with_attempt = reconnected || (with_error && policy && ri.attempt_failed);
    wsf_pack_notification_header(pk, "event");
    msgpack_pack_map(pk, 4 + with_record + with_timings + with_drops + with_error + (next_attempt > 0) +
                             with_attempt);
    kv_str(pk, "event", event);
    kv_str(pk, "conn", c->name);
    kv_str(pk, "url", c->url);
    kv_uint(pk, "at_ms", wsf_wall_ms());
    if (with_record) {
      wsf_pack_key(pk, "record");
      wsf_rpc_pack_record(pk, record);
    }
    if (next_attempt) {
      wsf_pack_key(pk, "reconnect");
      msgpack_pack_map(pk, 1);
      kv_uint(pk, "attempt", next_attempt);
    }
    if (with_attempt)
      kv_uint(pk, reconnected ? "attempt" : "reconnect_attempt",
              reconnected ? ri.attempts : ri.attempt_failed);
    if (with_timings) {
      wsf_pack_key(pk, "timings");
      wsf_rpc_pack_timings(pk, &c->timings);
    }
    if (with_drops)
      kv_uint(pk, "dropped", c->inbox.dropped);
    if (with_error) {
      const wsf_open_failure *f = c->failure;
      wsf_pack_key(pk, "error");
      int step = wsf_conn_session_failed_step(c); /* a session step failed it (PROTOCOL.md §5b) */
      msgpack_pack_map(pk, 4 + (f->retry_after != NULL) + (step >= 0 ? 2 : 0));
      kv_str(pk, "code", wsf_err_code(f->err));
      kv_str(pk, "message", f->message);
      kv_uint(pk, "http_status", (uint64_t)f->http_status);
      wsf_pack_key(pk, "body");
      wsf_pack_text(pk, f->body ? f->body : "", f->body ? f->body_len : 0);
      if (f->retry_after) {
        wsf_pack_key(pk, "retry_after");
        wsf_pack_text(pk, f->retry_after, strlen(f->retry_after));
      }
      if (step >= 0) {
        kv_str(pk, "phase", "session");
        kv_uint(pk, "step", (uint64_t)step);
      }
    }
    rpc_ctl_done_packing(ctl);
  }
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
static void notify_reconnected(void *ctx, const wsf_conn *c) {
  wsf_rpc_notify(ctx, "reconnect", c);
}
/* Lifecycle notifications to the control clients that subscribed. */
static const wsf_conn_observer notify_observer = {
    .opened = notify_opened,
    .closed = notify_closed,
    .handshake_failed = notify_handshake_failed,
    .inbox_dropped = notify_inbox_dropped,
    .reconnected = notify_reconnected,
};

void rpc_notify_start(wsf_daemon *d) {
  wsf_conn_observe(d, &notify_observer, d);
}
