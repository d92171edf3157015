/* The Prometheus text rendered from a filled daemon state, without a socket:
 * every family announced once and its samples together, the values of the
 * counters, causes listed with their zeros, histograms cumulative with exact
 * second bounds, and (when installed) promtool's verdict on the whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "hist.h"
#include "metrics_render.h"
#include "testlib.h"
#include "view.h"

static wsf_daemon d;
static char *text;

static void fill(void) {
  memset(&d, 0, sizeof d);
  d.n_open = 3;
  d.n_connecting = 1;
  d.n_closing = 0;
  d.n_closed = 2;
  d.handshakes_in_flight = 4;
  d.control_clients = 2;
  d.started_us = 1000000;
  wsf_stats *s = &d.stats;
  s->opened_total = 5;
  s->reused_total = 6;
  s->failed_total = 7;
  s->closed_total = 8;
  s->msgs_in = 11;
  s->msgs_out = 12;
  s->bytes_in = 13;
  s->bytes_out = 14;
  s->inbox_dropped = 15;
  s->heartbeats_sent = 16;
  s->deflate.bytes_in_compressed = 21;
  s->deflate.bytes_in = 22;
  s->deflate.bytes_out_compressed = 23;
  s->deflate.bytes_out = 24;
  s->closes_by_code[1000] = 5;
  s->closes_by_code[1006] = 7;
  s->codes_seen[0] = 1000;
  s->codes_seen[1] = 1006;
  s->n_codes_seen = 2;
  s->closes_by_cause[WSF_CAUSE_EOF] = 2;
  s->closes_by_cause[WSF_CAUSE_PONG_TIMEOUT] = 1;
  wsf_hist_add(&s->ping_rtt, 10);      /* under the first bound (16 µs) */
  wsf_hist_add(&s->ping_rtt, 100);     /* ≤ 128 µs */
  wsf_hist_add(&s->ping_rtt, 3000000); /* 3 s */
  wsf_hist_add(&s->hs_connect, 500);
  wsf_text t = {0};
  wsf_metrics_render(&d, 3500000, &t); /* 2.5 s after the start */
  CHECK(!t.failed);
  free(text);
  text = t.p;
}

static bool has_line(const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n')
      return true;
  return false;
}

static size_t count(const char *needle) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

static void test_counters_and_gauges_carry_the_state(void) {
  fill();
  CHECK(has_line("wsfleet_connections{state=\"open\"} 3"));
  CHECK(has_line("wsfleet_connections{state=\"connecting\"} 1"));
  CHECK(has_line("wsfleet_connections{state=\"closing\"} 0"));
  CHECK(has_line("wsfleet_connections{state=\"closed\"} 2"));
  CHECK(has_line("wsfleet_handshakes_in_flight 4"));
  CHECK(has_line("wsfleet_connections_opened_total 5"));
  CHECK(has_line("wsfleet_connections_reused_total 6"));
  CHECK(has_line("wsfleet_connections_failed_total 7"));
  CHECK(has_line("wsfleet_connections_closed_total 8"));
  CHECK(has_line("wsfleet_messages_total{direction=\"in\"} 11"));
  CHECK(has_line("wsfleet_messages_total{direction=\"out\"} 12"));
  CHECK(has_line("wsfleet_message_bytes_total{direction=\"in\"} 13"));
  CHECK(has_line("wsfleet_message_bytes_total{direction=\"out\"} 14"));
  CHECK(has_line("wsfleet_inbox_dropped_messages_total 15"));
  CHECK(has_line("wsfleet_heartbeats_sent_total 16"));
  CHECK(has_line("wsfleet_deflate_bytes_total{direction=\"in\",form=\"compressed\"} 21"));
  CHECK(has_line("wsfleet_deflate_bytes_total{direction=\"out\",form=\"uncompressed\"} 24"));
  CHECK(has_line("wsfleet_control_clients 2"));
  CHECK(has_line("wsfleet_uptime_seconds 2.5"));
  CHECK(has_line("wsfleet_build_info{version=\"" WSF_VERSION "\"} 1"));
}

static void test_codes_seen_and_every_cause_with_zeros(void) {
  fill();
  CHECK(has_line("wsfleet_closes_by_code_total{code=\"1000\"} 5"));
  CHECK(has_line("wsfleet_closes_by_code_total{code=\"1006\"} 7"));
  CHECK(count("wsfleet_closes_by_code_total{") == 2);
  CHECK(has_line("wsfleet_closes_by_cause_total{cause=\"eof\"} 2"));
  CHECK(has_line("wsfleet_closes_by_cause_total{cause=\"pong_timeout\"} 1"));
  CHECK(has_line("wsfleet_closes_by_cause_total{cause=\"reset\"} 0"));
  /* every cause but "none", once each */
  CHECK(count("wsfleet_closes_by_cause_total{") == WSF_CAUSE_COUNT - 1);
  CHECK(count("cause=\"none\"") == 0);
}

static void test_histograms_are_cumulative_with_exact_bounds(void) {
  fill();
  CHECK(has_line("wsfleet_ping_rtt_seconds_bucket{le=\"0.000016\"} 1"));
  CHECK(has_line("wsfleet_ping_rtt_seconds_bucket{le=\"0.000128\"} 2"));
  CHECK(has_line("wsfleet_ping_rtt_seconds_bucket{le=\"2.097152\"} 2"));
  CHECK(has_line("wsfleet_ping_rtt_seconds_bucket{le=\"4.194304\"} 3"));
  CHECK(has_line("wsfleet_ping_rtt_seconds_bucket{le=\"+Inf\"} 3"));
  CHECK(has_line("wsfleet_ping_rtt_seconds_sum 3.00011"));
  CHECK(has_line("wsfleet_ping_rtt_seconds_count 3"));
  CHECK(has_line("wsfleet_handshake_phase_seconds_bucket{phase=\"connect\",le=\"0.000512\"} 1"));
  CHECK(has_line("wsfleet_handshake_phase_seconds_count{phase=\"connect\"} 1"));
  CHECK(has_line("wsfleet_handshake_phase_seconds_count{phase=\"dns\"} 0"));
}

/* The family a sample line belongs to: its name without labels and without a
 * histogram's _bucket/_sum/_count. */
static void family_of(const char *line, char *out, size_t size) {
  size_t n = strcspn(line, "{ ");
  snprintf(out, size, "%.*s", (int)n, line);
  const char *suffixes[] = {"_bucket", "_sum", "_count"};
  for (size_t i = 0; i < 3; i++) {
    size_t l = strlen(out), sl = strlen(suffixes[i]);
    if (l > sl && strcmp(out + l - sl, suffixes[i]) == 0 && strstr(out, "_seconds")) {
      out[l - sl] = '\0';
      break;
    }
  }
}

/* Each family: HELP then TYPE once, then all its samples, never again later. */
static void test_each_family_announced_once_with_its_samples_together(void) {
  fill();
  char seen[64][80];
  size_t n_seen = 0;
  char current[80] = "";
  char *copy = strdup(text);
  size_t samples = 0;
  for (char *save, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char fam[80];
    if (strncmp(line, "# HELP ", 7) == 0) {
      family_of(line + 7, fam, sizeof fam);
      for (size_t i = 0; i < n_seen; i++)
        CHECK(strcmp(seen[i], fam) != 0);
      CHECK(n_seen < 64);
      if (n_seen < 64)
        snprintf(seen[n_seen++], sizeof seen[0], "%s", fam);
      snprintf(current, sizeof current, "%s", fam);
      continue;
    }
    if (strncmp(line, "# TYPE ", 7) == 0) {
      family_of(line + 7, fam, sizeof fam);
      CHECK_STR(fam, current);
      continue;
    }
    family_of(line, fam, sizeof fam);
    CHECK_STR(fam, current);
    samples++;
  }
  free(copy);
  CHECK(n_seen ==
        34); /* + wsfleet_tls_resumed_total, wsfleet_source_opens_total, wsfleet_source_failures_total
                (announced with no address), wsfleet_source_pool_opens_total,
                wsfleet_source_pool_failures_total, wsfleet_dns_failures_total, wsfleet_dns_cache_hits_total,
                wsfleet_reconnects_total, wsfleet_reconnect_failures_total,
                wsfleet_paced_messages_total, wsfleet_auto_replies_total,
                wsfleet_auto_reply_failures_total, wsfleet_session_failures_total */
  CHECK(samples > 200);
}

static void test_promtool_accepts_it(void) {
  fill();
  if (access("/usr/bin/promtool", X_OK) != 0) {
    printf("# promtool not installed: skipped\n");
    return;
  }
  FILE *p = popen("/usr/bin/promtool check metrics >/dev/null 2>&1", "w");
  CHECK(p != NULL);
  if (!p)
    return;
  fputs(text, p);
  CHECK(pclose(p) == 0);
}

/* The stats view: a field for each output says so, and the map sizes follow. */
static void test_stats_view_sizes_follow_the_fields(void) {
  fill();
  wsf_stats_view v;
  const wsf_view *top = wsf_view_stats(&v, &d, 3500000, NULL);
  CHECK(wsf_view_count(top, WSF_TO_RPC) == 33); /* the stats reply, control_limits aside */
  CHECK(wsf_view_count(top, WSF_TO_LOG) == 19); /* the stop event's stats */
  CHECK(wsf_view_counts_listed(&v.by_cause) == 2);
  CHECK(wsf_view_counts_listed(&v.by_code) == 2);
}

int main(void) {
  RUN(test_counters_and_gauges_carry_the_state);
  RUN(test_codes_seen_and_every_cause_with_zeros);
  RUN(test_histograms_are_cumulative_with_exact_bounds);
  RUN(test_each_family_announced_once_with_its_samples_together);
  RUN(test_promtool_accepts_it);
  RUN(test_stats_view_sizes_follow_the_fields);
  free(text);
  return wsf_test_result();
}
