#include "benchclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int bc_connect(bc_conn *c, const char *socket_path) {
  memset(c, 0, sizeof *c);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(sa.sun_path, socket_path);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -1;
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(c->fd);
    return -1;
  }
  if (!msgpack_unpacker_init(&c->up, 1 << 16)) {
    close(c->fd);
    errno = ENOMEM;
    return -1;
  }
  msgpack_unpacked_init(&c->msg);
  msgpack_sbuffer_init(&c->out);
  msgpack_packer_init(&c->pk, &c->out, msgpack_sbuffer_write);
  return 0;
}

void bc_close(bc_conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  msgpack_unpacked_destroy(&c->msg);
  msgpack_unpacker_destroy(&c->up);
  msgpack_sbuffer_destroy(&c->out);
}

void bc_pack_str(msgpack_packer *pk, const char *s) {
  bc_pack_strn(pk, s, strlen(s));
}

void bc_pack_strn(msgpack_packer *pk, const char *s, size_t len) {
  msgpack_pack_str(pk, len);
  msgpack_pack_str_body(pk, s, len);
}

void bc_pack_request(bc_conn *c, uint32_t msgid, const char *method, uint32_t n_fields) {
  msgpack_pack_array(&c->pk, 4);
  msgpack_pack_uint8(&c->pk, 0);
  msgpack_pack_uint32(&c->pk, msgid);
  bc_pack_str(&c->pk, method);
  msgpack_pack_array(&c->pk, 1);
  msgpack_pack_map(&c->pk, n_fields);
}

int bc_flush(bc_conn *c) {
  size_t off = 0;
  while (off < c->out.size) {
    ssize_t n = write(c->fd, c->out.data + off, c->out.size - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    off += (size_t)n;
  }
  msgpack_sbuffer_clear(&c->out);
  return 0;
}

long bc_read(bc_conn *c) {
  if (!msgpack_unpacker_reserve_buffer(&c->up, 1 << 16))
    return -1;
  ssize_t n;
  do
    n = read(c->fd, msgpack_unpacker_buffer(&c->up), msgpack_unpacker_buffer_capacity(&c->up));
  while (n < 0 && errno == EINTR);
  if (n > 0)
    msgpack_unpacker_buffer_consumed(&c->up, (size_t)n);
  return (long)n;
}

int bc_next_response(bc_conn *c, uint32_t *msgid, const msgpack_object **error,
                     const msgpack_object **result) {
  for (;;) {
    msgpack_unpack_return rv = msgpack_unpacker_next(&c->up, &c->msg);
    if (rv == MSGPACK_UNPACK_CONTINUE)
      return 0;
    if (rv != MSGPACK_UNPACK_SUCCESS)
      return -1;
    const msgpack_object *o = &c->msg.data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 3)
      return -1;
    const msgpack_object *a = o->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      return -1;
    if (a[0].via.u64 == 2)
      continue; /* a notification: not ours to count */
    if (a[0].via.u64 != 1 || o->via.array.size != 4 || a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      return -1;
    *msgid = (uint32_t)a[1].via.u64;
    *error = a[2].type == MSGPACK_OBJECT_NIL ? NULL : &a[2];
    *result = &a[3];
    return 1;
  }
}

/* Length of the complete msgpack object at p: 0 when more bytes are needed,
 * -1 when the bytes are not msgpack. Objects still due are counted, nothing is
 * built. */
static long object_length(const uint8_t *p, size_t avail) {
  size_t off = 0;
  uint64_t items = 1;
  while (items) {
    if (off >= avail)
      return 0;
    uint8_t b = p[off++];
    items--;
    uint64_t body = 0;      /* payload bytes after the header */
    unsigned len_bytes = 0; /* a length or count follows in 1, 2 or 4 bytes */
    int per_len = 0;        /* what the length counts: 0 bytes, 1 array items, 2 map items */
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
      ;
    else if (b <= 0x8f)
      items += 2u * (b & 0x0fu);
    else if (b <= 0x9f)
      items += b & 0x0fu;
    else if (b <= 0xbf)
      body = b & 0x1fu;
    else if (b == 0xc4 || b == 0xd9)
      len_bytes = 1;
    else if (b == 0xc5 || b == 0xda)
      len_bytes = 2;
    else if (b == 0xc6 || b == 0xdb)
      len_bytes = 4;
    else if (b >= 0xc7 && b <= 0xc9) { /* ext 8/16/32: the type byte too */
      len_bytes = 1u << (b - 0xc7);
      body = 1;
    } else if (b == 0xca || b == 0xce || b == 0xd2)
      body = 4;
    else if (b == 0xcb || b == 0xcf || b == 0xd3)
      body = 8;
    else if (b == 0xcc || b == 0xd0)
      body = 1;
    else if (b == 0xcd || b == 0xd1)
      body = 2;
    else if (b >= 0xd4 && b <= 0xd8) /* fixext: type byte + 1, 2, 4, 8, 16 */
      body = 1 + (1u << (b - 0xd4));
    else if (b == 0xdc || b == 0xdd) {
      len_bytes = b == 0xdc ? 2 : 4;
      per_len = 1;
    } else if (b == 0xde || b == 0xdf) {
      len_bytes = b == 0xde ? 2 : 4;
      per_len = 2;
    } else
      return -1; /* 0xc1 */
    if (len_bytes) {
      if (avail - off < len_bytes)
        return 0;
      uint64_t n = 0;
      for (unsigned i = 0; i < len_bytes; i++)
        n = (n << 8) | p[off++];
      if (per_len)
        items += n * (uint64_t)per_len;
      else
        body += n;
    }
    if (avail - off < body)
      return 0;
    off += (size_t)body;
  }
  return (long)off;
}

int bc_next_envelope(bc_conn *c, uint32_t *msgid, bool *is_error) {
  for (;;) {
    const uint8_t *p = (const uint8_t *)c->up.buffer + c->up.off;
    size_t avail = c->up.used - c->up.off;
    long len = object_length(p, avail);
    if (len <= 0)
      return (int)len;
    /* [1, msgid, error, result]: msgid a positive fixint or uint 8/16/32 */
    if (p[0] == 0x93 && p[1] == 0x02) { /* a notification: not ours to count */
      c->up.off += (size_t)len;
      continue;
    }
    if (len < 4 || p[0] != 0x94 || p[1] != 0x01)
      return -1;
    size_t at = 2;
    if (p[at] <= 0x7f)
      *msgid = p[at++];
    else if (p[at] == 0xcc || p[at] == 0xcd || p[at] == 0xce) {
      unsigned n = 1u << (p[at] - 0xcc);
      uint32_t v = 0;
      for (unsigned i = 1; i <= n; i++)
        v = (v << 8) | p[at + i];
      *msgid = v;
      at += 1 + n;
    } else
      return -1;
    if (at >= (size_t)len)
      return -1;
    *is_error = p[at] != 0xc0;
    if (*is_error)
      return 1; /* left in the buffer: bc_next_response decodes it */
    c->up.off += (size_t)len;
    return 1;
  }
}

const msgpack_object *bc_field(const msgpack_object *map, const char *key) {
  if (!map || map->type != MSGPACK_OBJECT_MAP)
    return NULL;
  size_t klen = strlen(key);
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0)
      return &map->via.map.ptr[i].val;
  }
  return NULL;
}

void bc_error_code(const msgpack_object *error, char *buf, size_t size) {
  const msgpack_object *code = bc_field(error, "code");
  if (code && code->type == MSGPACK_OBJECT_STR)
    snprintf(buf, size, "%.*s", (int)code->via.str.size, code->via.str.ptr);
  else
    snprintf(buf, size, "?");
}

uint64_t bc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bc_epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void bc_sleep_until_epoch_ms(uint64_t at_ms) {
  uint64_t now = bc_epoch_ms();
  if (at_ms <= now)
    return;
  struct timespec ts = {.tv_sec = (time_t)((at_ms - now) / 1000),
                        .tv_nsec = (long)((at_ms - now) % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

long long bc_proc_cpu_ticks(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  /* The command name may hold spaces and parentheses: fields count from the last ')'. */
  char *p = strrchr(buf, ')');
  if (!p)
    return -1;
  unsigned long long utime = 0, stime = 0;
  /* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14)
   * stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return -1;
  return (long long)(utime + stime);
}

double bc_ticks_per_second(void) {
  return (double)sysconf(_SC_CLK_TCK);
}

double bc_self_cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

uint64_t bc_quantile(uint64_t *v, size_t n, double q) {
  if (!n)
    return 0;
  qsort(v, n, sizeof *v, cmp_u64);
  size_t rank = (size_t)(q * (double)n + 0.999999);
  if (rank == 0)
    rank = 1;
  if (rank > n)
    rank = n;
  return v[rank - 1];
}
