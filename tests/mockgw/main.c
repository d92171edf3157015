/* mockgw: command line, loop, signals, the counter dump at exit. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "mockgw.h"
#include "util.h"

static mgw_gateway gw;
static uv_signal_t sig_term, sig_int, sig_usr1;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: mockgw [options]   (durations: 45, 45s, 500ms, 2m; all multiplied by --time-scale)\n"
      "  --host ADDR               listen address (default 127.0.0.1)\n"
      "  --port P                  0 = ephemeral; prints 'listening PORT' when ready\n"
      "  --time-scale F            multiply every duration by F (default 1)\n"
      "  --idle-timeout T          drop a session idle for T (default: none)\n"
      "  --activity any|data       what resets the idle timer: any client frame, or data frames only\n"
      "  --overload-above N        while more than N sessions are open ...\n"
      "  --overload-idle-timeout T ... the idle timeout is T\n"
      "  --require-heartbeat T     drop a session that sent no ping and no echo action for T\n"
      "  --drop rst|fin|silent|close-frame   how a session is dropped (default rst)\n"
      "  --close-code N            close code for --drop close-frame (default 1001)\n"
      "  --max-sessions N          cap on open sessions ...\n"
      "  --max-sessions-mode 503|event   ... refused with HTTP 503, or a 101 then a ConnectionClosedEvent\n"
      "  --handshake-delay T       wait T before answering an upgrade\n"
      "  --server-ping T           ping every session every T\n"
      "  --tls CERT KEY            serve wss://\n"
      "  --echo                    echo every data frame verbatim (no chat protocol)\n"
      "  --deflate                 accept permessage-deflate offers (RFC 7692)\n"
      "  --rate-limit N            at most N messages per --rate-window (default 1s) per session\n"
      "  --rate-window T\n"
      "  --agent-delay T           delay of the agent reply to onMessage (default 2s)\n"
      "  --max-message-bytes N     (default 16 MiB)\n"
      "  --stats-file FILE         write the counters here at exit and on SIGUSR1\n"
      "  --quiet                   no per-drop log lines\n");
}

/* Seconds (default unit), or with a suffix ms, s, m. Returns -1 on garbage. */
static double parse_duration(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !isfinite(v) || v < 0)
    return -1;
  if (*end == 0 || strcmp(end, "s") == 0)
    return v;
  if (strcmp(end, "ms") == 0)
    return v / 1000;
  if (strcmp(end, "m") == 0)
    return v * 60;
  return -1;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end || s[0] == '-' || v > max)
    return -1;
  *out = v;
  return 0;
}

static void dump_stats(void) {
  char buf[2048];
  mgw_gateway_stats_json(&gw, buf, sizeof buf);
  printf("%s\n", buf);
  fflush(stdout);
  if (gw.cfg.stats_file) {
    FILE *f = fopen(gw.cfg.stats_file, "w");
    if (f) {
      fprintf(f, "%s\n", buf);
      fclose(f);
    }
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  if (signum == SIGUSR1) {
    dump_stats();
    return;
  }
  dump_stats();
  mgw_gateway_stop(&gw);
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_usr1, NULL);
}

enum {
  OPT_HOST = 256,
  OPT_PORT,
  OPT_SCALE,
  OPT_IDLE,
  OPT_ACTIVITY,
  OPT_OV_ABOVE,
  OPT_OV_IDLE,
  OPT_HEARTBEAT,
  OPT_DROP,
  OPT_CLOSE_CODE,
  OPT_MAX,
  OPT_MAX_MODE,
  OPT_HS_DELAY,
  OPT_SPING,
  OPT_TLS,
  OPT_ECHO,
  OPT_RATE,
  OPT_RATE_WIN,
  OPT_AGENT,
  OPT_MAX_MSG,
  OPT_STATS,
  OPT_QUIET,
  OPT_DEFLATE,
  OPT_HELP,
};

static const struct option options[] = {
    {"host", required_argument, 0, OPT_HOST},
    {"port", required_argument, 0, OPT_PORT},
    {"time-scale", required_argument, 0, OPT_SCALE},
    {"idle-timeout", required_argument, 0, OPT_IDLE},
    {"activity", required_argument, 0, OPT_ACTIVITY},
    {"overload-above", required_argument, 0, OPT_OV_ABOVE},
    {"overload-idle-timeout", required_argument, 0, OPT_OV_IDLE},
    {"require-heartbeat", required_argument, 0, OPT_HEARTBEAT},
    {"drop", required_argument, 0, OPT_DROP},
    {"close-code", required_argument, 0, OPT_CLOSE_CODE},
    {"max-sessions", required_argument, 0, OPT_MAX},
    {"max-sessions-mode", required_argument, 0, OPT_MAX_MODE},
    {"handshake-delay", required_argument, 0, OPT_HS_DELAY},
    {"server-ping", required_argument, 0, OPT_SPING},
    {"tls", required_argument, 0, OPT_TLS},
    {"echo", no_argument, 0, OPT_ECHO},
    {"rate-limit", required_argument, 0, OPT_RATE},
    {"rate-window", required_argument, 0, OPT_RATE_WIN},
    {"agent-delay", required_argument, 0, OPT_AGENT},
    {"max-message-bytes", required_argument, 0, OPT_MAX_MSG},
    {"stats-file", required_argument, 0, OPT_STATS},
    {"quiet", no_argument, 0, OPT_QUIET},
    {"deflate", no_argument, 0, OPT_DEFLATE},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

static int fail(const char *opt, const char *val) {
  fprintf(stderr, "mockgw: bad value for --%s: '%s'\n", opt, val);
  return 2;
}

int main(int argc, char **argv) {
  mgw_config *cfg = &gw.cfg;
  cfg->host = "127.0.0.1";
  cfg->time_scale = 1;
  cfg->drop = MGW_DROP_RST;
  cfg->close_code = 1001;
  cfg->max_message_bytes = 16u << 20;
  /* Durations as given (seconds); scaled once all options are read. */
  double idle = 0, ov_idle = 0, hb = 0, hs_delay = 0, sping = 0, rate_win = 1, agent = 2;
  uint64_t u;
  int c;
  while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    const char *name = NULL;
    for (const struct option *o = options; o->name; o++)
      if (o->val == c)
        name = o->name;
    double *dur = NULL;
    switch (c) {
    case OPT_HOST:
      cfg->host = optarg;
      break;
    case OPT_PORT:
      if (parse_uint(optarg, 65535, &u))
        return fail(name, optarg);
      cfg->port = (int)u;
      break;
    case OPT_SCALE: {
      char *end;
      cfg->time_scale = strtod(optarg, &end);
      if (end == optarg || *end || !(cfg->time_scale > 0) || !isfinite(cfg->time_scale))
        return fail(name, optarg);
      break;
    }
    case OPT_IDLE:
      dur = &idle;
      break;
    case OPT_OV_IDLE:
      dur = &ov_idle;
      break;
    case OPT_HEARTBEAT:
      dur = &hb;
      break;
    case OPT_HS_DELAY:
      dur = &hs_delay;
      break;
    case OPT_SPING:
      dur = &sping;
      break;
    case OPT_RATE_WIN:
      dur = &rate_win;
      break;
    case OPT_AGENT:
      dur = &agent;
      break;
    case OPT_ACTIVITY:
      if (strcmp(optarg, "any") == 0)
        cfg->activity = MGW_ACTIVITY_ANY;
      else if (strcmp(optarg, "data") == 0)
        cfg->activity = MGW_ACTIVITY_DATA;
      else
        return fail(name, optarg);
      break;
    case OPT_OV_ABOVE:
      if (parse_uint(optarg, UINT32_MAX, &u) || u == 0)
        return fail(name, optarg);
      cfg->overload_above = (uint32_t)u;
      break;
    case OPT_DROP:
      if (strcmp(optarg, "rst") == 0)
        cfg->drop = MGW_DROP_RST;
      else if (strcmp(optarg, "fin") == 0)
        cfg->drop = MGW_DROP_FIN;
      else if (strcmp(optarg, "silent") == 0)
        cfg->drop = MGW_DROP_SILENT;
      else if (strcmp(optarg, "close-frame") == 0)
        cfg->drop = MGW_DROP_CLOSE_FRAME;
      else
        return fail(name, optarg);
      break;
    case OPT_CLOSE_CODE:
      /* Codes a server may send: 1000-1003, 1007-1011, 3000-4999. */
      if (parse_uint(optarg, 4999, &u) || u < 1000 || (u > 1003 && u < 1007) || (u > 1011 && u < 3000))
        return fail(name, optarg);
      cfg->close_code = (uint16_t)u;
      break;
    case OPT_MAX:
      if (parse_uint(optarg, UINT32_MAX, &u))
        return fail(name, optarg);
      cfg->max_sessions = (uint32_t)u;
      break;
    case OPT_MAX_MODE:
      if (strcmp(optarg, "503") == 0)
        cfg->cap_mode = MGW_CAP_503;
      else if (strcmp(optarg, "event") == 0)
        cfg->cap_mode = MGW_CAP_EVENT;
      else
        return fail(name, optarg);
      break;
    case OPT_TLS:
      cfg->tls_cert = optarg;
      if (optind >= argc)
        return fail(name, "CERT KEY");
      cfg->tls_key = argv[optind++];
      break;
    case OPT_ECHO:
      cfg->echo = true;
      break;
    case OPT_DEFLATE:
      cfg->deflate = true;
      break;
    case OPT_RATE:
      if (parse_uint(optarg, UINT32_MAX, &u))
        return fail(name, optarg);
      cfg->rate_limit = (uint32_t)u;
      break;
    case OPT_MAX_MSG:
      if (parse_uint(optarg, UINT64_MAX, &u) || u == 0)
        return fail(name, optarg);
      cfg->max_message_bytes = u;
      break;
    case OPT_STATS:
      cfg->stats_file = optarg;
      break;
    case OPT_QUIET:
      cfg->quiet = true;
      break;
    case OPT_HELP:
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
    if (dur) {
      *dur = parse_duration(optarg);
      if (*dur < 0)
        return fail(name, optarg);
    }
  }
  if (optind < argc) {
    usage(stderr);
    return 2;
  }
  if (cfg->overload_above && !(ov_idle > 0)) {
    fprintf(stderr, "mockgw: --overload-above needs --overload-idle-timeout\n");
    return 2;
  }
  double sc = cfg->time_scale * 1e6;
  cfg->idle_timeout_us = (uint64_t)(idle * sc);
  cfg->overload_idle_timeout_us = (uint64_t)(ov_idle * sc);
  cfg->require_heartbeat_us = (uint64_t)(hb * sc);
  cfg->handshake_delay_us = (uint64_t)(hs_delay * sc);
  cfg->server_ping_us = (uint64_t)(sping * sc);
  cfg->rate_window_us = (uint64_t)(rate_win * sc);
  cfg->agent_delay_us = (uint64_t)(agent * sc);
  if (cfg->rate_window_us == 0)
    cfg->rate_window_us = 1;

  /* Benchmarks hold many sockets: take the hard limit. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t *loop = uv_default_loop();
  char err[256];
  int port;
  if (mgw_gateway_start(&gw, loop, &port, err, sizeof err) != 0) {
    fprintf(stderr, "mockgw: %s\n", err);
    return 1;
  }
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  uv_signal_init(loop, &sig_usr1);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_usr1, on_signal, SIGUSR1);
  printf("listening %d\n", port);
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  wsf_tls_config_free_all();
  uv_loop_close(loop);
  return 0;
}
