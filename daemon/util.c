#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

int wsf_log_level = WSF_LOG_INFO;

uint64_t wsf_now_us(void) {
  return uv_hrtime() / 1000;
}

uint64_t wsf_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Masking keys and ping payloads are a few bytes each, thousands of times a
 * second: they are served from a block drawn from the CSPRNG 4 KiB at a time
 * (one RAND_bytes call, instead of one per frame). Bytes are used once. */
int wsf_random(void *buf, size_t len) {
  static unsigned char pool[4096];
  static size_t left;
  if (len > sizeof pool / 4)
    return RAND_bytes(buf, (int)len) == 1 ? 0 : UV_EIO;
  if (left < len) {
    if (RAND_bytes(pool, sizeof pool) != 1)
      return UV_EIO;
    left = sizeof pool;
  }
  memcpy(buf, pool + sizeof pool - left, len);
  memset(pool + sizeof pool - left, 0, len);
  left -= len;
  return 0;
}

/* xorshift64*: jitter and ping payloads need spread, not secrecy; seeded once
 * from the CSPRNG. Its period is 2^64 - 1, so no value repeats within it. */
uint64_t wsf_random_u64(void) {
  static uint64_t state;
  if (state == 0 && (wsf_random(&state, sizeof state) != 0 || state == 0))
    state = 0x9E3779B97F4A7C15ull ^ uv_hrtime();
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

uint64_t wsf_random_below(uint64_t bound) {
  return bound ? wsf_random_u64() % bound : 0;
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int wsf_log_level_parse(const char *name) {
  for (size_t i = 0; i < WSF_ARRAY_LEN(level_names); i++)
    if (strcasecmp(name, level_names[i]) == 0)
      return (int)i;
  return -1;
}

void wsf_log(int level, const char *fmt, ...) {
  if (level > wsf_log_level)
    return;
  char stamp[32];
  time_t now = time(NULL);
  struct tm tm;
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
  fprintf(stderr, "%sZ wsfleetd %s: ", stamp, level_names[level]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

void *wsf_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory (%zu bytes)\n", n);
    abort();
  }
  return p;
}

void *wsf_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "out of memory (%zu bytes)\n", n);
    abort();
  }
  return q;
}

void *wsf_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) {
    fprintf(stderr, "out of memory (%zu x %zu bytes)\n", n, size);
    abort();
  }
  return p;
}

void wsf_out_of_memory(const char *what) {
  fprintf(stderr, "out of memory (%s)\n", what);
  abort();
}

char *wsf_xstrndup(const char *s, size_t n) {
  char *p = wsf_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

int wsf_parse_addr_port(const char *addr, struct sockaddr_storage *out) {
  const char *colon = strrchr(addr, ':');
  if (!colon || colon == addr || !colon[1] || strlen(colon + 1) > 5 ||
      strspn(colon + 1, "0123456789") != strlen(colon + 1))
    return -1;
  int port = atoi(colon + 1);
  if (port > 65535)
    return -1;
  char host[64];
  size_t len = (size_t)(colon - addr);
  if (addr[0] == '[') {
    if (len < 3 || addr[len - 1] != ']')
      return -1;
    addr++;
    len -= 2;
  }
  if (len >= sizeof host)
    return -1;
  memcpy(host, addr, len);
  host[len] = '\0';
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
    return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
    return 0;
  return -1;
}

/* Decimal digits of v at p; returns the end. */
static char *put_decimal(char *p, unsigned v) {
  char tmp[10];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *p++ = tmp[--n];
  return p;
}

const char *wsf_addr_port_text(const struct sockaddr *sa, char buf[64]) {
  if (sa->sa_family == AF_INET) {
    /* By hand: `status` formats the peer for every reply, and inet_ntop + snprintf were a quarter
     * of a status request's instructions (2,780 of 11,747, callgrind). */
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    const uint8_t *a = (const uint8_t *)&in4->sin_addr;
    char *p = buf;
    for (int i = 0; i < 4; i++) {
      p = put_decimal(p, a[i]);
      *p++ = i < 3 ? '.' : ':';
    }
    *put_decimal(p, ntohs(in4->sin_port)) = '\0';
    return buf;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    snprintf(buf, 64, "[%s]:%u", ip, ntohs(in6->sin6_port));
    return buf;
  }
  return NULL;
}

bool wsf_addr_is_loopback(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
  return a->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

/* ---- files another user may have planted ------------------------------------ */

int wsf_check_private_dir(const char *dir, char *err, size_t err_len) {
  struct stat st;
  /* lstat: a symlink planted where the directory should be (/tmp/wsfleet-$UID
   * made by another user) is refused, not followed. */
  if (lstat(dir, &st) != 0) {
    snprintf(err, err_len, "%s: %s", dir, strerror(errno));
    return -1;
  }
  if (S_ISLNK(st.st_mode)) {
    snprintf(err, err_len, "%s is a symbolic link, not a directory", dir);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(err, err_len, "%s is not a directory", dir);
    return -1;
  }
  if (st.st_uid != geteuid() || (st.st_mode & 077)) {
    snprintf(err, err_len, "%s must be owned by this user and not accessible to others (chmod 700)", dir);
    return -1;
  }
  return 0;
}

/* open() that neither follows a final symlink nor blocks on a FIFO, then
 * fstat: what was opened is what is checked. */
static int open_regular(const char *path, int flags, mode_t mode, bool private_only, char *err,
                        size_t err_len) {
  int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0) {
    snprintf(err, err_len, "%s: %s", path,
             errno == ELOOP   ? "is a symbolic link"
             : errno == ENXIO ? "is not a regular file (a FIFO nobody reads)"
                              : strerror(errno));
    return -1;
  }
  struct stat st;
  const char *why = NULL;
  if (fstat(fd, &st) != 0)
    why = strerror(errno);
  else if (!S_ISREG(st.st_mode))
    why = "is not a regular file (a FIFO or a device would block the daemon)";
  else if (private_only && st.st_uid != geteuid())
    why = "is owned by another user";
  else if (private_only && (st.st_mode & 077))
    why = "is readable or writable by others (chmod 600)";
  if (why) {
    snprintf(err, err_len, "%s %s", path, why);
    close(fd);
    return -1;
  }
  /* Regular files never block: reads and writes go back to blocking mode. */
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

int wsf_read_regular_file(const char *path, size_t max_bytes, bool private_only, char **data, size_t *len,
                          char *err, size_t err_len) {
  int fd = open_regular(path, O_RDONLY, 0, private_only, err, err_len);
  if (fd < 0)
    return -1;
  char *buf = malloc(max_bytes + 1);
  size_t n = 0;
  while (buf && n <= max_bytes) {
    ssize_t r = read(fd, buf + n, max_bytes + 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r < 0)
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
      break;
    }
    n += (size_t)r;
    if (n > max_bytes)
      break;
  }
  close(fd);
  if (!buf || n > max_bytes) {
    snprintf(err, err_len, "%s is larger than %zu bytes", path, max_bytes);
    free(buf);
    return -1;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return 0;
}

FILE *wsf_open_private_append(const char *path, char *err, size_t err_len) {
  int fd = open_regular(path, O_WRONLY | O_APPEND | O_CREAT, 0600, false, err, err_len);
  if (fd < 0)
    return NULL;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_uid != geteuid()) {
    snprintf(err, err_len, "%s is owned by another user", path);
    close(fd);
    return NULL;
  }
  FILE *f = fdopen(fd, "a");
  if (!f) {
    snprintf(err, err_len, "%s: %s", path, strerror(errno));
    close(fd);
  }
  return f;
}
