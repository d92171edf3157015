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
  fprintf(f,
          "usage: mockgw [options]   (durations: 45, 45s, 500ms, 2m; all multiplied by --time-scale)\n"
          "  --host ADDR               listen address (default 127.0.0.1)\n"
          "  --port P                  0 = ephemeral; prints 'listening PORT' when ready\n"
          "  --reuse-port              SO_REUSEPORT: several gateway processes share one address:port\n"
          "  --time-scale F            multiply every duration by F (default 1)\n"
          "  --idle-timeout T          drop a session idle for T (default: none)\n"
          "  --activity any|data       what resets the idle timer: any client frame, or data frames only\n"
          "  --overload-above N        while more than N sessions are open ...\n"
          "  --overload-idle-timeout T ... the idle timeout is T\n"
          "  --require-heartbeat T     drop a session that sent no ping and no echo action for T\n"
          "  --drop rst|fin|silent|close-frame   how a session is dropped (default rst)\n"
          "  --close-code N            close code for --drop close-frame (default 1001)\n"
          "  --max-sessions N          cap on open sessions ...\n"
          "  --max-sessions-mode 503|429|event|close   ... refused with HTTP 503 or 429, or a 101 then\n"
          "                            a ConnectionClosedEvent, or a 101 then a close frame (--cap-close)\n"
          "  --retry-after T           Retry-After on a 503/429 refusal (whole seconds, rounded up)\n"
          "  --cap-close CODE[:REASON] close frame of --max-sessions-mode close (1013:try again later)\n"
          "  --handshake-delay T       wait T before answering an upgrade ...\n"
          "  --handshake-delay-per-open T      ... plus T per session open ...\n"
          "  --handshake-delay-per-inflight T  ... plus T per upgrade already waiting\n"
          "  --max-age T               end every session T after its open, whatever it does ...\n"
          "  --max-age-drop rst|fin|silent|close-frame   ... this way (default: as --drop)\n"
          "  --rate-limit-close CODE[:REASON]  over --rate-limit, close (e.g. 4029, 1008:rate limited)\n"
          "                            instead of answering 429 in-band\n"
          "  --restart-at T            at T after start, close every open session ...\n"
          "  --restart-close CODE[:REASON]     ... with this (1012:service restart; 1001:going away)\n"
          "  --black-hole-after T      from T after start, answer nothing (frames, pings, upgrades)\n"
          "  --black-hole-above N      a session that arrives with N open is upgraded, then never answered\n"
          "  --reset-share F           a share F (0..1) of sessions get an RST at a random age ...\n"
          "  --reset-within T          ... uniform in (0, T]\n"
          "  --seed N                  for --reset-share (default 1)\n"
          "  --server-ping T           ping every session every T\n"
          "  --tls CERT KEY            serve wss://\n"
          "  --tls-tickets             with --tls: issue TLS session tickets and resume them\n"
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

/* Codes a server may send in a close frame: 1000-1003, 1007-1014 (1012-1014
 * registered with IANA), 3000-4999. */
static bool sendable_close_code(uint64_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* "CODE" or "CODE:REASON" (reason at most 123 bytes, as a close frame
 * allows); without a reason, *out keeps its default one. */
static int parse_close_spec(const char *s, mgw_close_spec *out) {
  const char *colon = strchr(s, ':');
  char code[8];
  size_t n = colon ? (size_t)(colon - s) : strlen(s);
  uint64_t v;
  if (n == 0 || n >= sizeof code)
    return -1;
  memcpy(code, s, n);
  code[n] = 0;
  if (parse_uint(code, 4999, &v) || !sendable_close_code(v))
    return -1;
  out->code = (uint16_t)v;
  if (colon)
    out->reason = colon + 1;
  return strlen(out->reason) <= 123 ? 0 : -1;
}

static int parse_drop_style(const char *s, mgw_drop_style *out) {
  static const char *const names[] = {"rst", "fin", "silent", "close-frame"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (mgw_drop_style)i;
      return 0;
    }
  return -1;
}

static void dump_stats(void) {
  char buf[4096];
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
  OPT_TLS_TICKETS,
  OPT_ECHO,
  OPT_RATE,
  OPT_RATE_WIN,
  OPT_AGENT,
  OPT_MAX_MSG,
  OPT_STATS,
  OPT_QUIET,
  OPT_REUSE_PORT,
  OPT_DEFLATE,
  OPT_RETRY_AFTER,
  OPT_CAP_CLOSE,
  OPT_HS_DELAY_OPEN,
  OPT_HS_DELAY_INFLIGHT,
  OPT_MAX_AGE,
  OPT_MAX_AGE_DROP,
  OPT_RATE_CLOSE,
  OPT_RESTART_AT,
  OPT_RESTART_CLOSE,
  OPT_BH_AFTER,
  OPT_BH_ABOVE,
  OPT_RESET_SHARE,
  OPT_RESET_WITHIN,
  OPT_SEED,
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
    {"tls-tickets", no_argument, 0, OPT_TLS_TICKETS},
    {"echo", no_argument, 0, OPT_ECHO},
    {"rate-limit", required_argument, 0, OPT_RATE},
    {"rate-window", required_argument, 0, OPT_RATE_WIN},
    {"agent-delay", required_argument, 0, OPT_AGENT},
    {"max-message-bytes", required_argument, 0, OPT_MAX_MSG},
    {"stats-file", required_argument, 0, OPT_STATS},
    {"quiet", no_argument, 0, OPT_QUIET},
    {"reuse-port", no_argument, 0, OPT_REUSE_PORT},
    {"deflate", no_argument, 0, OPT_DEFLATE},
    {"retry-after", required_argument, 0, OPT_RETRY_AFTER},
    {"cap-close", required_argument, 0, OPT_CAP_CLOSE},
    {"handshake-delay-per-open", required_argument, 0, OPT_HS_DELAY_OPEN},
    {"handshake-delay-per-inflight", required_argument, 0, OPT_HS_DELAY_INFLIGHT},
    {"max-age", required_argument, 0, OPT_MAX_AGE},
    {"max-age-drop", required_argument, 0, OPT_MAX_AGE_DROP},
    {"rate-limit-close", required_argument, 0, OPT_RATE_CLOSE},
    {"restart-at", required_argument, 0, OPT_RESTART_AT},
    {"restart-close", required_argument, 0, OPT_RESTART_CLOSE},
    {"black-hole-after", required_argument, 0, OPT_BH_AFTER},
    {"black-hole-above", required_argument, 0, OPT_BH_ABOVE},
    {"reset-share", required_argument, 0, OPT_RESET_SHARE},
    {"reset-within", required_argument, 0, OPT_RESET_WITHIN},
    {"seed", required_argument, 0, OPT_SEED},
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
  cfg->cap_close = (mgw_close_spec){1013, "try again later"};
  cfg->restart_close = (mgw_close_spec){1012, "service restart"};
  cfg->rate_limit_close = (mgw_close_spec){0, "rate limited"}; /* code 0: off */
  cfg->seed = 1;
  bool max_age_drop_given = false;
  /* Durations as given (seconds); scaled once all options are read. */
  double idle = 0, ov_idle = 0, hb = 0, hs_delay = 0, sping = 0, rate_win = 1, agent = 2;
  double retry_after = 0, hs_per_open = 0, hs_per_inflight = 0, max_age = 0, restart_at = 0, bh_after = 0,
         reset_within = 0;
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
    case OPT_RETRY_AFTER:
      dur = &retry_after;
      break;
    case OPT_HS_DELAY_OPEN:
      dur = &hs_per_open;
      break;
    case OPT_HS_DELAY_INFLIGHT:
      dur = &hs_per_inflight;
      break;
    case OPT_MAX_AGE:
      dur = &max_age;
      break;
    case OPT_RESTART_AT:
      dur = &restart_at;
      break;
    case OPT_BH_AFTER:
      dur = &bh_after;
      break;
    case OPT_RESET_WITHIN:
      dur = &reset_within;
      break;
    case OPT_CAP_CLOSE:
      if (parse_close_spec(optarg, &cfg->cap_close))
        return fail(name, optarg);
      break;
    case OPT_RATE_CLOSE:
      if (parse_close_spec(optarg, &cfg->rate_limit_close))
        return fail(name, optarg);
      break;
    case OPT_RESTART_CLOSE:
      if (parse_close_spec(optarg, &cfg->restart_close))
        return fail(name, optarg);
      break;
    case OPT_MAX_AGE_DROP:
      if (parse_drop_style(optarg, &cfg->max_age_drop))
        return fail(name, optarg);
      max_age_drop_given = true;
      break;
    case OPT_BH_ABOVE:
      if (parse_uint(optarg, UINT32_MAX, &u) || u == 0)
        return fail(name, optarg);
      cfg->black_hole_above = (uint32_t)u;
      break;
    case OPT_RESET_SHARE: {
      char *end;
      cfg->reset_share = strtod(optarg, &end);
      if (end == optarg || *end || !(cfg->reset_share > 0 && cfg->reset_share <= 1))
        return fail(name, optarg);
      break;
    }
    case OPT_SEED:
      if (parse_uint(optarg, UINT64_MAX, &u))
        return fail(name, optarg);
      cfg->seed = u;
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
      if (parse_drop_style(optarg, &cfg->drop))
        return fail(name, optarg);
      break;
    case OPT_CLOSE_CODE:
      if (parse_uint(optarg, 4999, &u) || !sendable_close_code(u))
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
      else if (strcmp(optarg, "429") == 0)
        cfg->cap_mode = MGW_CAP_429;
      else if (strcmp(optarg, "event") == 0)
        cfg->cap_mode = MGW_CAP_EVENT;
      else if (strcmp(optarg, "close") == 0)
        cfg->cap_mode = MGW_CAP_CLOSE;
      else
        return fail(name, optarg);
      break;
    case OPT_TLS:
      cfg->tls_cert = optarg;
      if (optind >= argc)
        return fail(name, "CERT KEY");
      cfg->tls_key = argv[optind++];
      break;
    case OPT_TLS_TICKETS:
      cfg->tls_tickets = true;
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
    case OPT_REUSE_PORT:
      cfg->reuse_port = true;
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
  if (cfg->reset_share > 0 && !(reset_within > 0)) {
    fprintf(stderr, "mockgw: --reset-share needs --reset-within\n");
    return 2;
  }
  if (!max_age_drop_given)
    cfg->max_age_drop = cfg->drop;
  double sc = cfg->time_scale * 1e6;
  cfg->idle_timeout_us = (uint64_t)(idle * sc);
  cfg->overload_idle_timeout_us = (uint64_t)(ov_idle * sc);
  cfg->require_heartbeat_us = (uint64_t)(hb * sc);
  cfg->handshake_delay_us = (uint64_t)(hs_delay * sc);
  cfg->server_ping_us = (uint64_t)(sping * sc);
  cfg->rate_window_us = (uint64_t)(rate_win * sc);
  cfg->agent_delay_us = (uint64_t)(agent * sc);
  cfg->retry_after_us = (uint64_t)(retry_after * sc);
  cfg->handshake_delay_per_open_us = (uint64_t)(hs_per_open * sc);
  cfg->handshake_delay_per_inflight_us = (uint64_t)(hs_per_inflight * sc);
  cfg->max_age_us = (uint64_t)(max_age * sc);
  cfg->restart_at_us = (uint64_t)(restart_at * sc);
  cfg->black_hole_after_us = (uint64_t)(bh_after * sc);
  cfg->reset_within_us = (uint64_t)(reset_within * sc);
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
