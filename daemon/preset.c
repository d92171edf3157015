/* Presets as data: see preset.h. The message shapes are those of the
 * protocols' own specifications: Engine.IO v4 (open packet `0{...}`, the
 * server's ping `2` answered by `3`), Socket.IO v5 (CONNECT `40[/ns,][auth]`,
 * CONNECT_ERROR `44`), STOMP 1.2 (CONNECT/CONNECTED with heart-beat,
 * NUL-terminated frames, EOL heart-beats), the SignalR JSON hub protocol
 * (handshake `{"protocol":"json","version":1}` 0x1E, answer `{}` or
 * `{"error":...}`, ping `{"type":6}`, close `{"type":7}`). */
#include "preset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SIGNALR_INTERVAL_MS                                                                                  \
  15000 /* SignalR's KeepAliveInterval; the server's ClientTimeoutInterval is 30 s */
/* The chat gateway's echo action as the mock gateway models it (tests/mockgw/README.md: it answers
 * with the message's text as the body) and `wsfleet repro` sends it; a `data` field instead was
 * answered with an empty body, and every session ended with reply_timeout after 10 s. */
#define ECHO_PAYLOAD "{\"action\":\"echo\",\"message\":{\"type\":\"Text\",\"text\":\"wsfleet-heartbeat\"}}"
#define ECHO_REPLY_CONTAINS "wsfleet-heartbeat"
#define ECHO_INTERVAL_MS 25000
#define ECHO_REPLY_TIMEOUT_MS 10000
#define STOMP_HEART_BEAT_MS 10000

void wsf_preset_options_default(wsf_preset preset, wsf_preset_options *o) {
  memset(o, 0, sizeof *o);
  o->ns = "/";
  o->ns_len = 1;
  o->heart_beat[0] = o->heart_beat[1] = STOMP_HEART_BEAT_MS;
  o->interval_ms = preset == WSF_PRESET_SIGNALR_JSON ? SIGNALR_INTERVAL_MS : ECHO_INTERVAL_MS;
  o->payload = ECHO_PAYLOAD;
  o->payload_len = strlen(ECHO_PAYLOAD);
  o->reply_contains = ECHO_REPLY_CONTAINS;
  o->reply_contains_len = strlen(ECHO_REPLY_CONTAINS);
  o->reply_timeout_ms = ECHO_REPLY_TIMEOUT_MS;
}

void wsf_preset_keepalive_within(wsf_keepalive *ka, uint32_t interval_ms) {
  uint32_t jitter = interval_ms / 10;
  ka->interval_ms = interval_ms - jitter;
  ka->jitter_ms = jitter;
}

static char *keep(wsf_preset_out *out, char *s) {
  out->strings[out->n_strings++] = s;
  return s;
}

static wsf_rule_spec *add_rule(wsf_proto_spec *spec, const char *name) {
  if (spec->n_rules == WSF_MAX_RULES)
    return NULL;
  wsf_rule_spec *r = &spec->rules[spec->n_rules++];
  memset(r, 0, sizeof *r);
  r->name = name;
  r->name_len = strlen(name);
  return r;
}

static wsf_step_spec *add_step(wsf_proto_spec *spec) {
  wsf_step_spec *s = &spec->steps[spec->n_steps++];
  memset(s, 0, sizeof *s);
  return s;
}

static void add_capture(wsf_step_spec *s, const char *name, const char *regex) {
  wsf_capture_spec *c = &s->captures[s->n_captures++];
  memset(c, 0, sizeof *c);
  c->name = name;
  c->name_len = strlen(name);
  c->regex = regex;
  c->regex_len = strlen(regex);
  c->group = 1;
}

static void set_regex(wsf_match_spec *m, const char *regex) {
  m->regex = regex;
  m->regex_len = strlen(regex);
}

/* A namespace as a literal inside a POSIX extended regex. */
static void regex_escape(char *out, size_t cap, const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len && n + 3 < cap; i++) {
    if (strchr(".[]{}()\\*+?^$|", s[i]))
      out[n++] = '\\';
    out[n++] = s[i];
  }
  out[n] = '\0';
}

static const char *socketio(const wsf_preset_options *o, bool session_given, wsf_proto_spec *spec,
                            wsf_preset_out *out) {
  if (o->ns_len == 0 || o->ns[0] != '/' || memchr(o->ns, ',', o->ns_len) || o->ns_len > 200)
    return "preset_options.namespace must start with / and hold no comma (at most 200 bytes)";
  bool default_ns = o->ns_len == 1;
  if (!session_given) {
    wsf_step_spec *open = add_step(spec);
    open->has_expect = true;
    set_regex(&open->expect, "^0\\{");
    /* JSON.stringify writes no spaces; other servers may */
    add_capture(open, "sid", "\"sid\"[[:space:]]*:[[:space:]]*\"([^\"]*)\"");
    add_capture(open, "pingInterval", "\"pingInterval\"[[:space:]]*:[[:space:]]*([0-9]+)");
    add_capture(open, "pingTimeout", "\"pingTimeout\"[[:space:]]*:[[:space:]]*([0-9]+)");
    wsf_step_spec *connect = add_step(spec);
    size_t send_len = 2 + o->ns_len + 1 + o->auth_len;
    char *send = keep(out, wsf_xmalloc(send_len + 1));
    int n = snprintf(send, send_len + 1, "40%.*s%s%.*s", default_ns ? 0 : (int)o->ns_len, o->ns,
                     default_ns ? "" : ",", (int)o->auth_len, o->auth ? o->auth : "");
    connect->send = (const uint8_t *)send;
    connect->send_len = (size_t)n;
    connect->send_opcode = 1;
    connect->has_expect = true;
    char *expect = keep(out, wsf_xmalloc(2 * o->ns_len + 16));
    if (default_ns) {
      strcpy(expect, "^40($|\\{)");
    } else {
      char esc[420];
      regex_escape(esc, sizeof esc, o->ns, o->ns_len);
      snprintf(expect, 2 * o->ns_len + 16, "^40%s,", esc);
    }
    set_regex(&connect->expect, expect);
  }
  wsf_rule_spec *ping = add_rule(spec, "engineio-ping");
  if (!ping)
    return "auto_reply: more than 32 rules with the preset's (the limit per connection)";
  set_regex(&ping->match, "^2$");
  ping->match.opcode = 1;
  ping->reply = (const uint8_t *)"3";
  ping->reply_len = 1;
  ping->reply_opcode = 1;
  return NULL;
}

static bool header_safe(const char *s, size_t len) {
  return !memchr(s, '\n', len) && !memchr(s, '\r', len) && !memchr(s, '\0', len);
}

static const char *stomp(const wsf_preset_options *o, bool session_given, wsf_proto_spec *spec,
                         wsf_preset_out *out) {
  if (!header_safe(o->host, o->host_len) || (o->login && !header_safe(o->login, o->login_len)) ||
      (o->passcode && !header_safe(o->passcode, o->passcode_len)))
    return "preset_options host, login and passcode must not hold CR, LF or NUL (CONNECT headers are not "
           "escaped)";
  spec->stomp_cx_ms = o->heart_beat[0];
  if (!session_given) {
    wsf_step_spec *connect = add_step(spec);
    size_t cap = 128 + o->host_len + o->login_len + o->passcode_len;
    char *frame = keep(out, wsf_xmalloc(cap));
    int n = snprintf(frame, cap, "CONNECT\naccept-version:1.2\nhost:%.*s\nheart-beat:%u,%u\n",
                     (int)o->host_len, o->host, o->heart_beat[0], o->heart_beat[1]);
    if (o->login)
      n += snprintf(frame + n, cap - (size_t)n, "login:%.*s\n", (int)o->login_len, o->login);
    if (o->passcode)
      n += snprintf(frame + n, cap - (size_t)n, "passcode:%.*s\n", (int)o->passcode_len, o->passcode);
    n += snprintf(frame + n, cap - (size_t)n, "\n");
    connect->send = (const uint8_t *)frame;
    connect->send_len = (size_t)n;
    connect->send_opcode = 1;
    connect->has_expect = true;
    set_regex(&connect->expect, "^CONNECTED\r?\n");
    add_capture(connect, "heart_beat", "\nheart-beat:[ \t]*([0-9]+,[0-9]+)");
    add_capture(connect, "version", "\nversion:([^\r\n]*)");
  }
  out->subprotocol = "v12.stomp";
  return NULL;
}

static const char *signalr(const wsf_preset_options *o, bool session_given, wsf_proto_spec *spec,
                           wsf_preset_out *out) {
  static const char handshake[] = "{\"protocol\":\"json\",\"version\":1}";
  if (!session_given) {
    wsf_step_spec *hs = add_step(spec);
    hs->send = (const uint8_t *)handshake;
    hs->send_len = strlen(handshake);
    hs->send_opcode = 1;
    hs->has_expect = true;
    set_regex(&hs->expect, "^\\{[[:space:]]*\\}$");
  }
  wsf_rule_spec *ping = add_rule(spec, "signalr-ping");
  if (!ping)
    return "auto_reply: more than 32 rules with the preset's (the limit per connection)";
  ping->match.json_field = "type";
  ping->match.json_field_len = 4;
  ping->match.json_value = "6";
  ping->match.json_value_len = 1;
  if (o->interval_ms) {
    out->has_keepalive = true;
    out->keepalive.mode = WSF_KA_TEXT;
    static const char beat[] = "{\"type\":6}\x1e";
    out->keepalive.payload = (uint8_t *)beat;
    out->keepalive.payload_len = sizeof beat - 1;
    wsf_preset_keepalive_within(&out->keepalive, o->interval_ms);
  }
  return NULL;
}

static const char *echo(const wsf_preset_options *o, wsf_preset_out *out) {
  if (!o->payload_len)
    return "preset_options.payload must not be empty";
  if (!o->interval_ms)
    return "preset_options.interval_ms must be positive";
  out->has_keepalive = true;
  out->keepalive.mode = WSF_KA_TEXT;
  out->keepalive.payload = (uint8_t *)o->payload;
  out->keepalive.payload_len = o->payload_len;
  out->keepalive.reply_contains = (char *)o->reply_contains;
  out->keepalive.reply_contains_len = o->reply_contains_len;
  out->keepalive.reply_timeout_ms = o->reply_timeout_ms;
  wsf_preset_keepalive_within(&out->keepalive, o->interval_ms);
  return NULL;
}

const char *wsf_preset_expand(wsf_preset preset, const wsf_preset_options *o, bool framing_given,
                              bool session_given, wsf_proto_spec *spec, wsf_preset_out *out) {
  memset(out, 0, sizeof *out);
  spec->preset = (uint8_t)preset;
  if (!framing_given)
    spec->framing = preset == WSF_PRESET_STOMP12        ? WSF_FRAMING_STOMP
                    : preset == WSF_PRESET_SIGNALR_JSON ? WSF_FRAMING_RECORD_SEPARATOR
                                                        : WSF_FRAMING_MESSAGE;
  switch (preset) {
  case WSF_PRESET_SOCKETIO4:
    return socketio(o, session_given, spec, out);
  case WSF_PRESET_STOMP12:
    return stomp(o, session_given, spec, out);
  case WSF_PRESET_SIGNALR_JSON:
    return signalr(o, session_given, spec, out);
  case WSF_PRESET_ECHO_HEARTBEAT:
    return echo(o, out);
  default:
    return NULL;
  }
}

void wsf_preset_out_free(wsf_preset_out *out) {
  for (uint8_t i = 0; i < out->n_strings; i++)
    free(out->strings[i]);
  out->n_strings = 0;
}

char *wsf_preset_socketio_url(const char *url, size_t len, size_t *out_len) {
  const char *q = memchr(url, '?', len);
  const char *hash = memchr(url, '#', len);
  size_t end = hash ? (size_t)(hash - url) : len;
  if (q && (size_t)(q - url) < end) {
    for (const char *p = q + 1; p + 4 <= url + end; p++)
      if ((p[-1] == '?' || p[-1] == '&') && memcmp(p, "EIO=", 4) == 0)
        return NULL;
  }
  static const char add[] = "EIO=4&transport=websocket";
  bool has_query = q && (size_t)(q - url) < end;
  bool bare = has_query && (end == (size_t)(q - url) + 1 || url[end - 1] == '&');
  const char *sep = !has_query ? "?" : bare ? "" : "&";
  size_t n = end + strlen(sep) + strlen(add);
  char *s = wsf_xmalloc(n + 1);
  snprintf(s, n + 1, "%.*s%s%s", (int)end, url, sep, add);
  *out_len = n;
  return s;
}

uint32_t wsf_stomp_heartbeat_ms(uint32_t cx, const char *hb, size_t len) {
  const char *comma = hb ? memchr(hb, ',', len) : NULL;
  if (!cx || !comma)
    return 0;
  uint64_t sy = 0;
  const char *p = comma + 1, *end = hb + len;
  if (p == end)
    return 0;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    sy = sy * 10 + (uint64_t)(*p - '0');
    if (sy > UINT32_MAX)
      return 0;
  }
  if (!sy)
    return 0;
  return cx > sy ? cx : (uint32_t)sy;
}
