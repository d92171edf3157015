/* A connection's protocol layer at run time: records out of WebSocket
 * messages (framing.h), auto-reply rules, the session steps that run after
 * the 101 while the connection stays `connecting`, captures, the framing
 * terminator on what we send, and the presets' run-time hooks (STOMP's
 * negotiated heart-beat, SignalR's close message). The rules themselves are
 * compiled and shared (proto.h); a connection holds only its step, its
 * captures and its counters. Order for each record: auto-reply rules →
 * session step (while connecting) → the heartbeat reply check, waiting
 * recvs, the inbox (conn_deliver_message). */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preset.h"
#include "template.h"

struct wsf_conn_proto {
  wsf_proto *p; /* a reference */
  wsf_framer framer;
  uint32_t step;       /* the session step running (n_steps once done) */
  int32_t failed_step; /* -1: none */
  bool in_session;
  uint64_t session_started_us;
  uint32_t connect_timeout_ms; /* the default step timeout ends connect_timeout_ms after started_us */
  uint64_t connect_deadline_us;
  char *captures[WSF_MAX_CAPTURES];
  uint16_t capture_lens[WSF_MAX_CAPTURES];
  wsf_rule_counts rules[]; /* one per rule of p */
};

void conn_proto_attach(wsf_conn *c, wsf_proto *p, uint32_t connect_timeout_ms) {
  if (!p)
    return;
  wsf_conn_proto *pr = wsf_xcalloc(1, sizeof *pr + p->n_rules * sizeof pr->rules[0]);
  pr->p = wsf_proto_ref(p);
  pr->failed_step = -1;
  pr->connect_timeout_ms = connect_timeout_ms;
  wsf_framer_init(&pr->framer, (wsf_framing_mode)p->framing, c->ws.max_message_bytes);
  c->proto = pr;
}

void conn_proto_free(wsf_conn *c) {
  wsf_conn_proto *pr = c->proto;
  if (!pr)
    return;
  wsf_framer_free(&pr->framer);
  for (int i = 0; i < WSF_MAX_CAPTURES; i++)
    free(pr->captures[i]);
  wsf_proto_release(&c->d->protos, pr->p);
  free(pr);
  c->proto = NULL;
}

const char *conn_session_phase(const wsf_conn *c) {
  return c->proto && c->proto->in_session ? "session" : NULL;
}

void conn_session_ended(wsf_conn *c) {
  if (c->proto)
    c->proto->in_session = false;
}

/* ---- what status and stats read -------------------------------------------------- */

const wsf_proto *wsf_conn_proto_rules(const wsf_conn *c, const wsf_rule_counts **counts) {
  if (!c->proto)
    return NULL;
  *counts = c->proto->rules;
  return c->proto->p;
}

int wsf_conn_session_failed_step(const wsf_conn *c) {
  return c->proto ? c->proto->failed_step : -1;
}

wsf_span wsf_conn_capture(const wsf_conn *c, unsigned slot) {
  if (!c->proto || slot >= WSF_MAX_CAPTURES || !c->proto->captures[slot])
    return (wsf_span){NULL, 0};
  return (wsf_span){c->proto->captures[slot], c->proto->capture_lens[slot]};
}

/* ---- writing ---------------------------------------------------------------------- */

int conn_write_record(wsf_conn *c, int opcode, const uint8_t *data, size_t len) {
  int term = c->proto ? wsf_framing_terminator((wsf_framing_mode)c->proto->p->framing) : -1;
  if (term < 0 || (len && data[len - 1] == term))
    return wsf_ws_send(&c->ws, opcode, data, len);
  uint8_t *framed = wsf_xmalloc(len + 1);
  if (len)
    memcpy(framed, data, len);
  framed[len] = (uint8_t)term;
  int rv = wsf_ws_send(&c->ws, opcode, framed, len + 1);
  free(framed);
  return rv;
}

static wsf_span lookup_capture(const void *ctx, const char *name, size_t len) {
  const wsf_conn *c = ctx;
  int slot = wsf_proto_capture_slot(c->proto->p, name, len);
  return slot < 0 ? (wsf_span){NULL, 0} : wsf_conn_capture(c, (unsigned)slot);
}

/* Expands a template and sends it; -1 when the expansion is over WSF_MAX_REPLY_BYTES, -2 when
 * the send failed. Once open it goes through the rate_limit like any data message (kind:
 * enum wsf_data_kind); while session steps run it is written at once: the steps are the
 * session's setup, one exchange each, and the window counts from the open. */
static int send_template(wsf_conn *c, int opcode, const uint8_t *t, size_t len, bool has_vars,
                         const wsf_span *groups, size_t n_groups, uint8_t kind) {
  uint8_t *buf = NULL;
  if (has_vars) {
    long n = wsf_template_expand(t, len, groups, n_groups, lookup_capture, c, WSF_MAX_REPLY_BYTES, &buf);
    if (n < 0)
      return -1;
    t = buf;
    len = (size_t)n;
  } else if (len > WSF_MAX_REPLY_BYTES) {
    return -1;
  }
  bool ok = c->state == WSF_CONN_OPEN ? conn_send_message(c, opcode, t, len, kind, NULL) == WSF_OK
                                      : conn_write_message(c, opcode, t, len, kind) == 0;
  free(buf);
  return ok ? 0 : -2;
}

/* ---- ending ----------------------------------------------------------------------------- */

/* Ends the connection for something its protocol layer found (a record over the bound,
 * SignalR's close message): an open that has not finished fails with it. */
static void end_for(wsf_conn *c, uint16_t code, int initiator, wsf_cause cause, const char *detail) {
  if (c->state == WSF_CONN_CONNECTING) {
    c->proto->failed_step = (int32_t)c->proto->step;
    conn_fail_open(c, WSF_E_HANDSHAKE, cause, detail, 101, NULL, 0);
    return;
  }
  wsf_ws_close(&c->ws, code, NULL, 0);
  conn_finish(c, code, initiator, false, cause, NULL, 0, detail);
  conn_close_transport(c, false);
}

/* SignalR's close message {"type":7,"error":"..."}: the server ends the session. */
static bool signalr_closed(wsf_conn *c, const uint8_t *data, size_t len) {
  const char *v;
  size_t n;
  bool is_string;
  if (!wsf_json_field((const char *)data, len, "type", &v, &n, &is_string) || is_string || n != 1 ||
      *v != '7')
    return false;
  char detail[320];
  if (wsf_json_field((const char *)data, len, "error", &v, &n, &is_string) && is_string)
    snprintf(detail, sizeof detail, "SignalR close message: %.*s", (int)(n > 256 ? 256 : n), v);
  else
    snprintf(detail, sizeof detail, "SignalR close message (no error)");
  end_for(c, 1000, WSF_BY_SERVER, WSF_CAUSE_SERVER_CLOSE, detail);
  return true;
}

/* ---- session steps ----------------------------------------------------------------------- */

static void run_steps(wsf_conn *c);

static void session_fail(wsf_conn *c, wsf_err err, const char *message, const uint8_t *body,
                         size_t body_len) {
  wsf_conn_proto *pr = c->proto;
  pr->failed_step = (int32_t)pr->step;
  c->d->stats.session_failures++;
  if (err == WSF_E_HANDSHAKE)
    wsf_ws_close(&c->ws, 1000, "session setup failed", strlen("session setup failed"));
  if (body_len > WSF_SESSION_BODY_BYTES)
    body_len = WSF_SESSION_BODY_BYTES;
  conn_fail_open(c, err, WSF_CAUSE_SESSION_FAILED, message, err == WSF_E_HANDSHAKE ? 101 : 0,
                 (const char *)body, body_len);
}

static void on_step_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  wsf_conn_proto *pr = c->proto;
  const wsf_step *st = &pr->p->steps[pr->step];
  char msg[640];
  snprintf(msg, sizeof msg, "session step %u: no message matching %s in time", pr->step, st->expect_words);
  session_fail(c, WSF_E_TIMEOUT, msg, NULL, 0);
}

static void take_captures(wsf_conn *c, const wsf_step *st, const uint8_t *data, size_t len) {
  wsf_conn_proto *pr = c->proto;
  for (uint8_t i = 0; i < st->n_captures; i++) {
    const wsf_capture *cap = &st->captures[i];
    wsf_span v = {NULL, 0};
    if (cap->json_field) {
      if (!wsf_json_field((const char *)data, len, cap->json_field, &v.p, &v.len, NULL))
        continue;
    } else {
      wsf_span groups[WSF_MATCH_MAX_GROUPS];
      size_t n = cap->group + 1 < WSF_MATCH_MAX_GROUPS ? cap->group + 1 : WSF_MATCH_MAX_GROUPS;
      if (!wsf_match_test_groups(&cap->regex, 0, (const char *)data, len, groups, n) || cap->group >= n ||
          !groups[cap->group].p)
        continue;
      v = groups[cap->group];
    }
    if (v.len > WSF_MAX_CAPTURE_BYTES) {
      v.len = WSF_MAX_CAPTURE_BYTES;
      c->d->stats.captures_cut++;
    }
    free(pr->captures[cap->slot]);
    pr->captures[cap->slot] = wsf_xstrndup(v.p ? v.p : "", v.len);
    pr->capture_lens[cap->slot] = (uint16_t)v.len;
  }
}

/* STOMP 1.2: the client beats every max(cx, sy) once CONNECTED says sy. */
static void stomp_negotiate(wsf_conn *c) {
  const wsf_proto *p = c->proto->p;
  int slot = wsf_proto_capture_slot(p, "heart_beat", strlen("heart_beat"));
  if (!p->stomp_cx_ms || slot < 0)
    return;
  wsf_span hb = wsf_conn_capture(c, (unsigned)slot);
  uint32_t ms = wsf_stomp_heartbeat_ms(p->stomp_cx_ms, hb.p, hb.len);
  if (!ms)
    return;
  wsf_keepalive tmpl = {.mode = WSF_KA_TEXT, .payload = (uint8_t *)"\n", .payload_len = 1};
  wsf_preset_keepalive_within(&tmpl, ms);
  wsf_keepalive *old = c->ka;
  c->ka = wsf_keepalive_intern(c->d, &tmpl);
  wsf_keepalive_release(c->d, old);
}

static void session_done(wsf_conn *c) {
  wsf_conn_proto *pr = c->proto;
  pr->in_session = false;
  c->timings.session_us = wsf_timing_us(wsf_now_us() - pr->session_started_us);
  if (pr->p->preset == WSF_PRESET_STOMP12)
    stomp_negotiate(c);
  conn_open_complete(c);
}

static void run_steps(wsf_conn *c) {
  wsf_conn_proto *pr = c->proto;
  const wsf_proto *p = pr->p;
  while (pr->step < p->n_steps) {
    const wsf_step *st = &p->steps[pr->step];
    if (st->send_opcode) {
      int rv = send_template(c, st->send_opcode, st->send, st->send_len,
                             wsf_template_has_vars(st->send, st->send_len), NULL, 0, WSF_DATA_SEND);
      if (rv != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "session step %u: %s", pr->step,
                 rv == -1 ? "send over 65536 bytes after expansion (the reply limit)" : "cannot send");
        session_fail(c, WSF_E_HANDSHAKE, msg, NULL, 0);
        return;
      }
    }
    if (st->has_expect) {
      uint64_t now = wsf_now_us();
      uint64_t wait_us = st->timeout_ms                  ? (uint64_t)st->timeout_ms * 1000
                         : pr->connect_deadline_us > now ? pr->connect_deadline_us - now
                                                         : 0;
      conn_deadline_in(c, on_step_timeout, wait_us);
      return;
    }
    pr->step++;
  }
  session_done(c);
}

/* Also after a reopen of the same connection (a reconnect replays the steps): what the last
 * session left (its step, captures, a half record) starts again; rule counters stay. */
bool conn_session_start(wsf_conn *c) {
  wsf_conn_proto *pr = c->proto;
  if (!pr)
    return false;
  wsf_framer_free(&pr->framer);
  if (!pr->p->n_steps)
    return false;
  for (int i = 0; i < WSF_MAX_CAPTURES; i++) {
    free(pr->captures[i]);
    pr->captures[i] = NULL;
    pr->capture_lens[i] = 0;
  }
  pr->step = 0;
  pr->failed_step = -1;
  pr->in_session = true;
  pr->session_started_us = wsf_now_us();
  pr->connect_deadline_us = c->started_us + (uint64_t)pr->connect_timeout_ms * 1000;
  run_steps(c);
  return true;
}

/* A record while a step waits for its answer; false when the connection ended. */
static bool session_record(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint64_t now) {
  wsf_conn_proto *pr = c->proto;
  const wsf_step *st = &pr->p->steps[pr->step];
  if (!wsf_match_test_groups(&st->expect, opcode, (const char *)data, len, NULL, 0)) {
    if (st->skip_unmatched) {
      conn_deliver_message(c, opcode, data, len, now);
      return c->state != WSF_CONN_CLOSED;
    }
    /* The server's record goes to body only: the message stays the same for every session that
     * fails this way, so a JMeter dashboard groups them in one error row (a session id in the text
     * would split them). */
    char msg[640];
    snprintf(msg, sizeof msg, "session step %u: expected %s; the server sent something else (body)", pr->step,
             st->expect_words);
    session_fail(c, WSF_E_HANDSHAKE, msg, data, len);
    return false;
  }
  take_captures(c, st, data, len);
  pr->step++;
  run_steps(c);
  return c->state != WSF_CONN_CLOSED;
}

/* ---- each record --------------------------------------------------------------------- */

static bool on_record(void *ctx, int opcode, const uint8_t *data, size_t len) {
  wsf_conn *c = ctx;
  wsf_conn_proto *pr = c->proto;
  const wsf_proto *p = pr->p;
  uint64_t now = wsf_now_us();
  for (uint32_t i = 0; i < p->n_rules; i++) {
    const wsf_rule *r = &p->rules[i];
    wsf_span groups[WSF_MATCH_MAX_GROUPS];
    size_t n_groups = r->reply_has_vars ? WSF_MATCH_MAX_GROUPS : 0;
    if (!wsf_match_test_groups(&r->match, opcode, (const char *)data, len, groups, n_groups))
      continue;
    pr->rules[i].matched++;
    /* closing, or a record drained after the end: matched, never answered */
    if (r->reply_opcode && (c->state == WSF_CONN_OPEN || pr->in_session)) {
      int rv = send_template(c, r->reply_opcode, r->reply, r->reply_len, r->reply_has_vars, groups, n_groups,
                             WSF_DATA_AUTO_REPLY);
      if (rv == 0) {
        pr->rules[i].replied++;
        c->d->stats.auto_replies[r->stats_slot]++;
      } else {
        pr->rules[i].failed++;
        c->d->stats.auto_reply_failures++;
      }
      if (c->state == WSF_CONN_CLOSED)
        return false;
    }
    if (!r->keep_in_inbox)
      return true;
    break;
  }
  if (p->preset == WSF_PRESET_SIGNALR_JSON && signalr_closed(c, data, len))
    return false;
  if (pr->in_session)
    return session_record(c, opcode, data, len, now);
  conn_deliver_message(c, opcode, data, len, now);
  return c->state != WSF_CONN_CLOSED;
}

static bool on_heartbeat(void *ctx) {
  wsf_conn *c = ctx;
  c->ka_replies++; /* the server's heart-beat: status.keepalive.replies */
  return true;
}

static const wsf_framing_callbacks framing_callbacks = {.on_record = on_record, .on_heartbeat = on_heartbeat};

void conn_proto_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len) {
  wsf_conn_proto *pr = c->proto;
  if (wsf_framer_feed(&pr->framer, opcode, data, len, &framing_callbacks, c) == WSF_FRAMING_TOO_BIG) {
    char detail[160];
    snprintf(detail, sizeof detail, "a %s record grew past max_message_bytes (%llu) without its terminator",
             wsf_framing_name((wsf_framing_mode)pr->p->framing), (unsigned long long)c->ws.max_message_bytes);
    end_for(c, 1009, WSF_BY_CLIENT, WSF_CAUSE_MESSAGE_TOO_BIG, detail);
  }
}
