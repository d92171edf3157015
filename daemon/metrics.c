/* Prometheus text metrics (exposition format 0.0.4) on a loopback HTTP port.
 *
 * A deliberately small HTTP/1.1 server on the daemon's loop: llhttp parses
 * the request head, GET or HEAD /metrics gets the metrics, anything else an
 * error status, and every response ends the connection. It only reads
 * d->stats and the state counters; it never changes a connection.
 *
 * Lifetime: main.c may close our handles itself (uv_walk before the final
 * uv_run) and call wsf_metrics_stop() after the loop is closed, or stop may
 * run while the loop is alive. So stop closes what is still open, frees what
 * someone else closed, and the state goes when the last of our close
 * callbacks has run. There is one daemon per process, hence one static. */
#include "metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "util.h"

enum {
  MAX_CLIENTS = 64,
  MAX_HEAD_BYTES = 8192,         /* request line + headers */
  MAX_PATH_BYTES = 256,          /* longer paths are not /metrics anyway */
  CLIENT_DEADLINE_US = 10000000, /* a whole exchange, slow or idle clients included */
  MAX_BUSY_CLIENTS = 64,         /* over MAX_CLIENTS: being told 503, for at most BUSY_DEADLINE_US */
  BUSY_DEADLINE_US = 1000000,
  READ_CHUNK = 4096,
};

typedef struct mclient mclient;
typedef struct wsf_metrics {
  wsf_daemon *d;
  uv_tcp_t listener;
  bool listening;   /* uv_tcp_init done: the listener needs closing */
  bool stopped;     /* wsf_metrics_stop ran; free when pending reaches 0 */
  uint32_t pending; /* our close callbacks not yet run */
  uint32_t n_clients;
  mclient *clients;
  llhttp_settings_t settings;
  char read_buf[READ_CHUNK]; /* shared: each read is parsed before the next alloc */
} wsf_metrics;

enum mstate { M_READING, M_WRITING, M_DRAINING };

struct mclient {
  uv_tcp_t tcp; /* first: handle → client */
  wsf_metrics *m;
  mclient *next, *prev;
  llhttp_t parser;
  wsf_timer deadline;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  uint8_t state;
  bool closing_by_us; /* uv_close with our callback; else someone else closed it */
  bool peer_eof;
  size_t head_bytes;
  size_t path_len;
  bool path_too_long;
  char path[MAX_PATH_BYTES];
  char *response;
};

/* ---- a growable text buffer ------------------------------------------------ */

typedef struct buf {
  char *p;
  size_t len, cap;
  bool failed;
} buf;

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...) {
  if (b->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = true;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 16384;
    while (cap - b->len <= (size_t)n)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->failed = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

/* ---- the exposition ------------------------------------------------------- */

/* Microseconds as exact decimal seconds ("0.000016", "2147.483648"): the
 * bucket bounds are powers of two in µs, which %g would round. */
static const char *secs(char *out, size_t size, uint64_t us) {
  char frac[8];
  snprintf(frac, sizeof frac, "%06" PRIu64, us % 1000000);
  int n = 6;
  while (n > 0 && frac[n - 1] == '0')
    frac[--n] = '\0';
  snprintf(out, size, "%" PRIu64 "%s%s", us / 1000000, n ? "." : "", frac);
  return out;
}

static void family(buf *b, const char *name, const char *type, const char *help) {
  buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(buf *b, const char *name, const char *labels, uint64_t v) {
  buf_printf(b, "%s%s%s%s %" PRIu64 "\n", name, labels ? "{" : "", labels ? labels : "", labels ? "}" : "",
             v);
}

/* wsf_hist bucket b holds values up to 2^(b/4) µs. Every 4th bucket is a
 * power of two, so `le` is exact; from 16 µs (below that is noise on a
 * timer or a network) to 2^31 µs (~36 min); the rest is in +Inf. */
enum { HIST_FIRST = 16, HIST_LAST = 124, HIST_STEP = 4 };

static void histogram(buf *b, const char *name, const char *label, const wsf_hist *h) {
  const char *sep = label ? "," : "";
  if (!label)
    label = "";
  char s[32];
  uint64_t cum = 0;
  int b0 = 0;
  for (int bucket = HIST_FIRST; bucket <= HIST_LAST; bucket += HIST_STEP) {
    for (; b0 <= bucket; b0++)
      cum += h->counts[b0];
    buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, label, sep,
               secs(s, sizeof s, (uint64_t)1 << (bucket / 4)), cum);
  }
  buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, label, sep, h->total);
  if (*label)
    buf_printf(b, "%s_sum{%s} %s\n%s_count{%s} %" PRIu64 "\n", name, label, secs(s, sizeof s, h->sum_us),
               name, label, h->total);
  else
    buf_printf(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name, secs(s, sizeof s, h->sum_us), name, h->total);
}

/* Counts per cause name. Causes the daemon defines are always listed (a zero
 * is a sample: rate() then works from the first close); a slot that only has
 * a fallback name is listed when non-zero, merged with its namesake. */
static void closes_by_cause(buf *b, const wsf_stats *s) {
  /* Every cause listed, zeros included (cause.h declares each once, so the count is exact). */
  for (int i = WSF_CAUSE_NONE + 1; i < WSF_CAUSE_COUNT; i++) {
    char label[64];
    snprintf(label, sizeof label, "cause=\"%s\"", wsf_cause_name((wsf_cause)i));
    sample(b, "wsfleet_closes_by_cause_total", label, s->closes_by_cause[i]);
  }
}

static void render(wsf_daemon *d, buf *b) {
  const wsf_stats *s = &d->stats;
  char label[64], t[32];

  family(b, "wsfleet_build_info", "gauge", "The daemon's version; always 1.");
  buf_printf(b, "wsfleet_build_info{version=\"");
  for (const char *v = WSF_VERSION; *v; v++) /* label value escaping */
    buf_printf(b, "%s%c", (*v == '"' || *v == '\\' || *v == '\n') ? "\\" : "", *v == '\n' ? 'n' : *v);
  buf_printf(b, "\"} 1\n");

  family(b, "wsfleet_uptime_seconds", "gauge", "Seconds since the daemon started.");
  buf_printf(b, "wsfleet_uptime_seconds %s\n", secs(t, sizeof t, wsf_now_us() - d->started_us));

  family(b, "wsfleet_connections", "gauge",
         "Named connections by state; closed ones keep their close record until reset or reopen.");
  sample(b, "wsfleet_connections", "state=\"connecting\"", d->n_connecting);
  sample(b, "wsfleet_connections", "state=\"open\"", d->n_open);
  sample(b, "wsfleet_connections", "state=\"closing\"", d->n_closing);
  sample(b, "wsfleet_connections", "state=\"closed\"", d->n_closed);

  family(b, "wsfleet_handshakes_in_flight", "gauge", "Opening handshakes admitted and not yet finished.");
  sample(b, "wsfleet_handshakes_in_flight", NULL, d->handshakes_in_flight);

  family(b, "wsfleet_connections_opened_total", "counter",
         "Connections that reached open (stats opened_total).");
  sample(b, "wsfleet_connections_opened_total", NULL, s->opened_total);
  family(b, "wsfleet_connections_reused_total", "counter",
         "Opens answered by an existing connection of that name (stats reused_total).");
  sample(b, "wsfleet_connections_reused_total", NULL, s->reused_total);
  family(b, "wsfleet_connections_failed_total", "counter",
         "Opens that ended before reaching open (stats failed_total).");
  sample(b, "wsfleet_connections_failed_total", NULL, s->failed_total);
  family(b, "wsfleet_connections_closed_total", "counter",
         "Connections that ended after reaching open (stats closed_total).");
  sample(b, "wsfleet_connections_closed_total", NULL, s->closed_total);

  family(
      b, "wsfleet_closes_by_code_total", "counter",
      "Ended connections (closed or failed) by close code; 1006 when no close frame; 0 = outside 0..4999.");
  for (uint16_t i = 0; i < s->n_codes_seen; i++) {
    snprintf(label, sizeof label, "code=\"%u\"", s->codes_seen[i]);
    sample(b, "wsfleet_closes_by_code_total", label, s->closes_by_code[s->codes_seen[i]]);
  }
  family(b, "wsfleet_closes_by_cause_total", "counter",
         "Ended connections (closed or failed) by low-level cause (PROTOCOL.md close causes).");
  closes_by_cause(b, s);

  family(b, "wsfleet_handshake_phase_seconds", "histogram",
         "Opening handshake phases: dns, connect (TCP), tls (wss only), upgrade (HTTP request to 101).");
  histogram(b, "wsfleet_handshake_phase_seconds", "phase=\"dns\"", &s->hs_dns);
  histogram(b, "wsfleet_handshake_phase_seconds", "phase=\"connect\"", &s->hs_connect);
  histogram(b, "wsfleet_handshake_phase_seconds", "phase=\"tls\"", &s->hs_tls);
  histogram(b, "wsfleet_handshake_phase_seconds", "phase=\"upgrade\"", &s->hs_upgrade);
  family(b, "wsfleet_handshake_seconds", "histogram",
         "Whole opens, from the open request to open, admission queueing included.");
  histogram(b, "wsfleet_handshake_seconds", NULL, &s->hs_total);

  family(b, "wsfleet_ping_rtt_seconds", "histogram",
         "Round-trip time of answered pings (keepalive and ping method).");
  histogram(b, "wsfleet_ping_rtt_seconds", NULL, &s->ping_rtt);
  family(b, "wsfleet_heartbeat_lateness_seconds", "histogram",
         "How late each keepalive heartbeat left relative to its schedule.");
  histogram(b, "wsfleet_heartbeat_lateness_seconds", NULL, &s->heartbeat_late);
  family(b, "wsfleet_loop_lag_seconds", "histogram",
         "How late the daemon's event loop ran a timer it sets every 50 ms (resolution 1 ms).");
  histogram(b, "wsfleet_loop_lag_seconds", NULL, &s->loop_lag);
  family(b, "wsfleet_heartbeats_sent_total", "counter", "Keepalive heartbeats (pings or payloads) sent.");
  sample(b, "wsfleet_heartbeats_sent_total", NULL, s->heartbeats_sent);

  family(b, "wsfleet_messages_total", "counter", "WebSocket data messages by direction.");
  sample(b, "wsfleet_messages_total", "direction=\"in\"", s->msgs_in);
  sample(b, "wsfleet_messages_total", "direction=\"out\"", s->msgs_out);
  family(b, "wsfleet_message_bytes_total", "counter",
         "Payload bytes of WebSocket data messages by direction.");
  sample(b, "wsfleet_message_bytes_total", "direction=\"in\"", s->bytes_in);
  sample(b, "wsfleet_message_bytes_total", "direction=\"out\"", s->bytes_out);
  family(b, "wsfleet_deflate_bytes_total", "counter",
         "Payload bytes of permessage-deflate sessions, on the wire (compressed) and as the application sees "
         "them.");
  const wsf_deflate_counters *dc = &s->deflate;
  sample(b, "wsfleet_deflate_bytes_total", "direction=\"in\",form=\"compressed\"", dc->bytes_in_compressed);
  sample(b, "wsfleet_deflate_bytes_total", "direction=\"in\",form=\"uncompressed\"", dc->bytes_in);
  sample(b, "wsfleet_deflate_bytes_total", "direction=\"out\",form=\"compressed\"", dc->bytes_out_compressed);
  sample(b, "wsfleet_deflate_bytes_total", "direction=\"out\",form=\"uncompressed\"", dc->bytes_out);
  family(b, "wsfleet_inbox_dropped_messages_total", "counter",
         "Received messages dropped because an inbox was full (stats inbox_dropped).");
  sample(b, "wsfleet_inbox_dropped_messages_total", NULL, s->inbox_dropped);

  family(b, "wsfleet_control_clients", "gauge", "Connected control-protocol clients.");
  sample(b, "wsfleet_control_clients", NULL, d->control_clients);
}

/* ---- client lifetime ------------------------------------------------------ */

static void maybe_free_state(wsf_metrics *m) {
  if (m->stopped && m->pending == 0)
    free(m);
}

static void client_free(mclient *c) {
  wsf_metrics *m = c->m;
  if (c->prev)
    c->prev->next = c->next;
  else
    m->clients = c->next;
  if (c->next)
    c->next->prev = c->prev;
  m->n_clients--;
  wsf_timer_stop(&m->d->timers, &c->deadline);
  free(c->response);
  free(c);
}

static void on_client_closed(uv_handle_t *h) {
  mclient *c = (mclient *)h;
  wsf_metrics *m = c->m;
  client_free(c);
  m->pending--;
  maybe_free_state(m);
}

static void client_close(mclient *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  wsf_timer_stop(&c->m->d->timers, &c->deadline);
  c->closing_by_us = true;
  c->m->pending++;
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_deadline(wsf_timer *t) {
  client_close(wsf_container_of(t, mclient, deadline));
}

/* ---- responses ------------------------------------------------------------ */

static void on_shutdown(uv_shutdown_t *req, int status) {
  mclient *c = wsf_container_of(req, mclient, shutdown_req);
  c->state = M_DRAINING;
  if (status < 0 || c->peer_eof)
    client_close(c);
}

/* Written: send FIN and wait for the client's, so that unread request bytes
 * do not turn our close into a reset that could cost the client the response. */
static void on_written(uv_write_t *req, int status) {
  mclient *c = wsf_container_of(req, mclient, write_req);
  free(c->response);
  c->response = NULL;
  if (status < 0 || uv_is_closing((uv_handle_t *)&c->tcp) || c->peer_eof) {
    client_close(c);
    return;
  }
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    client_close(c);
}

static void respond(mclient *c, int status, const char *reason, const char *extra_headers, const char *body,
                    size_t body_len, bool head_only) {
  c->state = M_WRITING;
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                   status, reason,
                   status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8",
                   body_len, extra_headers ? extra_headers : "");
  size_t len = (size_t)n + (head_only ? 0 : body_len);
  c->response = malloc(len);
  if (!c->response) {
    client_close(c);
    return;
  }
  memcpy(c->response, head, (size_t)n);
  if (!head_only)
    memcpy(c->response + n, body, body_len);
  uv_buf_t b = uv_buf_init(c->response, (unsigned)len);
  if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
    client_close(c);
}

static void respond_text(mclient *c, int status, const char *reason, const char *extra_headers) {
  char body[64];
  int n = snprintf(body, sizeof body, "%d %s\n", status, reason);
  respond(c, status, reason, extra_headers, body, (size_t)n, false);
}

static bool path_is_metrics(const mclient *c) {
  if (c->path_too_long)
    return false;
  size_t len = c->path_len;
  const char *q = memchr(c->path, '?', len);
  if (q)
    len = (size_t)(q - c->path);
  return len == 8 && memcmp(c->path, "/metrics", 8) == 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  mclient *c = p->data;
  if (c->path_len + n > sizeof c->path) {
    c->path_too_long = true;
    return 0;
  }
  memcpy(c->path + c->path_len, at, n);
  c->path_len += n;
  return 0;
}

/* The head is enough to answer; whatever follows is drained unparsed. */
static int on_headers_complete(llhttp_t *p) {
  mclient *c = p->data;
  int method = llhttp_get_method(p);
  bool head = method == HTTP_HEAD;
  if (!path_is_metrics(c)) {
    respond_text(c, 404, "Not Found", NULL);
  } else if (method != HTTP_GET && !head) {
    respond_text(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
  } else {
    buf b = {0};
    render(c->m->d, &b);
    if (b.failed)
      respond_text(c, 500, "Internal Server Error", NULL);
    else
      respond(c, 200, "OK", NULL, b.p, b.len, head);
    free(b.p);
  }
  return HPE_PAUSED;
}

/* ---- reading -------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  wsf_metrics *m = ((mclient *)h)->m;
  *b = uv_buf_init(m->read_buf, sizeof m->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  mclient *c = (mclient *)s;
  if (nread == 0)
    return;
  if (nread < 0) {
    /* EOF or error. While our response is being written, let it finish. */
    uv_read_stop(s);
    c->peer_eof = true;
    if (c->state != M_WRITING)
      client_close(c);
    return;
  }
  if (c->state != M_READING)
    return; /* answered: drain until EOF or the deadline */
  size_t n = (size_t)nread;
  bool over = c->head_bytes + n > MAX_HEAD_BYTES;
  if (over)
    n = MAX_HEAD_BYTES - c->head_bytes;
  c->head_bytes += n;
  llhttp_errno_t e = llhttp_execute(&c->parser, b->base, n);
  if (c->state != M_READING)
    return; /* on_headers_complete answered */
  if (e != HPE_OK)
    respond_text(c, 400, "Bad Request", NULL);
  else if (over)
    respond_text(c, 431, "Request Header Fields Too Large", NULL);
}

static void on_connection(uv_stream_t *server, int status) {
  wsf_metrics *m = wsf_container_of((uv_tcp_t *)server, wsf_metrics, listener);
  if (status < 0) {
    wsf_log(WSF_LOG_WARN, "metrics: accept: %s", uv_strerror(status));
    return;
  }
  mclient *c = calloc(1, sizeof *c);
  if (!c || uv_tcp_init(m->d->loop, &c->tcp) != 0) {
    free(c);
    return;
  }
  c->m = m;
  c->next = m->clients;
  if (c->next)
    c->next->prev = c;
  m->clients = c;
  m->n_clients++;
  wsf_timer_init(&c->deadline, on_deadline);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    client_close(c);
    return;
  }
  /* Far over the bound: let go at once (a reset at worst). */
  if (m->n_clients > MAX_CLIENTS + MAX_BUSY_CLIENTS) {
    client_close(c);
    return;
  }
  llhttp_init(&c->parser, HTTP_REQUEST, &m->settings);
  c->parser.data = c;
  bool busy = m->n_clients > MAX_CLIENTS;
  wsf_timer_start(&m->d->timers, &c->deadline, busy ? BUSY_DEADLINE_US : CLIENT_DEADLINE_US);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    client_close(c);
    return;
  }
  /* Over the bound: 503 at once, then FIN and drain like any answer. Closing
   * right after the write reset the connection whenever the scraper's request
   * had arrived unread, and it saw a reset instead of the 503. */
  if (busy)
    respond_text(c, 503, "Service Unavailable", "Retry-After: 1\r\n");
}

/* ---- start / stop --------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h) {
  wsf_metrics *m = wsf_container_of((uv_tcp_t *)h, wsf_metrics, listener);
  m->pending--;
  maybe_free_state(m);
}

int wsf_metrics_start(wsf_daemon *d, const char *addr) {
  struct sockaddr_storage sa;
  if (wsf_parse_addr_port(addr, &sa) != 0) {
    wsf_log(WSF_LOG_ERROR,
            "--metrics wants a loopback ADDR:PORT such as 127.0.0.1:9464 or [::1]:9464, got '%s'", addr);
    return -1;
  }
  if (!wsf_addr_is_loopback(&sa)) {
    wsf_log(WSF_LOG_ERROR,
            "--metrics %s: refused, metrics bind only to loopback addresses (127.0.0.0/8, ::1)", addr);
    return -1;
  }
  wsf_metrics *m = d->metrics;
  if (!m) {
    m = d->metrics = wsf_xcalloc(1, sizeof *m);
    m->d = d;
    llhttp_settings_init(&m->settings);
    m->settings.on_url = on_url;
    m->settings.on_headers_complete = on_headers_complete;
  }
  if (m->listening) {
    wsf_log(WSF_LOG_ERROR, "--metrics %s: metrics are already being served", addr);
    return -1;
  }
  int rv = uv_tcp_init(d->loop, &m->listener);
  if (rv != 0) {
    wsf_log(WSF_LOG_ERROR, "--metrics %s: %s", addr, uv_strerror(rv));
    return -1;
  }
  m->listening = true;
  rv = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0);
  if (rv == 0)
    rv = uv_listen((uv_stream_t *)&m->listener, 128, on_connection);
  if (rv != 0) {
    wsf_log(WSF_LOG_ERROR, "--metrics: cannot listen on %s: %s", addr, uv_strerror(rv));
    m->pending++;
    uv_close((uv_handle_t *)&m->listener, on_listener_closed);
    return -1;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  char ip[64] = "?";
  int port = 0;
  if (uv_tcp_getsockname(&m->listener, (struct sockaddr *)&bound, &blen) == 0) {
    if (bound.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    } else {
      uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    }
  }
  wsf_log(WSF_LOG_INFO, "metrics on http://%s%s%s:%d/metrics", bound.ss_family == AF_INET6 ? "[" : "", ip,
          bound.ss_family == AF_INET6 ? "]" : "", port);
  return 0;
}

void wsf_metrics_stop(wsf_daemon *d) {
  wsf_metrics *m = d->metrics;
  if (!m)
    return;
  d->metrics = NULL;
  m->stopped = true;
  for (mclient *c = m->clients, *next; c; c = next) {
    next = c->next;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
      client_close(c);
    else if (!c->closing_by_us)
      client_free(c); /* closed by the owner of the loop, which has run its closes */
  }
  if (m->listening && !uv_is_closing((uv_handle_t *)&m->listener)) {
    m->pending++;
    uv_close((uv_handle_t *)&m->listener, on_listener_closed);
  }
  maybe_free_state(m);
}
