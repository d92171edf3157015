/* Send pacing (open's `rate_limit`, PROTOCOL.md §5): at most `messages` data
 * messages (sends, text/binary heartbeats, auto-replies) written in any
 * `per_ms`; the excess is held in order and written as the window slides.
 *
 * The window slides (the write times of the last `messages` messages are
 * kept in a ring) rather than being fixed on our clock: a server counts in
 * its own windows, which start wherever its clock says (the mock gateway's
 * starts at the first message after the last one ended), and two fixed
 * windows of ours can put 2 × messages into one of the server's. A sliding
 * window puts at most `messages` into every interval of per_ms, whatever
 * the server's alignment. Each slot also waits a margin (margin_ms; by
 * default a tenth of per_ms, at most 100 ms): the server counts arrival
 * times, and a message delayed on the way (the server's own scheduling, a
 * busy loop here, a path's jitter) while a later one is not puts one more
 * into the server's window. A margin of per_ms / 50 (20 ms at most) let a
 * mock gateway on a machine at load 5 count 585 over its limit among
 * 30,000 paced messages (tests/slow/test_reconnect_fleet.py). */
#include "conn_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct held_msg {
  struct held_msg *next;
  uint64_t queued_us;
  size_t len;
  uint8_t opcode, kind;
  uint8_t data[];
} held_msg;

typedef struct wsf_pace {
  wsf_conn *conn;
  wsf_rate_limit limit;
  uint64_t window_us; /* per_ms plus the margin */
  uint64_t *written;  /* ring of the last `messages` write times */
  uint32_t next, filled;
  held_msg *head, *tail;
  uint32_t held, held_heartbeats;
  size_t held_bytes;
  wsf_timer timer;
  uint64_t delayed, max_delay_us, dropped;
} wsf_pace;

static void on_slot(wsf_timer *t);

void conn_pace_init(wsf_conn *c, const wsf_rate_limit *limit) {
  wsf_pace *p = wsf_xcalloc(1, sizeof *p);
  p->conn = c;
  p->limit = *limit;
  uint64_t per_us = (uint64_t)limit->per_ms * 1000;
  uint64_t margin_us = limit->margin_ms != WSF_RATE_MARGIN_DEFAULT ? (uint64_t)limit->margin_ms * 1000
                       : per_us / 10 < 100000                      ? per_us / 10
                                                                   : 100000;
  p->window_us = per_us + margin_us;
  p->written = wsf_xcalloc(limit->messages, sizeof *p->written);
  wsf_timer_init(&p->timer, on_slot);
  c->pace = p;
}

/* When the next message may be written: now when fewer than `messages` were
 * written in the last window, else when the oldest of them leaves it. */
static uint64_t next_slot(const wsf_pace *p, uint64_t now) {
  if (p->filled < p->limit.messages)
    return now;
  uint64_t at = p->written[p->next] + p->window_us; /* next = the oldest once the ring is full */
  return at > now ? at : now;
}

static void note_written(wsf_pace *p, uint64_t now) {
  p->written[p->next] = now;
  p->next = (p->next + 1) % p->limit.messages;
  if (p->filled < p->limit.messages)
    p->filled++;
}

static void free_held(wsf_pace *p) {
  while (p->head) {
    held_msg *m = p->head;
    p->head = m->next;
    free(m);
  }
  p->tail = NULL;
  p->held = p->held_heartbeats = 0;
  p->held_bytes = 0;
}

/* The session ended: what it held back goes with it (counted as dropped),
 * so the next session of a reconnect starts with no stale message ahead of
 * its own setup. */
void conn_pace_drop_held(wsf_conn *c) {
  wsf_pace *p = c->pace;
  if (!p)
    return;
  wsf_timer_stop(&c->d->timers, &p->timer);
  p->dropped += p->held;
  free_held(p);
}

void conn_pace_free(wsf_conn *c) {
  wsf_pace *p = c->pace;
  if (!p)
    return;
  wsf_timer_stop(&c->d->timers, &p->timer);
  free_held(p);
  free(p->written);
  free(p);
  c->pace = NULL;
}

size_t conn_pace_held_bytes(const wsf_conn *c) {
  return c->pace ? c->pace->held_bytes : 0;
}

bool conn_pace_holds_heartbeat(const wsf_conn *c) {
  return c->pace && c->pace->held_heartbeats > 0;
}

/* Writes held messages while the window has room; re-arms for the next slot. */
static void on_slot(wsf_timer *t) {
  wsf_pace *p = wsf_container_of(t, wsf_pace, timer);
  wsf_conn *c = p->conn;
  uint64_t now = wsf_now_us();
  while (p->head && c->state == WSF_CONN_OPEN && next_slot(p, now) <= now) {
    held_msg *m = p->head;
    p->head = m->next;
    if (!p->head)
      p->tail = NULL;
    p->held--;
    p->held_heartbeats -= m->kind == WSF_DATA_HEARTBEAT;
    p->held_bytes -= m->len;
    uint64_t delay = now - m->queued_us;
    if (delay > p->max_delay_us)
      p->max_delay_us = delay;
    note_written(p, now);
    int rv = conn_write_message(c, m->opcode, m->data, m->len, m->kind);
    free(m);
    if (rv != 0)
      break;
  }
  if (c->state != WSF_CONN_OPEN) {
    conn_pace_drop_held(c);
    return;
  }
  if (p->head)
    wsf_timer_start_at(&c->d->timers, &p->timer, next_slot(p, now));
}

/* The expected wait of the message that would be held at position k (0 = the
 * head) if every slot is taken when it opens: the ring's j-th oldest time
 * plus one window per full turn of the ring. */
static uint64_t expected_at(const wsf_pace *p, uint32_t k) {
  uint32_t n = p->limit.messages;
  uint64_t base = p->written[(p->next + k % n) % n];
  return base + p->window_us * (1 + k / n);
}

wsf_err conn_pace_send(wsf_conn *c, int opcode, const uint8_t *data, size_t len, uint8_t kind,
                       uint64_t *paced_us) {
  wsf_pace *p = c->pace;
  uint64_t now = wsf_now_us();
  if (!p->head && next_slot(p, now) <= now) {
    note_written(p, now);
    return conn_write_message(c, opcode, data, len, kind) == 0 ? WSF_OK : WSF_E_CONN_CLOSED;
  }
  held_msg *m = wsf_xmalloc(sizeof *m + len);
  m->next = NULL;
  m->queued_us = now;
  m->len = len;
  m->opcode = (uint8_t)opcode;
  m->kind = kind;
  if (len)
    memcpy(m->data, data, len);
  if (p->tail)
    p->tail->next = m;
  else
    p->head = m;
  p->tail = m;
  if (paced_us) {
    uint64_t at = expected_at(p, p->held);
    *paced_us = at > now ? at - now : 0;
  }
  p->held++;
  p->held_heartbeats += kind == WSF_DATA_HEARTBEAT;
  p->held_bytes += len;
  p->delayed++;
  c->d->stats.paced++;
  if (!wsf_timer_active(&p->timer))
    wsf_timer_start_at(&c->d->timers, &p->timer, next_slot(p, now));
  return WSF_OK;
}

bool wsf_conn_pace_info(const wsf_conn *c, wsf_pace_info *out) {
  const wsf_pace *p = c->pace;
  if (!p)
    return false;
  out->limit = p->limit;
  out->limit.margin_ms =
      (uint32_t)((p->window_us - (uint64_t)p->limit.per_ms * 1000) / 1000); /* as applied */
  out->delayed = p->delayed;
  out->max_delay_us = p->max_delay_us;
  out->held = p->held;
  out->held_bytes = p->held_bytes;
  out->dropped = p->dropped;
  return true;
}
