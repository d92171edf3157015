/* The reconnect policy (open's `reconnect`, PROTOCOL.md §5): a connection
 * that drops is reopened under its name after a backoff, through the same
 * open path as its first dial (conn_build_handshake, admission, connect,
 * TLS, upgrade, and whatever runs after the 101), with its inbox, waiting
 * recvs, keepalive and rate_limit kept. Only connections that asked for it
 * carry a wsf_redial: an owned copy of the dial inputs, the backoff timer,
 * and the counters status and the event log show.
 *
 * Phases: IDLE (open, or never opened) → BACKOFF (an ending was recorded; the
 * timer runs, the old transport may still be closing) → DIALING (a fresh
 * handshake is in flight) → IDLE on success, or BACKOFF again on failure
 * until `max` attempts are spent (then the connection stays closed with its
 * last record: gave_up). The state is `connecting` from the ending to the
 * reopen. */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REDIAL_IDLE, REDIAL_BACKOFF, REDIAL_DIALING };

typedef struct wsf_redial {
  wsf_conn *conn; /* the connection holding it */
  wsf_reconnect_policy policy;
  /* the dial inputs, owned: every pointer of p points into strs or the arrays below */
  wsf_open_params p;
  char *strs[9]; /* name, url, source, proxy and the five TLS settings (NULL when not given) */
  uint8_t n_strs;
  const char **header_names, **header_values, **subprotocols;
  size_t *header_name_lens, *header_value_lens, *subprotocol_lens;
  uint8_t phase;
  bool gave_up;
  bool gave_up_now;     /* set by the ending just decided: its record says so */
  bool dial_due;        /* the backoff ended while the old transport was still closing */
  bool ending_was_open; /* c->record is the ending of an open session (not a failed attempt) */
  wsf_timer backoff;
  uint32_t count, attempts;      /* successful reopens; dials started after endings */
  uint32_t failed_in_row;        /* attempts failed since the last success: the backoff doubles per one */
  uint32_t attempt_failed;       /* the attempt whose handshake just failed (handshake_failed events) */
  uint64_t last_at_ms;           /* wall clock of the last successful reopen */
  wsf_close_record *ending;      /* the ending being reconnected from (while BACKOFF/DIALING) */
  wsf_close_record *last_record; /* the ending the last successful reopen replaced */
} wsf_redial;

/* ---- the owned dial inputs --------------------------------------------------------- */

/* A copy of s (len bytes, or up to its NUL when len is SIZE_MAX) that r owns; NULL stays NULL. */
static const char *own(wsf_redial *r, const char *s, size_t len) {
  char *copy = s ? wsf_xstrndup(s, len == SIZE_MAX ? strlen(s) : len) : NULL;
  r->strs[r->n_strs++] = copy;
  return copy;
}

static void copy_strings(const char *const *src, const size_t *lens, size_t n, const char ***out,
                         size_t **out_lens) {
  *out = wsf_xcalloc(n ? n : 1, sizeof **out);
  *out_lens = wsf_xcalloc(n ? n : 1, sizeof **out_lens);
  for (size_t i = 0; i < n; i++) {
    (*out)[i] = wsf_xstrndup(src[i], lens[i]);
    (*out_lens)[i] = lens[i];
  }
}

static void free_strings(const char **s, size_t n) {
  for (size_t i = 0; s && i < n; i++)
    free((char *)s[i]);
  free(s);
}

static void start_attempt(wsf_conn *c);

/* The backoff is over: dial now, or once the old transport has closed (a
 * lingering one is cut: the session it carried has ended). */
static void on_backoff_over(wsf_timer *t) {
  wsf_redial *r = wsf_container_of(t, wsf_redial, backoff);
  wsf_conn *c = r->conn;
  if (c->transport_live) {
    r->dial_due = true;
    conn_close_transport(c, true);
    return;
  }
  start_attempt(c);
}

void conn_redial_init(wsf_conn *c, const wsf_open_params *p) {
  wsf_redial *r = wsf_xcalloc(1, sizeof *r);
  r->policy = p->reconnect;
  /* Field by field, not *p: a field added to wsf_open_params later is zero here
   * (and must be copied here if the dial reads it), never a pointer into the
   * request that opened the connection, which is gone by the first reopen. */
  r->p.name_len = p->name_len;
  r->p.url_len = p->url_len;
  r->p.n_headers = p->n_headers;
  r->p.n_subprotocols = p->n_subprotocols;
  r->p.connect_timeout_ms = p->connect_timeout_ms;
  r->p.tls_verify = p->tls_verify;
  r->p.deflate = p->deflate;
  r->p.source_len = p->source_len;
  r->p.reconnect = p->reconnect;
  r->p.rate_limit = p->rate_limit;
  r->p.name = own(r, p->name, p->name_len);
  r->p.url = own(r, p->url, p->url_len);
  r->p.source = own(r, p->source, p->source_len);
  r->p.proxy = own(r, p->proxy, SIZE_MAX);
  r->p.tls_ca_file = own(r, p->tls_ca_file, SIZE_MAX);
  r->p.tls_server_name = own(r, p->tls_server_name, SIZE_MAX);
  r->p.tls_cert_file = own(r, p->tls_cert_file, SIZE_MAX);
  r->p.tls_key_file = own(r, p->tls_key_file, SIZE_MAX);
  r->p.tls_ciphers = own(r, p->tls_ciphers, SIZE_MAX);
  copy_strings(p->header_names, p->header_name_lens, p->n_headers, &r->header_names, &r->header_name_lens);
  copy_strings(p->header_values, p->header_value_lens, p->n_headers, &r->header_values,
               &r->header_value_lens);
  copy_strings(p->subprotocols, p->subprotocol_lens, p->n_subprotocols, &r->subprotocols,
               &r->subprotocol_lens);
  r->p.header_names = r->header_names;
  r->p.header_name_lens = r->header_name_lens;
  r->p.header_values = r->header_values;
  r->p.header_value_lens = r->header_value_lens;
  r->p.subprotocols = r->subprotocols;
  r->p.subprotocol_lens = r->subprotocol_lens;
  /* keepalive, inbox and max_message_bytes are the connection's own (c->ka, c->inbox), kept across reopens */
  wsf_timer_init(&r->backoff, on_backoff_over);
  r->conn = c;
  c->redial = r;
}

void conn_redial_free(wsf_conn *c) {
  wsf_redial *r = c->redial;
  if (!r)
    return;
  wsf_timer_stop(&c->d->timers, &r->backoff);
  for (uint8_t i = 0; i < r->n_strs; i++)
    free(r->strs[i]);
  free_strings(r->header_names, r->p.n_headers);
  free_strings(r->header_values, r->p.n_headers);
  free_strings(r->subprotocols, r->p.n_subprotocols);
  free(r->header_name_lens);
  free(r->header_value_lens);
  free(r->subprotocol_lens);
  conn_free_record(r->ending);
  conn_free_record(r->last_record);
  free(r);
  c->redial = NULL;
}

void conn_redial_stop(wsf_conn *c) {
  if (c->redial)
    wsf_timer_stop(&c->d->timers, &c->redial->backoff);
}

/* ---- the decision and the backoff ----------------------------------------------------- */

/* Called by conn_finish with the ending's cause, before the state changes:
 * does a reopen follow? Never after the plan's own close (a close from the
 * `closing` state included: its timeout or EOF is still the plan's close),
 * reset, shutdown, or a first open that failed. */
bool conn_redial_wanted(wsf_conn *c, wsf_cause cause) {
  wsf_redial *r = c->redial;
  if (!r)
    return false;
  bool attempt = r->phase == REDIAL_DIALING;
  r->attempt_failed = attempt ? r->attempts : 0;
  r->gave_up_now = false;
  if (cause == WSF_CAUSE_LOCAL_CLOSE || cause == WSF_CAUSE_DAEMON_RESET || cause == WSF_CAUSE_SHUTDOWN ||
      c->state == WSF_CONN_CLOSING || c->d->shutting_down || (!c->counted_open && !attempt)) {
    r->phase = REDIAL_IDLE; /* an attempt stopped by the plan, reset or shutdown did not fail */
    return false;
  }
  if (attempt) {
    r->failed_in_row++;
    c->d->stats.reconnect_failures_total++;
  }
  if (r->attempts >= r->policy.max) {
    r->phase = REDIAL_IDLE;
    r->gave_up = r->gave_up_now = true;
    return false;
  }
  return true;
}

/* The detail of the ending that spent the policy's last attempt: the limit named in the record. */
char *conn_redial_gave_up_detail(const wsf_conn *c, const char *detail) {
  const wsf_redial *r = c->redial;
  if (!r || !r->gave_up_now)
    return NULL;
  char buf[512];
  snprintf(buf, sizeof buf, "%s%sreconnect gave up: %u of max %u attempts spent (%u reopened)",
           detail ? detail : "", detail && *detail ? "; " : "", r->attempts, r->policy.max, r->count);
  return wsf_xstrndup(buf, strlen(buf));
}

/* backoff_ms doubled per attempt failed in a row, at most backoff_max_ms, plus
 * a uniform draw in [0, jitter_ms] so a fleet dropped at once does not come
 * back at once. */
static uint64_t backoff_us(const wsf_redial *r) {
  uint64_t ms = r->policy.backoff_ms;
  for (uint32_t i = 0; i < r->failed_in_row && ms < r->policy.backoff_max_ms; i++)
    ms *= 2;
  if (ms > r->policy.backoff_max_ms)
    ms = r->policy.backoff_max_ms;
  return ms * 1000 + wsf_random_below((uint64_t)r->policy.jitter_ms * 1000 + 1);
}

void conn_redial_schedule(wsf_conn *c) {
  wsf_redial *r = c->redial;
  r->phase = REDIAL_BACKOFF;
  r->dial_due = false;
  r->ending_was_open = c->counted_open;
  if (c->state != WSF_CONN_CONNECTING)
    conn_set_state(c, WSF_CONN_CONNECTING);
  /* A ping cannot be answered by the next session; recvs wait on (a message may come after the reopen). */
  conn_complete_waits(c, 1u << WSF_WAIT_PING, WSF_E_CONN_CLOSED);
  wsf_timer_start(&c->d->timers, &r->backoff, backoff_us(r));
}

bool conn_redial_backoff(const wsf_conn *c) {
  return c->redial && c->redial->phase == REDIAL_BACKOFF;
}

/* close, reset or shutdown during the backoff: the connection stays closed
 * with the record of its last ending. */
bool conn_redial_cancel(wsf_conn *c) {
  wsf_redial *r = c->redial;
  if (!r || r->phase != REDIAL_BACKOFF)
    return false;
  wsf_timer_stop(&c->d->timers, &r->backoff);
  r->phase = REDIAL_IDLE;
  r->dial_due = false;
  conn_set_state(c, WSF_CONN_CLOSED);
  conn_settle_closed(c);
  return true;
}

void conn_redial_transport_closed(wsf_conn *c) {
  wsf_redial *r = c->redial;
  if (r->phase == REDIAL_BACKOFF && r->dial_due)
    start_attempt(c);
}

/* ---- the reopen ---------------------------------------------------------------------- */

/* What a session leaves on the connection that the next one sets again. */
static void forget_session(wsf_conn *c) {
  wsf_redial *r = c->redial;
  if (r->ending_was_open) { /* the drop the reopen will replace; a failed attempt's record goes */
    conn_free_record(r->ending);
    r->ending = c->record;
  } else {
    conn_free_record(c->record);
  }
  c->record = NULL;
  conn_free_failure(c);
  free(c->deflate);
  c->deflate = NULL;
  free(c->subprotocol);
  c->subprotocol = NULL;
  wsf_intern_release(&c->d->resp_headers, c->resp_headers);
  c->resp_headers = NULL;
  c->n_resp_headers = 0;
  free(c->tls_info);
  c->tls_info = NULL;
  memset(&c->peer, 0, sizeof c->peer);
  memset(&c->timings, 0, sizeof c->timings);
  c->counted_open = 0;
  c->ka_ping_outstanding = 0;
  c->reads_paused = 0;
  c->started_us = wsf_now_us();
  c->last_sent_us = c->last_recv_us = c->last_ping_us = c->last_pong_us = WSF_NEVER;
}

static void start_attempt(wsf_conn *c) {
  wsf_redial *r = c->redial;
  r->dial_due = false;
  r->phase = REDIAL_DIALING;
  r->attempts++;
  forget_session(c);
  bool tls = false;
  wsf_err err = WSF_OK;
  char why[256];
  wsf_handshake *hs = conn_build_handshake(c->d, &r->p, &tls, &err, why, sizeof why);
  if (!hs) { /* inputs that built once stopped building (a TLS file removed): a failed attempt */
    conn_fail_open(c, err, WSF_CAUSE_HANDSHAKE_FAILED, why, 0, NULL, 0);
    return;
  }
  c->hs = hs;
  hs->conn = c;
  c->tls = tls;
  conn_start_dial(c, r->p.connect_timeout_ms);
}

/* Called where an open succeeds: true when it was a reopen (counted and told
 * as `reconnected`; the caller then does not tell `opened`). */
bool conn_redial_opened(wsf_conn *c) {
  wsf_redial *r = c->redial;
  if (!r || r->phase != REDIAL_DIALING)
    return false;
  r->phase = REDIAL_IDLE;
  r->count++;
  r->failed_in_row = 0;
  r->attempt_failed = 0;
  r->last_at_ms = wsf_wall_ms();
  conn_free_record(r->last_record);
  r->last_record = r->ending;
  r->ending = NULL;
  c->d->stats.reconnects_total++;
  TELL_OBSERVERS(c->d, reconnected, c);
  return true;
}

/* ---- for status, results and events -------------------------------------------------- */

bool wsf_conn_reconnect_info(const wsf_conn *c, wsf_reconnect_info *out) {
  const wsf_redial *r = c->redial;
  if (!r)
    return false;
  out->policy = r->policy;
  out->count = r->count;
  out->attempts = r->attempts;
  out->gave_up = r->gave_up;
  out->waiting = r->phase != REDIAL_IDLE;
  out->attempt_failed = r->attempt_failed;
  out->last_at_ms = r->last_at_ms;
  out->last_record = r->last_record;
  out->ending = r->phase == REDIAL_BACKOFF && r->ending_was_open ? c->record : r->ending;
  return true;
}

uint32_t wsf_conn_reconnects(const wsf_conn *c) {
  return c->redial ? c->redial->count : 0;
}

uint32_t wsf_conn_reconnect_next_attempt(const wsf_conn *c) {
  const wsf_redial *r = c->redial;
  return r && r->phase == REDIAL_BACKOFF ? r->attempts + 1 : 0;
}
