/* Who may talk to the daemon: the Unix and loopback-TCP listeners, the token,
 * and the limits on clients before they authenticate. */
#include "rpc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void refuse_client(wsf_ctl *ctl, enum ctl_limit limit, const char *message) {
  bool was_in_read = ctl->in_read;
  ctl->in_read = true; /* flushed here, not by the flusher */
  rpc_send_ctl_limit(ctl, 0, limit, message);
  rpc_ctl_flush(ctl);
  ctl->in_read = was_in_read;
  rpc_ctl_close(ctl);
}

/* The oldest TCP client that has not authenticated (the list is newest first). */
static wsf_ctl *oldest_unauthenticated(wsf_rpc *rpc) {
  wsf_ctl *found = NULL;
  for (wsf_ctl *c = rpc->clients; c; c = c->next)
    if (c->is_tcp && !c->authed)
      found = c;
  return found;
}

static void on_auth_deadline(wsf_timer *t) {
  char msg[96];
  snprintf(msg, sizeof msg, "no hello with the token within %u ms; closing", AUTH_TIMEOUT_MS);
  refuse_client(wsf_container_of(t, wsf_ctl, auth_deadline), CTL_AUTH_TIMEOUT_MS, msg);
}

static void accept_client(uv_stream_t *server, bool is_tcp) {
  wsf_daemon *d = server->data;
  wsf_rpc *rpc = d->rpc;
  /* Unauthenticated TCP clients: the oldest makes room for the newest, so
   * idle connections cannot keep the one with the token out. */
  if (is_tcp && rpc->unauthenticated >= MAX_UNAUTHENTICATED)
    refuse_client(oldest_unauthenticated(rpc), CTL_MAX_UNAUTHENTICATED,
                  "too many TCP clients without the token (max_unauthenticated); closing the oldest");
  bool refused = d->control_clients >= d->cfg.max_control_clients;
  wsf_ctl *ctl = wsf_xcalloc(1, sizeof *ctl);
  ctl->d = d;
  ctl->is_tcp = is_tcp;
  ctl->refs = 1;
  wsf_timer_init(&ctl->auth_deadline, on_auth_deadline);
  int rv = is_tcp ? uv_tcp_init(d->loop, &ctl->h.tcp) : uv_pipe_init(d->loop, &ctl->h.pipe, 0);
  if (rv != 0) {
    free(ctl);
    return;
  }
  ctl->h.handle.data = ctl;
  ctl->dec = wsf_rpc_decoder_new(d->cfg.max_request_bytes);
  msgpack_sbuffer_init(&ctl->out);
  msgpack_packer_init(&ctl->pk, &ctl->out, rpc_sbuffer_write);
  ctl->next = rpc->clients;
  if (rpc->clients)
    rpc->clients->prev = ctl;
  rpc->clients = ctl;
  d->control_clients++;
  if (is_tcp) {
    rpc->unauthenticated++;
    if (ctl->dec)
      wsf_rpc_decoder_set_limits(ctl->dec, PREAUTH_MAX_REQUEST_BYTES, PREAUTH_MAX_OBJECTS);
  }
  if (!ctl->dec || uv_accept(server, &ctl->h.stream) != 0) {
    rpc_ctl_close(ctl);
    return;
  }
  /* Over the limit: accepted only to be told so, then closed, so the
   * backlog does not keep it (and its descriptor) waiting. */
  if (refused) {
    refuse_client(ctl, CTL_MAX_CONTROL_CLIENTS, "too many control clients (max_control_clients); closing");
    return;
  }
  if (is_tcp)
    wsf_timer_start(&d->timers, &ctl->auth_deadline, (uint64_t)AUTH_TIMEOUT_MS * 1000);
  if (uv_read_start(&ctl->h.stream, rpc_ctl_alloc, rpc_on_ctl_read) != 0)
    rpc_ctl_close(ctl);
}

static void on_unix_connection(uv_stream_t *server, int status) {
  if (status == 0)
    accept_client(server, false);
}

static void on_tcp_connection(uv_stream_t *server, int status) {
  if (status == 0)
    accept_client(server, true);
}

/* ---- authentication ------------------------------------------------------------------ */

bool rpc_authenticate(wsf_ctl *ctl, const wsf_rpc_request *req) {
  if (!ctl->is_tcp || ctl->authed)
    return true;
  const char *token;
  size_t len;
  wsf_rpc *rpc = ctl->d->rpc;
  if (wsf_rpc_method_is(req, "hello") && wsf_field_str(req->params, "token", &token, &len) == WSF_FIELD_OK &&
      len == 64 && CRYPTO_memcmp(token, rpc->token, 64) == 0) {
    ctl->authed = true;
    rpc->unauthenticated--;
    wsf_timer_stop(&ctl->d->timers, &ctl->auth_deadline);
    wsf_rpc_decoder_set_limits(ctl->dec, ctl->d->cfg.max_request_bytes, WSF_RPC_DEFAULT_MAX_OBJECTS);
    return true;
  }
  rpc_send_error(ctl, req->msgid, "unauthorized",
                 "the first request on TCP must be hello with the right token");
  rpc_ctl_flush(ctl);
  rpc_ctl_close(ctl);
  return false;
}

/* ---- listening ------------------------------------------------------------------------ */

static bool is_hex64(const char *s, size_t len) {
  if (len == 65 && s[64] == '\n') /* written by hand with a final newline */
    len = 64;
  if (len != 64)
    return false;
  for (size_t i = 0; i < 64; i++)
    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
      return false;
  return true;
}

/* An existing token file must be ours, closed to others and hold the token:
 * one another user planted, or could read, would hand them the TCP control. */
static int load_or_create_token(wsf_rpc *rpc, const char *path) {
  char err[512];
  char *data;
  size_t len;
  struct stat st;
  if (lstat(path, &st) == 0 || errno != ENOENT) {
    if (wsf_read_regular_file(path, 65, true, &data, &len, err, sizeof err) != 0) {
      wsf_log(WSF_LOG_ERROR, "token file %s", err);
      return -1;
    }
    bool ok = is_hex64(data, len);
    if (ok)
      memcpy(rpc->token, data, 64);
    free(data);
    if (!ok) {
      wsf_log(WSF_LOG_ERROR, "token file %s must hold 64 hex characters", path);
      return -1;
    }
    rpc->token[64] = '\0';
    return 0;
  }
  unsigned char raw[32];
  if (wsf_random(raw, sizeof raw) != 0)
    return -1;
  for (int i = 0; i < 32; i++)
    snprintf(rpc->token + 2 * i, 3, "%02x", raw[i]);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, rpc->token, 64) != 64) {
    wsf_log(WSF_LOG_ERROR, "cannot write token file %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

static bool socket_is_live(const char *path) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sun.sun_path)
    return false;
  strcpy(sun.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  bool live = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
  close(fd);
  return live;
}

/* The socket's directory is private (0700, ours): the socket's own mode is
 * not honoured by every system, the directory's is. */
static int prepare_socket_dir(const char *socket_path) {
  char dir[4096], err[4200];
  snprintf(dir, sizeof dir, "%s", socket_path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return 0;
  *slash = '\0';
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    wsf_log(WSF_LOG_ERROR, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  if (wsf_check_private_dir(dir, err, sizeof err) != 0) {
    wsf_log(WSF_LOG_ERROR, "%s", err);
    return -1;
  }
  return 0;
}

/* Every request: a TCP client's first must carry the token. */
static void on_request(wsf_ctl *ctl, const wsf_rpc_request *req) {
  if (rpc_authenticate(ctl, req))
    rpc_dispatch(ctl, req);
}

int wsf_rpc_start(wsf_daemon *d) {
  wsf_rpc *rpc = wsf_xcalloc(1, sizeof *rpc);
  d->rpc = rpc;
  rpc->on_request = on_request;
  rpc_notify_start(d);
  uv_prepare_init(d->loop, &rpc->flusher);
  rpc->flusher.data = rpc;
  uv_prepare_start(&rpc->flusher, rpc_flush_dirty);
  uv_unref((uv_handle_t *)&rpc->flusher);
  const char *path = d->cfg.socket_path;
  if (prepare_socket_dir(path) != 0)
    return -1;
  /* A stale socket from a crashed daemon is replaced; a live one is not. */
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
    if (socket_is_live(path)) {
      wsf_log(WSF_LOG_ERROR, "another wsfleetd is listening on %s", path);
      return -1;
    }
    unlink(path);
  }
  /* TCP first: a client that can connect to the Unix socket (the stub, the tests) takes the daemon
   * as ready, so every listener must be listening by then, and a TCP port already in use must end
   * the daemon before anyone was told it is up. */
  int rv;
  if (d->cfg.control_tcp) {
    struct sockaddr_storage addr;
    if (wsf_parse_addr_port(d->cfg.control_tcp, &addr) != 0) {
      wsf_log(WSF_LOG_ERROR,
              "--control-tcp wants a loopback ADDR:PORT such as 127.0.0.1:7411 or [::1]:7411, got '%s'",
              d->cfg.control_tcp);
      return -1;
    }
    if (!wsf_addr_is_loopback(&addr)) {
      wsf_log(WSF_LOG_ERROR, "--control-tcp binds only to loopback addresses (127.0.0.0/8, ::1)");
      return -1;
    }
    if (!d->cfg.token_file) {
      wsf_log(WSF_LOG_ERROR, "--control-tcp needs --token-file");
      return -1;
    }
    if (load_or_create_token(rpc, d->cfg.token_file) != 0)
      return -1;
    uv_tcp_init(d->loop, &rpc->tcp_listener);
    rpc->tcp_listener.data = d;
    rv = uv_tcp_bind(&rpc->tcp_listener, (const struct sockaddr *)&addr, 0);
    if (rv == 0)
      rv = uv_listen((uv_stream_t *)&rpc->tcp_listener, 1024, on_tcp_connection);
    if (rv != 0) {
      wsf_log(WSF_LOG_ERROR, "cannot listen on %s: %s", d->cfg.control_tcp, uv_strerror(rv));
      return -1;
    }
    rpc->has_tcp = true;
  }
  uv_pipe_init(d->loop, &rpc->unix_listener, 0);
  rpc->unix_listener.data = d;
  mode_t old = umask(0177);
  rv = uv_pipe_bind(&rpc->unix_listener, path);
  umask(old);
  if (rv == 0)
    rv = uv_listen((uv_stream_t *)&rpc->unix_listener, 1024, on_unix_connection);
  if (rv != 0) {
    wsf_log(WSF_LOG_ERROR, "cannot listen on %s: %s", path, uv_strerror(rv));
    return -1;
  }
  chmod(path, 0600);
  rpc->has_unix = true;
  return 0;
}

void wsf_rpc_stop(wsf_daemon *d) {
  wsf_rpc *rpc = d->rpc;
  if (!rpc)
    return;
  if (rpc->has_unix) {
    uv_close((uv_handle_t *)&rpc->unix_listener, NULL);
    unlink(d->cfg.socket_path);
  }
  if (rpc->has_tcp)
    uv_close((uv_handle_t *)&rpc->tcp_listener, NULL);
  rpc->has_unix = rpc->has_tcp = false;
  rpc_flush_dirty(&rpc->flusher);
  while (rpc->clients) {
    rpc_ctl_flush(rpc->clients);
    rpc_ctl_close(rpc->clients);
  }
  uv_close((uv_handle_t *)&rpc->flusher, NULL);
}
