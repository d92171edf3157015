/* wsfleet control-protocol codec (see codec.h and PROTOCOL.md §2).
 *
 * Two layers work on the same bytes:
 *  - a framing scanner that walks msgpack headers without building objects. It
 *    keeps O(1) state (objects still due, payload bytes still due), so it knows
 *    where each message ends, and a lower bound of its size, as soon as the
 *    headers arrive. That is what enforces max_request_bytes early: a header that
 *    declares a 2 GiB str or a 4-billion-element array is rejected at once,
 *    before msgpack-c buffers the payload or allocates the array.
 *  - msgpack-c's streaming msgpack_unpacker, which owns the (reference-counted,
 *    reused) input buffer and builds the objects. It is only asked to parse a
 *    message the scanner has seen complete, so each parse runs once, from the
 *    first byte to the last, and every str/bin points into the buffer: no copy.
 *    Each request gets its own zone, so requests can be held and released in any
 *    order (responses go out of order).
 */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bigger than a typical libuv read, so a burst of pipelined requests fits. */
#define DECODER_BUFFER_BYTES (64 * 1024)

/* What a msgpack header byte announces. */
enum hdr_kind {
  HDR_LEN_BYTES = 1, /* str/bin: length bytes follow, then that many payload bytes */
  HDR_LEN_EXT,       /* ext: length bytes, one type byte, then the payload */
  HDR_LEN_ARRAY,     /* array16/32: count bytes follow */
  HDR_LEN_MAP,       /* map16/32: count bytes follow */
};

struct scanner {
  uint64_t items;     /* objects still to start in the message in progress */
  uint64_t skip;      /* payload bytes still to pass over */
  uint64_t msg_bytes; /* bytes of the message in progress seen so far */
  uint64_t objects;   /* objects of the message in progress started so far */
  uint32_t len;       /* length/count being assembled from header bytes */
  uint8_t len_need;   /* header bytes still due for len */
  uint8_t len_kind;   /* enum hdr_kind of len */
  bool in_msg;
};

struct wsf_rpc_decoder {
  msgpack_unpacker mpac;
  struct scanner scan;
  size_t max_request_bytes;
  size_t max_objects;
  const char *limit_hit; /* which limit poisoned it */
  size_t ready;          /* complete messages buffered that next() has not returned */
  int poison;            /* WSF_RPC_MALFORMED / WSF_RPC_TOO_LARGE once framing is lost, else 0 */
};

enum scan_result { SCAN_OK = 0, SCAN_MALFORMED = -1, SCAN_TOO_LARGE = -2, SCAN_TOO_MANY_OBJECTS = -3 };

/* Applies one header byte: returns SCAN_MALFORMED for 0xc1 (never used in msgpack). */
static int scan_header(struct scanner *s, uint8_t b) {
  if (b <= 0x7f || b >= 0xe0)
    return SCAN_OK; /* fixints */
  if (b <= 0x8f) {
    s->items += 2u * (b & 0x0fu);
    return SCAN_OK;
  }
  if (b <= 0x9f) {
    s->items += b & 0x0fu;
    return SCAN_OK;
  }
  if (b <= 0xbf) {
    s->skip = b & 0x1fu;
    return SCAN_OK;
  }
  switch (b) {
  case 0xc0:
  case 0xc2:
  case 0xc3:
    return SCAN_OK;
  case 0xc1:
    return SCAN_MALFORMED;
  case 0xc4:
  case 0xd9:
    s->len_need = 1;
    s->len_kind = HDR_LEN_BYTES;
    break;
  case 0xc5:
  case 0xda:
    s->len_need = 2;
    s->len_kind = HDR_LEN_BYTES;
    break;
  case 0xc6:
  case 0xdb:
    s->len_need = 4;
    s->len_kind = HDR_LEN_BYTES;
    break;
  case 0xc7:
    s->len_need = 1;
    s->len_kind = HDR_LEN_EXT;
    break;
  case 0xc8:
    s->len_need = 2;
    s->len_kind = HDR_LEN_EXT;
    break;
  case 0xc9:
    s->len_need = 4;
    s->len_kind = HDR_LEN_EXT;
    break;
  case 0xca:
    s->skip = 4;
    return SCAN_OK;
  case 0xcb:
    s->skip = 8;
    return SCAN_OK;
  case 0xcc:
  case 0xd0:
    s->skip = 1;
    return SCAN_OK;
  case 0xcd:
  case 0xd1:
    s->skip = 2;
    return SCAN_OK;
  case 0xce:
  case 0xd2:
    s->skip = 4;
    return SCAN_OK;
  case 0xcf:
  case 0xd3:
    s->skip = 8;
    return SCAN_OK;
  case 0xd4:
    s->skip = 2;
    return SCAN_OK; /* fixext: type byte + 1, 2, 4, 8, 16 */
  case 0xd5:
    s->skip = 3;
    return SCAN_OK;
  case 0xd6:
    s->skip = 5;
    return SCAN_OK;
  case 0xd7:
    s->skip = 9;
    return SCAN_OK;
  case 0xd8:
    s->skip = 17;
    return SCAN_OK;
  case 0xdc:
    s->len_need = 2;
    s->len_kind = HDR_LEN_ARRAY;
    break;
  case 0xdd:
    s->len_need = 4;
    s->len_kind = HDR_LEN_ARRAY;
    break;
  case 0xde:
    s->len_need = 2;
    s->len_kind = HDR_LEN_MAP;
    break;
  default:
    s->len_need = 4;
    s->len_kind = HDR_LEN_MAP;
    break; /* 0xdf */
  }
  s->len = 0;
  return SCAN_OK;
}

static void scan_len_done(struct scanner *s) {
  switch (s->len_kind) {
  case HDR_LEN_BYTES:
    s->skip = s->len;
    break;
  case HDR_LEN_EXT:
    s->skip = (uint64_t)s->len + 1;
    break;
  case HDR_LEN_ARRAY:
    s->items += s->len;
    break;
  default:
    s->items += 2 * (uint64_t)s->len;
    break;
  }
}

/* Scans n bytes. Counts complete messages in *complete and sets *used to the
 * bytes taken (all of them unless a message is found malformed or too large:
 * then the scan stops there and the rest is of no use). */
static int scan(struct scanner *s, const uint8_t *p, size_t n, uint64_t max, uint64_t max_objects,
                size_t *complete, size_t *used) {
  const uint8_t *start = p, *end = p + n;
  int rc = SCAN_OK;
  *complete = 0;
  while (p < end) {
    if (s->skip) {
      size_t k = (size_t)(end - p) < s->skip ? (size_t)(end - p) : (size_t)s->skip;
      p += k;
      s->skip -= k;
      s->msg_bytes += k;
    } else if (s->len_need) {
      s->len = (s->len << 8) | *p++;
      s->msg_bytes++;
      if (--s->len_need == 0)
        scan_len_done(s);
    } else {
      if (!s->in_msg) {
        s->in_msg = true;
        s->items = 1;
        s->msg_bytes = 0;
        s->objects = 0;
      }
      s->items--;
      s->objects++;
      s->msg_bytes++;
      if ((rc = scan_header(s, *p++)) != SCAN_OK)
        break;
    }
    /* Every object still due takes at least one byte. */
    if (s->msg_bytes + s->skip + s->len_need + s->items > max) {
      rc = SCAN_TOO_LARGE;
      break;
    }
    /* Objects announced by array and map headers count before they arrive. */
    if (s->objects + s->items > max_objects) {
      rc = SCAN_TOO_MANY_OBJECTS;
      break;
    }
    if (s->items == 0 && s->skip == 0 && s->len_need == 0) {
      s->in_msg = false;
      (*complete)++;
    }
  }
  *used = (size_t)(p - start);
  return rc;
}

/* The daemon's memory rule (ARCHITECTURE.md): out of memory aborts with a
 * message. msgpack-c has no allocator hook, so its failures are caught here;
 * the codec links nothing of the daemon's, hence its own copy of the message. */
static _Noreturn void out_of_memory(const char *what, size_t n) {
  fprintf(stderr, "out of memory (%s, %zu bytes)\n", what, n);
  abort();
}

wsf_rpc_decoder *wsf_rpc_decoder_new(size_t max_request_bytes) {
  wsf_rpc_decoder *dec = calloc(1, sizeof(*dec));
  if (!dec)
    out_of_memory("decoder", sizeof(*dec));
  if (!msgpack_unpacker_init(&dec->mpac, DECODER_BUFFER_BYTES))
    out_of_memory("msgpack unpacker", DECODER_BUFFER_BYTES);
  dec->max_request_bytes = max_request_bytes;
  dec->max_objects = WSF_RPC_DEFAULT_MAX_OBJECTS;
  return dec;
}

void wsf_rpc_decoder_set_limits(wsf_rpc_decoder *dec, size_t max_request_bytes, size_t max_objects) {
  dec->max_request_bytes = max_request_bytes;
  dec->max_objects = max_objects;
}

const char *wsf_rpc_decoder_limit_hit(const wsf_rpc_decoder *dec) {
  return dec->limit_hit;
}

void wsf_rpc_decoder_free(wsf_rpc_decoder *dec) {
  if (!dec)
    return;
  /* Zones of requests not yet released keep the buffer alive (refcounted). */
  msgpack_unpacker_destroy(&dec->mpac);
  free(dec);
}

/* Once framing is lost further bytes are dropped: nothing after them can be
 * read, and buffering them would let a peer grow memory without bound. Bytes of
 * complete messages before the bad one stay, so next() still returns those. */
int wsf_rpc_decoder_feed(wsf_rpc_decoder *dec, const char *buf, size_t len) {
  if (dec->poison)
    return dec->poison == WSF_RPC_TOO_LARGE ? WSF_RPC_TOO_LARGE : 0;
  size_t complete, used;
  int rc =
      scan(&dec->scan, (const uint8_t *)buf, len, dec->max_request_bytes, dec->max_objects, &complete, &used);
  if (used) {
    /* used is within max_request_bytes: the scanner checked it first. A long
     * str or bin body under way (the message of a large `send`) gets room for
     * all of it now, not by doubling as its reads come: each doubling copied
     * what had come, 22.9 % of the daemon's CPU echoing 16 MiB messages
     * (tests/bench/RESULTS.md). Its announced length is within
     * max_request_bytes too (the scanner counts it before it arrives). */
    size_t want = used;
    if (rc == SCAN_OK && dec->scan.in_msg && dec->scan.skip > DECODER_BUFFER_BYTES)
      want += (size_t)dec->scan.skip;
    if (!msgpack_unpacker_reserve_buffer(&dec->mpac, want))
      out_of_memory("msgpack unpacker buffer", want);
    memcpy(msgpack_unpacker_buffer(&dec->mpac), buf, used);
    msgpack_unpacker_buffer_consumed(&dec->mpac, used);
  }
  dec->ready += complete;
  if (rc == SCAN_MALFORMED)
    dec->poison = WSF_RPC_MALFORMED;
  if (rc == SCAN_TOO_LARGE || rc == SCAN_TOO_MANY_OBJECTS) {
    dec->poison = WSF_RPC_TOO_LARGE;
    dec->limit_hit = rc == SCAN_TOO_LARGE ? "max_request_bytes" : "max_request_objects";
    return WSF_RPC_TOO_LARGE;
  }
  return 0;
}

static const msgpack_object empty_map = {.type = MSGPACK_OBJECT_MAP};

/* msgpack-c gives an empty str or bin a NULL pointer; callers get "" instead,
 * so memcpy/memcmp/printf on a (pointer, 0) pair stay defined. */
static const char *str_ptr(const msgpack_object *o) {
  return o->via.str.size ? o->via.str.ptr : "";
}

static int invalid(wsf_rpc_request *req, const char *reason) {
  req->invalid_reason = reason;
  req->params = NULL;
  return WSF_RPC_INVALID;
}

/* Checks the envelope [0, msgid, method, params] and fills req. The msgid is
 * taken as soon as it can be read so a bad_request answer can carry it. */
static int validate(const msgpack_object *o, wsf_rpc_request *req) {
  if (o->type != MSGPACK_OBJECT_ARRAY)
    return invalid(req, "message is not an array");
  const msgpack_object *e = o->via.array.ptr;
  uint32_t n = o->via.array.size;
  if (n == 0 || e[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return invalid(req, "message type (first element) is not an unsigned integer");
  uint64_t type = e[0].via.u64;
  if (n >= 2 && type != 2 && e[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[1].via.u64 <= UINT32_MAX) {
    req->msgid = (uint32_t)e[1].via.u64;
    req->has_msgid = true;
  }
  if (type == 1)
    return invalid(req, "message type 1 (response) is not accepted from a client");
  if (type == 2)
    return invalid(req, "message type 2 (notification) is not accepted from a client");
  if (type != 0)
    return invalid(req, "unknown message type (a request has type 0)");
  if (n != 4)
    return invalid(req, "a request is an array of 4 elements [0, msgid, method, params]");
  if (!req->has_msgid) {
    return invalid(req, e[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? "msgid is not below 2^32"
                                                                     : "msgid is not an unsigned integer");
  }
  if (e[2].type != MSGPACK_OBJECT_STR)
    return invalid(req, "method is not a str");
  req->method = str_ptr(&e[2]);
  req->method_len = e[2].via.str.size;
  if (e[3].type != MSGPACK_OBJECT_ARRAY)
    return invalid(req, "params is not an array");
  if (e[3].via.array.size > 1)
    return invalid(req, "params array has more than one element (expected [] or [{...}])");
  if (e[3].via.array.size == 0) {
    req->params = &empty_map;
    return WSF_RPC_REQUEST;
  }
  const msgpack_object *m = &e[3].via.array.ptr[0];
  if (m->type != MSGPACK_OBJECT_MAP)
    return invalid(req, "params element is not a map");
  for (uint32_t i = 0; i < m->via.map.size; i++)
    if (m->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
      return invalid(req, "params map has a key that is not a str");
  req->params = m;
  return WSF_RPC_REQUEST;
}

/* Length of the complete message at p (already validated by the scanner). */
static size_t message_length(const char *p, size_t avail) {
  struct scanner s = {0};
  size_t off = 0;
  while (off < avail) {
    size_t complete, used;
    scan(&s, (const uint8_t *)p + off, 1, UINT64_MAX, UINT64_MAX, &complete, &used);
    off += used;
    if (complete)
      break;
  }
  return off;
}

/* The zone of the last request released, cleared, for the next request to
 * build its objects in: msgpack-c makes a zone (an 8 KiB malloc) for each
 * message and frees it with the request, ~600 instructions of the ~8,500 the
 * daemon spends per echoed message (callgrind, issue 19). msgpack-c >= 4
 * creates the unpacker's zone lazily, through a pointer to mpac.z, so a zone
 * set there before the parse is the one the objects go into and the one
 * msgpack_unpacker_next hands over. One per thread: requests may be released
 * after their decoder is freed. */
static _Thread_local msgpack_zone *spare_zone;

int wsf_rpc_decoder_next(wsf_rpc_decoder *dec, wsf_rpc_request *req) {
  memset(req, 0, sizeof(*req));
  if (dec->ready == 0)
    return dec->poison ? dec->poison : WSF_RPC_NEED_MORE;
  dec->ready--;

  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (!dec->mpac.z && spare_zone) {
    dec->mpac.z = spare_zone;
    spare_zone = NULL;
  }
  size_t start = dec->mpac.off;
  if (msgpack_unpacker_next(&dec->mpac, &u) != MSGPACK_UNPACK_SUCCESS) {
    /* The scanner saw a complete, well-formed message, so msgpack-c gave up on
     * something it cannot build: nesting deeper than its fixed stack (32), or
     * memory. msgpack-c reports both as MSGPACK_UNPACK_NOMEM_ERROR, so this is
     * the one place out of memory is not an abort: the message is skipped and
     * the connection kept (a peer must not abort the daemon by nesting). */
    size_t len = message_length(dec->mpac.buffer + start, dec->mpac.used - start);
    msgpack_unpacker_reset(&dec->mpac);
    if (dec->mpac.z)
      msgpack_unpacker_reset_zone(&dec->mpac); /* msgpack-c >= 4 makes zones lazily */
    dec->mpac.off = start + len;
    req->invalid_reason = "request nested deeper than 32 levels (or out of memory)";
    return WSF_RPC_INVALID;
  }
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* Fuzz builds check that the scanner and msgpack-c agree on where each
   * message ends: a disagreement would silently shift the framing. */
  if (dec->mpac.off - start != message_length(dec->mpac.buffer + start, dec->mpac.used - start))
    abort();
#endif
  req->zone = u.zone;
  return validate(&u.data, req);
}

void wsf_rpc_request_release(wsf_rpc_request *req) {
  if (req->zone && !spare_zone) {
    msgpack_zone_clear(req->zone); /* runs its finalizers: the buffer's reference goes */
    spare_zone = req->zone;
  } else if (req->zone) {
    msgpack_zone_free(req->zone);
  }
  memset(req, 0, sizeof(*req));
}

bool wsf_rpc_method_is(const wsf_rpc_request *req, const char *name) {
  size_t n = strlen(name);
  return req->method && req->method_len == n && memcmp(req->method, name, n) == 0;
}

/* Field access. Outputs are written only on WSF_FIELD_OK, so a caller can
 * preset a default and ignore WSF_FIELD_ABSENT. */

const msgpack_object *wsf_field(const msgpack_object *map, const char *key) {
  if (!map || map->type != MSGPACK_OBJECT_MAP)
    return NULL;
  size_t n = strlen(key);
  const msgpack_object_kv *kv = map->via.map.ptr;
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &kv[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
        (n == 0 || memcmp(k->via.str.ptr, key, n) == 0))
      return &kv[i].val;
  }
  return NULL;
}

/* The value of key, or NULL when it is missing or nil. */
static const msgpack_object *present(const msgpack_object *map, const char *key) {
  const msgpack_object *v = wsf_field(map, key);
  return v && v->type != MSGPACK_OBJECT_NIL ? v : NULL;
}

int wsf_field_str(const msgpack_object *map, const char *key, const char **s, size_t *len) {
  const msgpack_object *v = present(map, key);
  if (!v)
    return WSF_FIELD_ABSENT;
  if (v->type != MSGPACK_OBJECT_STR)
    return WSF_FIELD_WRONG_TYPE;
  *s = str_ptr(v);
  *len = v->via.str.size;
  return WSF_FIELD_OK;
}

int wsf_field_bytes(const msgpack_object *map, const char *key, const char **p, size_t *len, bool *is_bin) {
  const msgpack_object *v = present(map, key);
  if (!v)
    return WSF_FIELD_ABSENT;
  if (v->type == MSGPACK_OBJECT_STR) {
    *p = str_ptr(v);
    *len = v->via.str.size;
    *is_bin = false;
  } else if (v->type == MSGPACK_OBJECT_BIN) {
    *p = v->via.bin.size ? v->via.bin.ptr : "";
    *len = v->via.bin.size;
    *is_bin = true;
  } else {
    return WSF_FIELD_WRONG_TYPE;
  }
  return WSF_FIELD_OK;
}

int wsf_field_uint(const msgpack_object *map, const char *key, uint64_t *out) {
  const msgpack_object *v = present(map, key);
  if (!v)
    return WSF_FIELD_ABSENT;
  /* msgpack-c types every non-negative integer as POSITIVE_INTEGER, whatever
   * its encoding (int8 5 included), so negatives are the only ints left out. */
  if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return WSF_FIELD_WRONG_TYPE;
  *out = v->via.u64;
  return WSF_FIELD_OK;
}

int wsf_field_bool(const msgpack_object *map, const char *key, bool *out) {
  const msgpack_object *v = present(map, key);
  if (!v)
    return WSF_FIELD_ABSENT;
  if (v->type != MSGPACK_OBJECT_BOOLEAN)
    return WSF_FIELD_WRONG_TYPE;
  *out = v->via.boolean;
  return WSF_FIELD_OK;
}

static int field_of_type(const msgpack_object *map, const char *key, msgpack_object_type t,
                         const msgpack_object **out) {
  const msgpack_object *v = present(map, key);
  if (!v)
    return WSF_FIELD_ABSENT;
  if (v->type != t)
    return WSF_FIELD_WRONG_TYPE;
  *out = v;
  return WSF_FIELD_OK;
}

int wsf_field_map(const msgpack_object *map, const char *key, const msgpack_object **out) {
  return field_of_type(map, key, MSGPACK_OBJECT_MAP, out);
}

int wsf_field_array(const msgpack_object *map, const char *key, const msgpack_object **out) {
  return field_of_type(map, key, MSGPACK_OBJECT_ARRAY, out);
}

/* Encoding: msgpack-c packs every integer in its shortest form, as the
 * vectors (python msgpack) do, so envelopes compare byte for byte. */

/* Length of the well-formed UTF-8 sequence at p (1..4), or 0 if there is none. */
size_t wsf_utf8_seq(const uint8_t *p, size_t avail) {
  uint8_t b = p[0];
  if (b < 0x80)
    return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
  if (b >= 0xc2 && b <= 0xdf)
    n = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b == 0xe0)
      lo = 0xa0; /* no overlongs */
    else if (b == 0xed)
      hi = 0x9f; /* no surrogates */
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b == 0xf0)
      lo = 0x90;
    else if (b == 0xf4)
      hi = 0x8f; /* at most U+10FFFF */
  } else
    return 0;
  if (avail < n || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

/* Bytes from p that are ASCII, eight at a time: every key and nearly every
 * value the daemon packs is ASCII, and checking them a byte at a time through
 * wsf_utf8_seq was 27 % of the daemon's CPU answering `status` (perf, issue 19). */
static size_t ascii_prefix(const uint8_t *p, size_t len) {
  size_t i = 0;
  for (; len - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ull)
      break;
  }
  while (i < len && p[i] < 0x80)
    i++;
  return i;
}

bool wsf_utf8_valid(const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s;
  for (size_t i = ascii_prefix(p, len); i < len; i += ascii_prefix(p + i, len - i)) {
    size_t n = wsf_utf8_seq(p + i, len - i);
    if (!n)
      return false;
    i += n;
  }
  return true;
}

/* Header and body in one write when the str is short: the packer's writer is
 * called once per piece, and keys (all short) were two calls each. */
#define SHORT_STR_MAX 31 /* a fixstr: one header byte */
static void pack_valid_str(msgpack_packer *pk, const char *s, size_t len) {
  if (len <= SHORT_STR_MAX) {
    char b[1 + SHORT_STR_MAX];
    b[0] = (char)(0xa0 | len);
    memcpy(b + 1, s, len);
    pk->callback(pk->data, b, 1 + len);
    return;
  }
  msgpack_pack_str(pk, len);
  msgpack_pack_str_body(pk, s, len);
}

void wsf_pack_text(msgpack_packer *pk, const char *s, size_t len) {
  if (wsf_utf8_valid(s, len)) {
    pack_valid_str(pk, s, len);
    return;
  }
  static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
  const uint8_t *p = (const uint8_t *)s;
  size_t out = 0;
  for (size_t i = 0; i < len;) { /* one U+FFFD per invalid byte */
    size_t n = wsf_utf8_seq(p + i, len - i);
    out += n ? n : 3;
    i += n ? n : 1;
  }
  msgpack_pack_str(pk, out);
  for (size_t i = 0; i < len;) {
    size_t n = wsf_utf8_seq(p + i, len - i);
    if (n)
      msgpack_pack_str_body(pk, s + i, n);
    else
      msgpack_pack_str_body(pk, replacement, 3);
    i += n ? n : 1;
  }
}

void wsf_pack_str(msgpack_packer *pk, const char *s) {
  wsf_pack_text(pk, s, strlen(s));
}

void wsf_pack_key(msgpack_packer *pk, const char *key) {
  wsf_pack_str(pk, key);
}

void wsf_pack_result_header(msgpack_packer *pk, uint32_t msgid) {
  msgpack_pack_array(pk, 4);
  msgpack_pack_uint8(pk, 1);
  msgpack_pack_uint32(pk, msgid);
  msgpack_pack_nil(pk);
}

void wsf_pack_error_begin(msgpack_packer *pk, uint32_t msgid, const char *code, const char *message,
                          size_t n_details) {
  msgpack_pack_array(pk, 4);
  msgpack_pack_uint8(pk, 1);
  msgpack_pack_uint32(pk, msgid);
  msgpack_pack_map(pk, 2 + n_details);
  wsf_pack_key(pk, "code");
  wsf_pack_str(pk, code);
  wsf_pack_key(pk, "message");
  wsf_pack_str(pk, message);
}

void wsf_pack_error_end(msgpack_packer *pk) {
  msgpack_pack_nil(pk);
}

void wsf_pack_notification_header(msgpack_packer *pk, const char *method) {
  msgpack_pack_array(pk, 3);
  msgpack_pack_uint8(pk, 2);
  wsf_pack_str(pk, method);
  msgpack_pack_array(pk, 1);
}
