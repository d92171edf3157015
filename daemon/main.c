/* wsfleetd: holds WebSocket client connections for load tests and takes
 * commands over a control socket (protocol/PROTOCOL.md). */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "metrics.h"
#include "observe.h"
#include "rpc.h"
#include "tls.h"
#include "transport.h"
#include "util.h"

typedef struct wsf_main {
  wsf_daemon d;
  uv_signal_t sigterm, sigint, sighup;
  uv_pipe_t lifeline; /* --lifeline-fd: the parent's end going away shuts us down */
  int lifeline_fd;    /* -1 = none */
  uv_timer_t shutdown_timer;
  uv_timer_t drain_poll;
  uint64_t shutdown_started_us;
} wsf_main;

static void usage(FILE *f) {
  fputs("usage: wsfleetd [options]\n"
        "  --socket PATH              control socket (default $XDG_RUNTIME_DIR/wsfleet/wsfleetd.sock,\n"
        "                             else /tmp/wsfleet-$UID/wsfleetd.sock)\n"
        "  --control-tcp ADDR:PORT    also accept control clients on loopback TCP (needs --token-file)\n"
        "  --token-file FILE          token for TCP control (created 0600 if missing)\n"
        "  --events FILE              append lifecycle events as JSON lines\n"
        "  --snapshot-interval-ms N   a snapshot event in the event log every N ms, 0 = none (1000)\n"
        "  --metrics ADDR:PORT        Prometheus metrics on loopback HTTP\n"
        "  --max-connections N        (19000)\n"
        "  --max-request-bytes N      control request size limit (max-message-bytes + 65536)\n"
        "  --max-control-clients N    control clients at once, Unix and TCP (64)\n"
        "  --max-control-output-bytes N  responses a control client has not read; it is closed\n"
        "                             above (64 MiB or 2 x max-request-bytes, at least max-request-bytes)\n"
        "  --max-message-bytes N      incoming message size limit, 1009 above (16777216)\n"
        "  --inbox-max-messages N     per connection (1000)\n"
        "  --inbox-max-bytes N        per connection (1048576)\n"
        "  --max-name-bytes N         (256)\n"
        "  --max-output-bytes N       per connection, unsent to the peer: send refused and reading\n"
        "                             paused above it (33554432)\n"
        "  --output-stall-ms N        over max-output-bytes this long ends it: output_stalled (10000)\n"
        "  --max-records N            close records kept, oldest forgotten first (50000)\n"
        "  --max-closed-inbox-bytes N unread messages kept by ended connections, all together,\n"
        "                             oldest endings' dropped first (67108864)\n"
        "  --max-handshakes N         handshakes in flight, 0 = unlimited (0)\n"
        "  --connect-rate R           new connections per second, 0 = unlimited (0)\n"
        "  --connect-timeout-ms N     whole open: DNS+TCP+TLS+upgrade (10000)\n"
        "  --shutdown-timeout-ms N    wait for close handshakes on SIGTERM (2000)\n"
        "  --keepalive-mode MODE      none|ping|text|binary (none)\n"
        "  --keepalive-interval-ms N  (25000)\n"
        "  --keepalive-jitter-ms N    (interval/10)\n"
        "  --keepalive-payload STR    heartbeat message or ping payload\n"
        "  --pong-timeout-ms N        (10000)\n"
        "  --tls-ca-file FILE         trust anchors for wss:// (default: system store)\n"
        "  --tls-cert-file FILE       client certificate\n"
        "  --tls-key-file FILE\n"
        "  --tls-ciphers LIST\n"
        "  --tls-insecure             do not verify servers (tests only)\n"
        "  --tls-session-cache        resume TLS sessions: the latest per gateway address and\n"
        "                             server name (4 KiB less per wss:// connection, half the\n"
        "                             handshake CPU; off: a full handshake every open)\n"
        "  --proxy URL                HTTP CONNECT proxy for opens without their own proxy:\n"
        "                             http://[user:pass@]host:port or none (default: the\n"
        "                             https_proxy/http_proxy/no_proxy environment)\n"
        "  --lifeline-fd N            shut down (as on SIGTERM) when fd N, a pipe or socket the\n"
        "                             parent holds the other end of, reaches EOF or fails:\n"
        "                             the daemon dies with its parent, kill -9 included\n"
        "  --log-level LEVEL          error|warn|info|debug (info)\n"
        "  --priority nice:N|rr:N|fifo:N  scheduling priority (README: what each needs)\n"
        "  --dns-cache-ms N           how long a name's addresses are used before a new lookup;\n"
        "                             opens rotate over them (30000, 0 = look up every open)\n"
        "  --source-addresses LIST|RANGE  source addresses opens rotate over, e.g.\n"
        "                             127.0.0.1-127.0.0.8,127.0.1.1 (none: the kernel chooses)\n"
        "  --source-pool NAME=LIST|RANGE  a named pool open's source can name (repeatable, 16 at most)\n"
        "  --version, --help\n",
        f);
}

/* --source-addresses (the default pool) first, then each --source-pool NAME=SPEC. */
static int parse_source_pools(wsf_source_pool *pool, const wsf_config *cfg) {
  char err[160];
  wsf_source_pool_init(pool);
  if (cfg->source_addresses &&
      wsf_source_pool_parse(pool, "default", cfg->source_addresses, err, sizeof err) != 0) {
    fprintf(stderr, "wsfleetd: --source-addresses: %s\n", err);
    wsf_source_pool_free(pool);
    return -1;
  }
  for (unsigned i = 0; i < cfg->n_source_pools; i++) {
    const char *eq = strchr(cfg->source_pools[i], '=');
    char name[WSF_SOURCE_POOL_NAME_MAX + 2];
    size_t len = eq ? (size_t)(eq - cfg->source_pools[i]) : 0;
    if (!eq || len == 0 || len >= sizeof name) {
      fprintf(stderr, "wsfleetd: --source-pool %s: expected NAME=LIST|RANGE\n", cfg->source_pools[i]);
      wsf_source_pool_free(pool);
      return -1;
    }
    memcpy(name, cfg->source_pools[i], len);
    name[len] = '\0';
    if (strcmp(name, "default") == 0 || wsf_source_pool_parse(pool, name, eq + 1, err, sizeof err) != 0) {
      fprintf(stderr, "wsfleetd: --source-pool %s: %s\n", cfg->source_pools[i],
              strcmp(name, "default") == 0 ? "'default' is --source-addresses" : err);
      wsf_source_pool_free(pool);
      return -1;
    }
  }
  return 0;
}

static int parse_u64(const char *s, uint64_t *v) {
  char *end;
  if (!s || !*s || *s == '-')
    return -1;
  unsigned long long x = strtoull(s, &end, 10);
  if (*end)
    return -1;
  *v = x;
  return 0;
}

static char *default_socket_path(void) {
  char buf[4096];
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg)
    snprintf(buf, sizeof buf, "%s/wsfleet/wsfleetd.sock", xdg);
  else
    snprintf(buf, sizeof buf, "/tmp/wsfleet-%u/wsfleetd.sock", (unsigned)getuid());
  return strdup(buf);
}

enum {
  OPT_SOCKET = 256,
  OPT_CONTROL_TCP,
  OPT_TOKEN_FILE,
  OPT_EVENTS,
  OPT_SNAPSHOT_INTERVAL,
  OPT_METRICS,
  OPT_MAX_CONNECTIONS,
  OPT_MAX_REQUEST_BYTES,
  OPT_MAX_CONTROL_CLIENTS,
  OPT_MAX_CONTROL_OUTPUT,
  OPT_MAX_MESSAGE_BYTES,
  OPT_INBOX_MAX_MESSAGES,
  OPT_INBOX_MAX_BYTES,
  OPT_MAX_NAME_BYTES,
  OPT_MAX_HANDSHAKES,
  OPT_CONNECT_RATE,
  OPT_CONNECT_TIMEOUT,
  OPT_DNS_CACHE,
  OPT_SHUTDOWN_TIMEOUT,
  OPT_MAX_OUTPUT_BYTES,
  OPT_OUTPUT_STALL,
  OPT_MAX_RECORDS,
  OPT_MAX_CLOSED_INBOX,
  OPT_KA_MODE,
  OPT_KA_INTERVAL,
  OPT_KA_JITTER,
  OPT_KA_PAYLOAD,
  OPT_PONG_TIMEOUT,
  OPT_TLS_CA,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_TLS_CIPHERS,
  OPT_TLS_INSECURE,
  OPT_TLS_SESSION_CACHE,
  OPT_PROXY,
  OPT_LIFELINE_FD,
  OPT_LOG_LEVEL,
  OPT_PRIORITY,
  OPT_SOURCE_ADDRESSES,
  OPT_SOURCE_POOL,
  OPT_VERSION,
  OPT_HELP,
};

static const struct option options[] = {
    {"socket", required_argument, 0, OPT_SOCKET},
    {"control-tcp", required_argument, 0, OPT_CONTROL_TCP},
    {"token-file", required_argument, 0, OPT_TOKEN_FILE},
    {"events", required_argument, 0, OPT_EVENTS},
    {"snapshot-interval-ms", required_argument, 0, OPT_SNAPSHOT_INTERVAL},
    {"metrics", required_argument, 0, OPT_METRICS},
    {"max-connections", required_argument, 0, OPT_MAX_CONNECTIONS},
    {"max-request-bytes", required_argument, 0, OPT_MAX_REQUEST_BYTES},
    {"max-control-clients", required_argument, 0, OPT_MAX_CONTROL_CLIENTS},
    {"max-control-output-bytes", required_argument, 0, OPT_MAX_CONTROL_OUTPUT},
    {"max-message-bytes", required_argument, 0, OPT_MAX_MESSAGE_BYTES},
    {"inbox-max-messages", required_argument, 0, OPT_INBOX_MAX_MESSAGES},
    {"inbox-max-bytes", required_argument, 0, OPT_INBOX_MAX_BYTES},
    {"max-name-bytes", required_argument, 0, OPT_MAX_NAME_BYTES},
    {"max-handshakes", required_argument, 0, OPT_MAX_HANDSHAKES},
    {"connect-rate", required_argument, 0, OPT_CONNECT_RATE},
    {"connect-timeout-ms", required_argument, 0, OPT_CONNECT_TIMEOUT},
    {"dns-cache-ms", required_argument, 0, OPT_DNS_CACHE},
    {"shutdown-timeout-ms", required_argument, 0, OPT_SHUTDOWN_TIMEOUT},
    {"max-output-bytes", required_argument, 0, OPT_MAX_OUTPUT_BYTES},
    {"output-stall-ms", required_argument, 0, OPT_OUTPUT_STALL},
    {"max-records", required_argument, 0, OPT_MAX_RECORDS},
    {"max-closed-inbox-bytes", required_argument, 0, OPT_MAX_CLOSED_INBOX},
    {"keepalive-mode", required_argument, 0, OPT_KA_MODE},
    {"keepalive-interval-ms", required_argument, 0, OPT_KA_INTERVAL},
    {"keepalive-jitter-ms", required_argument, 0, OPT_KA_JITTER},
    {"keepalive-payload", required_argument, 0, OPT_KA_PAYLOAD},
    {"pong-timeout-ms", required_argument, 0, OPT_PONG_TIMEOUT},
    {"tls-ca-file", required_argument, 0, OPT_TLS_CA},
    {"tls-cert-file", required_argument, 0, OPT_TLS_CERT},
    {"tls-key-file", required_argument, 0, OPT_TLS_KEY},
    {"tls-ciphers", required_argument, 0, OPT_TLS_CIPHERS},
    {"proxy", required_argument, 0, OPT_PROXY},
    {"tls-insecure", no_argument, 0, OPT_TLS_INSECURE},
    {"tls-session-cache", no_argument, 0, OPT_TLS_SESSION_CACHE},
    {"lifeline-fd", required_argument, 0, OPT_LIFELINE_FD},
    {"log-level", required_argument, 0, OPT_LOG_LEVEL},
    {"priority", required_argument, 0, OPT_PRIORITY},
    {"source-addresses", required_argument, 0, OPT_SOURCE_ADDRESSES},
    {"source-pool", required_argument, 0, OPT_SOURCE_POOL},
    {"version", no_argument, 0, OPT_VERSION},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

/* The lower-case name first, as curl reads them. */
static const char *env_either(const char *lower, const char *upper) {
  const char *v = getenv(lower);
  return v && *v ? v : getenv(upper);
}

static wsf_proxy_env proxy_environment(void) {
  return (wsf_proxy_env){
      .http_proxy = env_either("http_proxy", "HTTP_PROXY"),
      .https_proxy = env_either("https_proxy", "HTTPS_PROXY"),
      .no_proxy = env_either("no_proxy", "NO_PROXY"),
  };
}

static int parse_args(int argc, char **argv, wsf_config *cfg, int *lifeline_fd) {
  bool jitter_given = false;
  int opt;
  while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
    uint64_t v = 0;
    bool numeric = opt >= OPT_MAX_CONNECTIONS && opt <= OPT_PONG_TIMEOUT && opt != OPT_CONNECT_RATE &&
                   opt != OPT_KA_MODE && opt != OPT_KA_PAYLOAD;
    if (numeric && parse_u64(optarg, &v) != 0) {
      fprintf(stderr, "wsfleetd: --%s wants a non-negative integer, got '%s'\n", options[opt - 256].name,
              optarg);
      return -1;
    }
    if (numeric && v > UINT32_MAX && opt != OPT_MAX_MESSAGE_BYTES && opt != OPT_INBOX_MAX_BYTES &&
        opt != OPT_MAX_REQUEST_BYTES && opt != OPT_MAX_CONTROL_OUTPUT && opt != OPT_MAX_OUTPUT_BYTES &&
        opt != OPT_MAX_CLOSED_INBOX) {
      fprintf(stderr, "wsfleetd: --%s is too large\n", options[opt - 256].name);
      return -1;
    }
    switch (opt) {
    case OPT_SOCKET:
      cfg->socket_path = optarg;
      break;
    case OPT_CONTROL_TCP:
      cfg->control_tcp = optarg;
      break;
    case OPT_TOKEN_FILE:
      cfg->token_file = optarg;
      break;
    case OPT_EVENTS:
      cfg->events_path = optarg;
      break;
    case OPT_SNAPSHOT_INTERVAL:
      if (parse_u64(optarg, &v) != 0 || v > UINT32_MAX) {
        fprintf(stderr, "wsfleetd: --snapshot-interval-ms wants a non-negative integer, got '%s'\n", optarg);
        return -1;
      }
      cfg->snapshot_interval_ms = (uint32_t)v;
      break;
    case OPT_METRICS:
      cfg->metrics_addr = optarg;
      break;
    case OPT_MAX_CONNECTIONS:
      cfg->max_connections = (uint32_t)v;
      break;
    case OPT_MAX_REQUEST_BYTES:
      cfg->max_request_bytes = v;
      break;
    case OPT_MAX_CONTROL_CLIENTS:
      cfg->max_control_clients = (uint32_t)v;
      break;
    case OPT_MAX_CONTROL_OUTPUT:
      cfg->max_control_output_bytes = v;
      break;
    case OPT_MAX_MESSAGE_BYTES:
      cfg->max_message_bytes = v;
      break;
    case OPT_INBOX_MAX_MESSAGES:
      cfg->inbox_max_messages = (uint32_t)v;
      break;
    case OPT_INBOX_MAX_BYTES:
      cfg->inbox_max_bytes = v;
      break;
    case OPT_MAX_NAME_BYTES:
      cfg->max_name_bytes = (uint32_t)v;
      break;
    case OPT_MAX_HANDSHAKES:
      cfg->max_handshakes = (uint32_t)v;
      break;
    case OPT_MAX_OUTPUT_BYTES:
      cfg->max_output_bytes = v;
      break;
    case OPT_OUTPUT_STALL:
      cfg->output_stall_ms = (uint32_t)v;
      break;
    case OPT_MAX_RECORDS:
      if (v == 0) {
        fprintf(stderr, "wsfleetd: --max-records must be at least 1\n");
        return -1;
      }
      cfg->max_records = (uint32_t)v;
      break;
    case OPT_MAX_CLOSED_INBOX:
      cfg->max_closed_inbox_bytes = v;
      break;
    case OPT_CONNECT_RATE: {
      char *end;
      double r = strtod(optarg, &end);
      if (*end || r < 0) {
        fprintf(stderr, "wsfleetd: --connect-rate wants a non-negative number\n");
        return -1;
      }
      cfg->connect_rate = r;
      break;
    }
    case OPT_CONNECT_TIMEOUT:
      cfg->connect_timeout_ms = (uint32_t)v;
      break;
    case OPT_DNS_CACHE:
      cfg->dns_cache_ms = (uint32_t)v;
      break;
    case OPT_SHUTDOWN_TIMEOUT:
      cfg->shutdown_timeout_ms = (uint32_t)v;
      break;
    case OPT_KA_MODE: {
      int found = -1;
      for (int i = 0; i < WSF_KA_MODE_COUNT; i++)
        if (strcmp(optarg, wsf_ka_mode_name(i)) == 0)
          found = i;
      if (found < 0) {
        fprintf(stderr, "wsfleetd: --keepalive-mode is none, ping, text or binary\n");
        return -1;
      }
      cfg->keepalive.mode = (uint8_t)found;
      break;
    }
    case OPT_KA_INTERVAL:
      cfg->keepalive.interval_ms = (uint32_t)v;
      break;
    case OPT_KA_JITTER:
      cfg->keepalive.jitter_ms = (uint32_t)v;
      jitter_given = true;
      break;
    case OPT_KA_PAYLOAD:
      cfg->keepalive.payload = (uint8_t *)optarg;
      cfg->keepalive.payload_len = strlen(optarg);
      break;
    case OPT_PONG_TIMEOUT:
      cfg->keepalive.pong_timeout_ms = (uint32_t)v;
      break;
    case OPT_TLS_CA:
      cfg->tls_ca_file = optarg;
      break;
    case OPT_TLS_CERT:
      cfg->tls_cert_file = optarg;
      break;
    case OPT_TLS_KEY:
      cfg->tls_key_file = optarg;
      break;
    case OPT_TLS_CIPHERS:
      cfg->tls_ciphers = optarg;
      break;
    case OPT_TLS_SESSION_CACHE:
      cfg->tls_session_cache = true;
      break;
    case OPT_TLS_INSECURE:
      cfg->tls_verify = false;
      break;
    case OPT_PROXY: {
      wsf_proxy_url u;
      const char *why = NULL;
      if (strcasecmp(optarg, "none") != 0 && wsf_proxy_url_parse(optarg, strlen(optarg), &u, &why) != 0) {
        fprintf(stderr, "wsfleetd: --proxy: %s\n", why);
        return -1;
      }
      cfg->proxy = optarg;
      break;
    }
    case OPT_LIFELINE_FD: {
      uint64_t fd;
      if (parse_u64(optarg, &fd) != 0 || fd > INT32_MAX) {
        fprintf(stderr, "wsfleetd: --lifeline-fd wants a file descriptor number, got '%s'\n", optarg);
        return -1;
      }
      *lifeline_fd = (int)fd;
      break;
    }
    case OPT_LOG_LEVEL:
      if ((wsf_log_level = wsf_log_level_parse(optarg)) < 0) {
        fprintf(stderr, "wsfleetd: --log-level is error, warn, info or debug\n");
        return -1;
      }
      break;
    case OPT_PRIORITY:
      cfg->priority = optarg;
      break;
    case OPT_SOURCE_ADDRESSES:
      cfg->source_addresses = optarg;
      break;
    case OPT_SOURCE_POOL:
      if (cfg->n_source_pools == sizeof cfg->source_pools / sizeof cfg->source_pools[0]) {
        fprintf(stderr, "wsfleetd: --source-pool: more than %zu pools\n",
                sizeof cfg->source_pools / sizeof cfg->source_pools[0]);
        return -1;
      }
      cfg->source_pools[cfg->n_source_pools++] = optarg;
      break;
    case OPT_VERSION:
      printf("wsfleetd %s\n", WSF_VERSION);
      exit(0);
    case OPT_HELP:
      usage(stdout);
      exit(0);
    default:
      usage(stderr);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "wsfleetd: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  /* A request must be able to carry the largest message plus its envelope. */
  if (!cfg->max_request_bytes)
    cfg->max_request_bytes = cfg->max_message_bytes + (64 << 10);
  if (!jitter_given)
    cfg->keepalive.jitter_ms = cfg->keepalive.interval_ms / 10;
  if ((cfg->keepalive.mode == WSF_KA_TEXT || cfg->keepalive.mode == WSF_KA_BINARY) &&
      !cfg->keepalive.payload_len) {
    fprintf(stderr, "wsfleetd: --keepalive-mode %s needs --keepalive-payload\n",
            wsf_ka_mode_name(cfg->keepalive.mode));
    return -1;
  }
  if (cfg->keepalive.mode == WSF_KA_PING && cfg->keepalive.payload_len > 125) {
    fprintf(stderr, "wsfleetd: a ping payload is at most 125 bytes\n");
    return -1;
  }
  if (!cfg->max_control_output_bytes) /* room for two replies of the largest message */
    cfg->max_control_output_bytes =
        cfg->max_request_bytes * 2 > (64u << 20) ? cfg->max_request_bytes * 2 : 64u << 20;
  if (cfg->max_control_output_bytes < cfg->max_request_bytes) {
    fprintf(stderr, "wsfleetd: --max-control-output-bytes must hold a reply as large as a request (%zu)\n",
            cfg->max_request_bytes);
    return -1;
  }
  if (cfg->max_connections == 0 || cfg->max_request_bytes < 64 || cfg->max_name_bytes == 0 ||
      cfg->max_control_clients == 0) {
    fprintf(stderr, "wsfleetd: limits must be positive (max-request-bytes at least 64)\n");
    return -1;
  }
  return 0;
}

/* Heartbeats go out on the daemon's clock, so a host whose cores are busy (JMeter's samplers and
 * GC beside us) makes them late: at nice 0 beside one busy process per core, p99 went from 3.9 to
 * 44 ms (tests/bench/bench_saturated.py, RESULTS.md). A lower nice value or a real-time policy
 * lets the loop run as soon as it wakes. rr/fifo keep the policy out of children. */
static int apply_priority(const char *spec) {
  char *end;
  const char *colon = spec ? strchr(spec, ':') : NULL;
  long n = colon ? strtol(colon + 1, &end, 10) : 0;
  if (!colon || colon[1] == '\0' || *end) {
    fprintf(stderr, "wsfleetd: --priority is nice:N (-20..19), rr:N or fifo:N (1..99)\n");
    return -1;
  }
  size_t kind = (size_t)(colon - spec);
  if (kind == 4 && strncmp(spec, "nice", 4) == 0 && n >= -20 && n <= 19) {
    if (setpriority(PRIO_PROCESS, 0, (int)n) != 0) {
      fprintf(stderr, "wsfleetd: --priority %s: %s (below 0 needs root, CAP_SYS_NICE or RLIMIT_NICE)\n", spec,
              strerror(errno));
      return -1;
    }
    return 0;
  }
  int policy = kind == 2 && strncmp(spec, "rr", 2) == 0     ? SCHED_RR
               : kind == 4 && strncmp(spec, "fifo", 4) == 0 ? SCHED_FIFO
                                                            : -1;
  if (policy < 0 || n < 1 || n > 99) {
    fprintf(stderr, "wsfleetd: --priority is nice:N (-20..19), rr:N or fifo:N (1..99)\n");
    return -1;
  }
  struct sched_param sp = {.sched_priority = (int)n};
  if (sched_setscheduler(0, policy | SCHED_RESET_ON_FORK, &sp) != 0) {
    fprintf(stderr, "wsfleetd: --priority %s: %s (needs root, CAP_SYS_NICE or RLIMIT_RTPRIO >= %ld)\n", spec,
            strerror(errno), n);
    return -1;
  }
  return 0;
}

static void run_overdue_timers(void *timers) {
  wsf_timers_run_overdue(timers);
}

static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void finish_shutdown(wsf_main *m) {
  wsf_daemon *d = &m->d;
  uv_timer_stop(&m->drain_poll);
  uv_timer_stop(&m->shutdown_timer);
  wsf_observe_stop(d);
  wsf_rpc_stop(d);
  uv_stop(d->loop);
}

static void on_shutdown_timeout(uv_timer_t *t) {
  wsf_main *m = t->data;
  wsf_log(WSF_LOG_WARN, "shutdown: %u connections did not finish their close handshake in time",
          m->d.live_transports);
  finish_shutdown(m);
}

static void on_drain_poll(uv_timer_t *t) {
  wsf_main *m = t->data;
  if (m->d.live_transports == 0)
    finish_shutdown(m);
}

/* SIGTERM, SIGINT, SIGHUP and the lifeline all end the daemon the same way:
 * close frames with 1001, a bounded wait for the answers, the stop event. */
static void begin_shutdown(wsf_main *m, const char *why) {
  wsf_daemon *d = &m->d;
  if (d->shutting_down) {
    wsf_log(WSF_LOG_WARN, "%s again: stopping now", why);
    finish_shutdown(m);
    return;
  }
  d->shutting_down = true;
  uint32_t left = wsf_conns_shutdown(d);
  wsf_log(WSF_LOG_INFO, "%s: closing %u connections (1001 going away)", why, left);
  uv_timer_start(&m->shutdown_timer, on_shutdown_timeout, d->cfg.shutdown_timeout_ms, 0);
  uv_timer_start(&m->drain_poll, on_drain_poll, 0, 10);
}

static void on_signal(uv_signal_t *s, int signum) {
  char why[32];
  snprintf(why, sizeof why, "signal %d", signum);
  begin_shutdown(s->data, why);
}

static void lifeline_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char sink[256]; /* whatever the parent writes is ignored */
  *buf = uv_buf_init(sink, sizeof sink);
}

static void on_lifeline_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  if (nread >= 0 || nread == UV_EAGAIN)
    return;
  wsf_main *m = s->data;
  uv_read_stop(s);
  wsf_log(WSF_LOG_INFO, "lifeline fd %d: %s", m->lifeline_fd,
          nread == UV_EOF ? "parent gone (EOF)" : uv_strerror((int)nread));
  if (!m->d.shutting_down)
    begin_shutdown(m, "lifeline closed");
}

/* The lifeline is a pipe or socket: a regular file or a terminal never
 * reports its holder going away, so those are refused at start. */
static int start_lifeline(wsf_main *m) {
  struct stat st;
  int fd = m->lifeline_fd;
  if (fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
    wsf_log(WSF_LOG_ERROR, "--lifeline-fd %d is not an open pipe or socket", fd);
    return -1;
  }
  int rv = uv_pipe_init(m->d.loop, &m->lifeline, 0);
  if (rv == 0)
    rv = uv_pipe_open(&m->lifeline, fd);
  if (rv == 0) {
    m->lifeline.data = m;
    rv = uv_read_start((uv_stream_t *)&m->lifeline, lifeline_alloc, on_lifeline_read);
  }
  if (rv != 0) {
    wsf_log(WSF_LOG_ERROR, "--lifeline-fd %d: %s", fd, uv_strerror(rv));
    return -1;
  }
  /* It must not keep the loop alive on its own (shutdown ends with uv_stop anyway). */
  uv_unref((uv_handle_t *)&m->lifeline);
  return 0;
}

int main(int argc, char **argv) {
  static wsf_main m; /* large (counters by close code): not on the stack */
  wsf_daemon *d = &m.d;
  wsf_config *cfg = &d->cfg;
  cfg->max_connections = 19000;
  cfg->max_message_bytes = 16 << 20;
  cfg->max_control_clients = 64;
  cfg->inbox_max_messages = 1000;
  cfg->inbox_max_bytes = 1 << 20;
  cfg->max_name_bytes = 256;
  cfg->max_output_bytes =
      32 << 20; /* twice the default max_message_bytes: a send of one whole message fits */
  cfg->output_stall_ms = 10000;
  cfg->max_records = 50000; /* ~1.3 KB each with their names and buffers: ~65 MB */
  cfg->max_closed_inbox_bytes = 64 << 20;
  cfg->connect_timeout_ms = 10000;
  cfg->dns_cache_ms = 30000;
  cfg->shutdown_timeout_ms = 2000;
  cfg->snapshot_interval_ms = 1000;
  cfg->keepalive.interval_ms = 25000;
  cfg->keepalive.pong_timeout_ms = 10000;
  cfg->tls_verify = true;
  cfg->proxy_env = proxy_environment();
  m.lifeline_fd = -1;
  if (parse_args(argc, argv, cfg, &m.lifeline_fd) != 0)
    return 2;
  if (cfg->priority && apply_priority(cfg->priority) != 0)
    return 2;
  char *default_path = NULL;
  if (!cfg->socket_path)
    cfg->socket_path = default_path = default_socket_path();

  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max; /* every connection is a file descriptor */
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  d->loop = uv_default_loop();
  d->started_us = wsf_now_us();
  wsf_timers_init(d->loop, &d->timers);
  wsf_transport_set_after_callback(run_overdue_timers, &d->timers);
  wsf_conns_init(d);
  d->dns.ttl_us = (uint64_t)cfg->dns_cache_ms * 1000;
  if (parse_source_pools(&d->sources, cfg) != 0)
    return 2;
  int rc = 0;
  if (m.lifeline_fd >= 0 && start_lifeline(&m) != 0) {
    rc = 1;
    goto out;
  }
  if (wsf_observe_init(d) != 0 || wsf_rpc_start(d) != 0) {
    rc = 1;
    goto out;
  }
  uv_timer_init(d->loop, &m.shutdown_timer);
  uv_timer_init(d->loop, &m.drain_poll);
  m.shutdown_timer.data = m.drain_poll.data = &m;
  uv_signal_init(d->loop, &m.sigterm);
  uv_signal_init(d->loop, &m.sigint);
  uv_signal_init(d->loop, &m.sighup);
  m.sigterm.data = m.sigint.data = m.sighup.data = &m;
  uv_signal_start(&m.sigterm, on_signal, SIGTERM);
  uv_signal_start(&m.sigint, on_signal, SIGINT);
  /* A closed terminal or session sends SIGHUP, whose default action kills
   * the daemon without a single close frame: it shuts down as on SIGTERM,
   * unless it was started ignoring SIGHUP (nohup), which stays so. */
  struct sigaction hup;
  if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN)
    uv_signal_start(&m.sighup, on_signal, SIGHUP);
  wsf_log(WSF_LOG_INFO, "wsfleetd %s listening on %s (max %u connections)", WSF_VERSION, cfg->socket_path,
          cfg->max_connections);
  printf("ready %s\n", cfg->socket_path);
  fflush(stdout);
  uv_run(d->loop, UV_RUN_DEFAULT);

out:
  /* Forget every connection, close every handle, and let the loop finish the closes. */
  if (d->conns.count) {
    uint32_t forgotten;
    wsf_conns_reset(d, 1001, "going away", &forgotten);
  }
  wsf_metrics_stop(d); /* already stopped after a normal shutdown */
  wsf_timers_close(&d->timers);
  uv_walk(d->loop, on_walk_close, NULL);
  uv_run(d->loop, UV_RUN_DEFAULT);
  uv_loop_close(d->loop);
  wsf_registry_free(&d->conns);
  wsf_source_pool_free(&d->sources);
  wsf_dns_cache_free(&d->dns);
  wsf_proto_table_free(&d->protos); /* every connection let its set go above; the names stay till here */
  wsf_intern_table_free(&d->resp_headers); /* and its response headers */
  wsf_observe_close_all(d);
  wsf_tls_config_free_all();
  free(d->rpc);
  free(default_path);
  return rc;
}
