/* Byte-stream transport: plain TCP, or TCP with a filter (TLS), behind one interface.
 *
 * libuv owns the socket. A filter sits between the socket and the owner
 * (wrk's `struct sock`: plain and TLS behind one table): the transport calls
 * it only through its wsf_filter_ops, and the filter reaches the socket and
 * the owner only through the wsf_filter_io the transport hands it at start.
 * Everything above (HTTP upgrade, WebSocket framing) sees only plaintext
 * through the callbacks, so ws:// and wss:// share every line above the byte
 * stream.
 *
 * The owner embeds a wsf_transport in its own struct and finds itself again
 * with container_of() in the callbacks. Reads go into one loop-wide buffer:
 * an idle transport holds no read buffer. */
#ifndef WSF_TRANSPORT_H
#define WSF_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct wsf_transport wsf_transport;
typedef struct wsf_tls_config wsf_tls_config; /* tls.h */
typedef struct wsf_filter wsf_filter;

/* Why a byte stream ended (the low-level cause of a close record). */
typedef enum wsf_end_cause {
  WSF_END_EOF,              /* TCP FIN */
  WSF_END_RESET,            /* TCP RST (ECONNRESET, EPIPE) */
  WSF_END_TLS_ALERT,        /* a fatal TLS alert arrived; detail = alert name */
  WSF_END_TLS_CLOSE_NOTIFY, /* TLS close_notify */
  WSF_END_TLS_ERROR,        /* TLS failure without an alert; detail = OpenSSL reason */
  WSF_END_IO_ERROR,         /* any other read/write error; detail = libuv error name */
} wsf_end_cause;

const char *wsf_end_cause_name(wsf_end_cause cause); /* "eof", "reset", "tls_alert", ... */

typedef struct wsf_transport_callbacks {
  /* TCP connect finished: status 0 or a libuv error code. Client side only. */
  void (*on_connect)(wsf_transport *t, int status);
  /* TLS handshake finished. ok=false: detail says why in OpenSSL's words
   * (e.g. "certificate verify failed: Hostname mismatch"). */
  void (*on_tls_done)(wsf_transport *t, bool ok, const char *detail);
  /* Plaintext arrived. data is valid only during the call. */
  void (*on_data)(wsf_transport *t, const uint8_t *data, size_t len);
  /* The stream ended; reading has stopped. The owner still calls wsf_transport_close(). */
  void (*on_end)(wsf_transport *t, wsf_end_cause cause, const char *detail);
  /* The handle is closed: the owner may free the memory holding the transport. */
  void (*on_closed)(wsf_transport *t);
  /* Queued bytes reached the socket: write_pending_bytes went down. May be NULL. */
  void (*on_written)(wsf_transport *t);
} wsf_transport_callbacks;

struct wsf_transport {
  uv_tcp_t tcp;
  const wsf_transport_callbacks *cb;
  wsf_filter *filter;          /* NULL for plain TCP; TLS: tls.c's session */
  size_t write_pending_bytes;  /* accepted, not yet written: in flight in libuv, or in the backlog */
  struct write_block *backlog; /* bytes that came while a write was in flight (see transport.c) */
  uint8_t write_in_flight : 1;
  uint8_t ended : 1;   /* on_end was delivered */
  uint8_t closing : 1; /* wsf_transport_close was called */
  uint8_t reading : 1;
  uint8_t write_took_reset : 1; /* a write got the socket's pending ECONNRESET/EPIPE (see on_read) */
  uv_connect_t *connect_req;    /* only while connecting */
};

int wsf_transport_init(uv_loop_t *loop, wsf_transport *t, const wsf_transport_callbacks *cb);

/* One per process: fn(arg) runs after every socket callback (a read, a
 * write's completion, a connect) has returned from the owner, where no
 * transport or connection state is mid-change. The daemon runs its overdue
 * timers there (timer.h); NULL (the default) runs nothing. */
void wsf_transport_set_after_callback(void (*fn)(void *arg), void *arg);

/* Client: connect to addr; on_connect follows. */
int wsf_transport_connect(wsf_transport *t, const struct sockaddr *addr);

/* Client, before connect: a socket of source's family bound to source's
 * address with IP_BIND_ADDRESS_NO_PORT (port 0: connect picks it per
 * destination). 0 or a negative libuv error from socket() or bind()
 * (UV_EADDRNOTAVAIL: not an address of this host; UV_EMFILE: the fd limit). */
int wsf_transport_bind_source(wsf_transport *t, const struct sockaddr *source);

/* Client: after on_connect(0), start TLS as a client; on_tls_done follows.
 * server_name is used for SNI and hostname verification (may be NULL for no SNI). */
int wsf_transport_start_tls_client(wsf_transport *t, wsf_tls_config *cfg, const char *server_name);

/* Server: after uv_accept() into t->tcp, start TLS as a server; on_tls_done follows. */
int wsf_transport_start_tls_server(wsf_transport *t, wsf_tls_config *cfg);

/* Start delivering on_data (plain: right away; TLS: also drives the handshake). */
int wsf_transport_read_start(wsf_transport *t);
void wsf_transport_read_stop(wsf_transport *t);

/* Queue plaintext for writing. Never blocks and never fails for lack of
 * buffer: bytes libuv cannot write at once are copied and queued, and
 * write_pending_bytes says how many. At most two buffers hold them, one in
 * flight and one backlog that later writes append to, so queued bytes cost
 * what they weigh, not a write request each. Returns 0 or a negative libuv
 * error. */
int wsf_transport_write(wsf_transport *t, const uint8_t *data, size_t len);

/* Graceful end of our direction: TLS close_notify (if TLS), then TCP FIN
 * once queued writes are flushed. */
void wsf_transport_shutdown(wsf_transport *t);

/* Close the handle; on_closed follows. abort=true sends a TCP RST. */
void wsf_transport_close(wsf_transport *t, bool abort);

/* One loop-wide read buffer, shared by every transport on the loop. */
void wsf_transport_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);

/* ---- Filters ----
 *
 * A filter turns the socket's bytes into the owner's bytes and back (TLS:
 * ciphertext <-> plaintext). Its per-connection state begins with a
 * wsf_filter, so the transport holds one pointer for the table and the state
 * together (no bytes added to an idle plain transport).
 *
 * Adding another filter: a `const wsf_filter_ops` in its own file and a
 * wsf_transport_start_<name>() here that calls start_filter with it; nothing
 * in tls.c changes. Stacking two would need a filter's io to lead into the
 * next filter instead of the socket (one filter per transport today). An
 * HTTP CONNECT proxy is not a filter: its exchange is plaintext on the socket
 * before any filter starts, so it is a dial step (conn_proxy.c) and TLS runs
 * inside the tunnel unchanged. */

/* What the transport hands a filter: the way down to the socket and the way
 * up to the owner. Every function takes the transport the filter was started
 * on (wsf_filter.t). */
typedef struct wsf_filter_io {
  /* Bytes to the socket as they are: uv_try_write, the rest queued. 0 or a negative libuv error. */
  int (*write)(wsf_transport *t, const uint8_t *data, size_t len);
  /* Bytes to the owner's on_data. */
  void (*deliver)(wsf_transport *t, const uint8_t *data, size_t len);
  /* The filter's own handshake finished (the owner's on_tls_done). ok=false
   * ends the stream: reading stops and no on_end follows. */
  void (*ready)(wsf_transport *t, bool ok, const char *detail);
  /* Delivers on_end once and stops reading. */
  void (*end)(wsf_transport *t, wsf_end_cause cause, const char *detail);
  /* The cause and name of a libuv read/write error, for end(). */
  wsf_end_cause (*cause_of)(int uv_status);
  /* false once the owner closed the transport or the stream ended: stop delivering. */
  bool (*live)(const wsf_transport *t);
} wsf_filter_io;

typedef struct wsf_filter_ops {
  /* Creates the filter's state for t (*out, set as soon as it exists: it is
   * freed with the transport even when start fails) and may write its first
   * bytes (a TLS ClientHello). params are the filter's own. 0 or a negative
   * libuv error; after an error the stream is over without on_end. */
  int (*start)(wsf_transport *t, const wsf_filter_io *io, const void *params, wsf_filter **out);
  /* Bytes read from the socket (valid only during the call). */
  void (*on_bytes)(wsf_filter *f, const uint8_t *data, size_t len);
  /* The socket ended (EOF, reset, error): uv_status says how. */
  void (*on_end)(wsf_filter *f, int uv_status);
  /* The owner's bytes to send. 0 or a negative libuv error. */
  int (*write)(wsf_filter *f, const uint8_t *data, size_t len);
  /* The graceful end of our direction (TLS close_notify); the FIN follows. */
  void (*shutdown)(wsf_filter *f);
  /* The transport is closed: free the state. */
  void (*free)(wsf_filter *f);
} wsf_filter_ops;

/* The head of every filter's state. */
struct wsf_filter {
  const wsf_filter_ops *ops;
  const wsf_filter_io *io;
  wsf_transport *t;
};

#endif
