/* The daemon: configuration, the connection table, counters, admission.
 * One instance per process, passed explicitly; nothing here does I/O. */
#ifndef WSF_DAEMON_H
#define WSF_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "deflate.h"
#include "dns_cache.h"
#include "hist.h"
#include "intern.h"
#include "proxy.h"
#include "registry.h"
#include "source_pool.h"
#include "timer.h"
#include "proto.h" /* the interned protocol layers and the auto-reply names */
#include "vocab.h" /* causes (WSF_CAUSE_COUNT), states, keepalive modes, error codes */

typedef struct wsf_conn wsf_conn;
struct wsf_conn_observer; /* conn.h */

/* Observers of connection lifecycles (event log, notifications): a few
 * tables registered at start, called in registration order. */
#define WSF_MAX_CONN_OBSERVERS 4

/* Immutable once built; shared by every connection with the same settings. */
typedef struct wsf_keepalive {
  struct wsf_keepalive *next; /* interned list */
  uint32_t refs;
  uint8_t mode;
  uint32_t interval_ms, jitter_ms, pong_timeout_ms;
  uint32_t reply_timeout_ms; /* text/binary with reply_contains: no reply this long ends it (0: never) */
  uint8_t *payload;
  size_t payload_len;
  char *reply_contains;
  size_t reply_contains_len;
} wsf_keepalive;

typedef struct wsf_config {
  const char *socket_path;
  const char *control_tcp; /* "127.0.0.1:PORT" or NULL */
  const char *token_file;
  const char *events_path;
  uint32_t snapshot_interval_ms; /* event-log snapshots; 0 = none */
  const char *metrics_addr;      /* "127.0.0.1:PORT" or NULL */
  uint32_t max_connections;
  size_t max_request_bytes;
  uint32_t max_control_clients;    /* Unix and TCP together */
  size_t max_control_output_bytes; /* per control client: responses it has not read yet */
  uint64_t max_message_bytes;
  uint32_t inbox_max_messages;
  size_t inbox_max_bytes;
  uint32_t max_name_bytes;
  size_t max_output_bytes;       /* per connection: bytes not yet taken by the peer (PROTOCOL.md §9) */
  uint32_t output_stall_ms;      /* over max_output_bytes this long: cause output_stalled */
  uint32_t max_records;          /* close records kept, oldest forgotten first (at least 1) */
  size_t max_closed_inbox_bytes; /* unread messages kept by ended connections, all together */
  uint32_t max_handshakes;       /* 0 = unlimited */
  double connect_rate;           /* opens per second, 0 = unlimited */
  uint32_t connect_timeout_ms;
  uint32_t shutdown_timeout_ms;
  wsf_keepalive keepalive; /* defaults for open */
  bool tls_verify;
  const char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_ciphers;
  bool tls_session_cache;  /* --tls-session-cache: resume TLS sessions per gateway (tls.h, opts.resume) */
  const char *proxy;       /* --proxy: the default HTTP CONNECT proxy; NULL = the environment's */
  wsf_proxy_env proxy_env; /* HTTP(S)_PROXY, NO_PROXY at start */
  const char *priority;    /* --priority "nice:N", "rr:N" or "fifo:N"; NULL = as started */
  const char *source_addresses; /* --source-addresses LIST|RANGE; NULL = the kernel chooses */
  const char *source_pools[16]; /* --source-pool NAME=LIST|RANGE, as given (WSF_SOURCE_ROTATIONS_MAX) */
  unsigned n_source_pools;
  uint32_t dns_cache_ms; /* --dns-cache-ms: how long a name's answer is used (30000; 0 = not kept) */
} wsf_config;

typedef struct wsf_stats {
  uint64_t opened_total, reused_total, failed_total, closed_total;
  uint64_t tls_resumed_total; /* TLS handshakes that resumed a session (--tls-session-cache) */
  uint64_t msgs_in, msgs_out, bytes_in, bytes_out, inbox_dropped;
  wsf_deflate_counters deflate; /* permessage-deflate sessions, all together */
  uint64_t heartbeats_sent;
  uint64_t heartbeats_skipped; /* output over the high-water mark at the beat */
  uint64_t pongs_coalesced;    /* pings whose held pong was replaced by a later one */
  uint64_t reads_paused;       /* times a connection stopped reading: output over its cap */
  uint64_t records_forgotten;  /* close records dropped, oldest first, over max_records */
  uint64_t dns_failures;       /* lookups that failed or returned no TCP address */
  uint64_t dns_cache_hits;     /* opens of a name served from the cache (--dns-cache-ms) */
  /* the protocol layer (conn_session.c): replies per rule name (index: the names in
   * wsf_daemon.protos; the last one "other"), replies not sent, failed session setups,
   * captured values cut at WSF_MAX_CAPTURE_BYTES */
  uint64_t auto_replies[WSF_AUTO_REPLY_NAMES_MAX + 1];
  uint64_t auto_reply_failures, session_failures, captures_cut;
  uint64_t closes_by_cause[WSF_CAUSE_COUNT];
  uint64_t closes_by_code[5000]; /* index = close code (1000..4999), others in [0] */
  uint16_t codes_seen[5000];     /* the indexes above that are non-zero, ascending: stats and
                                    metrics walk these, not all 5,000 */
  uint16_t n_codes_seen;
  /* the reconnect policy (conn_reconnect.c) and the rate_limit (conn_pace.c) */
  uint64_t reconnects_total;         /* reopens that reached open */
  uint64_t reconnect_failures_total; /* reopen attempts that failed */
  uint64_t paced;                    /* data messages held back before being written */
  wsf_hist loop_lag;                 /* looplag.c */
  wsf_hist heartbeat_late, ping_rtt, hs_dns, hs_connect, hs_proxy, hs_tls, hs_upgrade, hs_total;
} wsf_stats;

typedef struct wsf_daemon {
  uv_loop_t *loop;
  wsf_config cfg;
  wsf_timers timers;
  wsf_registry conns;
  uint32_t n_connecting, n_open, n_closing, n_closed;
  uint32_t live_transports; /* handles not yet closed, forgotten connections included */
  wsf_stats stats;
  uint64_t started_us;
  wsf_keepalive *keepalives;     /* interned */
  wsf_proto_table protos;        /* interned protocol layers (proto.h) */
  wsf_intern_table resp_headers; /* upgrade-response headers shared by connections (intern.h) */
  /* admission: handshakes in flight and the connect-rate token bucket */
  uint32_t handshakes_in_flight;
  wsf_conn *admit_head, *admit_tail;
  struct wsf_handshake *hs_spare; /* freed handshake states kept for the next opens (conn_dial.c) */
  uint32_t n_hs_spare;
  double rate_tokens;
  uint64_t rate_refilled_us;
  wsf_timer admit_timer;
  /* source addresses: --source-addresses (the rotation) and those `open` named (source_pool.h) */
  wsf_source_pool sources;
  wsf_dns_cache dns; /* gateway names' answers and their round-robin cursors (dns_cache.h) */
  /* ended connections, oldest first: their records and inboxes are bounded (conn.c) */
  wsf_conn *closed_head, *closed_tail;
  wsf_conn *closed_inbox_cursor; /* those before it hold no unread message */
  size_t closed_inbox_bytes;
  uint64_t *forgotten; /* hashes of the names forgotten last (a ring), for no_such_conn */
  uint32_t forgotten_next, forgotten_len;
  bool sweeping;       /* reset or shutdown walks every connection: records are not bounded meanwhile */
  uint64_t trimmed_us; /* last malloc_trim */
  bool shutting_down;
  uint32_t control_clients;
  struct {
    const struct wsf_conn_observer *table;
    void *ctx;
  } conn_observers[WSF_MAX_CONN_OBSERVERS]; /* wsf_conn_observe */
  uint8_t n_conn_observers;
  struct wsf_observers *observers; /* observe.c */
  struct wsf_rpc *rpc;             /* rpc.c */
  struct wsf_metrics *metrics;     /* metrics.c */
} wsf_daemon;

#endif
