/* Small things every module uses: clocks, logging, randomness, container_of. */
#ifndef WSF_UTIL_H
#define WSF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define wsf_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define WSF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic microseconds (uv_hrtime). */
uint64_t wsf_now_us(void);
/* Wall clock, Unix epoch milliseconds. */
uint64_t wsf_wall_ms(void);

/* Fill buf from the CSPRNG (OpenSSL RAND_bytes). Returns 0 or UV_EIO (no entropy). */
int wsf_random(void *buf, size_t len);
/* Uniform in [0, bound) from a fast non-cryptographic generator (jitter). */
uint64_t wsf_random_below(uint64_t bound);
/* 64 bits from the same generator: values that must differ (ping payloads), not secrets. */
uint64_t wsf_random_u64(void);

enum wsf_log_level { WSF_LOG_ERROR, WSF_LOG_WARN, WSF_LOG_INFO, WSF_LOG_DEBUG };
extern int wsf_log_level;
int wsf_log_level_parse(const char *name); /* -1 when unknown */
void wsf_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "127.0.0.1:9464", "[::1]:9464" or "::1:9464" (numeric hosts only). Returns 0 or -1. */
int wsf_parse_addr_port(const char *addr, struct sockaddr_storage *out);
/* The other way: "127.0.0.1:9464" or "[::1]:9464" into buf; NULL for another family. */
const char *wsf_addr_port_text(const struct sockaddr *sa, char buf[64]);
/* 127.0.0.0/8 or ::1: the control and metrics ports bind nowhere else. */
bool wsf_addr_is_loopback(const struct sockaddr_storage *a);

/* Files a peer or another local user could have planted or swapped. Each
 * never follows a symlink in the last component and never blocks (a FIFO or a
 * device is refused, not opened for reading); on failure it returns -1 (or
 * NULL) with the reason in err. */
/* A directory that is ours and closed to others (mode & 077 == 0). */
int wsf_check_private_dir(const char *dir, char *err, size_t err_len);
/* Reads a regular file of at most max_bytes whole, in one go. private_only:
 * it must also be owned by this user and unreadable by others (a token).
 * *data is malloc'd and NUL-terminated (the caller frees it). */
int wsf_read_regular_file(const char *path, size_t max_bytes, bool private_only, char **data, size_t *len,
                          char *err, size_t err_len);
/* Opens path for appending, creating it 0600; an existing file must be a
 * regular file owned by this user. The caller owns the FILE. */
FILE *wsf_open_private_append(const char *path, char *err, size_t err_len);

/* The memory rule (ARCHITECTURE.md): out of memory aborts with a message,
 * as in redis's zmalloc and wrk; no caller checks for NULL. Sizes a peer or
 * a client chooses are checked against their limit before allocating. */
void *wsf_xmalloc(size_t n);
void *wsf_xcalloc(size_t n, size_t size);
void *wsf_xrealloc(void *p, size_t n);
char *wsf_xstrndup(const char *s, size_t n);
/* For a library that reports out of memory without a size (wslay's
 * WSLAY_ERR_NOMEM, OpenSSL's SSL_new NULL): same message, same abort. */
_Noreturn void wsf_out_of_memory(const char *what);

#endif
