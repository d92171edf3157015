/* One client session: accept, upgrade, frames, and the ways it ends.
 *
 * States (mockgw.h): HANDSHAKE → [DELAYED] → OPEN → CLOSING | DROPPED.
 * The aux timer serves one purpose per state: the request timeout while in
 * HANDSHAKE, the delayed 101 in DELAYED, server pings in OPEN, and in
 * CLOSING/DROPPED first the deferred FIN then a bound on how long we wait
 * for the client to leave. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mockgw.h"
#include "util.h"

/* Implementation bounds, not policies: never time-scaled. */
#define REQUEST_TIMEOUT_US (10 * 1000000ull) /* a client that never sends its upgrade */
#define LINGER_US (5 * 1000000ull)           /* after our FIN or close frame, then RST */

const char *mgw_drop_reason_name(mgw_drop_reason r) {
  static const char *const names[] = {
#define X(id, name, close_reason) #name,
      MGW_DROP_REASONS(X)
#undef X
  };
  return (unsigned)r < MGW_REASON_COUNT ? names[r] : "?";
}

static const char *close_reason_of(mgw_drop_reason r) {
  static const char *const reasons[] = {
#define X(id, name, close_reason) close_reason,
      MGW_DROP_REASONS(X)
#undef X
  };
  return (unsigned)r < MGW_REASON_COUNT ? reasons[r] : "";
}

static const char *style_name(mgw_drop_style d) {
  switch (d) {
  case MGW_DROP_RST:
    return "rst";
  case MGW_DROP_FIN:
    return "fin";
  case MGW_DROP_SILENT:
    return "silent";
  case MGW_DROP_CLOSE_FRAME:
    return "close-frame";
  }
  return "?";
}

static void aux_start(mgw_session *s, uint64_t delay_us) {
  wsf_timer_start(&s->gw->timers, &s->aux, delay_us);
}

static void leave_open(mgw_session *s, mgw_state next) {
  bool was_open = s->state == MGW_S_OPEN;
  s->state = next;
  wsf_timer_stop(&s->gw->timers, &s->policy);
  if (was_open)
    mgw_gateway_session_left(s->gw, s);
}

/* Reset the connection now. Also used at exit, so it leaves no timer behind. */
void mgw_session_abort(mgw_session *s) {
  if (s->state == MGW_S_OPEN)
    leave_open(s, MGW_S_CLOSING);
  wsf_timer_stop(&s->gw->timers, &s->aux);
  wsf_timer_stop(&s->gw->timers, &s->policy);
  mgw_chat_session_free(s);
  if (s->closing)
    return;
  s->closing = 1;
  wsf_transport_close(&s->t, true);
}

/* End our direction once what is queued is written: the FIN goes out on the
 * next timer pass (after the current callback has queued its last bytes),
 * then the client has LINGER_US to leave before we reset. */
static void finish_soon(mgw_session *s) {
  s->shut = 0;
  aux_start(s, 0);
}

static void write_http_and_finish(mgw_session *s, char *resp, size_t len) {
  if (resp) {
    wsf_transport_write(&s->t, (const uint8_t *)resp, len);
    free(resp);
  }
  s->state = MGW_S_CLOSING;
  finish_soon(s);
}

int mgw_session_send_text(mgw_session *s, const char *text, size_t len) {
  if (s->state != MGW_S_OPEN || s->silent)
    return -1;
  if (wsf_ws_send(&s->ws, WSF_WS_TEXT, (const uint8_t *)text, len) != 0)
    return -1;
  s->gw->c.msgs_out++;
  s->gw->c.bytes_out += len;
  return 0;
}

/* ---- ws callbacks ---- */

static void ws_on_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  mgw_session *s = wsf_container_of(ws, mgw_session, ws);
  if (s->state != MGW_S_OPEN)
    return;
  mgw_policy_note_frame(s, opcode);
  s->gw->c.msgs_in++;
  s->msgs_in++;
  s->gw->c.bytes_in += len;
  mgw_chat_on_message(s, opcode, data, len);
}

static void ws_on_ping(wsf_ws *ws, const uint8_t *data, size_t len) {
  (void)data, (void)len;
  mgw_session *s = wsf_container_of(ws, mgw_session, ws);
  if (s->state != MGW_S_OPEN)
    return;
  s->gw->c.pings_in++;
  mgw_policy_note_frame(s, WSF_WS_PING);
}

static void ws_on_pong(wsf_ws *ws, const uint8_t *data, size_t len) {
  (void)data, (void)len;
  mgw_session *s = wsf_container_of(ws, mgw_session, ws);
  if (s->state != MGW_S_OPEN)
    return;
  s->gw->c.pongs_in++;
  mgw_policy_note_frame(s, WSF_WS_PONG);
}

static void ws_on_close_frame(wsf_ws *ws, uint16_t code, const uint8_t *reason, size_t reason_len) {
  (void)code, (void)reason, (void)reason_len;
  mgw_session *s = wsf_container_of(ws, mgw_session, ws);
  if (s->state == MGW_S_OPEN) {
    s->gw->c.client_close_frames++;
    leave_open(s, MGW_S_CLOSING);
  }
  /* Our answer is queued by ws; after it the server closes TCP first (RFC 6455 §7.1.1). */
  if (s->state == MGW_S_CLOSING || s->state == MGW_S_DROPPED)
    finish_soon(s);
}

static void ws_on_protocol_error(wsf_ws *ws, uint16_t code) {
  (void)code;
  mgw_session *s = wsf_container_of(ws, mgw_session, ws);
  s->gw->c.protocol_errors++;
  if (s->state == MGW_S_OPEN)
    leave_open(s, MGW_S_CLOSING);
  finish_soon(s);
}

static const wsf_ws_callbacks ws_cb = {
    .on_message = ws_on_message,
    .on_ping = ws_on_ping,
    .on_pong = ws_on_pong,
    .on_close_frame = ws_on_close_frame,
    .on_protocol_error = ws_on_protocol_error,
};

/* ---- upgrade ---- */

static const char cap_event[] = "{\"type\":\"message\",\"class\":\"ConnectionClosedEvent\",\"code\":200,"
                                "\"body\":{\"reason\":\"session limit reached\"}}";

static void feed_frames(mgw_session *s, const uint8_t *data, size_t len) {
  if (len == 0 || s->closing)
    return;
  if (s->silent || !s->ws_ready)
    return;
  /* A dropped session with a FIN or RST behind it answers nothing more; one
   * that sent a close frame still reads the client's close reply. */
  if (s->state == MGW_S_DROPPED && !s->close_sent)
    return;
  wsf_ws_feed(&s->ws, data, len);
}

/* An HTTP refusal of the upgrade (503 or 429), with Retry-After when
 * configured: whole seconds, rounded up from the time-scaled duration. */
static void refuse_upgrade(mgw_session *s, int status, const char *reason) {
  const mgw_config *cfg = &s->gw->cfg;
  size_t len;
  char *resp = wsf_handshake_build_error(status, reason, "session limit reached\n", &len);
  if (resp && cfg->retry_after_us) {
    char header[48];
    int n = snprintf(header, sizeof header, "Retry-After: %llu\r\n",
                     (unsigned long long)((cfg->retry_after_us + 999999) / 1000000));
    const char *eol = strstr(resp, "\r\n"); /* after the status line */
    size_t at = (size_t)(eol - resp) + 2;
    char *with = wsf_xmalloc(len + (size_t)n + 1);
    memcpy(with, resp, at);
    memcpy(with + at, header, (size_t)n);
    memcpy(with + at + n, resp + at, len - at + 1);
    free(resp);
    resp = with;
    len += (size_t)n;
  }
  wsf_hs_request_free(s->hs);
  free(s->hs);
  s->hs = NULL;
  write_http_and_finish(s, resp, len);
}

static void accept_upgrade(mgw_session *s, const uint8_t *extra, size_t extra_len) {
  mgw_gateway *gw = s->gw;
  const mgw_config *cfg = &gw->cfg;
  bool over_cap = cfg->max_sessions && gw->open_count >= cfg->max_sessions;
  if (over_cap && (cfg->cap_mode == MGW_CAP_503 || cfg->cap_mode == MGW_CAP_429)) {
    gw->c.rejected_cap++;
    if (cfg->cap_mode == MGW_CAP_503)
      refuse_upgrade(s, 503, "Service Unavailable");
    else
      refuse_upgrade(s, 429, "Too Many Requests");
    return;
  }
  /* permessage-deflate: the first acceptable offer, with zlib's defaults on our side. */
  wsf_deflate_params agreed;
  char answer[WSF_DEFLATE_OFFER_LEN], why[WSF_DEFLATE_ERROR_LEN];
  int deflate = 0;
  if (cfg->deflate) {
    wsf_deflate_options o = wsf_deflate_options_default();
    o.enabled = true;
    deflate = wsf_deflate_server_answer(&o, wsf_hs_request_header(s->hs, "sec-websocket-extensions"), &agreed,
                                        answer, why);
  }
  size_t len;
  char *resp = wsf_handshake_build_101(s->hs, NULL, deflate == 1 ? answer : NULL, &len);
  wsf_hs_request_free(s->hs);
  free(s->hs);
  s->hs = NULL;
  if (!resp) {
    mgw_session_abort(s);
    return;
  }
  wsf_transport_write(&s->t, (const uint8_t *)resp, len);
  free(resp);
  wsf_ws_init(&s->ws, &s->t, true, cfg->max_message_bytes, &ws_cb);
  if (deflate == 1)
    wsf_ws_enable_deflate(&s->ws, &agreed);
  s->ws_ready = 1;
  gw->c.handshakes++;
  if (over_cap) {
    /* Event and close modes: the upgrade succeeds, then the session is
     * refused in-band, before it is counted as open. */
    s->state = MGW_S_CLOSING;
    if (cfg->cap_mode == MGW_CAP_EVENT) {
      gw->c.cap_events++;
      wsf_ws_send(&s->ws, WSF_WS_TEXT, (const uint8_t *)cap_event, sizeof cap_event - 1);
      wsf_ws_close(&s->ws, 1000, "session limit reached", 21);
    } else {
      gw->c.cap_closes++;
      wsf_ws_close(&s->ws, cfg->cap_close.code, cfg->cap_close.reason, strlen(cfg->cap_close.reason));
    }
    aux_start(s, LINGER_US);
    s->shut = 1;
    return;
  }
  s->state = MGW_S_OPEN;
  s->last_frame_us = wsf_now_us();
  mgw_policy_session_open(s);
  /* Counted after the 101 is written, so a client sees its own upgrade
   * before any drop this session's arrival may trigger. */
  mgw_gateway_session_opened(gw, s);
  if (cfg->black_hole_above && gw->open_count > cfg->black_hole_above) {
    /* Upgraded, then never served: a backend with room for N sessions behind
     * a proxy that accepts more. */
    mgw_session_drop(s, MGW_REASON_BLACK_HOLE);
    return;
  }
  if (cfg->server_ping_us)
    aux_start(s, cfg->server_ping_us);
  feed_frames(s, extra, extra_len);
}

/* ---- the aux timer ---- */

static void on_aux(wsf_timer *timer) {
  mgw_session *s = wsf_container_of(timer, mgw_session, aux);
  if (s->closing)
    return;
  switch (s->state) {
  case MGW_S_HANDSHAKE:
    mgw_session_abort(s);
    return;
  case MGW_S_DELAYED: {
    s->gw->delayed_count--;
    uint8_t *early = s->early;
    size_t early_len = s->early_len;
    s->early = NULL;
    s->early_len = 0;
    accept_upgrade(s, early, early_len);
    free(early);
    return;
  }
  case MGW_S_OPEN: {
    uint8_t payload[8];
    uint64_t seq = ++s->ping_seq;
    memcpy(payload, &seq, sizeof payload);
    if (wsf_ws_send(&s->ws, WSF_WS_PING, payload, sizeof payload) == 0)
      s->gw->c.pings_out++;
    aux_start(s, s->gw->cfg.server_ping_us);
    return;
  }
  case MGW_S_CLOSING:
  case MGW_S_DROPPED:
    if (!s->shut) {
      s->shut = 1;
      wsf_transport_shutdown(&s->t);
      aux_start(s, LINGER_US);
    } else {
      mgw_session_abort(s);
    }
    return;
  }
}

/* ---- transport callbacks ---- */

static void on_tls_done(wsf_transport *t, bool ok, const char *detail) {
  mgw_session *s = wsf_container_of(t, mgw_session, t);
  if (ok)
    return;
  s->gw->c.tls_failures++;
  if (!s->gw->cfg.quiet)
    fprintf(stderr, "mockgw tls_failure session=%llu detail=%s\n", (unsigned long long)s->id,
            detail ? detail : "");
  mgw_session_abort(s);
}

static void on_data(wsf_transport *t, const uint8_t *data, size_t len) {
  mgw_session *s = wsf_container_of(t, mgw_session, t);
  if (s->closing || s->silent)
    return; /* a black hole reads and discards */
  switch (s->state) {
  case MGW_S_HANDSHAKE: {
    if (s->gw->black_hole) {
      mgw_session_black_hole(s);
      return;
    }
    size_t consumed = 0;
    wsf_hs_result r = wsf_hs_request_feed(s->hs, data, len, &consumed);
    if (r == WSF_HS_NEED_MORE)
      return;
    if (r != WSF_HS_DONE) {
      s->gw->c.rejected_bad_request++;
      const char *why = s->hs->error ? s->hs->error : "bad request";
      char body[256];
      snprintf(body, sizeof body, "%s\n", why);
      size_t rlen;
      char *resp = wsf_handshake_build_error(400, "Bad Request", body, &rlen);
      wsf_hs_request_free(s->hs);
      free(s->hs);
      s->hs = NULL;
      write_http_and_finish(s, resp, rlen);
      return;
    }
    if (consumed > len)
      consumed = len;
    wsf_timer_stop(&s->gw->timers, &s->aux);
    const mgw_config *cfg = &s->gw->cfg;
    uint64_t delay = cfg->handshake_delay_us + cfg->handshake_delay_per_open_us * s->gw->open_count +
                     cfg->handshake_delay_per_inflight_us * s->gw->delayed_count;
    if (delay) {
      s->state = MGW_S_DELAYED;
      s->gw->delayed_count++;
      if (len > consumed) {
        s->early = wsf_xmalloc(len - consumed);
        memcpy(s->early, data + consumed, len - consumed);
        s->early_len = len - consumed;
      }
      aux_start(s, delay);
      return;
    }
    accept_upgrade(s, data + consumed, len - consumed);
    return;
  }
  case MGW_S_DELAYED: {
    /* Frames before our 101: a client that does not wait. Keep them (bounded). */
    if (s->early_len + len > 64 * 1024) {
      mgw_session_abort(s);
      return;
    }
    s->early = realloc(s->early, s->early_len + len);
    if (!s->early)
      abort();
    memcpy(s->early + s->early_len, data, len);
    s->early_len += len;
    return;
  }
  case MGW_S_OPEN:
  case MGW_S_CLOSING:
  case MGW_S_DROPPED:
    feed_frames(s, data, len);
    return;
  }
}

static void on_end(wsf_transport *t, wsf_end_cause cause, const char *detail) {
  (void)detail;
  mgw_session *s = wsf_container_of(t, mgw_session, t);
  if (s->state == MGW_S_OPEN) {
    if (cause == WSF_END_RESET)
      s->gw->c.client_resets++;
    else
      s->gw->c.client_eofs++;
    leave_open(s, MGW_S_CLOSING);
  }
  if (!s->closing) {
    s->closing = 1;
    wsf_timer_stop(&s->gw->timers, &s->aux);
    wsf_transport_close(&s->t, false);
  }
}

static void on_closed(wsf_transport *t) {
  mgw_session *s = wsf_container_of(t, mgw_session, t);
  mgw_gateway *gw = s->gw;
  if (s->state == MGW_S_OPEN)
    leave_open(s, MGW_S_CLOSING);
  if (s->state == MGW_S_DELAYED)
    gw->delayed_count--;
  wsf_timer_stop(&gw->timers, &s->aux);
  wsf_timer_stop(&gw->timers, &s->policy);
  mgw_chat_session_free(s);
  if (s->ws_ready)
    wsf_ws_free(&s->ws);
  if (s->hs) {
    wsf_hs_request_free(s->hs);
    free(s->hs);
  }
  free(s->early);
  if (s->prev)
    s->prev->next = s->next;
  else
    gw->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  gw->n_sessions--;
  free(s);
}

static const wsf_transport_callbacks transport_cb = {
    .on_tls_done = on_tls_done,
    .on_data = on_data,
    .on_end = on_end,
    .on_closed = on_closed,
};

void mgw_session_accept(mgw_gateway *gw) {
  mgw_session *s = wsf_xcalloc(1, sizeof *s);
  s->gw = gw;
  s->id = gw->next_id++;
  s->accepted_us = wsf_now_us();
  s->state = MGW_S_HANDSHAKE;
  wsf_timer_init(&s->aux, on_aux);
  wsf_timer_init(&s->policy, NULL);
  if (wsf_transport_init(gw->loop, &s->t, &transport_cb) != 0) {
    free(s);
    return;
  }
  s->next = gw->sessions;
  if (gw->sessions)
    gw->sessions->prev = s;
  gw->sessions = s;
  gw->n_sessions++;
  if (uv_accept((uv_stream_t *)&gw->listener, (uv_stream_t *)&s->t.tcp) != 0) {
    s->closing = 1;
    wsf_transport_close(&s->t, false);
    return;
  }
  gw->c.accepted++;
  s->hs = wsf_xmalloc(sizeof *s->hs);
  wsf_hs_request_init(s->hs);
  if (gw->tls && wsf_transport_start_tls_server(&s->t, gw->tls) != 0) {
    gw->c.tls_failures++;
    mgw_session_abort(s);
    return;
  }
  if (wsf_transport_read_start(&s->t) != 0) {
    mgw_session_abort(s);
    return;
  }
  aux_start(s, REQUEST_TIMEOUT_US);
}

/* ---- drops ---- */

/* The threshold behind a drop, for the log line (0 when there is none). */
static uint64_t limit_of(const mgw_gateway *gw, mgw_drop_reason reason) {
  const mgw_config *cfg = &gw->cfg;
  switch (reason) {
  case MGW_REASON_IDLE:
  case MGW_REASON_IDLE_OVERLOAD:
    return mgw_policy_idle_timeout(gw);
  case MGW_REASON_HEARTBEAT:
    return cfg->require_heartbeat_us;
  case MGW_REASON_MAX_AGE:
    return cfg->max_age_us;
  case MGW_REASON_RATE_LIMIT:
    return cfg->rate_window_us;
  default:
    return 0;
  }
}

static mgw_drop_style style_of(const mgw_config *cfg, mgw_drop_reason reason) {
  switch (reason) {
  case MGW_REASON_MAX_AGE:
    return cfg->max_age_drop;
  case MGW_REASON_BLACK_HOLE:
    return MGW_DROP_SILENT;
  case MGW_REASON_RANDOM_RESET:
    return MGW_DROP_RST;
  default:
    return cfg->drop;
  }
}

static void end_session(mgw_session *s, mgw_drop_reason reason, mgw_drop_style style,
                        const mgw_close_spec *close) {
  mgw_gateway *gw = s->gw;
  const mgw_config *cfg = &gw->cfg;
  uint64_t now = wsf_now_us();
  uint32_t open_at_drop = gw->open_count; /* including this session */
  uint64_t limit = limit_of(gw, reason);
  double silence = (now - s->last_frame_us) / 1e6;
  double quiet = (now - (reason == MGW_REASON_HEARTBEAT ? s->last_heartbeat_us : s->last_activity_us)) / 1e6;
  double scale = cfg->time_scale;
  gw->c.drops[reason]++;
  if (!cfg->quiet) {
    char code[16] = "";
    if (style == MGW_DROP_CLOSE_FRAME)
      snprintf(code, sizeof code, " code=%u", close->code);
    fprintf(stderr,
            "mockgw drop session=%llu reason=%s style=%s%s open=%u age_s=%.3f "
            "silence_s=%.3f silence_unscaled_s=%.2f quiet_s=%.3f quiet_unscaled_s=%.2f "
            "timeout_s=%.3f timeout_unscaled_s=%.2f msgs_in=%llu\n",
            (unsigned long long)s->id, mgw_drop_reason_name(reason), style_name(style), code, open_at_drop,
            (now - s->opened_us) / 1e6, silence, silence / scale, quiet, quiet / scale, limit / 1e6,
            limit / 1e6 / scale, (unsigned long long)s->msgs_in);
  }
  leave_open(s, MGW_S_DROPPED);
  wsf_timer_stop(&gw->timers, &s->aux);
  switch (style) {
  case MGW_DROP_RST:
    mgw_session_abort(s);
    break;
  case MGW_DROP_FIN:
    s->shut = 1;
    wsf_transport_shutdown(&s->t);
    aux_start(s, LINGER_US);
    break;
  case MGW_DROP_SILENT:
    /* A black hole: no FIN, no pong, no reply; the socket stays until the
     * client gives up and closes it. */
    s->silent = 1;
    break;
  case MGW_DROP_CLOSE_FRAME:
    wsf_ws_close(&s->ws, close->code, close->reason, strlen(close->reason));
    s->close_sent = 1; /* the client's close reply is still read, and triggers the FIN */
    s->shut = 1;
    aux_start(s, LINGER_US);
    break;
  }
}

void mgw_session_drop(mgw_session *s, mgw_drop_reason reason) {
  const mgw_config *cfg = &s->gw->cfg;
  mgw_close_spec close = {cfg->close_code, close_reason_of(reason)};
  end_session(s, reason, style_of(cfg, reason), &close);
}

void mgw_session_close(mgw_session *s, mgw_drop_reason reason, const mgw_close_spec *close) {
  end_session(s, reason, MGW_DROP_CLOSE_FRAME, close);
}

/* A black hole swallows a session in any state: nothing is answered, no
 * timer of ours ends it; only the client can. */
void mgw_session_black_hole(mgw_session *s) {
  if (s->closing || s->silent)
    return;
  if (s->state == MGW_S_OPEN) {
    mgw_session_drop(s, MGW_REASON_BLACK_HOLE);
    return;
  }
  if (s->state == MGW_S_HANDSHAKE || s->state == MGW_S_DELAYED) {
    s->silent = 1;
    s->gw->c.black_hole_handshakes++;
    wsf_timer_stop(&s->gw->timers, &s->aux);
  }
}
