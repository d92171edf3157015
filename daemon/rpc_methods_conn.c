/* The methods of one connection's life: open, send, recv, request, ping, close. */
#include "rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_open_proto.h"
#include "view.h"

static void pack_open_result(msgpack_packer *pk, uint32_t msgid, const wsf_conn *c, bool reused) {
  out_result_header(out_sb(pk), msgid);
  msgpack_pack_map(pk, 10);
  kv_str(pk, "conn", c->name);
  kv_bool(pk, "reused", reused);
  char address[64];
  kv_str(pk, "source", wsf_conn_source_text(c));
  kv_str(pk, "address", wsf_conn_peer_text(c, address));
  wsf_pack_key(pk, "deflate");
  wsf_view deflate;
  if (c->deflate)
    rpc_pack_view(pk, wsf_view_deflate_params(&deflate, &c->deflate->agreed));
  else
    msgpack_pack_nil(pk);
  kv_uint(pk, "status", 101);
  kv_str(pk, "subprotocol", c->subprotocol);
  wsf_pack_key(pk, "headers");
  msgpack_pack_map(pk, c->n_resp_headers);
  const char *h = c->resp_headers ? c->resp_headers->data : "";
  char accept[29];
  for (uint16_t i = 0; i < c->n_resp_headers; i++) {
    const char *value = h + strlen(h) + 1;
    wsf_pack_str(pk, h);
    wsf_pack_str(pk, !*value && strcmp(h, "sec-websocket-accept") == 0 ? wsf_conn_response_accept(c, accept)
                                                                       : value);
    h = value + strlen(value) + 1;
  }
  wsf_pack_key(pk, "timings");
  wsf_rpc_pack_timings(pk, &c->timings);
  wsf_pack_key(pk, "tls");
  if (c->tls && c->tls_info) {
    msgpack_pack_map(pk, 3);
    kv_str(pk, "version", c->tls_info->version);
    kv_str(pk, "cipher", c->tls_info->cipher);
    kv_bool(pk, "verified", c->tls_info->verified);
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
      bool retry = hs && f && f->retry_after;
      int step = wsf_conn_session_failed_step(c); /* a session step failed the open: which */
      wsf_pack_error_begin(pk, p->msgid, wsf_err_code(err), f ? f->message : "open failed",
                           2 + (hs ? 2 : 0) + retry + (hs || timeout ? 1 : 0) + (step >= 0));
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
        if (retry) {
          wsf_pack_key(pk, "retry_after");
          wsf_pack_text(pk, f->retry_after, strlen(f->retry_after));
        }
      }
      if (timeout)
        kv_str(pk, "phase", w->error_phase ? w->error_phase : "connect");
      if (hs) /* "upgrade", "proxy" when an HTTP proxy refused the CONNECT, "session" */
        kv_str(pk, "phase", w->error_phase ? w->error_phase : "upgrade");
      if (step >= 0)
        kv_uint(pk, "step", (uint64_t)step);
      wsf_pack_error_end(pk);
    }
    rpc_ctl_done_packing(ctl);
  }
  rpc_pending_free(p);
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
    return rpc_bad(r, "field '%s' must be a string", "keepalive.mode");
  if (st == WSF_FIELD_OK) {
    int found = -1;
    for (int i = 0; i < WSF_KA_MODE_COUNT; i++)
      if (strlen(wsf_ka_mode_name(i)) == mode_len && memcmp(wsf_ka_mode_name(i), mode, mode_len) == 0)
        found = i;
    if (found < 0)
      return rpc_bad(r, "%s must be one of ping, text, binary, none", "keepalive.mode");
    ka->mode = (uint8_t)found;
  }
  bool jitter_given = wsf_field(m, "jitter_ms") != NULL;
  bool reply_timeout_given = wsf_field(m, "reply_timeout_ms") != NULL;
  if (!rpc_get_u32(r, m, "interval_ms", &ka->interval_ms) ||
      !rpc_get_u32(r, m, "jitter_ms", &ka->jitter_ms) ||
      !rpc_get_u32(r, m, "pong_timeout_ms", &ka->pong_timeout_ms) ||
      !rpc_get_u32(r, m, "reply_timeout_ms", &ka->reply_timeout_ms))
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
    return rpc_bad(r, "field '%s' must be a string or binary", "keepalive.payload");
  if (st == WSF_FIELD_OK) {
    ka->payload = (uint8_t *)payload;
    ka->payload_len = payload_len;
  }
  if (!rpc_get_str(r, m, "reply_contains", (const char **)&ka->reply_contains, &ka->reply_contains_len))
    return false;
  if (ka->mode == WSF_KA_PING && ka->payload_len > 125)
    return rpc_bad(r, "%s: a ping payload is at most 125 bytes", "keepalive.payload");
  if ((ka->mode == WSF_KA_TEXT || ka->mode == WSF_KA_BINARY) && ka->payload_len == 0)
    return rpc_bad(r, "%s is required for text and binary heartbeats", "keepalive.payload");
  if (ka->mode != WSF_KA_NONE && ka->interval_ms == 0)
    return rpc_bad(r, "%s must be positive", "keepalive.interval_ms");
  return true;
}

/* NUL-terminated copies for the TLS file names (the codec's strings are not). */
static bool get_cstr(req_ctx *r, const msgpack_object *m, const char *key, char **out) {
  const char *s = NULL;
  size_t len = 0;
  if (!m)
    return true;
  if (!rpc_get_str(r, m, key, &s, &len))
    return false;
  if (s) {
    if (memchr(s, '\0', len))
      return rpc_bad(r, "field '%s' holds a NUL byte", key);
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
  if (!rpc_get_bool(r, m, "enabled", &o->enabled) ||
      !rpc_get_bool(r, m, "client_no_context_takeover", &o->client_no_context_takeover) ||
      !rpc_get_bool(r, m, "server_no_context_takeover", &o->server_no_context_takeover) ||
      !rpc_get_u32(r, m, "server_max_window_bits", &server_bits) || !rpc_get_u32(r, m, "level", &level) ||
      !rpc_get_u32(r, m, "mem_level", &mem_level))
    return false;
  const msgpack_object *cbits = wsf_field(m, "client_max_window_bits");
  if (cbits && cbits->type == MSGPACK_OBJECT_BOOLEAN)
    o->client_max_window_bits = cbits->via.boolean ? WSF_DEFLATE_BITS_ANY : 0;
  else if (cbits && cbits->type == MSGPACK_OBJECT_POSITIVE_INTEGER && cbits->via.u64 <= 15)
    o->client_max_window_bits = (int)cbits->via.u64;
  else if (cbits && cbits->type != MSGPACK_OBJECT_NIL)
    return rpc_bad(r, "field '%s' must be 8..15 or true", "deflate.client_max_window_bits");
  o->server_max_window_bits = (int)(server_bits > 15 ? 16 : server_bits);
  o->level = level == UINT32_MAX ? -1 : (int)(level > 9 ? 10 : level);
  o->mem_level = (int)(mem_level > 9 ? 10 : mem_level);
  const char *why = wsf_deflate_options_check(o);
  if (why) {
    rpc_send_error(r->ctl, r->msgid, "bad_request", why);
    return false;
  }
  return true;
}

/* open's reconnect map (PROTOCOL.md §5, reconnect). */
static bool parse_reconnect(req_ctx *r, const msgpack_object *m, wsf_reconnect_policy *o) {
  if (!m)
    return true;
  o->backoff_ms = 1000;
  o->backoff_max_ms = 30000;
  bool jitter_given = wsf_field(m, "jitter_ms") != NULL, cap_given = wsf_field(m, "backoff_max_ms") != NULL;
  if (!rpc_get_u32(r, m, "max", &o->max) || !rpc_get_u32(r, m, "backoff_ms", &o->backoff_ms) ||
      !rpc_get_u32(r, m, "backoff_max_ms", &o->backoff_max_ms) ||
      !rpc_get_u32(r, m, "jitter_ms", &o->jitter_ms))
    return false;
  if (!jitter_given)
    o->jitter_ms = o->backoff_ms / 2;
  if (!cap_given && o->backoff_max_ms < o->backoff_ms)
    o->backoff_max_ms = o->backoff_ms;
  if (o->backoff_max_ms < o->backoff_ms)
    return rpc_bad(r, "%s must not be below reconnect.backoff_ms", "reconnect.backoff_max_ms");
  return true;
}

/* open's rate_limit map (PROTOCOL.md §5, rate_limit). The ring of write times
 * is 8 bytes per message allowed: 10,000 bounds it at 80 KB per connection. */
#define MAX_RATE_MESSAGES 10000
static bool parse_rate_limit(req_ctx *r, const msgpack_object *m, wsf_rate_limit *o) {
  if (!m)
    return true;
  o->margin_ms = WSF_RATE_MARGIN_DEFAULT;
  if (!rpc_get_u32(r, m, "messages", &o->messages) || !rpc_get_u32(r, m, "per_ms", &o->per_ms) ||
      !rpc_get_u32(r, m, "margin_ms", &o->margin_ms))
    return false;
  if (o->messages == 0 || o->messages > MAX_RATE_MESSAGES)
    return rpc_bad(r, "%s must be 1..10000", "rate_limit.messages");
  if (o->per_ms == 0)
    return rpc_bad(r, "%s must be positive", "rate_limit.per_ms");
  if (o->margin_ms != WSF_RATE_MARGIN_DEFAULT && o->margin_ms > o->per_ms)
    return rpc_bad(r, "%s must be at most rate_limit.per_ms", "rate_limit.margin_ms");
  return true;
}

void rpc_do_open(req_ctx *r) {
  wsf_daemon *d = r->d;
  const wsf_config *cfg = &d->cfg;
  wsf_open_params p = {0};
  const char *names[MAX_HEADERS], *values[MAX_HEADERS], *subs[MAX_SUBPROTOCOLS];
  size_t name_lens[MAX_HEADERS], value_lens[MAX_HEADERS], sub_lens[MAX_SUBPROTOCOLS];
  char *tls_strs[5] = {0};
  char *proxy = NULL; /* open's own HTTP proxy, or "none" */
  wsf_keepalive ka = cfg->keepalive;
  ka.next = NULL;

  if (wsf_field_str(r->params, "conn", &p.name, &p.name_len) != WSF_FIELD_OK || p.name_len == 0) {
    rpc_bad(r, "field '%s' (a non-empty string) is required", "conn");
    return;
  }
  if (p.name_len > cfg->max_name_bytes) {
    rpc_send_error_limit(r->ctl, r->msgid, "max_name_bytes", "connection name too long");
    return;
  }
  /* Names go to the event log, the metrics and C strings: a NUL would cut
   * them short there (two names would look the same), and invalid UTF-8
   * could not be sent back as str. */
  if (memchr(p.name, '\0', p.name_len) || !wsf_utf8_valid(p.name, p.name_len)) {
    rpc_bad(r, "field '%s' must be UTF-8 text without NUL bytes", "conn");
    return;
  }
  if (wsf_field_str(r->params, "url", &p.url, &p.url_len) != WSF_FIELD_OK) {
    rpc_bad(r, "field '%s' (a string) is required", "url");
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
    return (void)rpc_bad(r, "field '%s' must be true, false or \"any\"", "reuse");
  if (!rpc_get_str(r, r->params, "source", &p.source, &p.source_len) ||
      !rpc_get_u32(r, r->params, "connect_timeout_ms", &p.connect_timeout_ms) ||
      !rpc_get_uint(r, r->params, "max_message_bytes", &max_msg, cfg->max_message_bytes) ||
      !rpc_get_map(r, r->params, "headers", &headers) || !rpc_get_map(r, r->params, "inbox", &inbox) ||
      !rpc_get_map(r, r->params, "keepalive", &keepalive) || !rpc_get_map(r, r->params, "tls", &tls) ||
      !rpc_get_map(r, r->params, "deflate", &deflate) || !parse_deflate(r, deflate, &p.deflate))
    return;
  p.max_message_bytes = max_msg;
  if (wsf_field_array(r->params, "subprotocols", &subprotocols) == WSF_FIELD_WRONG_TYPE) {
    rpc_bad(r, "field '%s' must be an array of strings", "subprotocols");
    return;
  }
  if (headers) {
    if (headers->type != MSGPACK_OBJECT_MAP || headers->via.map.size > MAX_HEADERS) {
      rpc_bad(r, "field '%s' must be a map of at most 64 string pairs", "headers");
      return;
    }
    for (uint32_t i = 0; i < headers->via.map.size; i++) {
      const msgpack_object_kv *kv = &headers->via.map.ptr[i];
      if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR) {
        rpc_bad(r, "field '%s' must map strings to strings", "headers");
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
      rpc_bad(r, "field '%s' must be an array of at most 32 strings", "subprotocols");
      return;
    }
    for (uint32_t i = 0; i < subprotocols->via.array.size; i++) {
      const msgpack_object *o = &subprotocols->via.array.ptr[i];
      if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0) {
        rpc_bad(r, "field '%s' must be an array of non-empty strings", "subprotocols");
        return;
      }
      subs[i] = o->via.str.ptr;
      sub_lens[i] = o->via.str.size;
    }
    p.n_subprotocols = subprotocols->via.array.size;
  }
  if (inbox && (!rpc_get_u32(r, inbox, "max_messages", &p.inbox_max_messages) ||
                !rpc_get_uint(r, inbox, "max_bytes", &inbox_bytes, SIZE_MAX)))
    return;
  p.inbox_max_bytes = inbox_bytes;
  if (!parse_keepalive(r, keepalive, &ka))
    return;
  const msgpack_object *reconnect = NULL, *rate_limit = NULL;
  if (!rpc_get_map(r, r->params, "reconnect", &reconnect) || !parse_reconnect(r, reconnect, &p.reconnect) ||
      !rpc_get_map(r, r->params, "rate_limit", &rate_limit) ||
      !parse_rate_limit(r, rate_limit, &p.rate_limit))
    return;
  if (tls) {
    if (!rpc_get_bool(r, tls, "verify", &p.tls_verify))
      return;
  }
  if (!get_cstr(r, tls, "ca_file", &tls_strs[0]) || !get_cstr(r, tls, "server_name", &tls_strs[1]) ||
      !get_cstr(r, tls, "cert_file", &tls_strs[2]) || !get_cstr(r, tls, "key_file", &tls_strs[3]) ||
      !get_cstr(r, tls, "ciphers", &tls_strs[4]) || !get_cstr(r, r->params, "proxy", &proxy))
    goto out;
  p.proxy = proxy;
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
  rpc_open_proto proto; /* preset, framing, session, auto_reply */
  if (!rpc_parse_proto(r, &proto))
    goto out;
  if (proto.rate_limit && !rate_limit && !parse_rate_limit(r, proto.rate_limit, &p.rate_limit)) {
    rpc_open_proto_done(r, &proto); /* the open's own rate_limit wins over echo-heartbeat's */
    goto out;
  }
  if (proto.has_keepalive && !keepalive)
    ka = proto.keepalive;
  if (proto.subprotocol && p.n_subprotocols == 0) {
    subs[0] = proto.subprotocol;
    sub_lens[0] = strlen(proto.subprotocol);
    p.n_subprotocols = 1;
  }
  if (proto.url) {
    p.url = proto.url;
    p.url_len = proto.url_len;
  }
  p.proto = proto.proto;
  pending *pr = rpc_pending_new(r, P_OPEN, NULL);
  if (pr) {
    pr->w.done = on_open_done;
    pr->conn_name = wsf_xstrndup(p.name, p.name_len);
    wsf_conn_open(d, &p, &pr->w);
  }
  rpc_open_proto_done(r, &proto);
out:
  for (size_t i = 0; i < WSF_ARRAY_LEN(tls_strs); i++)
    free(tls_strs[i]);
  free(proxy);
}

/* ---- send / recv / request ---------------------------------------------------- */

/* Reads data/type; returns the opcode or 0 after answering bad_request. */
static int get_message(req_ctx *r, const char **data, size_t *len) {
  bool is_bin;
  if (wsf_field_bytes(r->params, "data", data, len, &is_bin) != WSF_FIELD_OK) {
    rpc_bad(r, "field '%s' (a string or binary) is required", "data");
    return 0;
  }
  int opcode = is_bin ? WSF_WS_BINARY : WSF_WS_TEXT;
  const char *type;
  size_t type_len;
  int st = wsf_field_str(r->params, "type", &type, &type_len);
  if (st == WSF_FIELD_WRONG_TYPE) {
    rpc_bad(r, "field '%s' must be a string", "type");
    return 0;
  }
  if (st == WSF_FIELD_OK) {
    if (type_len == 4 && memcmp(type, "text", 4) == 0)
      opcode = WSF_WS_TEXT;
    else if (type_len == 6 && memcmp(type, "binary", 6) == 0)
      opcode = WSF_WS_BINARY;
    else {
      rpc_bad(r, "field '%s' must be text or binary", "type");
      return 0;
    }
  }
  return opcode;
}

static bool send_failed(req_ctx *r, wsf_conn *c, wsf_err err) {
  if (err == WSF_E_LIMIT)
    rpc_send_error_limit(r->ctl, r->msgid, "max_output_bytes",
                         "the connection's unsent output is over max_output_bytes");
  else
    rpc_send_conn_closed(r->ctl, r->msgid, c);
  return false;
}

void rpc_do_send(req_ctx *r) {
  wsf_conn *c = rpc_get_conn(r);
  if (!c)
    return;
  const char *data;
  size_t len;
  int opcode = get_message(r, &data, &len);
  if (!opcode)
    return;
  uint64_t paced_us = 0;
  wsf_err err = wsf_conn_send_paced(c, opcode, (const uint8_t *)data, len, &paced_us);
  if (err != WSF_OK) {
    send_failed(r, c, err);
    return;
  }
  uint32_t reconnects = wsf_conn_reconnects(c);
  msgpack_sbuffer *sb = out_sb(&r->ctl->pk);
  out_result_header(sb, r->msgid);
  out_map(sb, 1 + (c->pace != NULL) + (reconnects > 0));
  kv_uint(&r->ctl->pk, "bytes", len);
  if (c->pace)
    kv_uint(&r->ctl->pk, "paced_us", paced_us);
  if (reconnects)
    kv_uint(&r->ctl->pk, "reconnects", reconnects);
  rpc_ctl_done_packing(r->ctl);
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
      uint32_t reconnects = wsf_conn_reconnects(c);
      msgpack_sbuffer *sb = out_sb(pk);
      out_result_header(sb, p->msgid);
      bool paced = request && c->pace;
      out_map(sb, 6 + (request ? 2 : 0) + paced + (reconnects > 0));
      kv_str(pk, "type", m->opcode == WSF_WS_TEXT ? "text" : "binary");
      /* Room for the whole message at once: a 16 MiB one grew the buffer by
       * doubling, 28 % of the daemon's CPU echoing 16 MiB messages (RESULTS.md).
       * Text is UTF-8 already (ws.c checked it). */
      out_cstr(pk, sb, "data");
      out_room(sb, m->len + 5 + 128);
      out_body(sb, m->opcode != WSF_WS_TEXT, m->data, m->len);
      kv_uint(pk, "waited_us", now - w->started_us);
      kv_uint(pk, "age_us", now - m->arrived_us);
      kv_uint(pk, "inbox", c->inbox.count);
      kv_uint(pk, "discarded", w->discarded);
      if (request) {
        kv_uint(pk, "bytes", p->sent_bytes);
        kv_uint(pk, "rtt_us", m->arrived_us - p->sent_us);
      }
      if (paced)
        kv_uint(pk, "paced_us", p->paced_us);
      if (reconnects)
        kv_uint(pk, "reconnects", reconnects);
      rpc_ctl_done_packing(ctl);
    } else if (err == WSF_E_TIMEOUT) {
      char msg[128];
      snprintf(msg, sizeof msg, "no matching message within %u ms", p->timeout_ms);
      rpc_send_error(ctl, p->msgid, "timeout", msg);
    } else {
      rpc_send_conn_closed(ctl, p->msgid, c);
    }
  }
  free(m);
  rpc_pending_free(p);
}

/* Whether params has a key among the match fields. A plain recv or request
 * names none, and the five look-ups that then found nothing were ~450 of the
 * daemon's ~7,300 instructions per echoed message (callgrind, issue 19). */
static bool names_a_match_field(const msgpack_object *params) {
#define F(name)                                                                                              \
  { name, sizeof name - 1 }
  static const struct {
    const char *name;
    uint32_t len;
  } fields[] = {F("contains"), F("regex"), F("json_field"), F("json_value"), F("discard_unmatched")};
#undef F
  for (uint32_t i = 0; i < params->via.map.size; i++) {
    const msgpack_object *k = &params->via.map.ptr[i].key; /* a str: the codec checked */
    for (size_t j = 0; j < WSF_ARRAY_LEN(fields); j++)
      if (k->via.str.size == fields[j].len && memcmp(k->via.str.ptr, fields[j].name, fields[j].len) == 0)
        return true;
  }
  return false;
}

static bool parse_match(req_ctx *r, wsf_wait *w) {
  const char *contains = NULL, *regex = NULL, *field = NULL, *value = NULL;
  size_t contains_len = 0, regex_len = 0, field_len = 0, value_len = 0;
  bool named = names_a_match_field(r->params);
  if (named && (!rpc_get_str(r, r->params, "contains", &contains, &contains_len) ||
                !rpc_get_str(r, r->params, "regex", &regex, &regex_len) ||
                !rpc_get_str(r, r->params, "json_field", &field, &field_len) ||
                !rpc_get_str(r, r->params, "json_value", &value, &value_len) ||
                !rpc_get_bool(r, r->params, "discard_unmatched", &w->discard_unmatched)))
    return false;
  if (value && !field)
    return rpc_bad(r, "field '%s' needs json_field", "json_value");
  char err[200];
  if (wsf_match_init(&w->match, contains, contains_len, regex, regex_len, field, field_len, value, value_len,
                     err, sizeof err) != 0) {
    rpc_send_error(r->ctl, r->msgid, "bad_request", err);
    return false;
  }
  return true;
}

static void start_recv(req_ctx *r, wsf_conn *c, uint8_t method, const char *data, size_t len, int opcode) {
  uint32_t timeout_ms = 10000;
  if (!rpc_get_u32(r, r->params, "timeout_ms", &timeout_ms))
    return;
  pending *p = rpc_pending_new(r, method, c);
  if (!p)
    return;
  p->w.done = on_recv_done;
  p->timeout_ms = timeout_ms;
  if (!parse_match(r, &p->w)) {
    rpc_pending_free(p);
    return;
  }
  if (method == P_REQUEST) {
    /* Only a message that arrives after the send can be its reply. */
    p->w.min_seq = c->msg_seq;
    /* Stamped before the write: the write may reach the peer (loopback delivers inline) before a
     * stamp taken after it, and a preemption between the two made rtt_us shorter than the path's
     * round trip (37.5 ms over a 40 ms link, test_distance under load). */
    uint64_t before_send = wsf_now_us();
    wsf_err err = wsf_conn_send_paced(c, opcode, (const uint8_t *)data, len, &p->paced_us);
    if (err != WSF_OK) {
      send_failed(r, c, err);
      rpc_pending_free(p);
      return;
    }
    p->sent_bytes = len;
    p->sent_us = before_send; /* rtt_us includes a paced wait (PROTOCOL.md, request) */
  }
  wsf_conn_recv(c, &p->w, timeout_ms);
}

void rpc_do_recv(req_ctx *r) {
  wsf_conn *c = rpc_get_conn(r);
  if (c)
    start_recv(r, c, P_RECV, NULL, 0, 0);
}

void rpc_do_request(req_ctx *r) {
  wsf_conn *c = rpc_get_conn(r);
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
      uint32_t reconnects = wsf_conn_reconnects(w->conn);
      out_result_header(out_sb(&ctl->pk), p->msgid);
      msgpack_pack_map(&ctl->pk, 1 + (reconnects > 0));
      kv_uint(&ctl->pk, "rtt_us", w->rtt_us);
      if (reconnects)
        kv_uint(&ctl->pk, "reconnects", reconnects);
      rpc_ctl_done_packing(ctl);
    } else if (err == WSF_E_TIMEOUT) {
      char msg[96];
      snprintf(msg, sizeof msg, "no pong within %u ms", p->timeout_ms);
      rpc_send_error(ctl, p->msgid, "timeout", msg);
    } else {
      rpc_send_conn_closed(ctl, p->msgid, w->conn);
    }
  }
  rpc_pending_free(p);
}

void rpc_do_ping(req_ctx *r) {
  wsf_conn *c = rpc_get_conn(r);
  if (!c)
    return;
  const char *data = NULL;
  size_t len = 0;
  bool is_bin;
  uint32_t timeout_ms = 10000;
  if (wsf_field_bytes(r->params, "data", &data, &len, &is_bin) == WSF_FIELD_WRONG_TYPE) {
    rpc_bad(r, "field '%s' must be a string or binary", "data");
    return;
  }
  if (len > 125) {
    rpc_bad(r, "field '%s': a ping payload is at most 125 bytes", "data");
    return;
  }
  if (!rpc_get_u32(r, r->params, "timeout_ms", &timeout_ms))
    return;
  pending *p = rpc_pending_new(r, P_PING, c);
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
    out_result_header(out_sb(pk), p->msgid);
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
    rpc_ctl_done_packing(ctl);
  }
  rpc_pending_free(p);
}

void rpc_do_close(req_ctx *r) {
  wsf_conn *c = rpc_get_conn(r);
  if (!c)
    return;
  uint64_t code = 1000;
  uint32_t timeout_ms = 5000;
  const char *reason = "";
  size_t reason_len = 0;
  if (!rpc_get_uint(r, r->params, "code", &code, 65535) ||
      !rpc_get_u32(r, r->params, "timeout_ms", &timeout_ms) ||
      !rpc_get_str(r, r->params, "reason", &reason, &reason_len))
    return;
  if (!rpc_sendable_close_code(code)) {
    rpc_bad(r, "field '%s' is not a close code a client may send", "code");
    return;
  }
  if (reason_len > 123) {
    rpc_bad(r, "field '%s' is longer than 123 bytes", "reason");
    return;
  }
  pending *p = rpc_pending_new(r, P_CLOSE, NULL); /* a close is always accepted */
  if (!p)
    return;
  p->w.done = on_close_done;
  wsf_conn_close(c, &p->w, (uint16_t)code, reason ? reason : "", reason_len, timeout_ms);
}
