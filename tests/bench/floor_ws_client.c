/* The floor of an idle WebSocket heartbeat on this kernel: the least a client
 * can do per connection per interval, to set beside wsfleetd's cost in
 * bench_conns.py. One thread, one epoll set; N ws:// connections, each sends a
 * masked 8-byte ping every interval and reads its pong with one read(). No
 * frame parsing beyond skipping what arrives, no per-connection timers (the
 * connections keep their order in a ring, since all share one interval), no
 * statistics. Beats due within --early-ms of a wake-up go out with it, like
 * wsfleetd's timer coalescing.
 *
 *   floor_ws_client HOST PORT N INTERVAL_MS EARLY_MS SECONDS
 *
 * Prints one line: "FLOOR {json}" with the CPU (user, system µs from
 * getrusage) per heartbeat over the last SECONDS, after the opens and one
 * full interval of warm-up. Built on demand by bench_conns.py (cc -O2, libc
 * only). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rusage_us(uint64_t *user, uint64_t *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec;
  *sys = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
  return *user + *sys;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_random(void) { /* xorshift64: masks need not be secret here */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static int open_ws(const struct sockaddr_in *sa, const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0)
    return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char req[256];
  int len = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     host, port);
  if (write(fd, req, (size_t)len) != len)
    return -1;
  char buf[1024];
  size_t got = 0;
  while (got < sizeof buf - 1) { /* the 101 and its headers; the gateway sends nothing after them */
    ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
    if (n <= 0)
      return -1;
    got += (size_t)n;
    buf[got] = 0;
    if (strstr(buf, "\r\n\r\n"))
      break;
  }
  if (strncmp(buf, "HTTP/1.1 101", 12) != 0)
    return -1;
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s HOST PORT N INTERVAL_MS EARLY_MS SECONDS\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]), n = atoi(argv[3]);
  uint64_t interval = strtoull(argv[4], NULL, 10) * 1000u, early = strtoull(argv[5], NULL, 10) * 1000u;
  uint64_t seconds = strtoull(argv[6], NULL, 10);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (n <= 0 || interval == 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int ep = epoll_create1(0);
  int *ring = calloc((size_t)n, sizeof *ring);  /* fds in the order their beats fall due */
  uint64_t *due = calloc((size_t)n, sizeof *due); /* ring position -> due time */
  if (!ring || !due || ep < 0)
    return 1;
  uint64_t t0 = now_us();
  for (int i = 0; i < n; i++) {
    int fd = open_ws(&sa, host, port);
    if (fd < 0) {
      fprintf(stderr, "open %d failed: %s\n", i, strerror(errno));
      return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
      return 1;
    ring[i] = fd;
  }
  /* Spread the first beats over one interval, in ring order (the order is kept for ever). */
  uint64_t start = now_us();
  for (int i = 0; i < n; i++)
    due[i] = start + interval * (uint64_t)i / (uint64_t)n + next_random() % (interval / (uint64_t)n + 1);
  fprintf(stderr, "floor: %d connections open in %.1f s\n", n, (double)(start - t0) / 1e6);

  uint64_t window_start = start + interval, window_end = window_start + seconds * 1000000u;
  uint64_t u0 = 0, s0 = 0, beats = 0, reads = 0, wakeups = 0;
  int measuring = 0, head = 0;
  struct epoll_event events[256];
  static uint8_t buf[65536];
  for (;;) {
    uint64_t now = now_us();
    if (!measuring && now >= window_start) {
      rusage_us(&u0, &s0);
      measuring = 1;
      beats = reads = wakeups = 0;
    }
    if (measuring && now >= window_end)
      break;
    while (due[head] <= now + early) { /* everything due, and what may ride along early */
      uint8_t frame[14] = {0x89, 0x80 | 8};
      uint32_t mask = (uint32_t)next_random();
      memcpy(frame + 2, &mask, 4);
      uint64_t payload = next_random();
      memcpy(frame + 6, &payload, 8);
      for (int i = 0; i < 8; i++)
        frame[6 + i] ^= frame[2 + (i & 3)];
      if (write(ring[head], frame, sizeof frame) != (ssize_t)sizeof frame) {
        fprintf(stderr, "write failed: %s\n", strerror(errno));
        return 1;
      }
      due[head] += interval;
      head = head + 1 == n ? 0 : head + 1;
      beats++;
    }
    uint64_t next = due[head] > now ? due[head] - now : 0;
    int timeout = (int)((next + 999) / 1000);
    if (measuring && now + (uint64_t)timeout * 1000u > window_end)
      timeout = (int)((window_end - now + 999) / 1000);
    int k = epoll_wait(ep, events, 256, timeout);
    wakeups++;
    for (int i = 0; i < k; i++) {
      ssize_t r = read(events[i].data.fd, buf, sizeof buf);
      reads++;
      if (r <= 0) {
        fprintf(stderr, "connection lost\n");
        return 1;
      }
    }
  }
  uint64_t u1, s1;
  rusage_us(&u1, &s1);
  double b = beats ? (double)beats : 1;
  printf("FLOOR {\"n\": %d, \"seconds\": %llu, \"beats\": %llu, \"reads\": %llu, \"wakeups\": %llu, "
         "\"user_us_per_hb\": %.2f, \"sys_us_per_hb\": %.2f, \"cpu_pct\": %.3f}\n",
         n, (unsigned long long)seconds, (unsigned long long)beats, (unsigned long long)reads,
         (unsigned long long)wakeups, (double)(u1 - u0) / b, (double)(s1 - s0) / b,
         100.0 * (double)(u1 - u0 + s1 - s0) / (double)(seconds * 1000000u));
  return 0;
}
