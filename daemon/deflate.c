#include "deflate.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

/* ---- Sec-WebSocket-Extensions parsing ---------------------------------
 * extension-list = 1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) )
 * (RFC 6455 §9.1, RFC 7230 §7 for the list rule: empty elements are skipped). */

#define MAX_PARAMS 16
#define MAX_VALUE 16 /* every value this extension defines is a short number */

typedef struct span {
  const char *p;
  size_t n;
} span;

typedef struct ext_param {
  span name;
  bool has_value;
  bool value_ok; /* fit in value[] after unquoting */
  char value[MAX_VALUE + 1];
} ext_param;

typedef struct ext {
  span name;
  ext_param params[MAX_PARAMS];
  int n_params;
} ext;

static bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(const char **p) {
  while (**p == ' ' || **p == '\t')
    (*p)++;
}

static span token(const char **p) {
  span s = {*p, 0};
  while (is_tchar(**p))
    (*p)++;
  s.n = (size_t)(*p - s.p);
  return s;
}

static bool span_is(span s, const char *word) {
  return s.n == strlen(word) && strncasecmp(s.p, word, s.n) == 0;
}

/* Parses one extension at *p. Returns 1 (parsed), 0 (end of the list) or -1
 * with why set. */
static int parse_ext(const char **p, ext *e, const char **why) {
  for (;;) { /* skip empty list elements */
    skip_ows(p);
    if (**p != ',')
      break;
    (*p)++;
  }
  if (!**p)
    return 0;
  memset(e, 0, sizeof *e);
  e->name = token(p);
  if (!e->name.n) {
    *why = "expected an extension name";
    return -1;
  }
  for (;;) {
    skip_ows(p);
    if (!**p || **p == ',')
      break;
    if (**p != ';') {
      *why = "expected ';' or ',' after an extension or parameter";
      return -1;
    }
    (*p)++;
    skip_ows(p);
    if (e->n_params == MAX_PARAMS) {
      *why = "too many extension parameters";
      return -1;
    }
    ext_param *ep = &e->params[e->n_params++];
    ep->name = token(p);
    if (!ep->name.n) {
      *why = "expected a parameter name";
      return -1;
    }
    skip_ows(p);
    if (**p != '=')
      continue;
    (*p)++;
    skip_ows(p);
    ep->has_value = true;
    ep->value_ok = true;
    size_t n = 0;
    if (**p == '"') { /* quoted-string; the unquoted value must be a token */
      (*p)++;
      while (**p && **p != '"') {
        if (**p == '\\' && (*p)[1])
          (*p)++;
        if (n < MAX_VALUE && is_tchar(**p))
          ep->value[n++] = **p;
        else
          ep->value_ok = false;
        (*p)++;
      }
      if (**p != '"') {
        *why = "unterminated quoted string";
        return -1;
      }
      (*p)++;
    } else {
      span v = token(p);
      if (!v.n) {
        *why = "expected a parameter value after '='";
        return -1;
      }
      if (v.n > MAX_VALUE)
        ep->value_ok = false;
      else
        memcpy(ep->value, v.p, (n = v.n));
    }
    ep->value[n] = 0;
    if (!n)
      ep->value_ok = false;
  }
  return 1;
}

/* ---- permessage-deflate parameters ------------------------------------ */

enum { P_SNCT, P_CNCT, P_SBITS, P_CBITS, P_COUNT };
static const char *const param_names[P_COUNT] = {"server_no_context_takeover", "client_no_context_takeover",
                                                 "server_max_window_bits", "client_max_window_bits"};
#define PMD "permessage-deflate"

/* Parameters of one permessage-deflate element. Bits: 0 absent, 8..15, or
 * WSF_DEFLATE_BITS_ANY (client_max_window_bits without a value, offers only). */
typedef struct pmd {
  bool snct, cnct;
  int sbits, cbits;
} pmd;

static void say(char *error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(char *error, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, WSF_DEFLATE_ERROR_LEN, fmt, ap);
  va_end(ap);
}

/* "8".."15" without leading zeros or signs; 0 when not one of them. */
static int window_bits(const char *v) {
  if (v[0] >= '8' && v[0] <= '9' && !v[1])
    return v[0] - '0';
  if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && !v[2])
    return 10 + v[1] - '0';
  return 0;
}

/* Reads the parameters of e. offer: client_max_window_bits may lack a value.
 * Returns 0 or -1 with error set; what says "offer" or "answer". */
static int read_pmd(const ext *e, bool offer, pmd *out, char *error) {
  const char *what = offer ? "offer" : "answer";
  bool seen[P_COUNT] = {0};
  memset(out, 0, sizeof *out);
  for (int i = 0; i < e->n_params; i++) {
    const ext_param *ep = &e->params[i];
    int k = 0;
    while (k < P_COUNT && !span_is(ep->name, param_names[k]))
      k++;
    if (k == P_COUNT) {
      say(error, "permessage-deflate %s has unknown parameter '%.*s'", what,
          (int)(ep->name.n > 40 ? 40 : ep->name.n), ep->name.p);
      return -1;
    }
    if (seen[k]) {
      say(error, "permessage-deflate %s repeats parameter %s", what, param_names[k]);
      return -1;
    }
    seen[k] = true;
    if (k == P_SNCT || k == P_CNCT) {
      if (ep->has_value) {
        say(error, "permessage-deflate %s gives %s a value; it takes none", what, param_names[k]);
        return -1;
      }
      *(k == P_SNCT ? &out->snct : &out->cnct) = true;
      continue;
    }
    int bits;
    if (!ep->has_value && k == P_CBITS && offer) {
      bits = WSF_DEFLATE_BITS_ANY;
    } else if (!ep->has_value) {
      say(error, "permessage-deflate %s has %s without a value", what, param_names[k]);
      return -1;
    } else if (!ep->value_ok || !(bits = window_bits(ep->value))) {
      say(error, "permessage-deflate %s has %s=%s; it must be 8 to 15", what, param_names[k],
          ep->value_ok ? ep->value : "(unreadable)");
      return -1;
    }
    *(k == P_SBITS ? &out->sbits : &out->cbits) = bits;
  }
  return 0;
}

static int build(char *buf, const char *name, const pmd *m) {
  int n = snprintf(buf, WSF_DEFLATE_OFFER_LEN, "%s", name);
  if (m->snct)
    n += snprintf(buf + n, WSF_DEFLATE_OFFER_LEN - (size_t)n, "; server_no_context_takeover");
  if (m->cnct)
    n += snprintf(buf + n, WSF_DEFLATE_OFFER_LEN - (size_t)n, "; client_no_context_takeover");
  if (m->sbits)
    n += snprintf(buf + n, WSF_DEFLATE_OFFER_LEN - (size_t)n, "; server_max_window_bits=%d", m->sbits);
  if (m->cbits == WSF_DEFLATE_BITS_ANY)
    n += snprintf(buf + n, WSF_DEFLATE_OFFER_LEN - (size_t)n, "; client_max_window_bits");
  else if (m->cbits)
    n += snprintf(buf + n, WSF_DEFLATE_OFFER_LEN - (size_t)n, "; client_max_window_bits=%d", m->cbits);
  return n;
}

static bool bits_ok(int b) {
  return b == 0 || (b >= 8 && b <= 15);
}

wsf_deflate_options wsf_deflate_options_default(void) {
  wsf_deflate_options o = {0};
  o.level = -1;
  return o;
}

const char *wsf_deflate_options_check(const wsf_deflate_options *o) {
  if (!bits_ok(o->client_max_window_bits) && o->client_max_window_bits != WSF_DEFLATE_BITS_ANY)
    return "client_max_window_bits must be 8 to 15";
  if (!bits_ok(o->server_max_window_bits))
    return "server_max_window_bits must be 8 to 15";
  if (o->level < -1 || o->level > 9)
    return "level must be 0 to 9, or -1 for zlib's default";
  if (o->mem_level < 0 || o->mem_level > 9)
    return "mem_level must be 1 to 9 (0 for zlib's default, 8)";
  return NULL;
}

static void params_from(const wsf_deflate_options *o, wsf_deflate_params *p) {
  p->level = (int8_t)o->level;
  p->mem_level = (uint8_t)o->mem_level; /* 0: from the window, when the compressor starts */
}

/* zlib slides its window every 2^bits input bytes and then rewrites its whole hash head table,
 * 2^(memLevel+7) entries: at 9 bits and memLevel 8 that is 32,768 entries every 512 bytes, and
 * a 128 KiB JSON message took 4.20 ms instead of 1.71 ms at memLevel 5 (output +1.6 %). A table
 * about 8 times the window (memLevel = bits - 4) measured fastest or within 10 % of it at 9-11
 * bits, and memLevel 8 is kept from 12 bits up (tests/bench/deflate_memlevel.py, RESULTS.md). */
int wsf_deflate_mem_level_for_window(int window_bits) {
  int m = window_bits - 4;
  return m < 1 ? 1 : m > 8 ? 8 : m;
}

int wsf_deflate_client_offer(const wsf_deflate_options *o, char offer[WSF_DEFLATE_OFFER_LEN],
                             const char **error) {
  offer[0] = 0;
  const char *why = wsf_deflate_options_check(o);
  if (why) {
    *error = why;
    return -1;
  }
  if (!o->enabled)
    return 0;
  pmd m = {o->server_no_context_takeover, o->client_no_context_takeover, o->server_max_window_bits,
           o->client_max_window_bits};
  return build(offer, PMD, &m);
}

int wsf_deflate_client_check_answer(const wsf_deflate_options *o, const char *answer,
                                    wsf_deflate_params *agreed, char error[WSF_DEFLATE_ERROR_LEN]) {
  error[0] = 0;
  const char *p = answer ? answer : "";
  bool found = false;
  pmd a = {0};
  ext e;
  const char *why;
  int rv;
  while ((rv = parse_ext(&p, &e, &why)) == 1) {
    if (!o->enabled || !span_is(e.name, PMD)) {
      say(error, "server accepted extension '%.*s', which was not offered",
          (int)(e.name.n > 40 ? 40 : e.name.n), e.name.p);
      return -1;
    }
    if (found) {
      say(error, "server accepted permessage-deflate twice");
      return -1;
    }
    found = true;
    if (read_pmd(&e, false, &a, error) != 0)
      return -1;
  }
  if (rv < 0) {
    say(error, "malformed Sec-WebSocket-Extensions answer: %s", why);
    return -1;
  }
  if (!found)
    return 0;
  /* RFC 7692 §7.1: what the answer may say, given the offer. */
  if (o->server_no_context_takeover && !a.snct) {
    say(error, "server did not accept the offered server_no_context_takeover");
    return -1;
  }
  if (o->server_max_window_bits && !a.sbits) {
    say(error, "server did not accept the offered server_max_window_bits=%d", o->server_max_window_bits);
    return -1;
  }
  if (o->server_max_window_bits && a.sbits > o->server_max_window_bits) {
    say(error, "server answered server_max_window_bits=%d, above the offered %d", a.sbits,
        o->server_max_window_bits);
    return -1;
  }
  if (a.cbits && !o->client_max_window_bits) {
    say(error, "server answered client_max_window_bits=%d, which was not offered", a.cbits);
    return -1;
  }
  if (a.cbits && o->client_max_window_bits > 0 && a.cbits > o->client_max_window_bits) {
    say(error, "server answered client_max_window_bits=%d, above the offered %d", a.cbits,
        o->client_max_window_bits);
    return -1;
  }
  memset(agreed, 0, sizeof *agreed);
  agreed->server_no_context_takeover = a.snct;
  agreed->client_no_context_takeover = a.cnct || o->client_no_context_takeover;
  agreed->server_max_window_bits = (uint8_t)(a.sbits ? a.sbits : 15);
  int cbits = a.cbits ? a.cbits : o->client_max_window_bits;
  agreed->client_max_window_bits = (uint8_t)(cbits > 0 ? cbits : 15);
  params_from(o, agreed);
  return 1;
}

static int min_bits(int a, int b) {
  return !a ? b : !b ? a : a < b ? a : b;
}

int wsf_deflate_server_answer(const wsf_deflate_options *cfg, const char *offers, wsf_deflate_params *agreed,
                              char answer[WSF_DEFLATE_OFFER_LEN], char error[WSF_DEFLATE_ERROR_LEN]) {
  answer[0] = 0;
  error[0] = 0;
  const char *bad = wsf_deflate_options_check(cfg);
  if (bad) {
    say(error, "server deflate configuration: %s", bad);
    return 0;
  }
  if (!cfg->enabled || !offers)
    return 0;
  const char *p = offers, *why;
  ext e;
  int rv;
  while ((rv = parse_ext(&p, &e, &why)) == 1) {
    pmd o;
    if (!span_is(e.name, PMD)) /* other extensions: not ours to judge */
      continue;
    if (read_pmd(&e, true, &o, error) != 0)
      continue; /* RFC 7692 §5: decline this offer, try the next */
    pmd a = {0};
    a.snct = o.snct || cfg->server_no_context_takeover;
    a.cnct = o.cnct || cfg->client_no_context_takeover;
    a.sbits = min_bits(o.sbits, cfg->server_max_window_bits);
    if (o.cbits == WSF_DEFLATE_BITS_ANY)
      a.cbits = cfg->client_max_window_bits > 0 ? cfg->client_max_window_bits : 0;
    else if (o.cbits)
      a.cbits = min_bits(o.cbits, cfg->client_max_window_bits > 0 ? cfg->client_max_window_bits : 0);
    build(answer, PMD, &a);
    memset(agreed, 0, sizeof *agreed);
    agreed->server_no_context_takeover = a.snct;
    agreed->client_no_context_takeover = a.cnct;
    agreed->server_max_window_bits = (uint8_t)(a.sbits ? a.sbits : 15);
    agreed->client_max_window_bits = (uint8_t)(a.cbits ? a.cbits : 15);
    params_from(cfg, agreed);
    error[0] = 0;
    return 1;
  }
  if (rv < 0)
    say(error, "malformed Sec-WebSocket-Extensions offer: %s", why);
  return 0;
}

/* ---- per-session compression ------------------------------------------ */

struct wsf_deflate {
  z_stream *tx, *rx; /* NULL until used, and after a message without context takeover */
  size_t zlib_bytes;
  wsf_deflate_params p;
  bool server;
  wsf_deflate_counters counters;
};

/* zlib's allocations go through here so a session's zlib memory is known,
 * and under the memory rule (ARCHITECTURE.md): out of memory aborts with the
 * size, so zlib never returns Z_MEM_ERROR to this module. */
typedef union zhdr {
  size_t n;
  max_align_t align;
} zhdr;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  wsf_deflate *d = opaque;
  size_t n = (size_t)items * size;
  zhdr *h = wsf_xmalloc(sizeof *h + n);
  h->n = n;
  d->zlib_bytes += n;
  return h + 1;
}

static void z_free(voidpf opaque, voidpf ptr) {
  if (!ptr)
    return;
  zhdr *h = (zhdr *)ptr - 1;
  ((wsf_deflate *)opaque)->zlib_bytes -= h->n;
  free(h);
}

/* One output buffer per direction, shared by every session: the event loop
 * runs one message at a time. Trimmed when a large message grew it. */
typedef struct shared_buf {
  uint8_t *data;
  size_t cap;
} shared_buf;
static shared_buf tx_buf, rx_buf;
#define TRIM_ABOVE (1u << 20)
#define CHUNK (1u << 30) /* zlib counts in uInt */

/* need is bounded by the caller's limit (max_message_bytes + 1 inflating,
 * the message's own size compressing). */
static void reserve(shared_buf *b, size_t need) {
  if (b->cap >= need)
    return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < need)
    cap *= 2;
  b->data = wsf_xrealloc(b->data, cap);
  b->cap = cap;
}

static void trim(shared_buf *b) {
  if (b->cap > TRIM_ABOVE) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
}

wsf_deflate *wsf_deflate_new(const wsf_deflate_params *p, bool server) {
  wsf_deflate *d = wsf_xcalloc(1, sizeof *d);
  d->p = *p;
  d->server = server;
  return d;
}

static void tx_close(wsf_deflate *d) {
  if (d->tx) {
    deflateEnd(d->tx);
    free(d->tx);
    d->tx = NULL;
  }
}

static void rx_close(wsf_deflate *d) {
  if (d->rx) {
    inflateEnd(d->rx);
    free(d->rx);
    d->rx = NULL;
  }
}

void wsf_deflate_free(wsf_deflate *d) {
  if (!d)
    return;
  tx_close(d);
  rx_close(d);
  free(d);
}

static z_stream *stream_new(wsf_deflate *d) {
  z_stream *z = wsf_xcalloc(1, sizeof *z);
  z->zalloc = z_alloc;
  z->zfree = z_free;
  z->opaque = d;
  return z;
}

/* zlib's init fails only out of memory (aborted in z_alloc) or on
 * parameters negotiation already checked: -1 means a bug. */
static int tx_open(wsf_deflate *d) {
  if (d->tx)
    return 0;
  z_stream *z = stream_new(d);
  int bits = d->server ? d->p.server_max_window_bits : d->p.client_max_window_bits;
  /* zlib's raw deflate refuses an 8-bit window. A 9-bit one is fine: zlib
   * keeps its match distances within the window less 262 bytes (250 here),
   * so the output is valid for a peer that inflates with 256 bytes. */
  if (bits < 9)
    bits = 9;
  int mem_level = d->p.mem_level ? d->p.mem_level : wsf_deflate_mem_level_for_window(bits);
  if (deflateInit2(z, d->p.level, Z_DEFLATED, -bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
    free(z);
    return -1;
  }
  d->tx = z;
  return 0;
}

static int rx_open(wsf_deflate *d) {
  if (d->rx)
    return 0;
  z_stream *z = stream_new(d);
  int bits = d->server ? d->p.client_max_window_bits : d->p.server_max_window_bits;
  if (inflateInit2(z, -bits) != Z_OK) {
    free(z);
    return -1;
  }
  d->rx = z;
  return 0;
}

static bool tx_takeover(const wsf_deflate *d) {
  return !(d->server ? d->p.server_no_context_takeover : d->p.client_no_context_takeover);
}
static bool rx_takeover(const wsf_deflate *d) {
  return !(d->server ? d->p.client_no_context_takeover : d->p.server_no_context_takeover);
}

static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

int wsf_deflate_compress(wsf_deflate *d, const uint8_t *in, size_t len, const uint8_t **out,
                         size_t *out_len) {
  trim(&tx_buf);
  if (tx_open(d) != 0)
    return WSF_DEFLATE_ZLIB;
  reserve(&tx_buf, len / 2 + 64);
  z_stream *z = d->tx;
  size_t have = 0, left = len;
  const uint8_t *src = in;
  do {
    uInt n = left > CHUNK ? CHUNK : (uInt)left;
    z->next_in = (Bytef *)(uintptr_t)src;
    z->avail_in = n;
    src += n;
    left -= n;
    int flush = left ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    for (;;) {
      if (tx_buf.cap - have < 64)
        reserve(&tx_buf, tx_buf.cap * 2);
      size_t room = tx_buf.cap - have;
      z->next_out = tx_buf.data + have;
      z->avail_out = room > CHUNK ? CHUNK : (uInt)room;
      int rv = deflate(z, flush);
      have = (size_t)(z->next_out - tx_buf.data);
      if (rv != Z_OK && rv != Z_BUF_ERROR) { /* Z_BUF_ERROR: nothing left to do */
        wsf_deflate_discard_compressor(d);
        return WSF_DEFLATE_ZLIB; /* Z_STREAM_ERROR: deflate allocates nothing after init */
      }
      if (z->avail_out != 0) /* all input taken and all output flushed */
        break;
    }
  } while (left);
  /* RFC 7692 §7.2.1: the sync flush's empty stored block is left off. */
  if (have >= 4 && memcmp(tx_buf.data + have - 4, sync_tail, 4) == 0)
    have -= 4;
  /* Nothing to flush (an empty message mid-stream): send the header byte of
   * an empty stored block, which the peer's appended tail completes
   * (RFC 7692 §7.2.3.6); an empty payload would leave it mid-block. */
  if (have == 0)
    tx_buf.data[have++] = 0x00;
  if (!tx_takeover(d))
    tx_close(d);
  *out = tx_buf.data;
  *out_len = have;
  return WSF_DEFLATE_OK;
}

void wsf_deflate_discard_compressor(wsf_deflate *d) {
  tx_close(d);
}

/* Inflates what is in z->next_in into rx_buf from *have on, never past max. */
static int inflate_some(wsf_deflate *d, uint64_t max, size_t *have) {
  z_stream *z = d->rx;
  uint64_t cap_limit = max + 1; /* one byte more than allowed tells "too big" */
  for (;;) {
    if (*have == rx_buf.cap) {
      if ((uint64_t)*have >= cap_limit)
        return WSF_DEFLATE_TOO_BIG;
      uint64_t want = rx_buf.cap * 2;
      if (want > cap_limit)
        want = cap_limit;
      if (want > SIZE_MAX)
        return WSF_DEFLATE_TOO_BIG;
      reserve(&rx_buf, (size_t)want);
    }
    size_t room = rx_buf.cap - *have;
    z->next_out = rx_buf.data + *have;
    z->avail_out = room > CHUNK ? CHUNK : (uInt)room;
    int rv = inflate(z, Z_SYNC_FLUSH);
    *have = (size_t)(z->next_out - rx_buf.data);
    if ((uint64_t)*have > max)
      return WSF_DEFLATE_TOO_BIG;
    if (rv == Z_STREAM_END) {
      /* A final block (BFINAL) ended the DEFLATE stream; what follows, if
       * anything, starts a new one. */
      if (inflateReset(z) != Z_OK)
        return WSF_DEFLATE_CORRUPT;
      continue;
    }
    /* Z_MEM_ERROR cannot come back: z_alloc aborts instead. */
    if (rv != Z_OK && rv != Z_BUF_ERROR)
      return WSF_DEFLATE_CORRUPT;
    if (z->avail_in == 0 && z->avail_out != 0)
      return WSF_DEFLATE_OK;
    if (rv == Z_BUF_ERROR && z->avail_out != 0)
      return WSF_DEFLATE_OK; /* no progress possible: input exhausted */
  }
}

int wsf_deflate_decompress(wsf_deflate *d, const uint8_t *in, size_t len, uint64_t max, const uint8_t **out,
                           size_t *out_len) {
  trim(&rx_buf);
  if (max > SIZE_MAX / 2)
    max = SIZE_MAX / 2; /* room for max + 1 below */
  if (len == 0) {       /* some senders (Python's websockets) send an empty message so */
    *out = rx_buf.data;
    *out_len = 0;
    return WSF_DEFLATE_OK;
  }
  if (rx_open(d) != 0)
    return WSF_DEFLATE_ZLIB;
  uint64_t first = (uint64_t)len * 4 + 64;
  if (first > max + 1)
    first = max + 1;
  if (first < 64)
    first = 64;
  if (first > TRIM_ABOVE)
    first = TRIM_ABOVE;
  reserve(&rx_buf, (size_t)first);
  z_stream *z = d->rx;
  size_t have = 0;
  int rv = WSF_DEFLATE_OK;
  /* The payload, then the tail the sender left off (RFC 7692 §7.2.2). */
  for (size_t left = len; left && rv == WSF_DEFLATE_OK;) {
    uInt n = left > CHUNK ? CHUNK : (uInt)left;
    z->next_in = (Bytef *)(uintptr_t)(in + (len - left));
    z->avail_in = n;
    left -= n;
    rv = inflate_some(d, max, &have);
  }
  if (rv == WSF_DEFLATE_OK) {
    z->next_in = (Bytef *)(uintptr_t)sync_tail;
    z->avail_in = 4;
    rv = inflate_some(d, max, &have);
  }
  /* After the tail the decoder must wait at a block boundary: anything else
   * means the message was cut short inside a block. */
  if (rv == WSF_DEFLATE_OK && (z->avail_in != 0 || !(z->data_type & 128)))
    rv = WSF_DEFLATE_CORRUPT;
  if (rv != WSF_DEFLATE_OK || !rx_takeover(d))
    rx_close(d);
  if (rv != WSF_DEFLATE_OK)
    return rv;
  *out = rx_buf.data;
  *out_len = have;
  return WSF_DEFLATE_OK;
}

wsf_deflate_counters *wsf_deflate_counters_of(wsf_deflate *d) {
  return &d->counters;
}
const wsf_deflate_params *wsf_deflate_params_of(const wsf_deflate *d) {
  return &d->p;
}
size_t wsf_deflate_zlib_bytes(const wsf_deflate *d) {
  return d->zlib_bytes;
}
size_t wsf_deflate_shared_bytes(void) {
  return tx_buf.cap + rx_buf.cap;
}

void wsf_deflate_trim_buffers(void) {
  trim(&tx_buf);
  trim(&rx_buf);
}
