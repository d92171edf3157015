/* Waits: the requests a connection completes later (open, recv, ping,
 * close), each completed exactly once, by its event or its timeout. */
#include "conn_internal.h"

#include <stdlib.h>

/* ---- waits --------------------------------------------------------------- */

/* The list keeps no tail pointer (8 bytes per connection): the head's prev is
 * the tail, every other prev is the one before, and the last next is NULL, so
 * walking from waits_head forward is unchanged. */
void conn_wait_link(wsf_conn *c, wsf_wait *w) {
  w->conn = c;
  w->linked = true;
  w->next = NULL;
  wsf_wait *head = c->waits_head;
  if (head) {
    w->prev = head->prev;
    head->prev->next = w;
    head->prev = w;
  } else {
    w->prev = w;
    c->waits_head = w;
  }
}

static void wait_unlink(wsf_conn *c, wsf_wait *w) {
  wsf_wait *head = c->waits_head;
  if (w == head) {
    c->waits_head = w->next;
    if (w->next)
      w->next->prev = w->prev; /* the tail */
  } else {
    w->prev->next = w->next;
    if (w->next)
      w->next->prev = w->prev;
    else
      head->prev = w->prev; /* w was the tail */
  }
  w->next = w->prev = NULL;
  w->linked = false;
}

void wsf_wait_cancel(wsf_wait *w) {
  if (!w->linked)
    return;
  wait_unlink(w->conn, w);
  wsf_timer_stop(&w->conn->d->timers, &w->timer);
}

void conn_wait_complete(wsf_wait *w, wsf_err err, wsf_msg *msg) {
  wsf_conn *c = w->conn;
  wait_unlink(c, w);
  wsf_timer_stop(&c->d->timers, &w->timer);
  w->done(w, err, msg);
}

void conn_on_wait_timeout(wsf_timer *t) {
  wsf_wait *w = wsf_container_of(t, wsf_wait, timer);
  conn_wait_complete(w, WSF_E_TIMEOUT, NULL);
}

void conn_wait_start(wsf_conn *c, wsf_wait *w, uint32_t timeout_ms) {
  conn_wait_link(c, w);
  wsf_timer_init(&w->timer, conn_on_wait_timeout);
  wsf_timer_start(&c->d->timers, &w->timer, (uint64_t)timeout_ms * 1000);
}

/* Completes every wait of the given kinds (all kinds when mask is 0). */
void conn_complete_waits(wsf_conn *c, unsigned kinds_mask, wsf_err err) {
  wsf_wait *w = c->waits_head;
  while (w) {
    wsf_wait *next = w->next;
    if (!kinds_mask || (kinds_mask & (1u << w->kind)))
      conn_wait_complete(w, err, NULL);
    w = next;
  }
}

bool conn_wait_accepts(const wsf_wait *w, const wsf_msg *m) {
  return w->kind == WSF_WAIT_RECV && m->seq >= w->min_seq &&
         wsf_match_test(&w->match, (const char *)m->data, m->len);
}
