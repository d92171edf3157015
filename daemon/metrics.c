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
#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "metrics_render.h"
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
  c->response = wsf_xmalloc(len);
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
    wsf_text b = {0};
    wsf_metrics_render(c->m->d, wsf_now_us(), &b);
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
  mclient *c = wsf_xcalloc(1, sizeof *c);
  if (uv_tcp_init(m->d->loop, &c->tcp) != 0) {
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
  char text[64];
  const char *at = uv_tcp_getsockname(&m->listener, (struct sockaddr *)&bound, &blen) == 0
                       ? wsf_addr_port_text((struct sockaddr *)&bound, text)
                       : NULL;
  wsf_log(WSF_LOG_INFO, "metrics on http://%s/metrics", at ? at : "?:0");
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
