/* A named connection's lifecycle: states and their counters, teardown
 * (linger, forget, free), the output cap, what the WebSocket session and the
 * transport report, and the conn.h API for a live connection (send, recv,
 * ping, close, reset, shutdown). Opening is in conn_dial.c, heartbeats in
 * conn_keepalive.c, waits in conn_wait.c, close records in conn_record.c. */
#include "conn_internal.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counting ------------------------------------------------------------ */

static uint32_t *state_counter(wsf_daemon *d, wsf_conn_state s) {
  switch (s) {
  case WSF_CONN_CONNECTING:
    return &d->n_connecting;
  case WSF_CONN_OPEN:
    return &d->n_open;
  case WSF_CONN_CLOSING:
    return &d->n_closing;
  default:
    return &d->n_closed;
  }
}

void conn_set_state(wsf_conn *c, wsf_conn_state s) {
  (*state_counter(c->d, c->state))--;
  c->state = s;
  (*state_counter(c->d, s))++;
}

/* The stall clock of a connection whose reading is paused for output over the
 * cap. Allocated when reading pauses and freed when it resumes or the
 * connection ends: a timer in every connection cost each idle one 24 bytes. */
struct wsf_output_stall {
  wsf_timer timer;
  wsf_conn *conn;
};

static void output_stall_stop(wsf_conn *c) {
  if (!c->output_stall)
    return;
  wsf_timer_stop(&c->d->timers, &c->output_stall->timer);
  free(c->output_stall);
  c->output_stall = NULL;
}

void conn_stop_timers(wsf_conn *c) {
  wsf_timer_stop(&c->d->timers, &c->ka_timer);
  wsf_timer_stop(&c->d->timers, &c->pong_timer);
  wsf_timer_stop(&c->d->timers, &c->deadline);
  output_stall_stop(c);
  conn_redial_stop(c);
}

static void conn_free(wsf_conn *c) {
  wsf_ws_free(&c->ws);
  wsf_inbox_clear(&c->inbox);
  conn_free_record(c->record);
  conn_free_failure(c);
  wsf_keepalive_release(c->d, c->ka);
  conn_proto_free(c);
  free(c->deflate);
  free(c->subprotocol);
  wsf_intern_release(&c->d->resp_headers, c->resp_headers);
  free(c->tls_info);
  output_stall_stop(c); /* stopped already where it ended; a no-op then */
  conn_redial_free(c);
  conn_pace_free(c);
  free(c);
}

void conn_close_transport(wsf_conn *c, bool abort) {
  wsf_timer_stop(&c->d->timers, &c->deadline);
  if (c->transport_live && !c->transport.closing)
    wsf_transport_close(&c->transport, abort);
}

/* The deadline timer serves several phases in turn; it may still be armed
 * for the previous one, so it is stopped before it changes purpose. */
void conn_deadline_in(wsf_conn *c, wsf_timer_cb cb, uint64_t delay_us) {
  wsf_timer_stop(&c->d->timers, &c->deadline);
  wsf_timer_init(&c->deadline, cb); /* early_us 0: the heartbeat shares this timer (conn.h) */
  wsf_timer_start(&c->d->timers, &c->deadline, delay_us);
}

static void on_linger_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  conn_close_transport(c, false);
}

/* After a close handshake or a protocol error: give the server a moment to
 * close TCP first, then close it ourselves. */
static void linger_then_close(wsf_conn *c) {
  if (!c->transport_live || c->transport.closing)
    return;
  if (!wsf_timer_active(&c->deadline) || c->deadline.cb != on_linger_timeout)
    conn_deadline_in(c, on_linger_timeout, LINGER_US);
}

/* Removes the connection from the table; frees it now or when its transport closes. */
void conn_forget(wsf_conn *c) {
  wsf_daemon *d = c->d;
  if (c->state == WSF_CONN_CLOSED)
    conn_closed_unlink(c);
  wsf_registry_remove(&d->conns, c);
  (*state_counter(d, c->state))--;
  conn_release_handshake(c);
  conn_stop_timers(c);
  if (c->transport_live) {
    c->free_when_closed = 1;
    conn_close_transport(c, false);
  } else {
    conn_free(c);
  }
}

size_t conn_output_pending(const wsf_conn *c) {
  return c->transport_live ? c->transport.write_pending_bytes : 0;
}

static void on_output_stalled(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, struct wsf_output_stall, timer)->conn;
  char detail[160];
  snprintf(detail, sizeof detail, "%zu bytes unsent for %u ms (max_output_bytes %zu)", conn_output_pending(c),
           c->d->cfg.output_stall_ms, c->d->cfg.max_output_bytes);
  conn_finish(c, 1006, WSF_BY_CLIENT, false, WSF_CAUSE_OUTPUT_STALLED, NULL, 0, detail);
  conn_close_transport(c, true); /* a FIN would wait behind the bytes that do not move */
}

/* After anything was written: over the cap, reading stops and the stall clock runs. */
void conn_check_output(wsf_conn *c) {
  if (c->reads_paused || conn_output_pending(c) <= c->d->cfg.max_output_bytes || c->state == WSF_CONN_CLOSED)
    return;
  c->reads_paused = 1;
  c->d->stats.reads_paused++;
  wsf_transport_read_stop(&c->transport);
  c->output_stall = wsf_xmalloc(sizeof *c->output_stall); /* NULL whenever reads_paused is 0 */
  c->output_stall->conn = c;
  wsf_timer_init(&c->output_stall->timer, on_output_stalled);
  wsf_timer_start(&c->d->timers, &c->output_stall->timer, (uint64_t)c->d->cfg.output_stall_ms * 1000);
}

/* The peer took bytes: a held pong goes out; back under the cap, reading resumes. */
static void on_written(wsf_transport *t) {
  wsf_conn *c = conn_of_transport(t);
  if (c->state == WSF_CONN_CONNECTING && !conn_session_phase(c)) /* before the 101, or between reopens */
    return;
  wsf_ws_written(&c->ws);
  if (c->reads_paused && conn_output_pending(c) <= c->d->cfg.max_output_bytes) {
    c->reads_paused = 0;
    output_stall_stop(c);
    if (!t->closing && !t->ended)
      wsf_transport_read_start(t);
  }
}

void conn_note_sent(wsf_conn *c, uint64_t now) {
  c->last_sent_us = now;
}

/* Adds what the session's deflate counters gained since last time to the
 * daemon's totals (after each message either way). */
void conn_account_deflate(wsf_conn *c) {
  const wsf_deflate_counters *now = wsf_ws_deflate_counters(&c->ws);
  if (!now || !c->deflate)
    return;
  wsf_deflate_counters *seen = &c->deflate->seen;
  wsf_deflate_counters *total = &c->d->stats.deflate;
  total->bytes_in_compressed += now->bytes_in_compressed - seen->bytes_in_compressed;
  total->bytes_in += now->bytes_in - seen->bytes_in;
  total->bytes_out_compressed += now->bytes_out_compressed - seen->bytes_out_compressed;
  total->bytes_out += now->bytes_out - seen->bytes_out;
  *seen = *now;
}

static void on_ws_message(wsf_ws *ws, int opcode, const uint8_t *data, size_t len) {
  wsf_conn *c = conn_of_ws(ws);
  wsf_daemon *d = c->d;
  uint64_t now = wsf_now_us();
  c->last_recv_us = now;
  c->msgs_in++;
  c->bytes_in += len;
  d->stats.msgs_in++;
  d->stats.bytes_in += len;
  conn_account_deflate(c);
  if (c->proto) { /* records, session steps, auto-reply; then conn_deliver_message */
    conn_proto_message(c, opcode, data, len);
    return;
  }
  conn_deliver_message(c, opcode, data, len, now);
}

void conn_deliver_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint64_t now) {
  wsf_daemon *d = c->d;
  if (conn_is_heartbeat_reply(c, opcode, data, len)) {
    c->ka_replies++;
    if (c->ka_ping_outstanding) {
      c->ka_ping_outstanding = 0;
      wsf_timer_stop(&d->timers, &c->pong_timer);
    }
    return;
  }
  /* The received buffer itself when it can be; not under a protocol layer, whose
   * framer may still read the message after delivering a record of it. */
  wsf_msg *m = c->proto ? NULL : wsf_ws_take_message(&c->ws, data, len);
  if (m) {
    m->next = NULL;
    m->arrived_us = now;
    m->seq = c->msg_seq++;
    m->opcode = (uint8_t)opcode;
  } else {
    m = wsf_msg_new(opcode, data, len, c->msg_seq++, now);
  }
  bool discard = false;
  for (wsf_wait *w = c->waits_head; w; w = w->next) {
    if (conn_wait_accepts(w, m)) {
      conn_wait_complete(w, WSF_OK, m);
      return;
    }
    if (w->kind == WSF_WAIT_RECV && w->discard_unmatched && m->seq >= w->min_seq) {
      discard = true;
      w->discarded++;
    }
  }
  if (discard) {
    free(m);
    return;
  }
  size_t before = c->inbox.bytes;
  uint32_t dropped = wsf_inbox_push(&c->inbox, m);
  conn_inbox_changed(c, before);
  if (dropped) {
    d->stats.inbox_dropped += dropped;
    TELL_OBSERVERS(d, inbox_dropped, c);
  }
}

static void on_ws_ping(wsf_ws *ws, const uint8_t *data, size_t len) {
  (void)data;
  (void)len;
  wsf_conn *c = conn_of_ws(ws);
  uint64_t now = wsf_now_us();
  c->last_recv_us = now;
  c->last_sent_us = now; /* its pong, written or held */
  if (ws->ping_coalesced)
    c->d->stats.pongs_coalesced++;
}

static void on_ws_pong(wsf_ws *ws, const uint8_t *data, size_t len) {
  wsf_conn *c = conn_of_ws(ws);
  wsf_daemon *d = c->d;
  uint64_t now = wsf_now_us();
  c->last_recv_us = now;
  c->last_pong_us = now;
  if (c->ka_ping_outstanding) {
    const uint8_t *expect = c->ka->payload_len ? c->ka->payload : c->ka_payload;
    size_t expect_len = c->ka->payload_len ? c->ka->payload_len : sizeof c->ka_payload;
    if (len == expect_len && memcmp(data, expect, len) == 0) {
      c->ka_ping_outstanding = 0;
      wsf_timer_stop(&d->timers, &c->pong_timer);
      c->ping_rtt_us = now - c->ka_ping_sent_us;
      wsf_hist_add(&d->stats.ping_rtt, c->ping_rtt_us);
    }
  }
  for (wsf_wait *w = c->waits_head; w; w = w->next) {
    if (w->kind == WSF_WAIT_PING && w->ping_len == len && memcmp(w->ping_payload, data, len) == 0) {
      w->rtt_us = now - w->started_us;
      c->ping_rtt_us = w->rtt_us;
      wsf_hist_add(&d->stats.ping_rtt, w->rtt_us);
      conn_wait_complete(w, WSF_OK, NULL);
      return;
    }
  }
}

static void on_ws_close_frame(wsf_ws *ws, uint16_t code, const uint8_t *reason, size_t reason_len) {
  wsf_conn *c = conn_of_ws(ws);
  c->last_recv_us = wsf_now_us();
  bool in_session = conn_session_phase(c) != NULL; /* the open fails with it */
  if (c->state == WSF_CONN_CLOSING)                /* the answer to our close */
    conn_finish(c, code, WSF_BY_CLIENT, true, WSF_CAUSE_LOCAL_CLOSE, (const char *)reason, reason_len, NULL);
  else
    conn_finish(c, code, WSF_BY_SERVER, true, WSF_CAUSE_SERVER_CLOSE, (const char *)reason, reason_len, NULL);
  if (in_session)
    TELL_OBSERVERS(c->d, handshake_failed, c);
  linger_then_close(c);
}

static void on_ws_protocol_error(wsf_ws *ws, uint16_t code) {
  wsf_conn *c = conn_of_ws(ws);
  wsf_cause cause = code == 1009   ? WSF_CAUSE_MESSAGE_TOO_BIG
                    : code == 1007 ? WSF_CAUSE_INVALID_UTF8
                                   : WSF_CAUSE_PROTOCOL_ERROR;
  char detail[256], close_why[160];
  const char *why = wsf_ws_deflate_failure(ws);
  if (!why)
    why = wsf_ws_failure_detail(ws, close_why, sizeof close_why);
  snprintf(detail, sizeof detail, "%s%ssent close %u", why ? why : "", why ? "; " : "", code);
  bool in_session = conn_session_phase(c) != NULL;
  conn_finish(c, code, WSF_BY_CLIENT, false, cause, NULL, 0, detail);
  if (in_session)
    TELL_OBSERVERS(c->d, handshake_failed, c);
  linger_then_close(c);
}

const wsf_ws_callbacks conn_ws_callbacks = {
    .on_message = on_ws_message,
    .on_ping = on_ws_ping,
    .on_pong = on_ws_pong,
    .on_close_frame = on_ws_close_frame,
    .on_protocol_error = on_ws_protocol_error,
};

static void on_data(wsf_transport *t, const uint8_t *data, size_t len) {
  wsf_conn *c = conn_of_transport(t);
  if (c->state == WSF_CONN_CONNECTING && c->hs) {
    conn_handshake_data(c, data, len);
    return;
  }
  if (c->state == WSF_CONN_OPEN || c->state == WSF_CONN_CLOSING || conn_session_phase(c) ||
      (c->record && !c->ws.failed))
    wsf_ws_feed(&c->ws, data, len);
  conn_check_output(c);
}

static wsf_cause end_cause(wsf_end_cause e) {
  switch (e) {
  case WSF_END_EOF:
    return WSF_CAUSE_EOF;
  case WSF_END_RESET:
    return WSF_CAUSE_RESET;
  case WSF_END_TLS_ALERT:
    return WSF_CAUSE_TLS_ALERT;
  case WSF_END_TLS_CLOSE_NOTIFY:
    return WSF_CAUSE_TLS_CLOSE_NOTIFY;
  case WSF_END_TLS_ERROR:
    return WSF_CAUSE_TLS_ERROR;
  default:
    return WSF_CAUSE_IO_ERROR;
  }
}

static void on_end(wsf_transport *t, wsf_end_cause e, const char *detail) {
  wsf_conn *c = conn_of_transport(t);
  switch (c->state) {
  case WSF_CONN_CONNECTING:
    if (!c->hs && !conn_session_phase(c)) /* the session a reconnect replaces, ending during the backoff */
      break;
    if (c->hs && c->hs->resp_init && c->hs->resp.headers_complete &&
        wsf_hs_response_eof(&c->hs->resp) == WSF_HS_REJECTED) {
      conn_handshake_data(c, NULL, 0); /* reports the rejected answer */
      if (c->state != WSF_CONN_CONNECTING)
        break;
    }
    {
      char msg[200];
      const char *phase = c->hs ? c->hs->phase : conn_session_phase(c);
      snprintf(msg, sizeof msg, "connection ended during the %s phase (%s%s%s)", phase ? phase : "handshake",
               wsf_end_cause_name(e), detail ? ": " : "", detail ? detail : "");
      bool tls_failure = e == WSF_END_TLS_ALERT || e == WSF_END_TLS_ERROR;
      conn_fail_open(c, tls_failure ? WSF_E_TLS : WSF_E_HANDSHAKE,
                     tls_failure ? WSF_CAUSE_TLS_ERROR : WSF_CAUSE_HANDSHAKE_FAILED, msg, 0, NULL, 0);
    }
    break;
  case WSF_CONN_OPEN:
    conn_finish(c, 1006, WSF_BY_NONE, false, end_cause(e), NULL, 0, detail);
    break;
  case WSF_CONN_CLOSING: /* we sent a close frame; the server never answered it */
    conn_finish(c, 1006, WSF_BY_CLIENT, false, end_cause(e), NULL, 0, detail);
    break;
  case WSF_CONN_CLOSED:
    break;
  }
  conn_close_transport(c, false);
}

void conn_on_closed(wsf_transport *t) {
  wsf_conn *c = conn_of_transport(t);
  c->transport_live = 0;
  c->d->live_transports--;
  wsf_ws_free(&c->ws);
  if (c->free_when_closed) {
    conn_free(c);
    return;
  }
  /* A refused connect with more addresses to try. */
  if (c->state == WSF_CONN_CONNECTING && c->hs && c->hs->tried < c->hs->n_addrs)
    conn_try_connect(c);
  else if (c->redial)
    conn_redial_transport_closed(c); /* a reopen waits for the old transport to be gone */
}

const wsf_transport_callbacks conn_transport_callbacks = {
    .on_connect = conn_on_connect,
    .on_tls_done = conn_on_tls_done,
    .on_data = on_data,
    .on_end = on_end,
    .on_closed = conn_on_closed,
    .on_written = on_written,
};

/* ---- the API ----------------------------------------------------------------------------- */

void wsf_conns_init(wsf_daemon *d) {
  wsf_registry_init(&d->conns);
  wsf_timer_init(&d->admit_timer, conn_on_admit_timer);
  d->rate_refilled_us = wsf_now_us();
  d->rate_tokens = 1;
}

void wsf_conn_observe(wsf_daemon *d, const wsf_conn_observer *table, void *ctx) {
  if (d->n_conn_observers >= WSF_MAX_CONN_OBSERVERS) {
    wsf_log(WSF_LOG_ERROR, "more than %d connection observers", WSF_MAX_CONN_OBSERVERS);
    abort();
  }
  d->conn_observers[d->n_conn_observers].table = table;
  d->conn_observers[d->n_conn_observers].ctx = ctx;
  d->n_conn_observers++;
}

wsf_conn *wsf_conn_find(wsf_daemon *d, const char *name, size_t len) {
  return wsf_registry_get(&d->conns, name, len);
}

/* The write of one data message and its counting (after pacing, if any). The framing's
 * terminator is appended to records (conn_write_record), never to a heartbeat: its payload is
 * what the protocol wants on the wire (STOMP's bare EOL, SignalR's ping with its own 0x1E). */
int conn_write_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint8_t kind) {
  int rv = kind == WSF_DATA_HEARTBEAT ? wsf_ws_send(&c->ws, opcode, data, len)
                                      : conn_write_record(c, opcode, data, len);
  if (rv != 0)
    return -1;
  conn_check_output(c);
  uint64_t now = wsf_now_us();
  conn_note_sent(c, now);
  c->msgs_out++;
  c->bytes_out += len;
  c->d->stats.msgs_out++;
  c->d->stats.bytes_out += len;
  conn_account_deflate(c);
  if (kind == WSF_DATA_HEARTBEAT)
    conn_heartbeat_written(c, now);
  return 0;
}

wsf_err conn_send_message(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint8_t kind,
                          uint64_t *paced_us) {
  if (paced_us)
    *paced_us = 0;
  if (c->state != WSF_CONN_OPEN)
    return WSF_E_CONN_CLOSED;
  /* Messages held by the rate_limit count toward the cap like unsent bytes. */
  if (conn_output_pending(c) + conn_pace_held_bytes(c) > c->d->cfg.max_output_bytes)
    return WSF_E_LIMIT;
  if (c->pace)
    return conn_pace_send(c, opcode, data, len, kind, paced_us);
  return conn_write_message(c, opcode, data, len, kind) == 0 ? WSF_OK : WSF_E_CONN_CLOSED;
}

wsf_err wsf_conn_send_paced(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint64_t *paced_us) {
  return conn_send_message(c, opcode, data, len, WSF_DATA_SEND, paced_us);
}

wsf_err wsf_conn_send(wsf_conn *c, int opcode, const uint8_t *data, size_t len) {
  return conn_send_message(c, opcode, data, len, WSF_DATA_SEND, NULL);
}

void wsf_conn_recv(wsf_conn *c, wsf_wait *w, uint32_t timeout_ms) {
  w->kind = WSF_WAIT_RECV;
  w->started_us = wsf_now_us();
  w->conn = c;
  wsf_timer_init(&w->timer, conn_on_wait_timeout);
  wsf_msg *prev = NULL;
  for (wsf_msg *m = c->inbox.head; m;) {
    wsf_msg *next = m->next;
    size_t before = c->inbox.bytes;
    if (m->seq >= w->min_seq && wsf_match_test(&w->match, (const char *)m->data, m->len)) {
      wsf_inbox_remove(&c->inbox, prev, m);
      conn_inbox_changed(c, before);
      w->done(w, WSF_OK, m);
      return;
    }
    if (w->discard_unmatched && m->seq >= w->min_seq) {
      wsf_inbox_remove(&c->inbox, prev, m);
      conn_inbox_changed(c, before);
      free(m);
      w->discarded++;
    } else {
      prev = m;
    }
    m = next;
  }
  if (c->state == WSF_CONN_CLOSED) {
    w->done(w, WSF_E_CONN_CLOSED, NULL);
    return;
  }
  if (timeout_ms == 0) {
    w->done(w, WSF_E_TIMEOUT, NULL);
    return;
  }
  conn_wait_start(c, w, timeout_ms);
}

void wsf_conn_ping(wsf_conn *c, wsf_wait *w, const uint8_t *payload, size_t len, uint32_t timeout_ms) {
  w->kind = WSF_WAIT_PING;
  w->started_us = wsf_now_us();
  w->conn = c;
  wsf_timer_init(&w->timer, conn_on_wait_timeout);
  if (c->state != WSF_CONN_OPEN) {
    w->done(w, WSF_E_CONN_CLOSED, NULL);
    return;
  }
  if (len > sizeof w->ping_payload)
    len = sizeof w->ping_payload;
  if (payload && len) {
    memcpy(w->ping_payload, payload, len);
    w->ping_len = (uint8_t)len;
  } else {
    uint64_t unique = wsf_random_u64(); /* tells this pong from a late one */
    memcpy(w->ping_payload, &unique, 8);
    w->ping_len = 8;
  }
  if (wsf_ws_send(&c->ws, WSF_WS_PING, w->ping_payload, w->ping_len) != 0) {
    w->done(w, WSF_E_CONN_CLOSED, NULL);
    return;
  }
  c->last_ping_us = w->started_us;
  conn_note_sent(c, w->started_us);
  conn_wait_start(c, w, timeout_ms);
}

static void on_close_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  conn_finish(c, 1006, WSF_BY_CLIENT, false, WSF_CAUSE_TIMEOUT, NULL, 0,
              "no close frame from the server in time");
  conn_close_transport(c, false);
}

void wsf_conn_close(wsf_conn *c, wsf_wait *w, uint16_t code, const char *reason, size_t reason_len,
                    uint32_t timeout_ms) {
  w->kind = WSF_WAIT_CLOSE;
  w->started_us = wsf_now_us();
  w->conn = c;
  wsf_timer_init(&w->timer, conn_on_wait_timeout);
  switch (c->state) {
  case WSF_CONN_CLOSED:
    w->done(w, WSF_OK, NULL);
    return;
  case WSF_CONN_CONNECTING:
    conn_fail_open(c, WSF_E_CONN_CLOSED, WSF_CAUSE_LOCAL_CLOSE, "closed by the client during the handshake",
                   0, NULL, 0);
    w->done(w, WSF_OK, NULL);
    return;
  case WSF_CONN_OPEN:
    if (wsf_ws_close(&c->ws, code, reason, reason_len) != 0) {
      conn_finish(c, 1006, WSF_BY_CLIENT, false, WSF_CAUSE_IO_ERROR, NULL, 0, "cannot send the close frame");
      conn_close_transport(c, false);
      w->done(w, WSF_OK, NULL);
      return;
    }
    conn_note_sent(c, w->started_us);
    conn_set_state(c, WSF_CONN_CLOSING);
    wsf_timer_stop(&c->d->timers, &c->ka_timer);
    wsf_timer_stop(&c->d->timers, &c->pong_timer);
    conn_deadline_in(c, on_close_timeout, (uint64_t)timeout_ms * 1000);
    /* wait for the server's close frame */
    /* fall through */
  case WSF_CONN_CLOSING:
    conn_wait_link(c, w); /* no timer of its own: the connection's deadline ends it */
    return;
  }
}

/* Ends a live connection at once for reset/shutdown: close frame, FIN, and a
 * short linger for the server's answer. */
static void end_now(wsf_conn *c, uint16_t code, const char *reason, wsf_cause cause) {
  if (c->state == WSF_CONN_CONNECTING) {
    conn_fail_open(c, WSF_E_CONN_CLOSED, cause,
                   cause == WSF_CAUSE_SHUTDOWN ? "daemon shutting down" : "reset", 0, NULL, 0);
    return;
  }
  if (c->state == WSF_CONN_OPEN)
    wsf_ws_close(&c->ws, code, reason, strlen(reason));
  conn_finish(c, code, WSF_BY_CLIENT, false, cause, reason, strlen(reason), NULL);
  if (c->transport_live && !c->transport.closing) {
    wsf_transport_shutdown(&c->transport);
    linger_then_close(c);
  }
}

uint32_t wsf_conns_reset(wsf_daemon *d, uint16_t code, const char *reason, uint32_t *forgotten) {
  uint32_t live = 0, names = 0;
  wsf_registry *r = &d->conns;
  d->sweeping = true; /* conn_finish() must not forget records the loop below still walks */
  /* Collect first: conn_forget() edits the table we walk. */
  wsf_conn **all = wsf_xcalloc(r->count ? r->count : 1, sizeof *all);
  for (size_t i = 0; i < r->capacity; i++)
    if (r->slots[i])
      all[names++] = r->slots[i];
  for (uint32_t i = 0; i < names; i++) {
    wsf_conn *c = all[i];
    if (c->state != WSF_CONN_CLOSED) {
      live++;
      end_now(c, code, reason, WSF_CAUSE_DAEMON_RESET);
    }
    conn_forget(c);
  }
  free(all);
  d->sweeping = false;
  d->forgotten_len = d->forgotten_next = 0;
  /* Counters start again from zero (the histograms too). */
  memset(&d->stats, 0, sizeof d->stats);
  d->trimmed_us = 0;
  conn_give_back_memory(d);
  *forgotten = names;
  return live;
}

uint32_t wsf_conns_shutdown(wsf_daemon *d) {
  wsf_registry *r = &d->conns;
  d->sweeping = true; /* the walk below must not see the table change */
  for (size_t i = 0; i < r->capacity; i++) {
    wsf_conn *c = r->slots[i];
    if (c && c->state != WSF_CONN_CLOSED)
      end_now(c, 1001, "going away", WSF_CAUSE_SHUTDOWN);
  }
  return d->live_transports;
}
