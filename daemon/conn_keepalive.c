/* Keepalive: interned settings shared by connections, the heartbeat clock
 * (ping, text or binary, with jitter), its lateness histogram, and the pong
 * and reply timeouts that end a connection. */
#include "conn_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- keepalive interning ------------------------------------------------ */

static bool keepalive_equal(const wsf_keepalive *a, const wsf_keepalive *b) {
  return a->mode == b->mode && a->interval_ms == b->interval_ms && a->jitter_ms == b->jitter_ms &&
         a->pong_timeout_ms == b->pong_timeout_ms && a->reply_timeout_ms == b->reply_timeout_ms &&
         a->payload_len == b->payload_len &&
         (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0) &&
         a->reply_contains_len == b->reply_contains_len &&
         (a->reply_contains_len == 0 ||
          memcmp(a->reply_contains, b->reply_contains, a->reply_contains_len) == 0);
}

wsf_keepalive *wsf_keepalive_intern(wsf_daemon *d, const wsf_keepalive *tmpl) {
  for (wsf_keepalive *k = d->keepalives; k; k = k->next)
    if (keepalive_equal(k, tmpl)) {
      k->refs++;
      return k;
    }
  wsf_keepalive *k = wsf_xcalloc(1, sizeof *k);
  *k = *tmpl;
  k->refs = 1;
  k->payload =
      tmpl->payload_len ? (uint8_t *)wsf_xstrndup((const char *)tmpl->payload, tmpl->payload_len) : NULL;
  k->reply_contains =
      tmpl->reply_contains_len ? wsf_xstrndup(tmpl->reply_contains, tmpl->reply_contains_len) : NULL;
  k->next = d->keepalives;
  d->keepalives = k;
  return k;
}

void wsf_keepalive_release(wsf_daemon *d, wsf_keepalive *ka) {
  if (!ka || --ka->refs > 0)
    return;
  for (wsf_keepalive **p = &d->keepalives; *p; p = &(*p)->next)
    if (*p == ka) {
      *p = ka->next;
      break;
    }
  free(ka->payload);
  free(ka->reply_contains);
  free(ka);
}

/* ---- keepalive --------------------------------------------------------------- */

/* How early a beat may ride along with another one's wake-up. Each wake-up of
 * an idle loop costs ~20 µs of CPU on the 2-core test VM (finish_task_switch
 * after epoll_wait; a bare epoll client measured 17.8 µs per heartbeat with
 * 5 ms batches and 8.8 µs with 50 ms). At 19,000 connections, 25 s beats:
 * 5 ms -> 23.2-24.9 µs CPU per heartbeat, 20 ms -> 21.5, 50 ms -> 16.6 (1.26 %
 * of a core), with idle-window lateness p99 1.9-3.9 ms -> 0.4 ms (RESULTS.md,
 * issue 19). 50 ms is also the loop-lag sampler's period: the loop wakes that
 * often anyway, and a batch (~38 beats at 19,000) holds it ~0.6 ms. */
#define KA_EARLY_MAX_US 50000

static uint64_t ka_interval_us(const wsf_keepalive *ka) {
  uint64_t interval = (uint64_t)ka->interval_ms * 1000, jitter = (uint64_t)ka->jitter_ms * 1000;
  if (jitter > interval)
    jitter = interval;
  return interval - jitter + wsf_random_below(2 * jitter + 1);
}

/* The pong timer serves both heartbeat kinds: a ping's pong, or (text and
 * binary with reply_contains) the application's reply, so a server that
 * stopped answering is seen without protocol pings. */
void conn_on_pong_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, pong_timer);
  char detail[160];
  if (c->ka->mode == WSF_KA_PING) {
    snprintf(detail, sizeof detail, "no pong within %u ms", c->ka->pong_timeout_ms);
    conn_finish(c, 1006, WSF_BY_NONE, false, WSF_CAUSE_PONG_TIMEOUT, NULL, 0, detail);
  } else {
    snprintf(detail, sizeof detail, "no heartbeat reply containing \"%.*s\" within %u ms",
             (int)(c->ka->reply_contains_len > 64 ? 64 : c->ka->reply_contains_len), c->ka->reply_contains,
             c->ka->reply_timeout_ms);
    conn_finish(c, 1006, WSF_BY_NONE, false, WSF_CAUSE_REPLY_TIMEOUT, NULL, 0, detail);
  }
  conn_close_transport(c, false);
}

void conn_on_heartbeat(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, ka_timer);
  wsf_daemon *d = c->d;
  const wsf_keepalive *ka = c->ka;
  uint64_t now = wsf_now_us();
  uint64_t late = now > t->due_us ? now - t->due_us : 0;
  wsf_hist_add(&d->stats.heartbeat_late, late);
  if (late > c->ka_late_max_us)
    c->ka_late_max_us = late;
  uint64_t due = t->due_us;
  if (c->state != WSF_CONN_OPEN)
    return;
  /* Skipped: a beat behind 64 KiB of unread output, or behind one the rate_limit still holds
   * (a second held beat keeps nothing alive that the first does not). */
  if (conn_output_pending(c) > OUTPUT_HIGH_WATER || conn_pace_holds_heartbeat(c)) {
    c->ka_skipped++;
    d->stats.heartbeats_skipped++;
  } else if (ka->mode == WSF_KA_PING) {
    const uint8_t *payload = ka->payload;
    size_t len = ka->payload_len;
    if (!len) { /* unique payloads let a late pong be told apart */
      uint64_t unique = wsf_random_u64();
      memcpy(c->ka_payload, &unique, sizeof c->ka_payload);
      payload = c->ka_payload;
      len = sizeof c->ka_payload;
    }
    int rv = wsf_ws_send(&c->ws, WSF_WS_PING, payload, len);
    c->last_ping_us = now;
    if (rv == 0 && ka->pong_timeout_ms && !c->ka_ping_outstanding) {
      c->ka_ping_outstanding = 1;
      c->ka_ping_sent_us = now;
      wsf_timer_start(&d->timers, &c->pong_timer, (uint64_t)ka->pong_timeout_ms * 1000);
    }
    if (rv == 0) {
      conn_note_sent(c, now);
      c->ka_sent++;
      d->stats.heartbeats_sent++;
      conn_account_deflate(c);
      conn_check_output(c);
    }
  } else {
    /* A data message like any other: through the rate_limit (conn_pace.c), and counted by
     * conn_heartbeat_written when it is written. */
    conn_send_message(c, ka->mode == WSF_KA_TEXT ? WSF_WS_TEXT : WSF_WS_BINARY, ka->payload, ka->payload_len,
                      WSF_DATA_HEARTBEAT, NULL);
  }
  if (c->state != WSF_CONN_OPEN) /* the send found the connection gone */
    return;
  /* Next beat counts from the due time, not from now, so lateness doesn't accumulate. */
  uint64_t next = due + ka_interval_us(ka);
  wsf_timer_start_at(&d->timers, t, next > now ? next : now);
}

/* A text or binary heartbeat reached the wire (now, or when the rate_limit let
 * it go): counted, and its reply deadline runs from here. */
void conn_heartbeat_written(wsf_conn *c, uint64_t now) {
  wsf_daemon *d = c->d;
  const wsf_keepalive *ka = c->ka;
  if (ka->reply_contains_len && ka->reply_timeout_ms && !c->ka_ping_outstanding) {
    c->ka_ping_outstanding = 1; /* a reply is awaited */
    c->ka_ping_sent_us = now;
    wsf_timer_start(&d->timers, &c->pong_timer, (uint64_t)ka->reply_timeout_ms * 1000);
  }
  c->ka_sent++;
  d->stats.heartbeats_sent++;
}

void conn_start_keepalive(wsf_conn *c) {
  if (!c->ka || c->ka->mode == WSF_KA_NONE || c->ka->interval_ms == 0)
    return;
  /* A beat may leave up to 1 % of its interval (at most KA_EARLY_MAX_US) early
   * when a wake-up is due anyway: far inside any jitter, and it batches the
   * beats (and their pongs) of many connections. Early is not late: lateness
   * stays 0. */
  uint64_t early = (uint64_t)c->ka->interval_ms * 10;
  /* The timer is the deadline's too (conn.h); conn_open_complete stopped the deadline. */
  wsf_timer_stop(&c->d->timers, &c->ka_timer);
  wsf_timer_init(&c->ka_timer, conn_on_heartbeat);
  c->ka_timer.early_us = (uint32_t)(early < KA_EARLY_MAX_US ? early : KA_EARLY_MAX_US);
  /* The first beat falls anywhere in the first interval: a burst of opens
   * does not become a burst of heartbeats. */
  wsf_timer_start(&c->d->timers, &c->ka_timer, wsf_random_below((uint64_t)c->ka->interval_ms * 1000 + 1));
}

/* ---- WebSocket events ---------------------------------------------------------- */

bool conn_is_heartbeat_reply(const wsf_conn *c, int opcode, const uint8_t *data, size_t len) {
  const wsf_keepalive *ka = c->ka;
  if (!ka || !ka->reply_contains_len || (ka->mode != WSF_KA_TEXT && ka->mode != WSF_KA_BINARY))
    return false;
  (void)opcode;
  return memmem(data, len, ka->reply_contains, ka->reply_contains_len) != NULL;
}
