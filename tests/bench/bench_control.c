/* bench_control: control-protocol throughput and round trip.
 *
 * Opens K control connections to wsfleetd and keeps D requests outstanding on
 * each (a new one is sent as each response arrives, batched per read), for a
 * warm-up and then a measured window. Prints one JSON line: requests/s, the
 * round-trip quantiles (send to response, as this client sees them), this
 * client's CPU and, with --daemon-pid, the daemon's CPU over the window.
 * Exit status 1 when the benchmark itself breaks (error responses, EOF, a
 * response nobody asked for), never because of a figure. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchclient.h"

typedef struct slot {
  uint32_t msgid;
  uint64_t sent_ns;
} slot;

typedef struct ctl {
  bc_conn c;
  uint32_t next_id;
  uint32_t outstanding;
  slot *slots; /* sent times by msgid & mask */
  uint32_t mask;
} ctl;

static const char *method = "status", *conn_name = "bench";
static bool decode_full = false;

/* The next response: by default only its envelope is read (msgid, error or
 * not) and an error decoded whole; --decode full builds every object of every
 * reply with msgpack-c, as a real client would: 6,400 of the client's 8,500
 * instructions per `status` request (callgrind), more than the daemon's own
 * packing, so the client and not the daemon set the rate. */
static int next_response(bc_conn *c, uint32_t *msgid, const msgpack_object **err) {
  const msgpack_object *res;
  if (!decode_full) {
    bool is_error;
    int r = bc_next_envelope(c, msgid, &is_error);
    if (r != 1 || !is_error) {
      *err = NULL;
      return r;
    }
  }
  return bc_next_response(c, msgid, err, &res);
}

/* Every request is the same bytes but its msgid: packed once with msgpack-c
 * (the msgid as a uint32, a valid if not the shortest form), then copied and
 * the msgid written in, instead of packing each anew. */
static msgpack_sbuffer request_template;
enum { MSGID_AT = 3 }; /* 0x94 0x00 0xce <4 bytes> */

static void make_template(void) {
  msgpack_sbuffer_init(&request_template);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &request_template, msgpack_sbuffer_write);
  bool status = strcmp(method, "status") == 0;
  static const char head[] = {(char)0x94, 0x00, (char)0xce, 0, 0, 0, 0};
  msgpack_sbuffer_write(&request_template, head, sizeof head);
  bc_pack_str(&pk, method);
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, status ? 1 : 0);
  if (status) {
    bc_pack_str(&pk, "conn");
    bc_pack_str(&pk, conn_name);
  }
}

static void pack_one(ctl *k, uint64_t now) {
  uint32_t id = k->next_id++;
  slot *s = &k->slots[id & k->mask];
  s->msgid = id;
  s->sent_ns = now;
  size_t at = k->c.out.size;
  msgpack_sbuffer_write(&k->c.out, request_template.data, request_template.size);
  uint8_t *p = (uint8_t *)k->c.out.data + at + MSGID_AT;
  p[0] = (uint8_t)(id >> 24);
  p[1] = (uint8_t)(id >> 16);
  p[2] = (uint8_t)(id >> 8);
  p[3] = (uint8_t)id;
  k->outstanding++;
}

static void usage(void) {
  fputs("usage: bench_control --socket PATH [--method status|stats|hello] [--conn NAME]\n"
        "                     [--connections K] [--depth D] [--seconds S] [--warmup S] [--daemon-pid PID]\n"
        "                     [--decode envelope|full]\n",
        stderr);
}

int main(int argc, char **argv) {
  const char *socket_path = NULL;
  unsigned k_count = 1, depth = 1;
  double seconds = 3, warmup = 0.5;
  int daemon_pid = 0;
  static const struct option opts[] = {{"socket", 1, 0, 's'}, {"method", 1, 0, 'm'},
                                       {"conn", 1, 0, 'c'},   {"connections", 1, 0, 'k'},
                                       {"depth", 1, 0, 'd'},  {"seconds", 1, 0, 't'},
                                       {"warmup", 1, 0, 'w'}, {"daemon-pid", 1, 0, 'p'},
                                       {"decode", 1, 0, 'D'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 's':
      socket_path = optarg;
      break;
    case 'm':
      method = optarg;
      break;
    case 'c':
      conn_name = optarg;
      break;
    case 'k':
      k_count = (unsigned)atoi(optarg);
      break;
    case 'd':
      depth = (unsigned)atoi(optarg);
      break;
    case 't':
      seconds = atof(optarg);
      break;
    case 'w':
      warmup = atof(optarg);
      break;
    case 'p':
      daemon_pid = atoi(optarg);
      break;
    case 'D':
      if (strcmp(optarg, "full") && strcmp(optarg, "envelope")) {
        usage();
        return 2;
      }
      decode_full = strcmp(optarg, "full") == 0;
      break;
    default:
      usage();
      return 2;
    }
  }
  if (!socket_path || k_count < 1 || k_count > 64 || depth < 1 || depth > 4096 || seconds <= 0 ||
      warmup < 0) {
    usage();
    return 2;
  }
  if (strcmp(method, "status") && strcmp(method, "stats") && strcmp(method, "hello")) {
    usage();
    return 2;
  }

  make_template();
  ctl *ks = calloc(k_count, sizeof *ks);
  struct pollfd *pfd = calloc(k_count, sizeof *pfd);
  uint32_t cap = 64;
  while (cap < depth * 64)
    cap <<= 1;
  for (unsigned i = 0; i < k_count; i++) {
    if (bc_connect(&ks[i].c, socket_path) != 0) {
      fprintf(stderr, "bench_control: connect %s: %s\n", socket_path, strerror(errno));
      return 1;
    }
    ks[i].next_id = 1;
    ks[i].slots = calloc(cap, sizeof(slot));
    ks[i].mask = cap - 1;
    pfd[i].fd = ks[i].c.fd;
    pfd[i].events = POLLIN;
  }

  size_t max_samples = 8u << 20, n_samples = 0;
  uint64_t *rtt = malloc(max_samples * sizeof *rtt);
  uint64_t t0 = bc_now_ns();
  uint64_t win_start = t0 + (uint64_t)(warmup * 1e9), win_end = win_start + (uint64_t)(seconds * 1e9);
  uint64_t hard_end = win_end + 10000000000ull; /* drain at most 10 s */
  for (unsigned i = 0; i < k_count; i++) {
    uint64_t now = bc_now_ns();
    for (unsigned j = 0; j < depth; j++)
      pack_one(&ks[i], now);
    if (bc_flush(&ks[i].c) != 0) {
      fprintf(stderr, "bench_control: write: %s\n", strerror(errno));
      return 1;
    }
  }

  uint64_t done_in_window = 0, errors = 0, unknown = 0;
  char first_error[64] = "";
  long long d_ticks0 = -1, d_ticks1 = -1;
  double c_cpu0 = 0, c_cpu1 = 0;
  bool in_window = false, stopping = false;
  uint64_t measured_ns = 0;
  int rc = 0;
  for (;;) {
    uint64_t now = bc_now_ns();
    if (!in_window && !stopping && now >= win_start) {
      in_window = true;
      d_ticks0 = daemon_pid ? bc_proc_cpu_ticks(daemon_pid) : -1;
      c_cpu0 = bc_self_cpu_seconds();
      win_start = now;
    }
    if (in_window && now >= win_end) {
      in_window = false;
      stopping = true;
      measured_ns = now - win_start;
      d_ticks1 = daemon_pid ? bc_proc_cpu_ticks(daemon_pid) : -1;
      c_cpu1 = bc_self_cpu_seconds();
    }
    if (stopping) {
      uint32_t left = 0;
      for (unsigned i = 0; i < k_count; i++)
        left += ks[i].outstanding;
      if (!left)
        break;
      if (now >= hard_end) {
        fprintf(stderr, "bench_control: %u responses missing after the window\n", left);
        rc = 1;
        break;
      }
    }
    int n = poll(pfd, k_count, 100);
    if (n < 0 && errno != EINTR) {
      perror("poll");
      return 1;
    }
    for (unsigned i = 0; i < k_count && n > 0; i++) {
      if (!pfd[i].revents)
        continue;
      ctl *k = &ks[i];
      long got = bc_read(&k->c);
      if (got <= 0) {
        fprintf(stderr, "bench_control: control connection %u: %s\n", i, got == 0 ? "EOF" : strerror(errno));
        return 1;
      }
      now = bc_now_ns();
      uint32_t msgid;
      const msgpack_object *err;
      int r;
      while ((r = next_response(&k->c, &msgid, &err)) == 1) {
        slot *s = &k->slots[msgid & k->mask];
        if (s->msgid != msgid || !k->outstanding) {
          unknown++;
          continue;
        }
        k->outstanding--;
        if (err) {
          if (!errors++)
            bc_error_code(err, first_error, sizeof first_error);
        } else if (in_window) {
          done_in_window++;
          if (n_samples < max_samples)
            rtt[n_samples++] = now - s->sent_ns;
        }
        if (!stopping)
          pack_one(k, now);
      }
      if (r < 0) {
        fprintf(stderr, "bench_control: connection %u: not msgpack-RPC from the daemon\n", i);
        return 1;
      }
      if (k->c.out.size && bc_flush(&k->c) != 0) {
        fprintf(stderr, "bench_control: write: %s\n", strerror(errno));
        return 1;
      }
    }
  }

  double secs = (double)measured_ns / 1e9;
  uint64_t p50 = bc_quantile(rtt, n_samples, 0.50), p99 = bc_quantile(rtt, n_samples, 0.99);
  double d_cpu =
      (d_ticks0 >= 0 && d_ticks1 >= 0) ? (double)(d_ticks1 - d_ticks0) / bc_ticks_per_second() : -1;
  printf("{\"method\":\"%s\",\"connections\":%u,\"depth\":%u,\"requests\":%llu,\"seconds\":%.3f,"
         "\"rps\":%.0f,\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f,\"client_cpu_s\":%.3f,\"daemon_cpu_s\":%.2f,"
         "\"errors\":%llu,\"first_error\":\"%s\",\"unmatched\":%llu,\"decode\":\"%s\"}\n",
         method, k_count, depth, (unsigned long long)done_in_window, secs,
         secs > 0 ? done_in_window / secs : 0, p50 / 1e3, p99 / 1e3, c_cpu1 - c_cpu0, d_cpu,
         (unsigned long long)errors, first_error, (unsigned long long)unknown,
         decode_full ? "full" : "envelope");
  if (errors || unknown || !done_in_window)
    rc = 1;
  for (unsigned i = 0; i < k_count; i++) {
    bc_close(&ks[i].c);
    free(ks[i].slots);
  }
  free(ks);
  free(pfd);
  free(rtt);
  msgpack_sbuffer_destroy(&request_template);
  return rc;
}
