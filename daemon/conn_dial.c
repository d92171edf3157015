/* Opening a connection: the open request (reuse, limits, the upgrade request
 * built up front), admission (handshake cap, connect-rate bucket), DNS,
 * connect to each address in turn, TLS, the HTTP upgrade, the phase
 * timings, and how an open fails (now or from the loop). */
#include "conn_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

/* ---- transport events ------------------------------------------------------------ */

static void send_upgrade(wsf_conn *c);
static void admit_next(wsf_daemon *d);

/* ---- handshake teardown ----------------------------------------------------- */

/* Freed handshake states are kept for the next opens, at most HS_SPARE_MAX, and
 * given back once no open is queued or in flight (conn_give_back_memory). Handed
 * back to malloc while connections were still being allocated, each 2,416-byte
 * state was carved into two connections and a 464-byte remainder nobody asked
 * for: 1.34 MB of free chunks inside the heap, 70 bytes per connection, after
 * 19,000 opens 100 at a time; 0.34 MB with the spares (tests/bench/RESULTS.md). */
#define HS_SPARE_MAX                                                                                         \
  256 /* 614 KB at most (2,400 bytes each): more than 100 opens in flight gain little more */

static wsf_handshake *hs_new(wsf_daemon *d) {
  wsf_handshake *hs = d->hs_spare;
  if (!hs)
    hs = wsf_xmalloc(sizeof *hs);
  else {
    d->hs_spare = hs->next_spare;
    d->n_hs_spare--;
  }
  memset(hs, 0, sizeof *hs);
  return hs;
}

/* Frees what the state owns; false when getaddrinfo still runs: the state is
 * then freed by its callback (on_resolved). */
static bool hs_release(wsf_handshake *hs) {
  if (hs->gai_pending) {
    hs->orphaned = true;
    uv_cancel((uv_req_t *)&hs->gai);
    return false;
  }
  free(hs->addrs);
  if (hs->resp_init)
    wsf_hs_response_free(&hs->resp);
  for (size_t i = 0; i < hs->n_subprotocols; i++)
    free(hs->subprotocols[i]);
  free(hs->subprotocols);
  free(hs->request);
  free(hs->proxy_request);
  free(hs->proxy_resp);
  free(hs->server_name);
  /* The TLS session took its own reference; this one kept the configuration interned until then. */
  wsf_tls_config_release(hs->tls_config);
  free(hs->soon_message);
  return true;
}

static void hs_free(wsf_handshake *hs) {
  if (hs_release(hs))
    free(hs);
}

/* The end of a connection's handshake (open or failed), followed by admit_next, which gives
 * the spares back when nothing is left queued or in flight: the only way into the spares. */
static void hs_keep_spare(wsf_daemon *d, wsf_handshake *hs) {
  if (!hs_release(hs))
    return;
  if (d->n_hs_spare >= HS_SPARE_MAX) {
    free(hs);
    return;
  }
  hs->next_spare = d->hs_spare;
  d->hs_spare = hs;
  d->n_hs_spare++;
}

void conn_release_handshake(wsf_conn *c) {
  if (!c->hs)
    return;
  if (c->admitted) {
    c->d->handshakes_in_flight--;
    c->admitted = 0;
  } else {
    /* still queued for admission: unlink */
    for (wsf_conn **p = &c->d->admit_head, *prev = NULL; *p; prev = *p, p = &(*p)->hs->admit_next)
      if (*p == c) {
        *p = c->hs->admit_next;
        if (c->d->admit_tail == c)
          c->d->admit_tail = prev;
        break;
      }
  }
  c->hs->conn = NULL;
  hs_keep_spare(c->d, c->hs);
  c->hs = NULL;
  admit_next(c->d);
}

/* ---- failing an open ------------------------------------------------------- */

void conn_free_failure(wsf_conn *c) {
  if (!c->failure)
    return;
  free(c->failure->message);
  free(c->failure->body);
  free(c->failure->retry_after);
  free(c->failure);
  c->failure = NULL;
}

void conn_fail_open(wsf_conn *c, wsf_err err, wsf_cause cause, const char *message, int http_status,
                    const char *body, size_t body_len) {
  if (c->state != WSF_CONN_CONNECTING)
    return;
  if (conn_redial_cancel(c)) /* closed, reset or shut down during a reconnect's backoff */
    return;
  wsf_open_failure *f = wsf_xcalloc(1, sizeof *f);
  f->err = err;
  f->message = wsf_xstrndup(message, strlen(message));
  f->http_status = http_status;
  if (body) {
    f->body = wsf_xstrndup(body, body_len);
    f->body_len = body_len;
  }
  const char *retry_after =
      http_status && c->hs && c->hs->resp_init ? wsf_hs_response_header(&c->hs->resp, "retry-after") : NULL;
  if (retry_after)
    f->retry_after = wsf_xstrndup(retry_after, strlen(retry_after));
  c->failure = f;
  if (c->hs && err == WSF_E_TIMEOUT)
    c->hs->phase = c->hs->phase ? c->hs->phase : "connect";
  /* open waits get err; conn_finish() then fails any others with conn_closed */
  wsf_wait *w = c->waits_head;
  while (w) {
    wsf_wait *next = w->next;
    if (w->kind == WSF_WAIT_OPEN) {
      w->error_phase = c->hs ? c->hs->phase : conn_session_phase(c);
      conn_wait_complete(w, err, NULL);
    }
    w = next;
  }
  conn_finish(c, 1006, WSF_BY_NONE, false, cause, NULL, 0, message);
  TELL_OBSERVERS(c->d, handshake_failed, c);
  conn_release_handshake(c);
  conn_close_transport(c, false);
}

static void on_failure_due(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  wsf_handshake *hs = c->hs;
  conn_fail_open(c, hs->soon_err, hs->soon_cause, hs->soon_message, 0, NULL, 0);
}

/* A failure found while starting a handshake step (connect's EMFILE at the fd
 * limit or EADDRNOTAVAIL when ephemeral ports run out; a resolver that refuses
 * at once) is delivered from the loop, never from the call that found it:
 * failing an open admits the next queued one, which may fail the same way at
 * once, and with --max-handshakes 19,000 queued opens recursed that deep
 * (conn_fail_open → admit_next → conn_try_connect → conn_fail_open …) until SIGSEGV. The
 * deadline timer, due now, carries it instead of the connect timeout; the
 * timer pass runs due entries in a loop, so the queue drains iteratively. */
static void fail_open_soon(wsf_conn *c, wsf_err err, wsf_cause cause, const char *message) {
  wsf_handshake *hs = c->hs;
  hs->soon_err = err;
  hs->soon_cause = cause;
  free(hs->soon_message);
  hs->soon_message = wsf_xstrndup(message, strlen(message));
  conn_deadline_in(c, on_failure_due, 0);
}

/* ---- source and destination addresses --------------------------------------------- */

const char *wsf_conn_peer_text(const wsf_conn *c, char buf[64]) {
  return wsf_addr_port_text(&c->peer.sa, buf);
}

const char *wsf_conn_source_text(const wsf_conn *c) {
  return c->source ? c->d->sources.addrs[c->source - 1].text : NULL;
}

static void count_source_failure(wsf_conn *c) {
  if (c->source)
    c->d->sources.addrs[c->source - 1].failures++;
}

/* The words of a failed bind or connect: which limit was hit and what to add
 * (PROTOCOL.md §4 connect_error). binding: the error came from bind(). */
static void describe_connect_error(const wsf_conn *c, int rv, bool binding, char *msg, size_t n) {
  const wsf_handshake *hs = c->hs;
  const char *src = wsf_conn_source_text(c);
  char peer[64], named[270];
  const char *to = wsf_conn_peer_text(c, peer);
  if (!to) {
    snprintf(named, sizeof named, "%s:%u", hs->host, hs->port);
    to = named;
  }
  struct rlimit rl = {0};
  switch (rv) {
  case UV_EADDRNOTAVAIL:
    if (binding)
      snprintf(msg, n,
               "source address %s is not an address of this host (bind: address not available): name one "
               "of its interface addresses",
               src ? src : "?");
    else
      snprintf(msg, n,
               "ephemeral ports exhausted for %s → %s (EADDRNOTAVAIL): add source addresses "
               "(--source-addresses)",
               src ? src : "the default source address", to);
    return;
  case UV_EMFILE:
    getrlimit(RLIMIT_NOFILE, &rl);
    snprintf(msg, n,
             "open-file limit reached (EMFILE, %llu per process): raise the limit (ulimit -n) or run "
             "another daemon",
             (unsigned long long)rl.rlim_cur);
    return;
  case UV_ENFILE:
    snprintf(msg, n, "system-wide open-file limit reached (ENFILE): raise fs.file-max");
    return;
  case UV_EAFNOSUPPORT:
  case UV_EINVAL:
    if (src) {
      snprintf(msg, n, "source address %s cannot reach %s (another address family): %s", src, to,
               uv_err_name(rv));
      return;
    }
    break;
  default:
    break;
  }
  if (src)
    snprintf(msg, n, "connect from %s to %s failed: %s", src, to, uv_err_name(rv));
  else
    snprintf(msg, n, "connect to %s:%u failed: %s", hs->host, hs->port, uv_err_name(rv));
}

void conn_on_connect(wsf_transport *t, int status) {
  wsf_conn *c = conn_of_transport(t);
  wsf_handshake *hs = c->hs;
  if (!hs)
    return;
  if (status != 0) {
    count_source_failure(c);
    if (hs->tried < hs->n_addrs) { /* fall back to the next address of the name */
      conn_close_transport(c, false);
      return; /* conn_on_closed continues with the next address */
    }
    char msg[600];
    describe_connect_error(c, status, false, msg, sizeof msg);
    conn_fail_open(c, WSF_E_CONNECT, WSF_CAUSE_CONNECT_ERROR, msg, 0, NULL, 0);
    return;
  }
  hs->t_connected = wsf_now_us();
  if (hs->proxy_resp) { /* through an HTTP proxy: the CONNECT first (conn_proxy.c) */
    conn_start_proxy(c);
    return;
  }
  hs->t_proxied = hs->t_connected;
  conn_secure_and_upgrade(c);
}

/* TLS (wss://) and then the upgrade, on the connection or the proxy's tunnel. */
void conn_secure_and_upgrade(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  wsf_transport *t = &c->transport;
  if (c->tls) {
    hs->phase = "tls";
    if (wsf_transport_start_tls_client(t, hs->tls_config, hs->server_name) != 0) {
      conn_fail_open(c, WSF_E_TLS, WSF_CAUSE_TLS_ERROR, "cannot start TLS", 0, NULL, 0);
      return;
    }
    wsf_transport_read_start(t);
  } else {
    hs->t_tls = hs->t_proxied;
    send_upgrade(c);
  }
}

void conn_on_tls_done(wsf_transport *t, bool ok, const char *detail) {
  wsf_conn *c = conn_of_transport(t);
  if (!c->hs)
    return;
  if (!ok) {
    conn_fail_open(c, WSF_E_TLS, WSF_CAUSE_TLS_ERROR, detail ? detail : "TLS handshake failed", 0, NULL, 0);
    return;
  }
  c->hs->t_tls = wsf_now_us();
  if (wsf_tls_resumed(t))
    c->d->stats.tls_resumed_total++;
  if (!c->tls_info) /* freed by conn.c, or by conn_reconnect.c before a reopen dials again */
    c->tls_info = wsf_xmalloc(sizeof *c->tls_info);
  *c->tls_info = (struct wsf_conn_tls){wsf_tls_version(t), wsf_tls_cipher(t), wsf_tls_verified(t)};
  send_upgrade(c);
}

/* ---- the handshake ------------------------------------------------------------------ */

void conn_try_connect(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  const struct sockaddr *addr = &hs->addrs[(hs->start + hs->tried++) % hs->n_addrs].sa;
  hs->phase = "connect";
  memset(&c->peer, 0, sizeof c->peer);
  memcpy(&c->peer, addr, addr->sa_family == AF_INET6 ? sizeof c->peer.in6 : sizeof c->peer.in4);
  /* open's source address, else the next address of the named (or default)
   * pool's rotation of the destination's family, else none (the kernel chooses). */
  wsf_source_pool *pool = &c->d->sources;
  int src = hs->source_fixed ? hs->source_fixed - 1
                             : wsf_source_pool_next(pool, hs->source_rotation, addr->sa_family);
  c->source = (uint16_t)(src + 1);
  bool binding = false;
  int rv = wsf_transport_init(c->d->loop, &c->transport, &conn_transport_callbacks);
  if (rv == 0) {
    c->transport_live = 1;
    c->d->live_transports++;
    if (src >= 0) {
      binding = true;
      rv = pool->addrs[src].sa.ss_family == addr->sa_family
               ? wsf_transport_bind_source(&c->transport, (const struct sockaddr *)&pool->addrs[src].sa)
               : UV_EAFNOSUPPORT;
    }
  }
  if (rv == 0) {
    binding = false;
    uv_tcp_nodelay(&c->transport.tcp, 1); /* a load tool measures latency: no Nagle delays */
    rv = wsf_transport_connect(&c->transport, addr);
  }
  if (rv != 0) {
    char msg[600];
    count_source_failure(c);
    describe_connect_error(c, rv, binding, msg, sizeof msg);
    fail_open_soon(c, WSF_E_CONNECT, WSF_CAUSE_CONNECT_ERROR, msg);
  }
}

/* The answer's addresses for this open, starting where the name's rotation
 * says (dns_cache.h: round robin over opens, the rest as fallbacks). */
static void take_addresses(wsf_handshake *hs, wsf_dns_entry *e) {
  hs->n_addrs = e->n;
  hs->addrs = wsf_xmalloc(e->n * sizeof *hs->addrs);
  memcpy(hs->addrs, e->addrs, e->n * sizeof *hs->addrs);
  hs->start = (uint8_t)wsf_dns_entry_start(e);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  wsf_handshake *hs = wsf_container_of(req, wsf_handshake, gai);
  hs->gai_pending = false;
  if (hs->orphaned) {
    if (res)
      uv_freeaddrinfo(res);
    hs_free(hs);
    return;
  }
  wsf_conn *c = hs->conn;
  wsf_daemon *d = c->d;
  hs->t_dns = wsf_now_us();
  wsf_dns_entry *e = status == 0 ? wsf_dns_cache_put(&d->dns, hs->host, hs->port, res, hs->t_dns) : NULL;
  if (res)
    uv_freeaddrinfo(res);
  if (!e) {
    char msg[320];
    d->stats.dns_failures++;
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", hs->host, status ? uv_strerror(status) : "no address");
    conn_fail_open(c, WSF_E_DNS, WSF_CAUSE_DNS_ERROR, msg, 0, NULL, 0);
    return;
  }
  take_addresses(hs, e);
  conn_try_connect(c);
}

static void start_handshake(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  hs->t_admitted = wsf_now_us();
  hs->phase = "dns";
  wsf_dns_addr literal;
  if (uv_ip4_addr(hs->host, hs->port, &literal.in4) == 0 ||
      uv_ip6_addr(hs->host, hs->port, &literal.in6) == 0) {
    hs->n_addrs = 1; /* an address literal needs no lookup */
    hs->addrs = wsf_xmalloc(sizeof *hs->addrs);
    hs->addrs[0] = literal;
    hs->t_dns = hs->t_admitted;
    conn_try_connect(c);
    return;
  }
  wsf_dns_entry *cached = wsf_dns_cache_fresh(&c->d->dns, hs->host, hs->port, hs->t_admitted);
  if (cached) {
    c->d->stats.dns_cache_hits++;
    take_addresses(hs, cached);
    hs->t_dns = wsf_now_us();
    conn_try_connect(c);
    return;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  char port[8];
  snprintf(port, sizeof port, "%u", hs->port);
  int rv = uv_getaddrinfo(c->d->loop, &hs->gai, on_resolved, hs->host, port, &hints);
  if (rv != 0) {
    char msg[320];
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", hs->host, uv_strerror(rv));
    c->d->stats.dns_failures++;
    fail_open_soon(c, WSF_E_DNS, WSF_CAUSE_DNS_ERROR, msg);
    return;
  }
  hs->gai_pending = true;
}

static void send_upgrade(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  hs->phase = "upgrade";
  hs->t_sent = wsf_now_us();
  if (wsf_transport_write(&c->transport, (const uint8_t *)hs->request, hs->request_len) != 0 ||
      wsf_transport_read_start(&c->transport) != 0) {
    conn_fail_open(c, WSF_E_CONNECT, WSF_CAUSE_IO_ERROR, "cannot write the upgrade request", 0, NULL, 0);
    return;
  }
  free(hs->request);
  hs->request = NULL;
}

const char *wsf_conn_response_accept(const wsf_conn *c, char accept[WSF_ACCEPT_LEN + 1]) {
  char key_text[WSF_KEY_LEN + 1];
  EVP_EncodeBlock((unsigned char *)key_text, c->key, sizeof c->key);
  wsf_handshake_accept_for(key_text, WSF_KEY_LEN, accept);
  return accept;
}

/* Keeps the response headers as "name\0value\0..." for the open result and reused opens, shared
 * with the connections that got the same ones. Sec-WebSocket-Accept's value (a hash of this
 * connection's key, so every block would differ) is kept empty: the handshake checked it equals
 * wsf_handshake_accept_for(key), so the key's 16 bytes give it back. */
static void keep_response_headers(wsf_conn *c, const wsf_hs_response *r, const char *key_text) {
  unsigned char raw[18]; /* 24 base64 characters decode to 18 bytes, the last two padding */
  if (EVP_DecodeBlock(raw, (const unsigned char *)key_text, WSF_KEY_LEN) == (int)sizeof raw)
    memcpy(c->key, raw, sizeof c->key);
  size_t len = 0;
  for (size_t i = 0; i < r->n_headers; i++)
    len += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 2;
  char small[1024];
  char *block = len <= sizeof small ? small : wsf_xmalloc(len);
  char *p = block;
  for (size_t i = 0; i < r->n_headers; i++) {
    bool accept = strcmp(r->headers[i].name, "sec-websocket-accept") == 0;
    p = stpcpy(p, r->headers[i].name) + 1;
    p = stpcpy(p, accept ? "" : r->headers[i].value) + 1;
  }
  c->resp_headers = wsf_intern(&c->d->resp_headers, block, (size_t)(p - block));
  c->n_resp_headers = r->n_headers & 0x7f;
  if (block != small)
    free(block);
}
/* conn.h packs these into bit-fields */
_Static_assert(WSF_MAX_HEADERS < 128, "n_resp_headers is a 7-bit field");
_Static_assert(WSF_CONN_STATE_COUNT <= 4, "wsf_conn.state is a 2-bit field");

static void hist_timings(wsf_daemon *d, const wsf_timings *t) {
  wsf_hist_add(&d->stats.hs_dns, t->dns_us);
  wsf_hist_add(&d->stats.hs_connect, t->connect_us);
  if (t->proxy_us)
    wsf_hist_add(&d->stats.hs_proxy, t->proxy_us);
  if (t->tls_us)
    wsf_hist_add(&d->stats.hs_tls, t->tls_us);
  wsf_hist_add(&d->stats.hs_upgrade, t->upgrade_us);
  wsf_hist_add(&d->stats.hs_total, t->total_us);
}

static void became_open(wsf_conn *c, const uint8_t *rest, size_t rest_len,
                        const wsf_deflate_params *deflate) {
  wsf_daemon *d = c->d;
  wsf_handshake *hs = c->hs;
  uint64_t now = wsf_now_us();
  c->timings.queued_us = wsf_timing_us(hs->t_admitted - c->started_us);
  c->timings.dns_us = wsf_timing_us(hs->t_dns - hs->t_admitted);
  c->timings.connect_us = wsf_timing_us(hs->t_connected - hs->t_dns);
  c->timings.proxy_us = wsf_timing_us(hs->t_proxied - hs->t_connected);
  c->timings.tls_us = c->tls ? wsf_timing_us(hs->t_tls - hs->t_proxied) : 0;
  c->timings.upgrade_us = wsf_timing_us(now - hs->t_sent);
  if (hs->resp.subprotocol)
    c->subprotocol = wsf_xstrndup(hs->resp.subprotocol, strlen(hs->resp.subprotocol));
  keep_response_headers(c, &hs->resp, hs->key);
  wsf_timer_stop(&d->timers, &c->deadline);
  conn_release_handshake(c);
  wsf_ws_init(&c->ws, &c->transport, false, c->ws.max_message_bytes, &conn_ws_callbacks);
  if (deflate) {
    wsf_ws_enable_deflate(&c->ws, deflate);
    c->deflate = wsf_xcalloc(1, sizeof *c->deflate);
    c->deflate->agreed = *deflate;
  }
  if (!conn_session_start(c)) /* session steps finish the open themselves */
    conn_open_complete(c);
  if (rest_len && c->state != WSF_CONN_CLOSED) /* frames the server sent right after its 101 */
    wsf_ws_feed(&c->ws, rest, rest_len);
}

void conn_open_complete(wsf_conn *c) {
  wsf_daemon *d = c->d;
  uint64_t now = wsf_now_us();
  c->timings.total_us = wsf_timing_us(now - c->started_us);
  hist_timings(d, &c->timings);
  wsf_timer_stop(&d->timers, &c->deadline);
  c->opened_us = now;
  c->opened_at_ms = wsf_wall_ms();
  c->counted_open = 1;
  d->stats.opened_total++;
  if (c->source)
    d->sources.addrs[c->source - 1].opens++;
  conn_set_state(c, WSF_CONN_OPEN);
  conn_start_keepalive(c);
  if (!conn_redial_opened(c)) /* a reopen is told as `reconnected` instead */
    TELL_OBSERVERS(d, opened, c);
  conn_complete_waits(c, 1u << WSF_WAIT_OPEN, WSF_OK);
}

void conn_handshake_data(wsf_conn *c, const uint8_t *data, size_t len) {
  wsf_handshake *hs = c->hs;
  if (hs->proxy_resp) {
    conn_proxy_data(c, len ? data : NULL, len);
    return;
  }
  size_t consumed = 0;
  wsf_hs_result r = len ? wsf_hs_response_feed(&hs->resp, data, len, &consumed) : WSF_HS_REJECTED;
  switch (r) {
  case WSF_HS_NEED_MORE:
    return;
  case WSF_HS_DONE: {
    wsf_deflate_params agreed;
    char why[WSF_DEFLATE_ERROR_LEN];
    int ext = wsf_deflate_client_check_answer(&hs->deflate, hs->resp.extensions, &agreed, why);
    if (ext < 0) {
      char msg[WSF_DEFLATE_ERROR_LEN + 64];
      snprintf(msg, sizeof msg, "bad Sec-WebSocket-Extensions answer: %s", why);
      conn_fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, hs->resp.status, NULL, 0);
      return;
    }
    became_open(c, data + consumed, len - consumed, ext == 1 ? &agreed : NULL);
    return;
  }
  case WSF_HS_REJECTED: {
    char msg[256];
    if (hs->resp.status != 101)
      snprintf(msg, sizeof msg, "server answered HTTP %d instead of 101", hs->resp.status);
    else
      snprintf(msg, sizeof msg, "%s", hs->resp.error ? hs->resp.error : "bad upgrade response");
    conn_fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, hs->resp.status, hs->resp.body,
                   hs->resp.body_len);
    return;
  }
  default: {
    char msg[256];
    snprintf(msg, sizeof msg, "bad upgrade response: %s", hs->resp.error ? hs->resp.error : "not HTTP");
    conn_fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, hs->resp.status, NULL, 0);
    return;
  }
  }
}

static void on_connect_timeout(wsf_timer *t) {
  wsf_conn *c = wsf_container_of(t, wsf_conn, deadline);
  char msg[128];
  const char *phase = c->hs ? (c->admitted ? c->hs->phase : "queued") : "connect";
  if (c->hs)
    c->hs->phase = phase;
  snprintf(msg, sizeof msg, "open timed out in the %s phase", phase);
  conn_fail_open(c, WSF_E_TIMEOUT, WSF_CAUSE_TIMEOUT, msg, 0, NULL, 0);
}

/* ---- admission ------------------------------------------------------------------------ */

/* A burst of opens or closes leaves freed handshake and request memory that
 * glibc keeps; once the burst is over (at most once a second) it goes back
 * to the system, so RSS reflects the connections held, not the peak. */
void conn_give_back_memory(wsf_daemon *d) {
  while (d->hs_spare) {
    wsf_handshake *hs = d->hs_spare;
    d->hs_spare = hs->next_spare;
    free(hs);
  }
  d->n_hs_spare = 0;
  uint64_t now = wsf_now_us();
  if (now - d->trimmed_us < 1000 * 1000)
    return;
  d->trimmed_us = now;
  malloc_trim(0);
}

void conn_on_admit_timer(wsf_timer *t) {
  wsf_daemon *d = wsf_container_of(t, wsf_daemon, admit_timer);
  admit_next(d);
}

/* Token bucket for --connect-rate (burst of one tenth of a second's worth,
 * at least 1) and a cap on handshakes in flight for --max-handshakes. */
static bool take_token(wsf_daemon *d) {
  double rate = d->cfg.connect_rate;
  if (rate <= 0)
    return true;
  uint64_t now = wsf_now_us();
  double burst = rate / 10 > 1 ? rate / 10 : 1;
  d->rate_tokens += (now - d->rate_refilled_us) * rate / 1e6;
  d->rate_refilled_us = now;
  if (d->rate_tokens > burst)
    d->rate_tokens = burst;
  if (d->rate_tokens >= 1) {
    d->rate_tokens -= 1;
    return true;
  }
  uint64_t wait_us = (uint64_t)((1 - d->rate_tokens) * 1e6 / rate) + 1;
  if (!wsf_timer_active(&d->admit_timer))
    wsf_timer_start(&d->timers, &d->admit_timer, wait_us);
  return false;
}

static bool can_admit(wsf_daemon *d) {
  return !d->cfg.max_handshakes || d->handshakes_in_flight < d->cfg.max_handshakes;
}

static void admit(wsf_conn *c) {
  c->admitted = 1;
  c->d->handshakes_in_flight++;
  start_handshake(c);
}

static void admit_next(wsf_daemon *d) {
  /* Bounded by the queue length; each admitted open leaves the queue. */
  while (d->admit_head && can_admit(d) && take_token(d)) {
    wsf_conn *c = d->admit_head;
    d->admit_head = c->hs->admit_next;
    if (!d->admit_head)
      d->admit_tail = NULL;
    c->hs->admit_next = NULL;
    admit(c);
  }
  if (!d->admit_head && !d->handshakes_in_flight)
    conn_give_back_memory(d);
}

static void enqueue_or_admit(wsf_conn *c) {
  wsf_daemon *d = c->d;
  if (!d->admit_head && can_admit(d) && take_token(d)) {
    admit(c);
    return;
  }
  c->hs->admit_next = NULL;
  if (d->admit_tail)
    d->admit_tail->hs->admit_next = c;
  else
    d->admit_head = c;
  d->admit_tail = c;
}

static void open_error(wsf_daemon *d, wsf_wait *w, wsf_err err, const char *message) {
  /* Errors before a connection exists complete with conn == NULL. */
  (void)d;
  w->conn = NULL;
  w->error_message = message;
  w->done(w, err, NULL);
}

/* Builds the handshake of an open from p: the URL, the source address, the
 * upgrade request (with a fresh Sec-WebSocket-Key), TLS and the proxy, so
 * bad input fails before any I/O. NULL on failure: *err and why (a message
 * written into why) say what. The first open and every reopen of the
 * reconnect policy (conn_reconnect.c) dial through here alike. */
wsf_handshake *conn_build_handshake(wsf_daemon *d, const wsf_open_params *p, bool *tls_out, wsf_err *err,
                                    char *why, size_t why_len) {
#define FAIL(code, ...)                                                                                      \
  do {                                                                                                       \
    *err = (code);                                                                                           \
    snprintf(why, why_len, __VA_ARGS__);                                                                     \
  } while (0)

  /* The parsed URL (4 KiB of resource) lives only until the request is built. */
  wsf_url *url = wsf_xmalloc(sizeof *url);
  const char *url_error = NULL;
  if (wsf_url_parse(p->url, p->url_len, url, &url_error) != 0) {
    free(url);
    FAIL(WSF_E_BAD_REQUEST, "%s", url_error ? url_error : "bad url");
    return NULL;
  }
  int source_fixed = 0, source_rotation = 0;
  if (p->source && (source_rotation = wsf_source_pool_find(&d->sources, p->source, p->source_len)) < 0) {
    source_rotation = 0;
    bool full;
    int i = wsf_source_pool_intern(&d->sources, p->source, p->source_len, &full);
    if (i < 0) {
      free(url);
      FAIL(full ? WSF_E_LIMIT : WSF_E_BAD_REQUEST, "%s",
           full ? "source: the daemon holds 1024 source addresses already (WSF_SOURCE_POOL_MAX)"
                : "field 'source' must be an IPv4 or IPv6 address, or a pool name (--source-pool)");
      return NULL;
    }
    source_fixed = i + 1;
  }
  wsf_handshake *hs = hs_new(d);
  hs->source_fixed = source_fixed;
  hs->source_rotation = (uint8_t)source_rotation;
  memcpy(hs->host, url->host, sizeof hs->host);
  hs->port = url->port;
  bool tls = url->tls;
  /* The request is built up front so bad headers fail the open before any I/O. */
  wsf_header *headers = wsf_xcalloc(p->n_headers ? p->n_headers : 1, sizeof *headers);
  for (size_t i = 0; i < p->n_headers; i++) {
    headers[i].name = wsf_xstrndup(p->header_names[i], p->header_name_lens[i]);
    headers[i].value = wsf_xstrndup(p->header_values[i], p->header_value_lens[i]);
  }
  hs->n_subprotocols = p->n_subprotocols;
  hs->subprotocols = wsf_xcalloc(p->n_subprotocols ? p->n_subprotocols : 1, sizeof *hs->subprotocols);
  for (size_t i = 0; i < p->n_subprotocols; i++)
    hs->subprotocols[i] = wsf_xstrndup(p->subprotocols[i], p->subprotocol_lens[i]);
  const char *req_error = NULL;
  char offer[WSF_DEFLATE_OFFER_LEN];
  hs->deflate = p->deflate;
  int offer_len = wsf_deflate_client_offer(&p->deflate, offer, &req_error);
  if (offer_len >= 0 && wsf_handshake_make_key(hs->key) != 0)
    req_error = "cannot draw a key from the CSPRNG";
  else if (offer_len >= 0)
    hs->request = wsf_handshake_build_request(url, hs->key, headers, p->n_headers,
                                              (const char *const *)hs->subprotocols, hs->n_subprotocols,
                                              offer_len > 0 ? offer : NULL, &hs->request_len, &req_error);
  for (size_t i = 0; i < p->n_headers; i++) {
    free(headers[i].name);
    free(headers[i].value);
  }
  free(headers);
  free(url);
  if (!hs->request) {
    hs_free(hs);
    FAIL(WSF_E_BAD_REQUEST, "%s", req_error ? req_error : "cannot build the upgrade request");
    return NULL;
  }
  if (tls) {
    wsf_tls_options o = {
        .verify = p->tls_verify,
        .ca_file = p->tls_ca_file,
        .cert_file = p->tls_cert_file,
        .key_file = p->tls_key_file,
        .ciphers = p->tls_ciphers,
        .resume = d->cfg.tls_session_cache,
    };
    char tls_err[256] = "";
    hs->tls_config = wsf_tls_config_get(&o, tls_err, sizeof tls_err);
    if (!hs->tls_config) {
      hs_free(hs);
      FAIL(WSF_E_TLS, "%s", tls_err[0] ? tls_err : "bad TLS configuration");
      return NULL;
    }
    const char *sni = p->tls_server_name ? p->tls_server_name : hs->host;
    hs->server_name = wsf_xstrndup(sni, strlen(sni));
  }
  const char *proxy = wsf_proxy_choose(p->proxy, d->cfg.proxy, &d->cfg.proxy_env, hs->host, tls);
  const char *proxy_error = NULL;
  if (proxy && conn_plan_proxy(hs, proxy, &proxy_error) != 0) {
    hs_free(hs);
    FAIL(WSF_E_BAD_REQUEST, "%s", proxy_error);
    return NULL;
  }
  wsf_hs_response_init(&hs->resp, hs->key, (const char *const *)hs->subprotocols, hs->n_subprotocols);
  hs->resp_init = true;
  *tls_out = tls;
  return hs;
#undef FAIL
}

void wsf_conn_open(wsf_daemon *d, const wsf_open_params *p, wsf_wait *w) {
  w->kind = WSF_WAIT_OPEN;
  w->started_us = wsf_now_us();
  w->reused = false;
  wsf_timer_init(&w->timer, conn_on_wait_timeout);
  if (d->shutting_down) {
    open_error(d, w, WSF_E_SHUTTING_DOWN, "the daemon is shutting down");
    return;
  }
  wsf_conn *old = wsf_conn_find(d, p->name, p->name_len);
  if (old && old->state != WSF_CONN_CLOSED) {
    if (p->reuse == WSF_REUSE_NEVER) {
      open_error(d, w, WSF_E_CONN_EXISTS, "a live connection of that name exists (reuse is false)");
      return;
    }
    /* A name reused for another URL is a plan mistake (two thread groups
     * sharing default names): say so rather than hand over a connection to
     * somewhere else. */
    if (p->reuse == WSF_REUSE_SAME_URL &&
        (strlen(old->url) != p->url_len || memcmp(old->url, p->url, p->url_len))) {
      w->conn = old;
      w->requested_url = p->url;
      w->requested_url_len = p->url_len;
      w->done(w, WSF_E_URL_MISMATCH, NULL);
      return;
    }
    w->reused = true;
    old->reused_count++;
    d->stats.reused_total++;
    if (old->state == WSF_CONN_CONNECTING) { /* join the handshake in progress */
      conn_wait_link(old, w);
      return;
    }
    w->conn = old;
    w->done(w, WSF_OK, NULL);
    return;
  }
  if (d->n_connecting + d->n_open + d->n_closing >= d->cfg.max_connections) {
    open_error(d, w, WSF_E_LIMIT, "max_connections reached");
    return;
  }
  bool tls = false;
  wsf_err err = WSF_OK;
  char why[256];
  wsf_handshake *hs = conn_build_handshake(d, p, &tls, &err, why, sizeof why);
  if (!hs) {
    open_error(d, w, err, why);
    return;
  }

  if (old)
    conn_forget(old); /* a closed connection's record and inbox go when its name is reopened */

  wsf_conn *c = wsf_xcalloc(1, sizeof *c + p->name_len + 1 + p->url_len + 1);
  c->name = memcpy(c->strings, p->name, p->name_len); /* calloc: NUL-terminated */
  c->url = memcpy(c->name + p->name_len + 1, p->url, p->url_len);
  c->d = d;
  c->hs = hs;
  hs->conn = c;
  c->tls = tls;
  c->state = WSF_CONN_CONNECTING;
  d->n_connecting++;
  c->started_us = w->started_us;
  c->last_sent_us = c->last_recv_us = c->last_ping_us = c->last_pong_us = WSF_NEVER;
  c->ws.max_message_bytes = p->max_message_bytes; /* wsf_ws_init keeps it (conn.h) */
  wsf_inbox_init(&c->inbox, p->inbox_max_messages, p->inbox_max_bytes);
  c->ka = wsf_keepalive_intern(d, p->keepalive);
  conn_proto_attach(c, p->proto, p->connect_timeout_ms);
  wsf_timer_init(&c->deadline, on_connect_timeout); /* shared with ka_timer (conn.h) */
  wsf_timer_init(&c->pong_timer, conn_on_pong_timeout);
  wsf_registry_put(&d->conns, c);
  conn_wait_link(c, w);
  if (p->reconnect.max)
    conn_redial_init(c, p);
  if (p->rate_limit.messages)
    conn_pace_init(c, &p->rate_limit);
  conn_start_dial(c, p->connect_timeout_ms);
}

/* The dial of a connection holding its handshake: the connect deadline, then admission. */
void conn_start_dial(wsf_conn *c, uint32_t connect_timeout_ms) {
  conn_deadline_in(c, on_connect_timeout, (uint64_t)connect_timeout_ms * 1000);
  enqueue_or_admit(c);
}
