/* Close records: how a connection ended (code, initiator, cause, timings
 * since the last traffic, counters, summary in words), counted in stats and
 * told to the observers once; and the bound on what ended connections keep
 * (--max-records, --max-closed-inbox-bytes). */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- close records ------------------------------------------------------- */

static char *make_summary(const wsf_close_record *r) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "%u %s", r->code, wsf_cause_words(r->cause));
  if (r->detail && *r->detail && n < (int)sizeof buf)
    n += snprintf(buf + n, sizeof buf - n, ": %s", r->detail);
  if (r->reason && *r->reason && n < (int)sizeof buf)
    n += snprintf(buf + n, sizeof buf - n, " \"%s\"", r->reason);
  if (n < (int)sizeof buf) {
    if (r->since_sent_us != WSF_NEVER)
      n += snprintf(buf + n, sizeof buf - n, " %.1f s after the last client frame", r->since_sent_us / 1e6);
    else
      n += snprintf(buf + n, sizeof buf - n, " %.1f s after open, no client frame sent", r->age_us / 1e6);
  }
  if (n < (int)sizeof buf)
    snprintf(buf + n, sizeof buf - n, ", %u open", r->open_conns);
  return wsf_xstrndup(buf, strlen(buf));
}

static void count_close(wsf_daemon *d, const wsf_close_record *r, bool was_open) {
  if (was_open)
    d->stats.closed_total++;
  else
    d->stats.failed_total++;
  wsf_stats *s = &d->stats;
  uint16_t idx = r->code < WSF_ARRAY_LEN(s->closes_by_code) ? r->code : 0;
  if (s->closes_by_code[idx]++ == 0) { /* a code not seen before: keep the list sorted */
    uint16_t i = s->n_codes_seen++;
    for (; i > 0 && s->codes_seen[i - 1] > idx; i--)
      s->codes_seen[i] = s->codes_seen[i - 1];
    s->codes_seen[i] = idx;
  }
  d->stats.closes_by_cause[r->cause]++;
}

/* ---- ended connections: records and inboxes bounded ----------------------
 * An ended connection keeps its close record and unread messages until its
 * name is reopened or reset; a plan that uses a new name per iteration grew
 * the daemon by 131 MB per 100k names that way. Now the oldest records go
 * beyond --max-records (their names remembered as forgotten, by hash, in a
 * ring, so status can say so), and beyond --max-closed-inbox-bytes of unread
 * messages among all ended connections the oldest ones' messages go (counted
 * as inbox drops): recv after close finds the newest endings' messages. */
#define FORGOTTEN_RING (1u << 16)

static uint64_t name_hash(const char *name, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
  return h;
}

char *wsf_conn_url_mismatch_message(const wsf_conn *live, const char *requested_url, size_t len) {
  static const char fmt[] =
      "connection '%s' is open to %s, not to %.*s (reuse: \"any\" would return it anyway)";
  size_t n = sizeof fmt + strlen(live->name) + strlen(live->url) + len;
  char *msg = wsf_xmalloc(n);
  snprintf(msg, n, fmt, live->name, live->url, (int)len, requested_url);
  return msg;
}

bool wsf_conn_forgotten(const wsf_daemon *d, const char *name, size_t len) {
  uint64_t h = name_hash(name, len);
  for (uint32_t i = 0; i < d->forgotten_len; i++)
    if (d->forgotten[i] == h)
      return true;
  return false;
}

static void closed_link(wsf_conn *c) {
  wsf_daemon *d = c->d;
  c->record->closed_next = NULL;
  c->record->closed_prev = d->closed_tail;
  if (d->closed_tail)
    d->closed_tail->record->closed_next = c;
  else
    d->closed_head = c;
  d->closed_tail = c;
  if (!d->closed_inbox_cursor)
    d->closed_inbox_cursor = c;
  d->closed_inbox_bytes += c->inbox.bytes;
}

void conn_closed_unlink(wsf_conn *c) {
  wsf_daemon *d = c->d;
  wsf_close_record *r = c->record;
  if (d->closed_inbox_cursor == c)
    d->closed_inbox_cursor = r->closed_next;
  if (r->closed_prev)
    r->closed_prev->record->closed_next = r->closed_next;
  else
    d->closed_head = r->closed_next;
  if (r->closed_next)
    r->closed_next->record->closed_prev = r->closed_prev;
  else
    d->closed_tail = r->closed_prev;
  r->closed_prev = r->closed_next = NULL;
  d->closed_inbox_bytes -= c->inbox.bytes;
}

/* After the inbox of c changed from `before` bytes. */
void conn_inbox_changed(wsf_conn *c, size_t before) {
  if (c->state == WSF_CONN_CLOSED)
    c->d->closed_inbox_bytes += c->inbox.bytes - before;
}

static void bound_ended(wsf_daemon *d) {
  if (d->sweeping)
    return;
  while (d->closed_inbox_bytes > d->cfg.max_closed_inbox_bytes && d->closed_inbox_cursor) {
    wsf_conn *c = d->closed_inbox_cursor;
    d->closed_inbox_cursor = c->record->closed_next;
    if (!c->inbox.count)
      continue;
    d->closed_inbox_bytes -= c->inbox.bytes;
    c->inbox.dropped += c->inbox.count;
    d->stats.inbox_dropped += c->inbox.count;
    wsf_inbox_clear(&c->inbox);
  }
  uint32_t keep = d->cfg.max_records ? d->cfg.max_records : 1;
  while (d->n_closed > keep && d->closed_head) {
    wsf_conn *c = d->closed_head;
    if (!d->forgotten)
      d->forgotten = wsf_xcalloc(FORGOTTEN_RING, sizeof *d->forgotten);
    d->forgotten[d->forgotten_next] = name_hash(c->name, strlen(c->name));
    d->forgotten_next = (d->forgotten_next + 1) % FORGOTTEN_RING;
    if (d->forgotten_len < FORGOTTEN_RING)
      d->forgotten_len++;
    d->stats.records_forgotten++;
    conn_forget(c);
  }
}

/* Records how the connection ended and moves it to closed. The transport is
 * torn down separately (conn_close_transport), possibly after a linger. */
void conn_finish(wsf_conn *c, uint16_t code, int initiator, bool clean, wsf_cause cause, const char *reason,
                 size_t reason_len, const char *detail) {
  if (c->record)
    return;
  conn_session_ended(c);
  wsf_daemon *d = c->d;
  uint64_t now = wsf_now_us();
  bool was_open = c->counted_open;
  bool reconnect = conn_redial_wanted(c, cause);
  char *gave_up = reconnect ? NULL : conn_redial_gave_up_detail(c, detail); /* NULL unless it just gave up */
  wsf_close_record *r = wsf_xcalloc(1, sizeof *r);
  r->code = code;
  r->initiator = (uint8_t)initiator;
  r->clean = clean;
  r->cause = cause;
  r->reason = wsf_xstrndup(reason ? reason : "", reason ? reason_len : 0);
  r->detail = gave_up ? gave_up : detail ? wsf_xstrndup(detail, strlen(detail)) : NULL;
  r->closed_at_ms = wsf_wall_ms();
  r->age_us = now - (was_open ? c->opened_us : c->started_us);
  r->since_sent_us = since(now, c->last_sent_us);
  r->since_recv_us = since(now, c->last_recv_us);
  r->since_ping_us = since(now, c->last_ping_us);
  r->since_pong_us = since(now, c->last_pong_us);
  r->open_conns = d->n_open + d->n_closing;
  r->msgs_in = c->msgs_in;
  r->msgs_out = c->msgs_out;
  r->bytes_in = c->bytes_in;
  r->bytes_out = c->bytes_out;
  r->source = wsf_conn_source_text(c);
  char peer[64];
  const char *address = wsf_conn_peer_text(c, peer);
  r->address = address ? wsf_xstrndup(address, strlen(address)) : NULL;
  r->summary = make_summary(r);
  c->record = r;
  conn_stop_timers(c);
  conn_pace_drop_held(c);
  count_close(d, r, was_open);
  if (reconnect) { /* an ending like any other, then the backoff (conn_reconnect.c) */
    conn_redial_schedule(c);
    if (was_open)
      TELL_OBSERVERS(d, closed, c);
    return;
  }
  conn_set_state(c, WSF_CONN_CLOSED);
  if (was_open)
    TELL_OBSERVERS(d, closed, c);
  conn_settle_closed(c);
}

/* A connection that just became closed (its record set): kept in the list of
 * ended ones, its waits answered, the bound applied. */
void conn_settle_closed(wsf_conn *c) {
  closed_link(c);
  /* Close waits succeed (their answer is the record); everything else learns the end. */
  conn_complete_waits(c, 1u << WSF_WAIT_CLOSE, WSF_OK);
  conn_complete_waits(c, 0, WSF_E_CONN_CLOSED);
  bound_ended(c->d);
}

void conn_free_record(wsf_close_record *r) {
  if (!r)
    return;
  free(r->reason);
  free(r->detail);
  free(r->summary);
  free(r->address);
  free(r);
}
