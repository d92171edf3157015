/* Byte-stream transport over libuv TCP; a filter (TLS: tls.c) may sit
 * between the socket and the owner, called only through its table.
 *
 * Rules every path keeps, so the owner may call anything at any time:
 * - after wsf_transport_close() no callback but on_closed is delivered;
 * - on_end is delivered at most once, and never after a failed handshake
 *   (on_tls_done(ok=false) already said why the stream is over);
 * - the memory of the transport (and its filter) stays valid until
 *   on_closed, so closing from inside any callback is safe.
 * Data already read from the socket is delivered in full even if the owner
 * calls wsf_transport_read_stop() during on_data: the stop takes effect
 * from the next socket read (for TLS one read may carry several records). */
#include "transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls_internal.h"
#include "util.h"

/* One read buffer for the whole loop: libuv calls alloc_cb and read_cb back
 * to back for one handle, and the data is consumed before read_cb returns. */
static char read_buf[64 * 1024];

/* A queued write owns a copy of the bytes libuv could not take at once. */
typedef struct write_block {
  uv_write_t req;
  size_t len, cap;
  uint8_t data[];
} write_block;

const char *wsf_end_cause_name(wsf_end_cause cause) {
  switch (cause) {
  case WSF_END_EOF:
    return "eof";
  case WSF_END_RESET:
    return "reset";
  case WSF_END_TLS_ALERT:
    return "tls_alert";
  case WSF_END_TLS_CLOSE_NOTIFY:
    return "tls_close_notify";
  case WSF_END_TLS_ERROR:
    return "tls_error";
  case WSF_END_IO_ERROR:
    return "io_error";
  }
  return "unknown";
}

static wsf_end_cause cause_of(int uv_status) {
  if (uv_status == UV_EOF)
    return WSF_END_EOF;
  if (uv_status == UV_ECONNRESET || uv_status == UV_EPIPE)
    return WSF_END_RESET;
  return WSF_END_IO_ERROR;
}

static void (*after_callback)(void *arg);
static void *after_callback_arg;

void wsf_transport_set_after_callback(void (*fn)(void *arg), void *arg) {
  after_callback = fn;
  after_callback_arg = arg;
}

static void run_after_callback(void) {
  if (after_callback)
    after_callback(after_callback_arg);
}

void wsf_transport_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  (void)suggested;
  buf->base = read_buf;
  buf->len = sizeof(read_buf);
}

int wsf_transport_init(uv_loop_t *loop, wsf_transport *t, const wsf_transport_callbacks *cb) {
  memset(t, 0, sizeof(*t));
  t->cb = cb;
  return uv_tcp_init(loop, &t->tcp);
}

static void on_connect(uv_connect_t *req, int status) {
  wsf_transport *t = req->data;
  free(req);
  t->connect_req = NULL;
  if (t->closing)
    return; /* status is UV_ECANCELED: the owner no longer cares */
  if (t->cb->on_connect)
    t->cb->on_connect(t, status);
  run_after_callback();
}

int wsf_transport_connect(wsf_transport *t, const struct sockaddr *addr) {
  if (t->closing || t->connect_req)
    return UV_EINVAL;
  uv_connect_t *req = wsf_xmalloc(sizeof(*req));
  req->data = t;
  int r = uv_tcp_connect(req, &t->tcp, addr, on_connect);
  if (r < 0) {
    free(req);
    return r;
  }
  t->connect_req = req;
  return 0;
}

/* IP_BIND_ADDRESS_NO_PORT (Linux 4.2): bind() takes the address only and
 * connect() picks the port for the whole 4-tuple, so each source address
 * has its own ~28,000 ports per destination. Without it bind(port 0)
 * reserves a port unique to the address alone, and the pool runs out after
 * ~28,000 connections over all destinations together. */
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

int wsf_transport_bind_source(wsf_transport *t, const struct sockaddr *source) {
  if (t->closing || t->connect_req)
    return UV_EINVAL;
  int fd = socket(source->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  /* Not fatal where the kernel lacks it: bind then reserves a port itself. */
  (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  socklen_t len = source->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, source, len) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  int r = uv_tcp_open(&t->tcp, fd);
  if (r != 0)
    close(fd);
  return r;
}

static void end_stream(wsf_transport *t, wsf_end_cause cause, const char *detail) {
  if (t->ended || t->closing)
    return;
  t->ended = 1;
  uv_read_stop((uv_stream_t *)&t->tcp);
  if (t->cb->on_end)
    t->cb->on_end(t, cause, detail);
}

static int write_raw(wsf_transport *t, const uint8_t *data, size_t len);

/* ---- what a filter is handed (transport.h, wsf_filter_io) ---- */

static void filter_deliver(wsf_transport *t, const uint8_t *data, size_t len) {
  if (t->cb->on_data)
    t->cb->on_data(t, data, len);
}

static void filter_ready(wsf_transport *t, bool ok, const char *detail) {
  if (!ok) {
    if (t->ended || t->closing)
      return;
    t->ended = 1; /* on_tls_done(ok=false) is the one word on this stream's end */
    uv_read_stop((uv_stream_t *)&t->tcp);
  }
  if (t->cb->on_tls_done)
    t->cb->on_tls_done(t, ok, detail);
}

static bool filter_live(const wsf_transport *t) {
  return !t->closing && !t->ended;
}

static const wsf_filter_io filter_io = {
    .write = write_raw,
    .deliver = filter_deliver,
    .ready = filter_ready,
    .end = end_stream,
    .cause_of = cause_of,
    .live = filter_live,
};

static int start_filter(wsf_transport *t, const wsf_filter_ops *ops, const void *params) {
  if (t->closing || t->ended || t->filter)
    return UV_EINVAL;
  int r = ops->start(t, &filter_io, params, &t->filter);
  if (r < 0 && t->filter)
    t->ended = 1; /* the filter's failure is the word on this stream; no on_end */
  return r;
}

int wsf_transport_start_tls_client(wsf_transport *t, wsf_tls_config *cfg, const char *server_name) {
  if (!cfg)
    return UV_EINVAL;
  wsf_tls_params p = {.cfg = cfg, .server = false, .server_name = server_name};
  return start_filter(t, &wsf_tls_filter, &p);
}

int wsf_transport_start_tls_server(wsf_transport *t, wsf_tls_config *cfg) {
  if (!cfg)
    return UV_EINVAL;
  wsf_tls_params p = {.cfg = cfg, .server = true, .server_name = NULL};
  return start_filter(t, &wsf_tls_filter, &p);
}

/* Whether the socket holds a reset not yet reported (SO_ERROR, which also clears it). libuv
 * reports UV_EOF without calling read() when epoll says POLLHUP after a partial read
 * (uv__stream_io), and a RST that comes right behind data sets POLLHUP: without this look,
 * 3 of 2,000 RSTs from the mock gateway were recorded as a FIN (tests/slow/test_reconnect_fleet.py). */
static bool reset_pending(wsf_transport *t) {
  uv_os_fd_t fd;
  int err = 0;
  socklen_t len = sizeof err;
  if (uv_fileno((uv_handle_t *)&t->tcp, &fd) != 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return false;
  return err == ECONNRESET || err == EPIPE;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  wsf_transport *t = wsf_container_of(stream, wsf_transport, tcp);
  if (nread == 0 || t->closing || t->ended)
    return;
  if (nread < 0) {
    /* A peer's RST is reported once: when a write took it first (a heartbeat due at that moment),
     * the read after it sees only end-of-file, yet the connection was reset; and libuv may report
     * end-of-file without reading at all (reset_pending). */
    int status = nread == UV_EOF && (t->write_took_reset || reset_pending(t)) ? UV_ECONNRESET : (int)nread;
    if (t->filter) {
      t->filter->ops->on_end(t->filter, status);
    } else {
      end_stream(t, cause_of(status), uv_err_name(status));
    }
    run_after_callback(); /* a restart's thousand closes are a burst too */
    return;
  }
  if (t->filter) {
    t->filter->ops->on_bytes(t->filter, (const uint8_t *)buf->base, (size_t)nread);
  } else if (t->cb->on_data) {
    t->cb->on_data(t, (const uint8_t *)buf->base, (size_t)nread);
  }
  run_after_callback();
}

int wsf_transport_read_start(wsf_transport *t) {
  if (t->closing || t->ended)
    return UV_EINVAL;
  if (t->reading)
    return 0;
  int r = uv_read_start((uv_stream_t *)&t->tcp, wsf_transport_alloc_cb, on_read);
  if (r == 0)
    t->reading = 1;
  return r;
}

void wsf_transport_read_stop(wsf_transport *t) {
  if (!t->reading)
    return;
  t->reading = 0;
  if (!t->closing)
    uv_read_stop((uv_stream_t *)&t->tcp);
}

static void on_write(uv_write_t *req, int status);

/* Hands a block to libuv; it is then in flight until on_write. */
static int submit(wsf_transport *t, write_block *w) {
  w->req.data = t;
  uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
  int r = uv_write(&w->req, (uv_stream_t *)&t->tcp, &buf, 1, on_write);
  if (r < 0)
    return r;
  t->write_in_flight = 1;
  return 0;
}

/* The backlog goes out as one write once nothing is in flight. */
static int submit_backlog(wsf_transport *t) {
  write_block *w = t->backlog;
  if (!w || t->write_in_flight)
    return 0;
  t->backlog = NULL;
  int r = submit(t, w);
  if (r < 0) {
    t->write_pending_bytes -= w->len;
    free(w);
  }
  return r;
}

static void on_write(uv_write_t *req, int status) {
  write_block *w = wsf_container_of(req, write_block, req);
  wsf_transport *t = req->data;
  t->write_in_flight = 0;
  t->write_pending_bytes -= w->len;
  free(w);
  if (status < 0) {
    if (status != UV_ECANCELED)
      end_stream(t, cause_of(status), uv_err_name(status));
    return;
  }
  if (t->closing)
    return;
  int r = submit_backlog(t);
  if (r < 0) {
    end_stream(t, cause_of(r), uv_err_name(r));
    return;
  }
  if (t->cb->on_written)
    t->cb->on_written(t);
  run_after_callback();
}

/* Bytes to the socket as they are (a filter's output, or plain TCP's data). */
static int write_raw(wsf_transport *t, const uint8_t *data, size_t len) {
  uv_stream_t *stream = (uv_stream_t *)&t->tcp;
  if (t->closing || !uv_is_writable(stream))
    return UV_EPIPE;
  if (len > UINT32_MAX)
    return UV_E2BIG; /* uv_buf_t.len is 32-bit on some systems */
  size_t done = 0;
  /* Only try the socket directly when nothing is queued ahead of us. */
  if (t->write_pending_bytes == 0 && !t->connect_req) {
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write(stream, &buf, 1);
    if (n >= 0) {
      done = (size_t)n;
    } else if (n != UV_EAGAIN) {
      t->write_took_reset = cause_of(n) == WSF_END_RESET;
      return n;
    }
  }
  if (done == len)
    return 0;
  size_t rest = len - done;
  if (t->write_in_flight) {
    /* Behind the write in flight: appended to the backlog, which grows by
     * doubling. A peer that never reads (185 MB of pings answered by 2-byte
     * pongs cost +530 MB, mostly one uv_write_t per pong) costs the bytes. */
    write_block *w = t->backlog;
    size_t need = (w ? w->len : 0) + rest;
    if (!w || need > w->cap) {
      size_t cap = w ? w->cap : 4096;
      while (cap < need)
        cap *= 2;
      w = wsf_xrealloc(w, sizeof(*w) + cap); /* bounded by --max-output-bytes upstream */
      if (!t->backlog)
        w->len = 0;
      w->cap = cap;
      t->backlog = w;
    }
    memcpy(w->data + w->len, data + done, rest);
    w->len += rest;
    t->write_pending_bytes += rest;
    return 0;
  }
  write_block *w = wsf_xmalloc(sizeof(*w) + rest);
  w->len = w->cap = rest;
  memcpy(w->data, data + done, rest);
  int r = submit(t, w);
  if (r < 0) {
    free(w);
    return r;
  }
  t->write_pending_bytes += rest;
  return 0;
}

int wsf_transport_write(wsf_transport *t, const uint8_t *data, size_t len) {
  if (t->closing || t->ended)
    return UV_EPIPE;
  if (len == 0)
    return 0;
  if (t->filter)
    return t->filter->ops->write(t->filter, data, len);
  return write_raw(t, data, len);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status; /* a failed FIN shows up as a read or write error */
  free(req);
}

void wsf_transport_shutdown(wsf_transport *t) {
  if (t->closing)
    return;
  if (t->filter)
    t->filter->ops->shutdown(t->filter);
  uv_stream_t *stream = (uv_stream_t *)&t->tcp;
  if (!uv_is_writable(stream))
    return; /* not connected, or already shut */
  /* libuv sends the FIN after the writes it holds: the backlog must be one of them. */
  if (t->backlog) {
    write_block *w = t->backlog;
    t->backlog = NULL;
    if (submit(t, w) < 0) {
      t->write_pending_bytes -= w->len;
      free(w);
    }
  }
  uv_shutdown_t *req = wsf_xmalloc(sizeof(*req));
  /* libuv sends the FIN after the queued writes are flushed. */
  if (uv_shutdown(req, stream, on_shutdown) < 0)
    free(req);
}

static void on_close(uv_handle_t *handle) {
  wsf_transport *t = wsf_container_of(handle, wsf_transport, tcp);
  if (t->backlog) { /* never handed to libuv */
    t->write_pending_bytes -= t->backlog->len;
    free(t->backlog);
    t->backlog = NULL;
  }
  if (t->filter) {
    t->filter->ops->free(t->filter);
    t->filter = NULL;
  }
  if (t->cb->on_closed)
    t->cb->on_closed(t);
}

void wsf_transport_close(wsf_transport *t, bool abort) {
  if (t->closing)
    return;
  t->closing = 1;
  t->reading = 0;
  if (abort && uv_tcp_close_reset(&t->tcp, on_close) == 0)
    return;
  if (abort) {
    /* uv_tcp_close_reset refuses while a shutdown is pending; a zero linger
     * makes close(2) send the RST all the same. No socket: nothing to reset. */
    uv_os_fd_t fd;
    struct linger l = {1, 0};
    if (uv_fileno((uv_handle_t *)&t->tcp, &fd) == 0)
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  uv_close((uv_handle_t *)&t->tcp, on_close);
}
