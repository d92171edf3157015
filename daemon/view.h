/* Each record the daemon reports, described once as a list of fields that
 * the three writers walk: the msgpack packer (control replies, rpc_pack.c),
 * the JSON-lines event log (observe.c) and the Prometheus text
 * (metrics_render.c). A field is added here, in one place, and says which
 * outputs carry it; map sizes follow from the lists, nobody counts them.
 *
 * A view points into the record it describes (strings, histograms): it is
 * built, walked and dropped while the record cannot change (one loop turn).
 * Views live on the caller's stack; no allocation. */
#ifndef WSF_VIEW_H
#define WSF_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

enum wsf_view_kind {
  WSF_VK_UINT,   /* a number */
  WSF_VK_US,     /* microseconds; WSF_NEVER is nil/null */
  WSF_VK_STR,    /* NUL-terminated text; NULL is nil/null */
  WSF_VK_BOOL,   /* true/false */
  WSF_VK_MAP,    /* a nested view; NULL is nil/null */
  WSF_VK_HIST,   /* a latency histogram: summary {count,p50,p99,max} or Prometheus buckets */
  WSF_VK_COUNTS, /* a map of name → count of variable length (closes by code, by cause) */
  WSF_VK_LIST,   /* an array of views, built one at a time (status auto_reply); RPC and LOG only */
};

/* Which outputs carry a field (a view is written to one at a time). */
enum { WSF_TO_RPC = 1, WSF_TO_LOG = 2, WSF_TO_PROM = 4 };

/* How a field appears in the Prometheus text: its family (HELP and TYPE once,
 * before its first sample; fields of one family are adjacent in a view), the
 * labels of this sample, and whether the value is microseconds shown as
 * seconds. */
typedef struct wsf_prom {
  const char *family, *type, *help;
  const char *labels; /* `state="open"`, or NULL */
  bool seconds;
} wsf_prom;

/* A map of variable length: key i is key(ctx, i, buf), its value
 * value(ctx, i). msgpack and JSON list the non-zero ones unless keep_zeros;
 * Prometheus lists them all from index prom_first when prom_zeros (a zero is
 * a sample: rate() then works from the first event). */
typedef struct wsf_view_counts {
  size_t n;
  const void *ctx;
  const char *(*key)(const void *ctx, size_t i, char buf[16]);
  uint64_t (*value)(const void *ctx, size_t i);
  const char *prom_label; /* the label each key becomes: code="1006" */
  bool keep_zeros, prom_zeros;
  size_t prom_first;
} wsf_view_counts;

typedef struct wsf_view wsf_view;
/* An array of n views: item(ctx, i, out) fills out and returns it. The
 * writer builds one item at a time on its own stack. */
typedef struct wsf_view_list {
  size_t n;
  const void *ctx;
  const wsf_view *(*item)(const void *ctx, size_t i, wsf_view *out);
} wsf_view_list;

typedef struct wsf_view_field {
  const char *name;
  uint8_t name_len; /* strlen(name) of an ASCII literal shorter than 32 bytes (view.c); 0 = unknown */
  uint8_t kind, to;
  const wsf_prom *prom; /* NULL: not in the Prometheus text */
  union {
    uint64_t u;
    const char *s;
    bool b;
    const wsf_view *map;
    const wsf_hist *hist;
    const wsf_view_counts *counts;
    const wsf_view_list *list;
  } v;
} wsf_view_field;

/* Enough for the largest record (stats: 31 fields); adding past it aborts
 * with the record's name on the first run of any test that writes it. */
#define WSF_VIEW_MAX_FIELDS 48

struct wsf_view {
  const char *what; /* "stats", "close record": named when WSF_VIEW_MAX_FIELDS is too small */
  uint16_t n;
  wsf_view_field f[WSF_VIEW_MAX_FIELDS];
};

/* The number of fields of v an output carries (a map's size). */
size_t wsf_view_count(const wsf_view *v, unsigned to);
/* The entries of c msgpack and JSON list. */
size_t wsf_view_counts_listed(const wsf_view_counts *c);

/* ---- the records --------------------------------------------------------------- */

/* A close record (PROTOCOL.md §7): control replies, notifications, the
 * event log's close and handshake_failed lines. */
const wsf_view *wsf_view_record(wsf_view *out, const wsf_close_record *r);
/* The phases of an opening handshake. */
const wsf_view *wsf_view_timings(wsf_view *out, const wsf_timings *t);

/* The `status` of one connection at now_us. */
typedef struct wsf_status_view {
  wsf_view top, deflate, agreed, inbox, keepalive, timings, record;
  wsf_view session;                                 /* the session captures, name → value */
  wsf_view_list auto_reply;                         /* per rule: name, matched, replied, failed */
  wsf_view reconnect, reconnect_record, rate_limit; /* only with those open fields */
  char address[64];                                 /* the text of the gateway address the view points at */
} wsf_status_view;
const wsf_view *wsf_view_status(wsf_status_view *out, const wsf_conn *c, uint64_t now_us);

/* The daemon's counters at now_us: the `stats` reply, the event log's stop
 * line, the Prometheus text. control_limits (the control server's limit
 * hits, stats only) may be NULL when there is no control server. */
typedef struct wsf_stats_view {
  wsf_view top, deflate, output, limits, sources, dns;
  wsf_view_counts by_code, by_cause, source_opens, source_failures, pool_opens, pool_failures, auto_replies;
} wsf_stats_view;
const wsf_view *wsf_view_stats(wsf_stats_view *out, const wsf_daemon *d, uint64_t now_us,
                               const wsf_view_counts *control_limits);

/* The deflate parameters both sides agreed on (open result, status). */
const wsf_view *wsf_view_deflate_params(wsf_view *out, const wsf_deflate_params *a);

#endif
