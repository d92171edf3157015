/* open's protocol layer fields: preset, preset_options, framing, session and
 * auto_reply (PROTOCOL.md §5, "Protocol layer") → a compiled, interned
 * wsf_proto. Every refusal is a bad_request naming the field by its path
 * (e.g. `auto_reply[1].match.regex`). */
#include "rpc_open_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preset.h"
#include "url.h"

/* A field's full name under a prefix: "session[0].expect" + "regex". */
static const char *path_of(char *buf, size_t cap, const char *prefix, const char *key) {
  snprintf(buf, cap, "%s%s%s", prefix, *prefix ? "." : "", key);
  return buf;
}

static bool bad_field(req_ctx *r, const char *prefix, const char *key, const char *what) {
  char path[128], msg[224];
  snprintf(msg, sizeof msg, "field '%s' %s", path_of(path, sizeof path, prefix, key), what);
  rpc_send_error(r->ctl, r->msgid, "bad_request", msg);
  return false;
}

static bool get_str(req_ctx *r, const msgpack_object *m, const char *prefix, const char *key, const char **s,
                    size_t *len) {
  if (wsf_field_str(m, key, s, len) == WSF_FIELD_WRONG_TYPE)
    return bad_field(r, prefix, key, "must be a string");
  return true;
}

static bool get_u32(req_ctx *r, const msgpack_object *m, const char *prefix, const char *key, uint32_t *v) {
  uint64_t x;
  int st = wsf_field_uint(m, key, &x);
  if (st == WSF_FIELD_WRONG_TYPE || (st == WSF_FIELD_OK && x > UINT32_MAX))
    return bad_field(r, prefix, key, "must be a non-negative 32-bit integer");
  if (st == WSF_FIELD_OK)
    *v = (uint32_t)x;
  return true;
}

static bool get_bool(req_ctx *r, const msgpack_object *m, const char *prefix, const char *key, bool *v) {
  if (wsf_field_bool(m, key, v) == WSF_FIELD_WRONG_TYPE)
    return bad_field(r, prefix, key, "must be a boolean");
  return true;
}

/* str (text) or bin (binary); *opcode 0 when absent. */
static bool get_bytes(req_ctx *r, const msgpack_object *m, const char *prefix, const char *key,
                      const uint8_t **p, size_t *len, uint8_t *opcode) {
  const char *s;
  bool is_bin;
  int st = wsf_field_bytes(m, key, &s, len, &is_bin);
  if (st == WSF_FIELD_WRONG_TYPE)
    return bad_field(r, prefix, key, "must be a string or binary");
  *opcode = 0;
  if (st == WSF_FIELD_OK) {
    *p = (const uint8_t *)s;
    *opcode = is_bin ? 2 : 1;
  }
  return true;
}

/* "text" | "binary" → 1 | 2 (absent: *opcode unchanged). */
static bool get_type(req_ctx *r, const msgpack_object *m, const char *prefix, const char *key,
                     uint8_t *opcode) {
  const char *s = NULL;
  size_t len = 0;
  if (!get_str(r, m, prefix, key, &s, &len))
    return false;
  if (!s)
    return true;
  if (len == 4 && memcmp(s, "text", 4) == 0)
    *opcode = 1;
  else if (len == 6 && memcmp(s, "binary", 6) == 0)
    *opcode = 2;
  else
    return bad_field(r, prefix, key, "must be text or binary");
  return true;
}

static bool get_map(req_ctx *r, const msgpack_object *m, const char *prefix, const char *key,
                    const msgpack_object **out) {
  *out = NULL;
  if (wsf_field_map(m, key, out) == WSF_FIELD_WRONG_TYPE || (*out && (*out)->type != MSGPACK_OBJECT_MAP))
    return bad_field(r, prefix, key, "must be a map");
  return true;
}

static bool get_array(req_ctx *r, const msgpack_object *m, const char *key, const msgpack_object **out) {
  *out = NULL;
  if (wsf_field_array(m, key, out) == WSF_FIELD_WRONG_TYPE || (*out && (*out)->type != MSGPACK_OBJECT_ARRAY))
    return bad_field(r, "", key, "must be an array");
  return true;
}

static bool parse_match(req_ctx *r, const msgpack_object *m, const char *prefix, wsf_match_spec *s) {
  memset(s, 0, sizeof *s);
  if (!get_str(r, m, prefix, "contains", &s->contains, &s->contains_len) ||
      !get_str(r, m, prefix, "regex", &s->regex, &s->regex_len) ||
      !get_str(r, m, prefix, "json_field", &s->json_field, &s->json_field_len) ||
      !get_str(r, m, prefix, "json_value", &s->json_value, &s->json_value_len) ||
      !get_type(r, m, prefix, "type", &s->opcode))
    return false;
  if (s->json_value && !s->json_field)
    return bad_field(r, prefix, "json_value", "needs json_field");
  return true;
}

static bool parse_captures(req_ctx *r, const msgpack_object *m, const char *prefix, wsf_step_spec *st) {
  if (m->via.map.size > WSF_MAX_CAPTURES)
    return bad_field(r, prefix, "capture", "holds more than 16 names (the limit per connection)");
  for (uint32_t i = 0; i < m->via.map.size; i++) {
    const msgpack_object_kv *kv = &m->via.map.ptr[i];
    char path[128];
    path_of(path, sizeof path, prefix, "capture");
    if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 || kv->key.via.str.size > 64 ||
        kv->val.type != MSGPACK_OBJECT_MAP)
      return bad_field(r, prefix, "capture",
                       "must map names (1..64 bytes) to {regex, group} or {json_field}");
    wsf_capture_spec *c = &st->captures[st->n_captures++];
    memset(c, 0, sizeof *c);
    c->name = kv->key.via.str.ptr;
    c->name_len = kv->key.via.str.size;
    c->group = 1;
    char sub[160];
    snprintf(sub, sizeof sub, "%s.%.*s", path, (int)c->name_len, c->name);
    if (!get_str(r, &kv->val, sub, "regex", &c->regex, &c->regex_len) ||
        !get_str(r, &kv->val, sub, "json_field", &c->json_field, &c->json_field_len) ||
        !get_u32(r, &kv->val, sub, "group", &c->group))
      return false;
    if (!c->regex == !c->json_field)
      return bad_field(r, sub, "regex", "or json_field: exactly one is needed");
    if (c->group >= WSF_MATCH_MAX_GROUPS)
      return bad_field(r, sub, "group", "must be 0..9");
  }
  return true;
}

static bool parse_session(req_ctx *r, const msgpack_object *a, wsf_proto_spec *spec) {
  if (a->via.array.size > WSF_MAX_STEPS)
    return bad_field(r, "", "session", "holds more than 16 steps (the limit per connection)");
  for (uint32_t i = 0; i < a->via.array.size; i++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "session[%u]", i);
    const msgpack_object *m = &a->via.array.ptr[i];
    if (m->type != MSGPACK_OBJECT_MAP)
      return bad_field(r, prefix, "", "must be a map");
    wsf_step_spec *st = &spec->steps[spec->n_steps++];
    memset(st, 0, sizeof *st);
    const msgpack_object *expect, *capture;
    if (!get_bytes(r, m, prefix, "send", &st->send, &st->send_len, &st->send_opcode) ||
        !get_map(r, m, prefix, "expect", &expect) || !get_u32(r, m, prefix, "timeout_ms", &st->timeout_ms) ||
        !get_bool(r, m, prefix, "skip_unmatched", &st->skip_unmatched) ||
        !get_map(r, m, prefix, "capture", &capture))
      return false;
    char sub[48];
    snprintf(sub, sizeof sub, "%s.expect", prefix);
    if (expect && !parse_match(r, expect, sub, &st->expect))
      return false;
    st->has_expect = expect != NULL;
    if (capture && !expect)
      return bad_field(r, prefix, "capture", "needs expect (captures come from the expected message)");
    if (capture && !parse_captures(r, capture, prefix, st))
      return false;
    if (!st->send_opcode && !expect)
      return bad_field(r, prefix, "send", "or expect: a step needs at least one");
  }
  return true;
}

static bool parse_rules(req_ctx *r, const msgpack_object *a, wsf_proto_spec *spec) {
  if (a->via.array.size > WSF_MAX_RULES)
    return bad_field(r, "", "auto_reply", "holds more than 32 rules (the limit per connection)");
  for (uint32_t i = 0; i < a->via.array.size; i++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "auto_reply[%u]", i);
    const msgpack_object *m = &a->via.array.ptr[i];
    if (m->type != MSGPACK_OBJECT_MAP)
      return bad_field(r, prefix, "", "must be a map");
    wsf_rule_spec *rule = &spec->rules[spec->n_rules++];
    memset(rule, 0, sizeof *rule);
    const msgpack_object *match;
    if (!get_str(r, m, prefix, "name", &rule->name, &rule->name_len) ||
        !get_map(r, m, prefix, "match", &match) ||
        !get_bytes(r, m, prefix, "reply", &rule->reply, &rule->reply_len, &rule->reply_opcode) ||
        !get_bool(r, m, prefix, "keep_in_inbox", &rule->keep_in_inbox))
      return false;
    if (rule->name && (rule->name_len == 0 || rule->name_len > WSF_MAX_RULE_NAME_BYTES ||
                       memchr(rule->name, '\0', rule->name_len) || memchr(rule->name, '"', rule->name_len) ||
                       memchr(rule->name, '\\', rule->name_len) || memchr(rule->name, '\n', rule->name_len)))
      return bad_field(r, prefix, "name", "must be 1..64 bytes without NUL, quote, backslash or newline");
    if (!match)
      return bad_field(r, prefix, "match", "(a map) is required");
    char sub[48];
    snprintf(sub, sizeof sub, "%s.match", prefix);
    if (!parse_match(r, match, sub, &rule->match))
      return false;
    if (rule->reply_opcode && !get_type(r, m, prefix, "reply_type", &rule->reply_opcode))
      return false;
    if (rule->reply_len > WSF_MAX_REPLY_BYTES)
      return bad_field(r, prefix, "reply", "is over 65536 bytes (the reply limit)");
  }
  return true;
}

/* host: room for the URL's host, the stomp12 default. */
static bool parse_preset_options(req_ctx *r, const msgpack_object *m, wsf_preset preset, const char *url,
                                 size_t url_len, wsf_preset_options *o, char host[256],
                                 const msgpack_object **rate) {
  static const char P[] = "preset_options";
  wsf_preset_options_default(preset, o);
  const msgpack_object *hb = NULL;
  if (m &&
      (!get_str(r, m, P, "namespace", &o->ns, &o->ns_len) ||
       !get_str(r, m, P, "auth", &o->auth, &o->auth_len) ||
       !get_str(r, m, P, "host", &o->host, &o->host_len) ||
       !get_str(r, m, P, "login", &o->login, &o->login_len) ||
       !get_str(r, m, P, "passcode", &o->passcode, &o->passcode_len) ||
       !get_u32(r, m, P, "interval_ms", &o->interval_ms) ||
       !get_str(r, m, P, "payload", &o->payload, &o->payload_len) ||
       !get_str(r, m, P, "reply_contains", &o->reply_contains, &o->reply_contains_len) ||
       !get_u32(r, m, P, "reply_timeout_ms", &o->reply_timeout_ms) || !get_map(r, m, P, "rate_limit", rate)))
    return false;
  if (m && wsf_field_array(m, "heart_beat", &hb) == WSF_FIELD_WRONG_TYPE)
    return bad_field(r, P, "heart_beat", "must be [cx_ms, cy_ms]");
  if (hb) {
    if (hb->type != MSGPACK_OBJECT_ARRAY || hb->via.array.size != 2 ||
        hb->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        hb->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        hb->via.array.ptr[0].via.u64 > UINT32_MAX || hb->via.array.ptr[1].via.u64 > UINT32_MAX)
      return bad_field(r, P, "heart_beat", "must be [cx_ms, cy_ms] (two non-negative integers)");
    o->heart_beat[0] = (uint32_t)hb->via.array.ptr[0].via.u64;
    o->heart_beat[1] = (uint32_t)hb->via.array.ptr[1].via.u64;
  }
  if (o->auth && (o->auth_len == 0 || o->auth[0] != '{' || !wsf_json_valid(o->auth, o->auth_len)))
    return bad_field(r, P, "auth", "must be the text of a JSON object");
  if (preset == WSF_PRESET_STOMP12 && !o->host) {
    wsf_url *u = wsf_xmalloc(sizeof *u);
    const char *why = NULL;
    if (wsf_url_parse(url, url_len, u, &why) == 0) {
      snprintf(host, 256, "%s", u->host);
      o->host = host;
      o->host_len = strlen(host);
    }
    free(u);
    if (!o->host)
      return bad_field(r, "", "url", why ? why : "is not a WebSocket URL");
  }
  return true;
}

static bool parse(req_ctx *r, const msgpack_object *params, wsf_proto_spec *spec, wsf_preset_out *po,
                  rpc_open_proto *out);

bool rpc_parse_proto(req_ctx *r, rpc_open_proto *out) {
  const msgpack_object *params = r->params;
  memset(out, 0, sizeof *out);
  wsf_proto_spec *spec = wsf_xcalloc(1, sizeof *spec); /* ~20 KB: off the stack */
  wsf_preset_out po = {0};
  bool ok = parse(r, params, spec, &po, out);
  wsf_preset_out_free(&po);
  free(spec);
  return ok;
}

/* po: the strings a preset builds, which spec points into until the compile copies them. */
static bool parse(req_ctx *r, const msgpack_object *params, wsf_proto_spec *spec, wsf_preset_out *po,
                  rpc_open_proto *out) {
  const char *framing = NULL, *preset = NULL;
  size_t framing_len = 0, preset_len = 0;
  const msgpack_object *session, *rules, *options;
  if (!get_str(r, params, "", "framing", &framing, &framing_len) ||
      !get_str(r, params, "", "preset", &preset, &preset_len) || !get_array(r, params, "session", &session) ||
      !get_array(r, params, "auto_reply", &rules) || !get_map(r, params, "", "preset_options", &options))
    return false;
  if (framing) {
    int f = wsf_framing_parse(framing, framing_len);
    if (f < 0)
      return bad_field(r, "", "framing", "must be message, record_separator or stomp");
    spec->framing = (uint8_t)f;
  }
  int pr = WSF_PRESET_NONE;
  if (preset && (pr = wsf_preset_parse(preset, preset_len)) < 0)
    return bad_field(r, "", "preset", "must be socketio4, stomp12, signalr-json or echo-heartbeat");
  if (options && pr == WSF_PRESET_NONE)
    return bad_field(r, "", "preset_options", "needs preset");
  if (session && !parse_session(r, session, spec))
    return false;
  if (rules && !parse_rules(r, rules, spec))
    return false;
  if (pr != WSF_PRESET_NONE) {
    const char *url;
    size_t url_len;
    wsf_field_str(params, "url", &url, &url_len); /* checked by the caller */
    wsf_preset_options o;
    char host[256];
    const msgpack_object *rate = NULL;
    if (!parse_preset_options(r, options, (wsf_preset)pr, url, url_len, &o, host, &rate))
      return false;
    if (pr == WSF_PRESET_ECHO_HEARTBEAT)
      out->rate_limit = rate; /* read by open's own rate_limit parser */
    const char *why = wsf_preset_expand((wsf_preset)pr, &o, framing != NULL, session != NULL, spec, po);
    if (why) {
      rpc_send_error(r->ctl, r->msgid, "bad_request", why);
      return false;
    }
    out->has_keepalive = po->has_keepalive;
    out->keepalive = po->keepalive;
    out->subprotocol = po->subprotocol;
    if (pr == WSF_PRESET_SOCKETIO4)
      out->url = wsf_preset_socketio_url(url, url_len, &out->url_len);
  }
  if (wsf_field(params, "keepalive"))
    spec->stomp_cx_ms = 0; /* the open's own keepalive wins over the negotiated heart-beat */
  if (wsf_proto_spec_empty(spec))
    return true;
  char err[300] = "";
  out->proto = wsf_proto_get(&r->d->protos, spec, err, sizeof err);
  if (!out->proto) {
    rpc_send_error(r->ctl, r->msgid, "bad_request", err);
    return false;
  }
  return true;
}

void rpc_open_proto_done(req_ctx *r, rpc_open_proto *out) {
  wsf_proto_release(&r->d->protos, out->proto);
  out->proto = NULL;
  free(out->url);
  out->url = NULL;
}
