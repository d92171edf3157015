/* The listening socket, the session list, the open-session count that drives
 * overload mode, the gateway-wide events (restart, black hole), and the
 * counters. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mockgw.h"
#include "util.h"

static void on_connection(uv_stream_t *server, int status) {
  mgw_gateway *gw = server->data;
  if (status < 0) {
    /* EMFILE and friends: the client sees a refused or stalled connect. */
    wsf_log(WSF_LOG_WARN, "mockgw: accept: %s", uv_strerror(status));
    return;
  }
  mgw_session_accept(gw);
}

/* --restart-at: every open session gets the restart close frame at once;
 * the gateway keeps accepting (the next instance is already up). */
static void on_restart(wsf_timer *t) {
  mgw_gateway *gw = wsf_container_of(t, mgw_gateway, restart_timer);
  if (!gw->cfg.quiet)
    fprintf(stderr, "mockgw restart open=%u code=%u\n", gw->open_count, gw->cfg.restart_close.code);
  for (mgw_session *s = gw->sessions; s; s = s->next)
    if (s->state == MGW_S_OPEN)
      mgw_session_close(s, MGW_REASON_RESTART, &gw->cfg.restart_close);
}

/* --black-hole-after: from now on nothing is answered, sessions and upgrades alike. */
static void on_black_hole(wsf_timer *t) {
  mgw_gateway *gw = wsf_container_of(t, mgw_gateway, black_hole_timer);
  gw->black_hole = true;
  if (!gw->cfg.quiet)
    fprintf(stderr, "mockgw black_hole open=%u\n", gw->open_count);
  for (mgw_session *s = gw->sessions; s; s = s->next)
    mgw_session_black_hole(s);
}

/* libuv 1.44 has no reuse-port flag on bind: the socket is made here with SO_REUSEPORT set, and
 * the handle adopts it before uv_tcp_bind (which binds an adopted socket as it is). */
static int adopt_reuse_port_socket(uv_tcp_t *listener, int family) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0 ? 0 : -errno;
  if (rc == 0)
    rc = uv_tcp_open(listener, fd);
  if (rc != 0)
    close(fd);
  return rc;
}

int mgw_gateway_start(mgw_gateway *gw, uv_loop_t *loop, int *bound_port, char *err, size_t errlen) {
  gw->loop = loop;
  gw->started_us = wsf_now_us();
  gw->next_id = 1;
  gw->rng = gw->cfg.seed;
  if (wsf_timers_init(loop, &gw->timers) != 0) {
    snprintf(err, errlen, "cannot start timers");
    return -1;
  }
  wsf_timer_init(&gw->restart_timer, on_restart);
  wsf_timer_init(&gw->black_hole_timer, on_black_hole);
  if (gw->cfg.restart_at_us)
    wsf_timer_start(&gw->timers, &gw->restart_timer, gw->cfg.restart_at_us);
  if (gw->cfg.black_hole_after_us)
    wsf_timer_start(&gw->timers, &gw->black_hole_timer, gw->cfg.black_hole_after_us);
  if (gw->cfg.tls_cert) {
    wsf_tls_options o = {.server = true,
                         .cert_file = gw->cfg.tls_cert,
                         .key_file = gw->cfg.tls_key,
                         .resume = gw->cfg.tls_tickets};
    gw->tls = wsf_tls_config_get(&o, err, errlen);
    if (!gw->tls)
      return -1;
  }
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
  } addr;
  int rc = strchr(gw->cfg.host, ':') ? uv_ip6_addr(gw->cfg.host, gw->cfg.port, &addr.in6)
                                     : uv_ip4_addr(gw->cfg.host, gw->cfg.port, &addr.in4);
  if (rc == 0)
    rc = uv_tcp_init(loop, &gw->listener);
  if (rc != 0) {
    snprintf(err, errlen, "bad address %s: %s", gw->cfg.host, uv_strerror(rc));
    return -1;
  }
  gw->listener.data = gw;
  if (gw->cfg.reuse_port)
    rc = adopt_reuse_port_socket(&gw->listener, addr.sa.sa_family);
  if (rc == 0)
    rc = uv_tcp_bind(&gw->listener, &addr.sa, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&gw->listener, 4096, on_connection);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s", gw->cfg.host, gw->cfg.port, uv_strerror(rc));
    return -1;
  }
  int alen = sizeof addr;
  rc = uv_tcp_getsockname(&gw->listener, &addr.sa, &alen);
  if (rc != 0) {
    snprintf(err, errlen, "getsockname: %s", uv_strerror(rc));
    return -1;
  }
  *bound_port = ntohs(addr.sa.sa_family == AF_INET6 ? addr.in6.sin6_port : addr.in4.sin_port);
  return 0;
}

/* Closes the listener and aborts every session; the loop then runs dry. */
void mgw_gateway_stop(mgw_gateway *gw) {
  if (gw->stopping)
    return;
  gw->stopping = true;
  if (!uv_is_closing((uv_handle_t *)&gw->listener))
    uv_close((uv_handle_t *)&gw->listener, NULL);
  for (mgw_session *s = gw->sessions, *next; s; s = next) {
    next = s->next;
    mgw_session_abort(s);
  }
  wsf_timers_close(&gw->timers);
}

static void overload_update(mgw_gateway *gw) {
  if (!gw->cfg.overload_above)
    return;
  bool want = gw->open_count > gw->cfg.overload_above;
  if (want == gw->overloaded)
    return;
  gw->overloaded = want;
  if (want) {
    gw->c.overload_engaged++;
    if (!gw->cfg.quiet)
      fprintf(stderr, "mockgw overload engaged open=%u idle_timeout_s=%.3f\n", gw->open_count,
              gw->cfg.overload_idle_timeout_us / 1e6);
    /* Shorter deadlines: pull every session's timer in now. Longer ones
     * (on disengage) are picked up lazily when the early timers fire. */
    mgw_policy_engage(gw);
  } else {
    gw->c.overload_disengaged++;
    if (!gw->cfg.quiet)
      fprintf(stderr, "mockgw overload disengaged open=%u idle_timeout_s=%.3f\n", gw->open_count,
              gw->cfg.idle_timeout_us / 1e6);
  }
}

void mgw_gateway_session_opened(mgw_gateway *gw, mgw_session *s) {
  (void)s;
  gw->open_count++;
  if (gw->open_count > gw->c.max_open)
    gw->c.max_open = gw->open_count;
  overload_update(gw);
}

void mgw_gateway_session_left(mgw_gateway *gw, mgw_session *s) {
  (void)s;
  gw->open_count--;
  overload_update(gw);
}

void mgw_gateway_stats_json(const mgw_gateway *gw, char *buf, size_t buflen) {
  const mgw_counters *c = &gw->c;
  char drops[512];
  size_t n = 0;
  for (int r = 0; r < MGW_REASON_COUNT; r++)
    n += (size_t)snprintf(drops + n, sizeof drops - n, "%s\"%s\":%llu", r ? "," : "",
                          mgw_drop_reason_name((mgw_drop_reason)r), (unsigned long long)c->drops[r]);
  snprintf(buf, buflen,
           "{\"event\":\"stats\",\"uptime_s\":%.3f,\"time_scale\":%g,\"open\":%u,\"max_open\":%u,"
           "\"overloaded\":%s,\"black_hole\":%s,\"accepted\":%llu,\"handshakes\":%llu,\"rejected_bad_"
           "request\":%llu,"
           "\"rejected_cap\":%llu,\"cap_events\":%llu,\"cap_closes\":%llu,\"black_hole_handshakes\":%llu,"
           "\"tls_failures\":%llu,\"client_close_frames\":%llu,\"client_eofs\":%llu,\"client_resets\":%llu,"
           "\"protocol_errors\":%llu,\"drops\":{%s},\"overload_engaged\":%llu,\"overload_disengaged\":%llu,"
           "\"msgs_in\":%llu,\"msgs_out\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
           "\"pings_in\":%llu,\"pongs_in\":%llu,\"pings_out\":%llu,"
           "\"rate_limited\":%llu,\"bad_requests\":%llu,\"agent_replies\":%llu}",
           (wsf_now_us() - gw->started_us) / 1e6, gw->cfg.time_scale, gw->open_count, c->max_open,
           gw->overloaded ? "true" : "false", gw->black_hole ? "true" : "false",
           (unsigned long long)c->accepted, (unsigned long long)c->handshakes,
           (unsigned long long)c->rejected_bad_request, (unsigned long long)c->rejected_cap,
           (unsigned long long)c->cap_events, (unsigned long long)c->cap_closes,
           (unsigned long long)c->black_hole_handshakes, (unsigned long long)c->tls_failures,
           (unsigned long long)c->client_close_frames, (unsigned long long)c->client_eofs,
           (unsigned long long)c->client_resets, (unsigned long long)c->protocol_errors, drops,
           (unsigned long long)c->overload_engaged, (unsigned long long)c->overload_disengaged,
           (unsigned long long)c->msgs_in, (unsigned long long)c->msgs_out, (unsigned long long)c->bytes_in,
           (unsigned long long)c->bytes_out, (unsigned long long)c->pings_in, (unsigned long long)c->pongs_in,
           (unsigned long long)c->pings_out, (unsigned long long)c->rate_limited,
           (unsigned long long)c->bad_requests, (unsigned long long)c->agent_replies);
}
