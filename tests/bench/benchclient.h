/* Control-connection plumbing shared by the C benchmark clients: a blocking
 * Unix-socket connection to wsfleetd, requests packed with msgpack-c into an
 * output buffer that is flushed once per batch, and responses taken one by one
 * from a msgpack unpacker. Plus the small measuring helpers (clocks, /proc CPU
 * ticks, percentiles) that every benchmark prints with. */
#ifndef WSF_BENCHCLIENT_H
#define WSF_BENCHCLIENT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bc_conn {
  int fd;
  msgpack_unpacker up;
  msgpack_unpacked msg;
  msgpack_sbuffer out;
  msgpack_packer pk;
} bc_conn;

int bc_connect(bc_conn *c, const char *socket_path); /* 0 or -1 (errno) */
void bc_close(bc_conn *c);

/* [0, msgid, method, [{ ... n_fields pairs packed by the caller next }]] */
void bc_pack_request(bc_conn *c, uint32_t msgid, const char *method, uint32_t n_fields);
void bc_pack_str(msgpack_packer *pk, const char *s);
void bc_pack_strn(msgpack_packer *pk, const char *s, size_t len);
/* Writes the whole output buffer (blocking). 0 or -1. */
int bc_flush(bc_conn *c);
/* One read() into the unpacker. >0 bytes, 0 EOF, -1 error. */
long bc_read(bc_conn *c);

/* The next complete response in what was read so far: 1 with *msgid, *error
 * (NULL on success) and *result pointing into c->msg until the next call;
 * 0 when more bytes are needed; -1 when the daemon sent something that is not
 * a response (a notification is skipped). */
int bc_next_response(bc_conn *c, uint32_t *msgid, const msgpack_object **error,
                     const msgpack_object **result);

/* The next complete response's envelope, without building its objects (a
 * `status` reply is 95 of them, and decoding them cost the client more than
 * the daemon packing them): 1 with *msgid and *is_error, 0 when more bytes
 * are needed, -1 when the daemon sent something that is not a response
 * (notifications are skipped). A success is consumed; an error is left in
 * place for bc_next_response to decode. */
int bc_next_envelope(bc_conn *c, uint32_t *msgid, bool *is_error);

/* Looks up a str-keyed field of a map; NULL when absent. */
const msgpack_object *bc_field(const msgpack_object *map, const char *key);
/* The error's "code" as text for messages ("?" when absent). */
void bc_error_code(const msgpack_object *error, char *buf, size_t size);

uint64_t bc_now_ns(void);   /* CLOCK_MONOTONIC */
uint64_t bc_epoch_ms(void); /* CLOCK_REALTIME, to share windows with other processes */
void bc_sleep_until_epoch_ms(uint64_t at_ms);
/* utime + stime of a process in clock ticks (sysconf(_SC_CLK_TCK)); -1 if gone. */
long long bc_proc_cpu_ticks(int pid);
double bc_ticks_per_second(void);
double bc_self_cpu_seconds(void); /* this process, from getrusage */

/* Sorts v in place and returns the q-quantile (nearest rank). */
uint64_t bc_quantile(uint64_t *v, size_t n, double q);

#endif
