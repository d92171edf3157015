/* bench_echo: echo round trips through wsfleetd's `request` method.
 *
 * N WebSocket connections named PREFIX00000.. are already open on an echo
 * server. Each keeps exactly one `request` outstanding (send, wait for the
 * echo, send again), as the peer clients it is compared with do; all of them
 * are pipelined over K control connections. Round trips completed between two
 * wall-clock instants (shared with the harness that samples CPU from /proc)
 * are counted. Prints one JSON line. Exit status 1 when the benchmark breaks
 * (an error response, a wrong echo, EOF), never because of a figure. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchclient.h"

enum { IDX_BITS = 12, MAX_CONNS = 1 << IDX_BITS };

typedef struct wconn {
  char name[32];
  char *payload;
  uint32_t gen;
  uint32_t msgid; /* outstanding request, 0 = none */
  uint64_t sent_ns;
  bool answered; /* at least one echo came back */
} wconn;

static size_t size = 32;

static void pack_request(bc_conn *c, wconn *w, uint32_t idx, uint64_t now) {
  w->gen = (w->gen + 1) & ((1u << (32 - IDX_BITS)) - 1);
  if (!w->gen)
    w->gen = 1;
  w->msgid = (w->gen << IDX_BITS) | idx;
  w->sent_ns = now;
  bc_pack_request(c, w->msgid, "request", 3);
  bc_pack_str(&c->pk, "conn");
  bc_pack_str(&c->pk, w->name);
  bc_pack_str(&c->pk, "data");
  bc_pack_strn(&c->pk, w->payload, size);
  bc_pack_str(&c->pk, "timeout_ms");
  msgpack_pack_uint32(&c->pk, 10000);
}

static void usage(void) {
  fputs("usage: bench_echo --socket PATH --prefix NAME --n N [--size BYTES] [--control K]\n"
        "                  --window-start-ms EPOCH_MS --window-end-ms EPOCH_MS\n",
        stderr);
}

int main(int argc, char **argv) {
  const char *socket_path = NULL, *prefix = NULL;
  unsigned n = 0, k_count = 1;
  uint64_t w_start = 0, w_end = 0;
  static const struct option opts[] = {{"socket", 1, 0, 's'},
                                       {"prefix", 1, 0, 'p'},
                                       {"n", 1, 0, 'n'},
                                       {"size", 1, 0, 'b'},
                                       {"control", 1, 0, 'k'},
                                       {"window-start-ms", 1, 0, 'a'},
                                       {"window-end-ms", 1, 0, 'e'},
                                       {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 's':
      socket_path = optarg;
      break;
    case 'p':
      prefix = optarg;
      break;
    case 'n':
      n = (unsigned)atoi(optarg);
      break;
    case 'b':
      size = (size_t)atol(optarg);
      break;
    case 'k':
      k_count = (unsigned)atoi(optarg);
      break;
    case 'a':
      w_start = strtoull(optarg, NULL, 10);
      break;
    case 'e':
      w_end = strtoull(optarg, NULL, 10);
      break;
    default:
      usage();
      return 2;
    }
  }
  if (!socket_path || !prefix || n < 1 || n > MAX_CONNS - 1 || k_count < 1 || k_count > 64 || size < 8 ||
      size > (16u << 20) || !w_start || w_end <= w_start) {
    usage();
    return 2;
  }

  bc_conn *ks = calloc(k_count, sizeof *ks);
  struct pollfd *pfd = calloc(k_count, sizeof *pfd);
  for (unsigned i = 0; i < k_count; i++) {
    if (bc_connect(&ks[i], socket_path) != 0) {
      fprintf(stderr, "bench_echo: connect %s: %s\n", socket_path, strerror(errno));
      return 1;
    }
    pfd[i].fd = ks[i].fd;
    pfd[i].events = POLLIN;
  }
  wconn *ws = calloc(n, sizeof *ws);
  for (unsigned i = 0; i < n; i++) {
    snprintf(ws[i].name, sizeof ws[i].name, "%s%05u", prefix, i);
    ws[i].payload = malloc(size);
    memset(ws[i].payload, 'x', size);
    char head[16];
    int hl = snprintf(head, sizeof head, "m%05u ", i); /* each connection's echo is its own */
    memcpy(ws[i].payload, head, (size_t)hl);
  }

  uint64_t now = bc_now_ns();
  for (unsigned i = 0; i < n; i++)
    pack_request(&ks[i % k_count], &ws[i], i, now);
  for (unsigned i = 0; i < k_count; i++)
    if (bc_flush(&ks[i]) != 0) {
      fprintf(stderr, "bench_echo: write: %s\n", strerror(errno));
      return 1;
    }

  size_t max_samples = 8u << 20, n_samples = 0;
  uint64_t *rtt = malloc(max_samples * sizeof *rtt);
  uint64_t in_window = 0, errors = 0, wrong = 0, unknown = 0, total = 0;
  unsigned answered = 0, outstanding = n;
  uint64_t ready_at_ms = 0;
  char first_error[64] = "";
  bool stopping = false;
  uint64_t hard_end_ms = w_end + 15000;
  int rc = 0;
  while (outstanding) {
    uint64_t now_ms = bc_epoch_ms();
    if (now_ms >= w_end)
      stopping = true;
    if (now_ms >= hard_end_ms) {
      fprintf(stderr, "bench_echo: %u requests still outstanding 15 s after the window\n", outstanding);
      rc = 1;
      break;
    }
    int pr = poll(pfd, k_count, 100);
    if (pr < 0 && errno != EINTR) {
      perror("poll");
      return 1;
    }
    now_ms = bc_epoch_ms();
    bool counting = now_ms >= w_start && now_ms < w_end;
    for (unsigned i = 0; i < k_count && pr > 0; i++) {
      if (!pfd[i].revents)
        continue;
      long got = bc_read(&ks[i]);
      if (got <= 0) {
        fprintf(stderr, "bench_echo: control connection %u: %s\n", i, got == 0 ? "EOF" : strerror(errno));
        return 1;
      }
      now = bc_now_ns();
      uint32_t msgid;
      const msgpack_object *err, *res;
      int r;
      while ((r = bc_next_response(&ks[i], &msgid, &err, &res)) == 1) {
        uint32_t idx = msgid & (MAX_CONNS - 1);
        if (idx >= n || ws[idx].msgid != msgid) {
          unknown++;
          continue;
        }
        wconn *w = &ws[idx];
        w->msgid = 0;
        outstanding--;
        total++;
        if (err) {
          if (!errors++)
            bc_error_code(err, first_error, sizeof first_error);
          continue; /* that connection stops */
        }
        const msgpack_object *data = bc_field(res, "data");
        if (!data || data->type != MSGPACK_OBJECT_STR || data->via.str.size != size ||
            memcmp(data->via.str.ptr, w->payload, size) != 0) {
          wrong++;
          continue;
        }
        if (!w->answered) {
          w->answered = true;
          if (++answered == n)
            ready_at_ms = bc_epoch_ms();
        }
        if (counting) {
          in_window++;
          if (n_samples < max_samples)
            rtt[n_samples++] = now - w->sent_ns;
        }
        if (!stopping) {
          pack_request(&ks[i], w, idx, now);
          outstanding++;
        }
      }
      if (r < 0) {
        fprintf(stderr, "bench_echo: connection %u: not msgpack-RPC from the daemon\n", i);
        return 1;
      }
      if (ks[i].out.size && bc_flush(&ks[i]) != 0) {
        fprintf(stderr, "bench_echo: write: %s\n", strerror(errno));
        return 1;
      }
    }
  }

  double secs = (double)(w_end - w_start) / 1e3;
  uint64_t p50 = bc_quantile(rtt, n_samples, 0.50), p99 = bc_quantile(rtt, n_samples, 0.99);
  printf("{\"client\":\"wsfleet\",\"conns\":%u,\"control\":%u,\"size\":%zu,\"round_trips\":%llu,\"seconds\":%"
         ".3f,"
         "\"rps\":%.0f,\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f,\"ready_at_ms\":%llu,\"window_start_ms\":%llu,"
         "\"total\":%llu,\"errors\":%llu,\"first_error\":\"%s\",\"wrong_echo\":%llu,\"unmatched\":%llu}\n",
         n, k_count, size, (unsigned long long)in_window, secs, in_window / secs, p50 / 1e3, p99 / 1e3,
         (unsigned long long)ready_at_ms, (unsigned long long)w_start, (unsigned long long)total,
         (unsigned long long)errors, first_error, (unsigned long long)wrong, (unsigned long long)unknown);
  if (errors || wrong || unknown || !in_window || !ready_at_ms)
    rc = 1;
  for (unsigned i = 0; i < k_count; i++)
    bc_close(&ks[i]);
  for (unsigned i = 0; i < n; i++)
    free(ws[i].payload);
  free(ws);
  free(ks);
  free(pfd);
  free(rtt);
  return rc;
}
