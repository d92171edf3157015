#include "observe.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "looplag.h"
#include "metrics.h"
#include "util.h"
#include "view.h"

typedef struct wsf_observers {
  FILE *events;
  wsf_looplag looplag;
  bool looplag_started;
  uv_timer_t snapshot_timer; /* only with an event log and a non-zero interval */
  bool snapshot_started;
  /* the cumulative figures as the last snapshot saw them */
  wsf_hist loop_lag_seen, heartbeat_late_seen;
  uint64_t opened_seen, closed_seen;
} wsf_observers;

/* ---- the JSON-lines event log ------------------------------------------------ */

static void json_str(FILE *f, const char *s, size_t len) {
  fputc('"', f);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    switch (ch) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (ch < 0x20) {
        fprintf(f, "\\u%04x", ch);
      } else if (ch < 0x80) {
        fputc(ch, f);
      } else { /* server text (reasons, bodies, headers): invalid bytes become U+FFFD, as in replies */
        size_t n = wsf_utf8_seq((const uint8_t *)s + i, len - i);
        fwrite(n ? s + i : "\xef\xbf\xbd", 1, n ? n : 3, f);
        i += n ? n - 1 : 0;
      }
    }
  }
  fputc('"', f);
}

static void json_kstr(FILE *f, const char *key, const char *v) {
  fprintf(f, ",\"%s\":", key);
  if (v)
    json_str(f, v, strlen(v));
  else
    fputs("null", f);
}

static void json_kus(FILE *f, const char *key, uint64_t v) {
  if (v == WSF_NEVER)
    fprintf(f, ",\"%s\":null", key);
  else
    fprintf(f, ",\"%s\":%llu", key, (unsigned long long)v);
}

static void json_counts(FILE *f, const wsf_view_counts *c) {
  const char *sep = "";
  fputc('{', f);
  for (size_t i = 0; i < c->n; i++) {
    uint64_t x = c->value(c->ctx, i);
    if (!x && !c->keep_zeros)
      continue;
    char buf[16];
    const char *key = c->key(c->ctx, i, buf);
    fputs(sep, f);
    json_str(f, key, strlen(key));
    fprintf(f, ":%llu", (unsigned long long)x);
    sep = ",";
  }
  fputc('}', f);
}

/* The JSON writer of the views (view.h): the fields the event log carries. */
static void json_view(FILE *f, const wsf_view *v) {
  const char *sep = "";
  fputc('{', f);
  for (uint16_t i = 0; i < v->n; i++) {
    const wsf_view_field *fl = &v->f[i];
    if (!(fl->to & WSF_TO_LOG))
      continue;
    fprintf(f, "%s\"%s\":", sep, fl->name);
    sep = ",";
    switch (fl->kind) {
    case WSF_VK_UINT:
      fprintf(f, "%llu", (unsigned long long)fl->v.u);
      break;
    case WSF_VK_US:
      if (fl->v.u == WSF_NEVER)
        fputs("null", f);
      else
        fprintf(f, "%llu", (unsigned long long)fl->v.u);
      break;
    case WSF_VK_STR:
      if (fl->v.s)
        json_str(f, fl->v.s, strlen(fl->v.s));
      else
        fputs("null", f);
      break;
    case WSF_VK_BOOL:
      fputs(fl->v.b ? "true" : "false", f);
      break;
    case WSF_VK_MAP:
      if (fl->v.map)
        json_view(f, fl->v.map);
      else
        fputs("null", f);
      break;
    case WSF_VK_HIST:
      fprintf(f, "{\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu}",
              (unsigned long long)fl->v.hist->total, (unsigned long long)wsf_hist_quantile(fl->v.hist, 0.50),
              (unsigned long long)wsf_hist_quantile(fl->v.hist, 0.99),
              (unsigned long long)fl->v.hist->max_us);
      break;
    case WSF_VK_COUNTS:
      json_counts(f, fl->v.counts);
      break;
    case WSF_VK_LIST:
      fputc('[', f);
      for (size_t j = 0; j < fl->v.list->n; j++) {
        wsf_view item;
        if (j)
          fputc(',', f);
        json_view(f, fl->v.list->item(fl->v.list->ctx, j, &item));
      }
      fputc(']', f);
      break;
    }
  }
  fputc('}', f);
}

static void json_record(FILE *f, const wsf_close_record *r) {
  wsf_view v;
  json_view(f, wsf_view_record(&v, r));
}

static void json_timings(FILE *f, const wsf_timings *t) {
  wsf_view v;
  json_view(f, wsf_view_timings(&v, t));
}

static FILE *event_begin(wsf_daemon *d, const char *event) {
  FILE *f = d->observers ? d->observers->events : NULL;
  if (!f)
    return NULL;
  fprintf(f, "{\"event\":\"%s\",\"at_ms\":%llu", event, (unsigned long long)wsf_wall_ms());
  return f;
}

static void event_conn(FILE *f, const wsf_conn *c) {
  json_kstr(f, "conn", c->name);
  json_kstr(f, "url", c->url);
}

/* Line-buffered: each event reaches the file as it happens. */
static void event_end(FILE *f) {
  fputs("}\n", f);
}

/* ---- periodic snapshots ------------------------------------------------------ */

/* `reset` zeroes the stats: then the interval counts from zero. The loop-lag
 * sampler adds 20 samples a second, so its total always falls at a reset
 * that comes after the first snapshot (in the first interval, *seen is
 * still zero and the figures since the reset are the interval's anyway). */
static bool stats_were_reset(const wsf_stats *s, const wsf_observers *o) {
  return s->loop_lag.total < o->loop_lag_seen.total ||
         s->heartbeat_late.total < o->heartbeat_late_seen.total || s->opened_total < o->opened_seen ||
         s->closed_total < o->closed_seen;
}

/* What a cumulative histogram gained since *seen; then *seen := *cum. The
 * interval's maximum is exact (wsf_hist_add keeps it until taken here); its
 * quantiles have the buckets' precision. */
static void hist_take_interval(wsf_hist *cum, wsf_hist *seen, bool reset, wsf_hist *out) {
  memset(out, 0, sizeof *out);
  for (int b = 0; b < WSF_HIST_BUCKETS; b++)
    out->counts[b] = cum->counts[b] - (reset ? 0 : seen->counts[b]);
  out->total = cum->total - (reset ? 0 : seen->total);
  out->max_us = out->total ? cum->interval_max_us : 0;
  cum->interval_max_us = 0;
  *seen = *cum;
}

static void json_kquantiles(FILE *f, const char *key, const wsf_hist *h) {
  fprintf(f, ",\"%s\":{\"p99\":%llu,\"max\":%llu}", key, (unsigned long long)wsf_hist_quantile(h, 0.99),
          (unsigned long long)h->max_us);
}

static unsigned long long counter_take_interval(uint64_t now, uint64_t *seen, bool reset) {
  uint64_t delta = now - (reset ? 0 : *seen);
  *seen = now;
  return (unsigned long long)delta;
}

/* The longest time since the last frame the client sent (data, heartbeat,
 * pong or close), among open connections; WSF_NEVER when none is open. A
 * connection that never sent counts from its open. One pass over the name
 * table, one cache miss per connection: measured 0.25-0.43 ms at 10,000 open
 * connections (median 0.28 ms; 0.03 % of a core at one snapshot a second,
 * and a stall well under the loop's own lateness on a shared host), so no
 * incremental structure is kept for it. */
static uint64_t max_silence_us(const wsf_daemon *d, uint64_t now) {
  const wsf_registry *r = &d->conns;
  uint64_t longest = WSF_NEVER;
  for (size_t i = 0; r->slots && i < r->capacity; i++) {
    const wsf_conn *c = r->slots[i];
    if (!c || c->state != WSF_CONN_OPEN)
      continue;
    uint64_t since = c->last_sent_us == WSF_NEVER ? c->opened_us : c->last_sent_us;
    uint64_t silence = now > since ? now - since : 0;
    if (longest == WSF_NEVER || silence > longest)
      longest = silence;
  }
  return longest;
}

static void on_snapshot(uv_timer_t *t) {
  wsf_daemon *d = t->data;
  wsf_observers *o = d->observers;
  wsf_stats *s = &d->stats;
  uint64_t silence = max_silence_us(d, wsf_now_us());
  bool reset = stats_were_reset(s, o);
  wsf_hist lag, late;
  hist_take_interval(&s->loop_lag, &o->loop_lag_seen, reset, &lag);
  hist_take_interval(&s->heartbeat_late, &o->heartbeat_late_seen, reset, &late);
  FILE *f = event_begin(d, "snapshot");
  fprintf(f, ",\"open\":%u,\"connecting\":%u,\"closing\":%u", d->n_open, d->n_connecting, d->n_closing);
  json_kus(f, "max_silence_us", silence);
  fprintf(f, ",\"opens\":%llu,\"closes\":%llu",
          counter_take_interval(s->opened_total, &o->opened_seen, reset),
          counter_take_interval(s->closed_total, &o->closed_seen, reset));
  json_kquantiles(f, "loop_lag_us", &lag);
  json_kquantiles(f, "heartbeat_late_us", &late);
  event_end(f);
}

static void close_timer(uv_timer_t *t, bool *started) {
  if (*started && !uv_is_closing((uv_handle_t *)t))
    uv_close((uv_handle_t *)t, NULL);
  *started = false;
}

static const wsf_conn_observer event_log_observer; /* the lifecycle hooks, below */

int wsf_observe_init(wsf_daemon *d) {
  d->observers = wsf_xcalloc(1, sizeof *d->observers);
  if (d->cfg.events_path) {
    char err[512];
    FILE *f = wsf_open_private_append(d->cfg.events_path, err, sizeof err); /* 0600, no symlink */
    if (!f) {
      wsf_log(WSF_LOG_ERROR, "cannot open the event log: %s", err);
      return -1;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    d->observers->events = f;
    const wsf_config *cfg = &d->cfg;
    FILE *e = event_begin(d, "start");
    fprintf(e, ",\"pid\":%d", (int)getpid());
    json_kstr(e, "version", WSF_VERSION);
    fprintf(e,
            ",\"config\":{\"max_connections\":%u,\"max_message_bytes\":%llu,\"inbox_max_messages\":%u,"
            "\"inbox_max_bytes\":%zu,\"max_handshakes\":%u,\"connect_rate\":%g,\"connect_timeout_ms\":%u,"
            "\"snapshot_interval_ms\":%u,\"keepalive\":{\"mode\":\"%s\",\"interval_ms\":%u,\"jitter_ms\":%u,"
            "\"pong_timeout_ms\":%u}}",
            cfg->max_connections, (unsigned long long)cfg->max_message_bytes, cfg->inbox_max_messages,
            cfg->inbox_max_bytes, cfg->max_handshakes, cfg->connect_rate, cfg->connect_timeout_ms,
            cfg->snapshot_interval_ms, wsf_ka_mode_name(cfg->keepalive.mode), cfg->keepalive.interval_ms,
            cfg->keepalive.jitter_ms, cfg->keepalive.pong_timeout_ms);
    event_end(e);
    wsf_conn_observe(d, &event_log_observer, d);
  }
  wsf_observers *o = d->observers;
  if (wsf_looplag_start(d->loop, &o->looplag, &d->stats.loop_lag) == 0)
    o->looplag_started = true;
  if (o->events && d->cfg.snapshot_interval_ms && uv_timer_init(d->loop, &o->snapshot_timer) == 0) {
    o->snapshot_started = true;
    o->snapshot_timer.data = d;
    uv_unref((uv_handle_t *)&o->snapshot_timer);
    o->loop_lag_seen = d->stats.loop_lag;
    o->heartbeat_late_seen = d->stats.heartbeat_late;
    uv_timer_start(&o->snapshot_timer, on_snapshot, d->cfg.snapshot_interval_ms, d->cfg.snapshot_interval_ms);
  }
  if (d->cfg.metrics_addr && wsf_metrics_start(d, d->cfg.metrics_addr) != 0)
    return -1;
  return 0;
}

void wsf_observe_close_all(wsf_daemon *d) {
  if (!d->observers)
    return;
  if (d->observers->events)
    fclose(d->observers->events);
  free(d->observers);
  d->observers = NULL;
}

static void on_opened(void *ctx, const wsf_conn *c) {
  wsf_daemon *d = ctx;
  FILE *f = event_begin(d, "open");
  if (f) {
    event_conn(f, c);
    fputs(",\"timings\":", f);
    json_timings(f, &c->timings);
    fprintf(f, ",\"open_conns\":%u", d->n_open + d->n_closing);
    event_end(f);
  }
}

static void on_closed(void *ctx, const wsf_conn *c) {
  wsf_daemon *d = ctx;
  FILE *f = event_begin(d, "close");
  if (f) {
    event_conn(f, c);
    fputs(",\"record\":", f);
    json_record(f, c->record);
    uint32_t attempt = wsf_conn_reconnect_next_attempt(c);
    if (attempt) /* a drop all the same (wsfleet report counts it); the policy reopens it */
      fprintf(f, ",\"reconnect\":{\"attempt\":%u}", attempt);
    event_end(f);
  }
}

/* A reopen by the reconnect policy: the ending it replaced and the new handshake's timings. */
static void on_reconnected(void *ctx, const wsf_conn *c) {
  wsf_daemon *d = ctx;
  FILE *f = event_begin(d, "reconnect");
  wsf_reconnect_info ri;
  if (f && wsf_conn_reconnect_info(c, &ri)) {
    event_conn(f, c);
    fprintf(f, ",\"attempt\":%u,\"count\":%u", ri.attempts, ri.count);
    fputs(",\"record\":", f);
    if (ri.last_record)
      json_record(f, ri.last_record);
    else
      fputs("null", f);
    fputs(",\"timings\":", f);
    json_timings(f, &c->timings);
    fprintf(f, ",\"open_conns\":%u", d->n_open + d->n_closing);
    event_end(f);
  }
}

static void on_handshake_failed(void *ctx, const wsf_conn *c) {
  wsf_daemon *d = ctx;
  FILE *f = event_begin(d, "handshake_failed");
  if (f) {
    event_conn(f, c);
    const wsf_open_failure *fl = c->failure;
    fputs(",\"error\":{\"code\":", f);
    const char *code = wsf_err_code(fl ? fl->err : WSF_E_HANDSHAKE);
    json_str(f, code, strlen(code));
    json_kstr(f, "message", fl ? fl->message : NULL);
    if (fl && fl->http_status)
      fprintf(f, ",\"http_status\":%d", fl->http_status);
    if (fl && fl->retry_after)
      json_kstr(f, "retry_after", fl->retry_after);
    int step = wsf_conn_session_failed_step(c); /* a session step failed it (PROTOCOL.md §5b) */
    if (step >= 0)
      fprintf(f, ",\"phase\":\"session\",\"step\":%d", step);
    fputs("},\"record\":", f);
    json_record(f, c->record);
    wsf_reconnect_info ri;
    if (wsf_conn_reconnect_info(c, &ri) && ri.attempt_failed)
      fprintf(f, ",\"reconnect_attempt\":%u", ri.attempt_failed);
    event_end(f);
  }
}

static void on_inbox_dropped(void *ctx, const wsf_conn *c) {
  wsf_daemon *d = ctx;
  FILE *f = event_begin(d, "drop");
  if (f) {
    event_conn(f, c);
    fprintf(f, ",\"dropped\":%llu", (unsigned long long)c->inbox.dropped);
    event_end(f);
  }
}

/* The event log's lines for a connection's lifecycle (registered only with --events). */
static const wsf_conn_observer event_log_observer = {
    .opened = on_opened,
    .closed = on_closed,
    .handshake_failed = on_handshake_failed,
    .inbox_dropped = on_inbox_dropped,
    .reconnected = on_reconnected,
};

void wsf_observe_stop(wsf_daemon *d) {
  wsf_metrics_stop(d);
  wsf_observers *o = d->observers;
  if (o) {
    close_timer(&o->snapshot_timer, &o->snapshot_started);
    if (o->looplag_started)
      wsf_looplag_stop(&o->looplag);
    o->looplag_started = false;
  }
  FILE *f = event_begin(d, "stop");
  if (!f)
    return;
  wsf_stats_view v;
  fputs(",\"stats\":", f);
  json_view(f, wsf_view_stats(&v, d, wsf_now_us(), NULL));
  event_end(f);
}
