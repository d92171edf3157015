/* The minimal chat protocol on text frames, the echo mode, and the
 * per-session message rate limit (an in-band 429, or a close). Replies are
 * built by pasting the raw (still escaped) insides of JSON strings from the
 * request, found by the daemon's validating JSON scanner (match.h), into
 * templates, so nothing is unescaped or re-escaped. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "mockgw.h"
#include "util.h"

#define MAX_PENDING_REPLIES 64

struct mgw_reply {
  wsf_timer timer;
  mgw_session *s;
  mgw_reply *next;
  size_t len;
  char text[];
};

static void send_fmt(mgw_session *s, size_t hint, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void send_fmt(mgw_session *s, size_t hint, const char *fmt, ...) {
  size_t cap = hint + strlen(fmt) + 64;
  char *buf = wsf_xmalloc(cap);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  if (n > 0 && (size_t)n < cap)
    mgw_session_send_text(s, buf, (size_t)n);
  free(buf);
}

static void send_error(mgw_session *s, int code, const char *cls, const char *msg) {
  s->gw->c.bad_requests++;
  send_fmt(s, strlen(msg) + strlen(cls),
           "{\"type\":\"response\",\"class\":\"%s\",\"code\":%d,\"body\":{\"errorMessage\":\"%s\"}}", cls,
           code, msg);
}

/* A string field's raw inside (escapes as written), or false. */
static bool string_field(const uint8_t *data, size_t len, const char *path, const char **v, size_t *v_len) {
  bool is_string = false;
  return wsf_json_field((const char *)data, len, path, v, v_len, &is_string) && is_string;
}

/* The guest's text: "message" as a string, or "message": {"text": "..."};
 * "" when there is none. */
static void message_text(const uint8_t *data, size_t len, const char **text, size_t *text_len) {
  if (!string_field(data, len, "message", text, text_len) &&
      !string_field(data, len, "message.text", text, text_len)) {
    *text = "";
    *text_len = 0;
  }
}

static void remove_reply(mgw_session *s, mgw_reply *r) {
  for (mgw_reply **pp = &s->replies; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      s->n_replies--;
      return;
    }
}

static void on_reply_timer(wsf_timer *timer) {
  mgw_reply *r = wsf_container_of(timer, mgw_reply, timer);
  mgw_session *s = r->s;
  remove_reply(s, r);
  if (mgw_session_send_text(s, r->text, r->len) == 0)
    s->gw->c.agent_replies++;
  free(r);
}

static void schedule_agent_reply(mgw_session *s, const char *raw, size_t raw_len) {
  if (s->n_replies >= MAX_PENDING_REPLIES)
    return;
  static const char fmt[] =
      "{\"type\":\"message\",\"class\":\"StructuredMessage\",\"code\":200,"
      "\"body\":{\"direction\":\"Outbound\",\"type\":\"Text\",\"text\":\"agent reply to: %.*s\"}}";
  size_t cap = sizeof fmt + raw_len + 16;
  mgw_reply *r = wsf_xmalloc(sizeof *r + cap);
  int n = snprintf(r->text, cap, fmt, (int)raw_len, raw);
  if (n < 0 || (size_t)n >= cap) {
    free(r);
    return;
  }
  r->len = (size_t)n;
  r->s = s;
  r->next = s->replies;
  s->replies = r;
  s->n_replies++;
  wsf_timer_init(&r->timer, on_reply_timer);
  wsf_timer_start(&s->gw->timers, &r->timer, s->gw->cfg.agent_delay_us);
}

void mgw_chat_session_free(mgw_session *s) {
  while (s->replies) {
    mgw_reply *r = s->replies;
    s->replies = r->next;
    wsf_timer_stop(&s->gw->timers, &r->timer);
    free(r);
  }
  s->n_replies = 0;
}

/* A fixed window per session: simple, and what "N messages per T" means. */
static bool rate_limited(mgw_session *s) {
  const mgw_config *cfg = &s->gw->cfg;
  if (!cfg->rate_limit)
    return false;
  uint64_t now = wsf_now_us();
  if (now - s->rate_window_us >= cfg->rate_window_us) {
    s->rate_window_us = now;
    s->rate_count = 0;
  }
  if (++s->rate_count <= cfg->rate_limit)
    return false;
  s->gw->c.rate_limited++;
  if (cfg->rate_limit_close.code) {
    /* --rate-limit-close: the session ends instead of getting an answer. */
    mgw_session_close(s, MGW_REASON_RATE_LIMIT, &cfg->rate_limit_close);
    return true;
  }
  uint64_t retry_ms = (s->rate_window_us + cfg->rate_window_us - now + 999) / 1000;
  send_fmt(s, 32,
           "{\"type\":\"response\",\"class\":\"TooManyRequestsErrorMessage\",\"code\":429,"
           "\"body\":{\"retryAfterMs\":%llu,\"errorCode\":4029,"
           "\"errorMessage\":\"Message rate limit exceeded\"}}",
           (unsigned long long)retry_ms);
  return true;
}

void mgw_chat_on_message(mgw_session *s, int opcode, const uint8_t *data, size_t len) {
  if (s->gw->cfg.echo) {
    /* Benchmarks: every data frame goes straight back. */
    if (wsf_ws_send(&s->ws, opcode, data, len) == 0) {
      s->gw->c.msgs_out++;
      s->gw->c.bytes_out += len;
    }
    return;
  }
  if (rate_limited(s))
    return;
  if (opcode != WSF_WS_TEXT) {
    send_error(s, 400, "BadRequest", "binary frames are not part of the chat protocol");
    return;
  }
  size_t lead = 0;
  while (lead < len && (data[lead] == ' ' || data[lead] == '\t' || data[lead] == '\n' || data[lead] == '\r'))
    lead++;
  if (lead == len || data[lead] != '{' || !wsf_json_valid((const char *)data, len)) {
    send_error(s, 400, "BadRequest", "not a JSON object");
    return;
  }
  const char *action, *text;
  size_t action_len, text_len;
  if (!string_field(data, len, "action", &action, &action_len)) {
    send_error(s, 400, "BadRequest", "missing action");
    return;
  }
#define ACTION_IS(name) (action_len == sizeof name - 1 && memcmp(action, name, action_len) == 0)
  if (ACTION_IS("configureSession")) {
    static const char resp[] =
        "{\"type\":\"response\",\"class\":\"SessionResponse\",\"code\":200,\"body\":{\"connected\":true}}";
    mgw_session_send_text(s, resp, sizeof resp - 1);
  } else if (ACTION_IS("echo")) {
    mgw_policy_note_heartbeat(s);
    message_text(data, len, &text, &text_len);
    send_fmt(s, text_len, "{\"type\":\"response\",\"class\":\"string\",\"code\":200,\"body\":\"%.*s\"}",
             (int)text_len, text);
  } else if (ACTION_IS("onMessage")) {
    message_text(data, len, &text, &text_len);
    send_fmt(s, text_len,
             "{\"type\":\"response\",\"class\":\"StructuredMessage\",\"code\":200,"
             "\"body\":{\"direction\":\"Inbound\",\"type\":\"Text\",\"text\":\"%.*s\"}}",
             (int)text_len, text);
    schedule_agent_reply(s, text, text_len);
  } else {
    send_error(s, 400, "BadRequest", "unknown action");
  }
#undef ACTION_IS
}
