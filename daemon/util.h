/* Small things every module uses: clocks, logging, randomness, container_of. */
#ifndef WSF_UTIL_H
#define WSF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define wsf_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define WSF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic microseconds (uv_hrtime). */
uint64_t wsf_now_us(void);
/* Wall clock, Unix epoch milliseconds. */
uint64_t wsf_wall_ms(void);

/* Fill buf from the CSPRNG (OpenSSL RAND_bytes). Returns 0 or -1. */
int wsf_random(void *buf, size_t len);
/* Uniform in [0, bound) from a fast non-cryptographic generator (jitter). */
uint64_t wsf_random_below(uint64_t bound);

enum wsf_log_level { WSF_LOG_ERROR, WSF_LOG_WARN, WSF_LOG_INFO, WSF_LOG_DEBUG };
extern int wsf_log_level;
int wsf_log_level_parse(const char *name); /* -1 when unknown */
void wsf_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "127.0.0.1:9464", "[::1]:9464" or "::1:9464" (numeric hosts only). Returns 0 or -1. */
int wsf_parse_addr_port(const char *addr, struct sockaddr_storage *out);
/* 127.0.0.0/8 or ::1: the control and metrics ports bind nowhere else. */
bool wsf_addr_is_loopback(const struct sockaddr_storage *a);

/* Allocation that aborts on failure, for small fixed structures only. */
void *wsf_xmalloc(size_t n);
void *wsf_xcalloc(size_t n, size_t size);
char *wsf_xstrndup(const char *s, size_t n);

#endif
