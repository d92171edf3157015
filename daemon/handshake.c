/* The HTTP/1.1 upgrade of RFC 6455 §4, both sides, without I/O.
 *
 * Parsing is llhttp's; this file adds the WebSocket checks, the size limits
 * and the bookkeeping of how many bytes belong to HTTP. Two llhttp details
 * shape it:
 * - our on_headers_complete returns 2 for a 101 (client) and for every request
 *   (server), so llhttp stops right after the header block with
 *   HPE_PAUSED_UPGRADE whatever the headers say, and llhttp_get_error_pos()
 *   marks the first byte that is not HTTP (frames a fast peer already sent);
 * - a non-101 answer is parsed to the end of its body (or WSF_BODY_KEEP bytes
 *   of it) so the caller can report what the server said. */
#include "handshake.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- small helpers ---- */

static bool is_tchar(unsigned char c) {
  /* RFC 7230 token characters. */
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const char *s) {
  if (!s || !*s)
    return false;
  for (; *s; s++)
    if (!is_tchar((unsigned char)*s))
      return false;
  return true;
}

/* A header value that cannot end the line early: visible ASCII, SP, HTAB and
 * obs-text; no CR, LF, NUL or other control bytes. */
static bool is_safe_value(const char *s) {
  if (!s)
    return false;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return false;
  }
  return true;
}

static bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* Does a comma-separated header value hold this token (ASCII case-insensitive)? */
static bool list_has_token(const char *list, const char *token) {
  if (!list)
    return false;
  size_t tl = strlen(token);
  const char *p = list;
  while (*p) {
    while (is_ows(*p) || *p == ',')
      p++;
    const char *start = p;
    while (*p && *p != ',')
      p++;
    const char *end = p;
    while (end > start && is_ows(end[-1]))
      end--;
    if ((size_t)(end - start) == tl && strncasecmp(start, token, tl) == 0)
      return true;
  }
  return false;
}

/* Sec-WebSocket-Key: base64 that decodes to exactly 16 bytes, i.e. 22
 * alphabet characters and "==". Unused low bits are not policed. */
static bool key_is_valid(const char *key) {
  if (!key || strlen(key) != WSF_KEY_LEN)
    return false;
  for (int i = 0; i < 22; i++) {
    unsigned char c = (unsigned char)key[i];
    bool b64 =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!b64)
      return false;
  }
  return key[22] == '=' && key[23] == '=';
}

/* A growable string for request/response building (out of memory aborts). */
typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    b->p = wsf_xrealloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) {
  sb_add(b, s, strlen(s));
}

static void sb_header(sbuf *b, const char *name, const char *value) {
  sb_str(b, name);
  sb_add(b, ": ", 2);
  sb_str(b, value);
  sb_add(b, "\r\n", 2);
}

static char *sb_finish(sbuf *b, size_t *len) {
  if (len)
    *len = b->len;
  return b->p;
}

/* ---- key and accept ---- */

int wsf_handshake_make_key(char key[WSF_KEY_LEN + 1]) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1)
    return -1;
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
  return 0;
}

void wsf_handshake_accept_for(const char *key, size_t key_len, char accept[WSF_ACCEPT_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
            EVP_DigestUpdate(ctx, key, key_len) == 1 &&
            EVP_DigestUpdate(ctx, WS_GUID, sizeof WS_GUID - 1) == 1 &&
            EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 20;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    /* Cannot happen with a working libcrypto; an empty accept matches nothing. */
    accept[0] = '\0';
    return;
  }
  EVP_EncodeBlock((unsigned char *)accept, md, 20);
}

/* ---- client request ---- */

/* Headers the handshake itself writes, or that would change how the request is
 * framed: a caller's copy would duplicate or contradict ours. */
static const char *reserved_header_error(const char *name) {
  static const char *const own[] = {
      "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-accept"};
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    if (strcasecmp(name, own[i]) == 0)
      return "extra header may not be Host, Upgrade, Connection or Sec-WebSocket-Key/Version/Accept";
  if (strcasecmp(name, "sec-websocket-protocol") == 0)
    return "set Sec-WebSocket-Protocol through the subprotocols list, not as an extra header";
  if (strcasecmp(name, "sec-websocket-extensions") == 0)
    return "set Sec-WebSocket-Extensions through the extensions offer, not as an extra header";
  if (strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0)
    return "extra header may not be Content-Length or Transfer-Encoding (the upgrade has no body)";
  return NULL;
}

static bool resource_is_valid(const char *res) {
  if (res[0] != '/')
    return false;
  for (const unsigned char *p = (const unsigned char *)res; *p; p++)
    if (*p <= 0x20 || *p >= 0x7f)
      return false;
  return true;
}

char *wsf_handshake_build_request(const wsf_url *url, const char *key, const wsf_header *extra,
                                  size_t n_extra, const char *const *subprotocols, size_t n_subprotocols,
                                  const char *extensions, size_t *len, const char **error) {
  const char *dummy;
  if (!error)
    error = &dummy;
  *error = NULL;
  if (!url || !resource_is_valid(url->resource) || url->host[0] == '\0') {
    *error = "URL is not a parsed ws:// or wss:// URL";
    return NULL;
  }
  if (!key_is_valid(key)) {
    *error = "Sec-WebSocket-Key must be base64 of 16 bytes";
    return NULL;
  }
  for (size_t i = 0; i < n_subprotocols; i++) {
    if (!is_token(subprotocols[i])) {
      *error = "subprotocol names must be non-empty tokens (no spaces, commas or control characters)";
      return NULL;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(subprotocols[i], subprotocols[j]) == 0) {
        *error = "subprotocol offered twice";
        return NULL;
      }
  }
  if (extensions && (!*extensions || !is_safe_value(extensions))) {
    *error = "Sec-WebSocket-Extensions offer is empty or contains control characters";
    return NULL;
  }
  for (size_t i = 0; i < n_extra; i++) {
    if (!is_token(extra[i].name)) {
      *error = "extra header name must be a token (no spaces, colons or control characters)";
      return NULL;
    }
    if (!is_safe_value(extra[i].value)) {
      *error = "extra header value must not contain CR, LF or other control characters";
      return NULL;
    }
    const char *why = reserved_header_error(extra[i].name);
    if (why) {
      *error = why;
      return NULL;
    }
  }

  char host[300];
  wsf_url_host_header(url, host, sizeof host);
  if (strpbrk(host, " \t") || !is_safe_value(host)) {
    /* Only a hand-filled wsf_url gets here; wsf_url_parse never yields it. */
    *error = "URL host contains spaces or control characters";
    return NULL;
  }
  sbuf b = {0};
  sb_str(&b, "GET ");
  sb_str(&b, url->resource);
  sb_str(&b, " HTTP/1.1\r\n");
  sb_header(&b, "Host", host);
  sb_header(&b, "Upgrade", "websocket");
  sb_header(&b, "Connection", "Upgrade");
  sb_header(&b, "Sec-WebSocket-Key", key);
  sb_header(&b, "Sec-WebSocket-Version", "13");
  if (n_subprotocols > 0) {
    sb_str(&b, "Sec-WebSocket-Protocol: ");
    for (size_t i = 0; i < n_subprotocols; i++) {
      if (i)
        sb_add(&b, ", ", 2);
      sb_str(&b, subprotocols[i]);
    }
    sb_add(&b, "\r\n", 2);
  }
  if (extensions)
    sb_header(&b, "Sec-WebSocket-Extensions", extensions);
  for (size_t i = 0; i < n_extra; i++)
    sb_header(&b, extra[i].name, extra[i].value);
  sb_add(&b, "\r\n", 2);
  return sb_finish(&b, len);
}

/* ---- header collection, shared by both parsers ---- */

typedef struct hdr_sink {
  wsf_header *headers;
  size_t *n_headers;
  char **cur_name, **cur_value;
  size_t *cur_name_len, *cur_value_len;
  bool *in_value;
  const char **error;
} hdr_sink;

/* n is within the header block llhttp was fed, itself ≤ WSF_MAX_HEADER_BLOCK. */
static void append(char **buf, size_t *len, const char *at, size_t n) {
  char *p = wsf_xrealloc(*buf, *len + n + 1);
  memcpy(p + *len, at, n);
  *len += n;
  p[*len] = '\0';
  *buf = p;
}

static void scratch_clear(hdr_sink *s) {
  free(*s->cur_name);
  free(*s->cur_value);
  *s->cur_name = *s->cur_value = NULL;
  *s->cur_name_len = *s->cur_value_len = 0;
  *s->in_value = false;
}

static void headers_clear(hdr_sink *s) {
  for (size_t i = 0; i < *s->n_headers; i++) {
    free(s->headers[i].name);
    free(s->headers[i].value);
  }
  *s->n_headers = 0;
  scratch_clear(s);
}

/* One complete field: lower-case the name, trim the value, join repeats. */
static int header_store(hdr_sink *s) {
  char *name = *s->cur_name, *value = *s->cur_value;
  size_t vlen = *s->cur_value_len;
  if (!name) {
    *s->error = "empty header name";
    return -1;
  }
  for (char *p = name; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  if (!value)
    value = wsf_xcalloc(1, 1);
  while (vlen > 0 && is_ows(value[vlen - 1]))
    value[--vlen] = '\0';
  size_t lead = 0;
  while (lead < vlen && is_ows(value[lead]))
    lead++;
  if (lead)
    memmove(value, value + lead, vlen - lead + 1), vlen -= lead;

  for (size_t i = 0; i < *s->n_headers; i++) {
    if (strcmp(s->headers[i].name, name) != 0)
      continue;
    size_t old = strlen(s->headers[i].value);
    char *joined = wsf_xrealloc(s->headers[i].value, old + 2 + vlen + 1);
    memcpy(joined + old, ", ", 2);
    memcpy(joined + old + 2, value, vlen + 1);
    s->headers[i].value = joined;
    free(value);
    free(name);
    *s->cur_name = *s->cur_value = NULL;
    *s->cur_name_len = *s->cur_value_len = 0;
    return 0;
  }
  if (*s->n_headers >= WSF_MAX_HEADERS) {
    if (value != *s->cur_value)
      free(value);
    *s->error = "more than 64 distinct header fields";
    return -1;
  }
  s->headers[*s->n_headers].name = name;
  s->headers[*s->n_headers].value = value;
  (*s->n_headers)++;
  *s->cur_name = *s->cur_value = NULL;
  *s->cur_name_len = *s->cur_value_len = 0;
  return 0;
}

static const char *find_header(const wsf_header *h, size_t n, const char *lower_name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(h[i].name, lower_name) == 0)
      return h[i].value;
  return NULL;
}

/* Words for an llhttp failure; llhttp's own reason stays in the parser. */
static const char *llhttp_words(llhttp_errno_t e, bool response) {
  switch (e) {
  case HPE_INVALID_CONSTANT:
  case HPE_INVALID_VERSION:
    return response ? "not an HTTP/1.x response (bad status line)" : "not an HTTP/1.x request";
  case HPE_INVALID_METHOD:
    return "bad HTTP method";
  case HPE_INVALID_URL:
    return "bad request target";
  case HPE_INVALID_STATUS:
    return "bad HTTP status code";
  case HPE_INVALID_HEADER_TOKEN:
    return "invalid character in an HTTP header";
  case HPE_INVALID_CONTENT_LENGTH:
  case HPE_UNEXPECTED_CONTENT_LENGTH:
  case HPE_INVALID_TRANSFER_ENCODING:
  case HPE_INVALID_CHUNK_SIZE:
    return "bad HTTP body framing";
  case HPE_INVALID_EOF_STATE:
    return "connection closed in the middle of the HTTP message";
  default:
    return response ? "malformed HTTP response" : "malformed HTTP request";
  }
}

/* ---- client: the server's answer ---- */

static wsf_hs_response *resp_of(llhttp_t *p) {
  return p->data;
}

static hdr_sink resp_sink(wsf_hs_response *r) {
  return (hdr_sink){r->headers,       &r->n_headers,     &r->cur_name, &r->cur_value,
                    &r->cur_name_len, &r->cur_value_len, &r->in_value, &r->error};
}

static int resp_on_message_begin(llhttp_t *p) {
  wsf_hs_response *r = resp_of(p);
  r->status = 0;
  return 0;
}

static int resp_on_header_field(llhttp_t *p, const char *at, size_t n) {
  wsf_hs_response *r = resp_of(p);
  r->in_value = false;
  append(&r->cur_name, &r->cur_name_len, at, n);
  return 0;
}

static int resp_on_header_value(llhttp_t *p, const char *at, size_t n) {
  wsf_hs_response *r = resp_of(p);
  r->in_value = true;
  append(&r->cur_value, &r->cur_value_len, at, n);
  return 0;
}

static int resp_on_header_value_complete(llhttp_t *p) {
  wsf_hs_response *r = resp_of(p);
  hdr_sink s = resp_sink(r);
  return header_store(&s) < 0 ? -1 : 0;
}

/* The checks of RFC 6455 §4.1 on a 101; returns the reason it fails, or NULL. */
static const char *check_101(wsf_hs_response *r) {
  const char *upgrade = wsf_hs_response_header(r, "upgrade");
  if (!upgrade)
    return "101 without an Upgrade header";
  if (strcasecmp(upgrade, "websocket") != 0)
    return "101 with an Upgrade header that is not websocket";
  if (!list_has_token(wsf_hs_response_header(r, "connection"), "upgrade"))
    return "101 without Connection: upgrade";
  const char *accept = wsf_hs_response_header(r, "sec-websocket-accept");
  if (!accept)
    return "101 without Sec-WebSocket-Accept";
  if (strcmp(accept, r->expected_accept) != 0)
    return "Sec-WebSocket-Accept does not match the key sent";
  const char *proto = wsf_hs_response_header(r, "sec-websocket-protocol");
  if (proto) {
    bool offered = false;
    for (size_t i = 0; i < r->n_offered && !offered; i++)
      offered = strcmp(proto, r->offered_subprotocols[i]) == 0;
    if (!offered)
      return "server chose a subprotocol that was not offered";
    r->subprotocol = proto;
  }
  r->extensions = wsf_hs_response_header(r, "sec-websocket-extensions");
  return NULL;
}

static int resp_on_headers_complete(llhttp_t *p) {
  wsf_hs_response *r = resp_of(p);
  r->status = llhttp_get_status_code(p);
  if (r->status < 100) {
    /* llhttp takes any three digits; "051" is no HTTP status. */
    r->error = "bad HTTP status code";
    return -1;
  }
  if (r->status >= 100 && r->status < 200 && r->status != 101) {
    /* Interim answer (100 Continue, 103 Early Hints): forget it, the real
     * one follows on the same connection. */
    hdr_sink s = resp_sink(r);
    headers_clear(&s);
    return 0;
  }
  r->headers_complete = true;
  if (r->status != 101) {
    r->error = "server did not switch protocols (HTTP status is not 101)";
    return 0;
  }
  r->error = llhttp_get_http_major(p) == 1 && llhttp_get_http_minor(p) >= 1
                 ? check_101(r)
                 : "101 on a protocol other than HTTP/1.1";
  return 2; /* no body: what follows is WebSocket */
}

static int resp_on_body(llhttp_t *p, const char *at, size_t n) {
  wsf_hs_response *r = resp_of(p);
  if (!r->headers_complete)
    return 0; /* a body on an interim 1xx: not the answer */
  if (!r->body)
    r->body = wsf_xmalloc(WSF_BODY_KEEP + 1);
  size_t room = WSF_BODY_KEEP - r->body_len;
  size_t take = n < room ? n : room;
  memcpy(r->body + r->body_len, at, take);
  r->body_len += take;
  r->body[r->body_len] = '\0';
  if (r->body_len == WSF_BODY_KEEP) {
    r->message_complete = true; /* enough to report; stop here */
    return HPE_PAUSED;
  }
  return 0;
}

static int resp_on_message_complete(llhttp_t *p) {
  wsf_hs_response *r = resp_of(p);
  if (!r->headers_complete)
    return 0; /* an interim 1xx ended */
  r->message_complete = true;
  return r->status == 101 ? 0 : HPE_PAUSED;
}

void wsf_hs_response_init(wsf_hs_response *r, const char *key, const char *const *offered_subprotocols,
                          size_t n_offered) {
  memset(r, 0, sizeof *r);
  llhttp_settings_init(&r->settings);
  r->settings.on_message_begin = resp_on_message_begin;
  r->settings.on_header_field = resp_on_header_field;
  r->settings.on_header_value = resp_on_header_value;
  r->settings.on_header_value_complete = resp_on_header_value_complete;
  r->settings.on_headers_complete = resp_on_headers_complete;
  r->settings.on_body = resp_on_body;
  r->settings.on_message_complete = resp_on_message_complete;
  llhttp_init(&r->parser, HTTP_RESPONSE, &r->settings);
  r->parser.data = r;
  wsf_handshake_accept_for(key ? key : "", key ? strlen(key) : 0, r->expected_accept);
  r->offered_subprotocols = offered_subprotocols;
  r->n_offered = n_offered;
}

/* The outcome once message_complete is set (or an error is). */
static wsf_hs_result resp_result(const wsf_hs_response *r) {
  if (r->error && !r->headers_complete)
    return WSF_HS_ERROR;
  if (!r->message_complete)
    return WSF_HS_NEED_MORE;
  return r->error ? WSF_HS_REJECTED : WSF_HS_DONE;
}

wsf_hs_result wsf_hs_response_feed(wsf_hs_response *r, const uint8_t *data, size_t len, size_t *consumed) {
  size_t off = 0;
  if (consumed)
    *consumed = 0;
  if (r->message_complete || (r->error && !r->headers_complete))
    return resp_result(r);
  while (off < len) {
    /* Until the header block ends, hand llhttp no more than the limit allows,
     * so an endless header is refused after WSF_MAX_HEADER_BLOCK bytes. */
    size_t n = len - off;
    bool in_headers = !r->headers_complete;
    if (in_headers && n > WSF_MAX_HEADER_BLOCK - r->header_bytes)
      n = WSF_MAX_HEADER_BLOCK - r->header_bytes;
    const char *start = (const char *)data + off;
    llhttp_errno_t e = llhttp_execute(&r->parser, start, n);
    size_t used = n;
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE)
      used = (size_t)(llhttp_get_error_pos(&r->parser) - start);
    if (in_headers)
      r->header_bytes += used;
    off += used;
    if (e == HPE_OK) {
      if (!r->headers_complete && r->header_bytes >= WSF_MAX_HEADER_BLOCK) {
        r->error = "response header block larger than 16 KiB";
        break;
      }
      continue;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
      r->message_complete = true;
      break;
    }
    /* Our callbacks set r->error before failing; otherwise it is llhttp's.
     * A broken body after a non-101 status still leaves that status as the
     * answer. */
    if (!r->headers_complete) {
      if (!r->error)
        r->error = llhttp_words(e, true);
    } else {
      r->message_complete = true;
    }
    break;
  }
  if (consumed)
    *consumed = off;
  return resp_result(r);
}

wsf_hs_result wsf_hs_response_eof(wsf_hs_response *r) {
  if (r->message_complete || (r->error && !r->headers_complete))
    return resp_result(r);
  if (!r->headers_complete) {
    r->error = r->header_bytes == 0 ? "connection closed before any HTTP response"
                                    : "connection closed in the middle of the HTTP response headers";
    return WSF_HS_ERROR;
  }
  /* A non-101 whose body runs to the close (or was cut short): what we have
   * is the answer. */
  llhttp_finish(&r->parser);
  r->message_complete = true;
  return resp_result(r);
}

const char *wsf_hs_response_header(const wsf_hs_response *r, const char *lower_name) {
  return find_header(r->headers, r->n_headers, lower_name);
}

void wsf_hs_response_free(wsf_hs_response *r) {
  hdr_sink s = resp_sink(r);
  headers_clear(&s);
  free(r->body);
  r->body = NULL;
  r->body_len = 0;
  r->subprotocol = r->extensions = NULL;
}

/* ---- server: the client's request ---- */

static wsf_hs_request *req_of(llhttp_t *p) {
  return p->data;
}

static hdr_sink req_sink(wsf_hs_request *r) {
  return (hdr_sink){r->headers,       &r->n_headers,     &r->cur_name, &r->cur_value,
                    &r->cur_name_len, &r->cur_value_len, &r->in_value, &r->error};
}

static int req_on_url(llhttp_t *p, const char *at, size_t n) {
  wsf_hs_request *r = req_of(p);
  append(&r->url, &r->url_len, at, n);
  return 0;
}

static int req_on_header_field(llhttp_t *p, const char *at, size_t n) {
  wsf_hs_request *r = req_of(p);
  r->in_value = false;
  append(&r->cur_name, &r->cur_name_len, at, n);
  return 0;
}

static int req_on_header_value(llhttp_t *p, const char *at, size_t n) {
  wsf_hs_request *r = req_of(p);
  r->in_value = true;
  append(&r->cur_value, &r->cur_value_len, at, n);
  return 0;
}

static int req_on_header_value_complete(llhttp_t *p) {
  wsf_hs_request *r = req_of(p);
  hdr_sink s = req_sink(r);
  return header_store(&s) < 0 ? -1 : 0;
}

/* RFC 6455 §4.2.1, in the order a client author would fix things. */
static const char *check_request(wsf_hs_request *r) {
  llhttp_t *p = &r->parser;
  if (llhttp_get_method(p) != HTTP_GET)
    return "method must be GET";
  if (llhttp_get_http_major(p) != 1 || llhttp_get_http_minor(p) < 1)
    return "HTTP/1.1 required";
  if (!r->url || r->url[0] != '/')
    return "request target must be a path";
  if (!wsf_hs_request_header(r, "host"))
    return "missing Host header";
  if (!list_has_token(wsf_hs_request_header(r, "upgrade"), "websocket"))
    return "Upgrade header must be websocket";
  if (!list_has_token(wsf_hs_request_header(r, "connection"), "upgrade"))
    return "Connection header must contain upgrade";
  const char *version = wsf_hs_request_header(r, "sec-websocket-version");
  if (!version || strcmp(version, "13") != 0)
    return "unsupported Sec-WebSocket-Version (only 13)";
  if (!key_is_valid(wsf_hs_request_header(r, "sec-websocket-key")))
    return "Sec-WebSocket-Key must be base64 of 16 bytes";
  if ((p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)) || p->content_length > 0)
    return "upgrade request must not have a body";
  return NULL;
}

static int req_on_headers_complete(llhttp_t *p) {
  wsf_hs_request *r = req_of(p);
  r->headers_complete = true;
  r->error = check_request(r);
  return 2; /* stop after the header block, valid or not */
}

void wsf_hs_request_init(wsf_hs_request *r) {
  memset(r, 0, sizeof *r);
  llhttp_settings_init(&r->settings);
  r->settings.on_url = req_on_url;
  r->settings.on_header_field = req_on_header_field;
  r->settings.on_header_value = req_on_header_value;
  r->settings.on_header_value_complete = req_on_header_value_complete;
  r->settings.on_headers_complete = req_on_headers_complete;
  llhttp_init(&r->parser, HTTP_REQUEST, &r->settings);
  r->parser.data = r;
}

static wsf_hs_result req_result(const wsf_hs_request *r) {
  if (r->error)
    return r->headers_complete ? WSF_HS_REJECTED : WSF_HS_ERROR;
  return r->headers_complete ? WSF_HS_DONE : WSF_HS_NEED_MORE;
}

wsf_hs_result wsf_hs_request_feed(wsf_hs_request *r, const uint8_t *data, size_t len, size_t *consumed) {
  if (consumed)
    *consumed = 0;
  if (r->headers_complete || r->error)
    return req_result(r);
  size_t n = len;
  if (n > WSF_MAX_HEADER_BLOCK - r->header_bytes)
    n = WSF_MAX_HEADER_BLOCK - r->header_bytes;
  if (n == 0)
    return req_result(r);
  const char *start = (const char *)data;
  llhttp_errno_t e = llhttp_execute(&r->parser, start, n);
  size_t used = n;
  if (e == HPE_PAUSED_UPGRADE)
    used = (size_t)(llhttp_get_error_pos(&r->parser) - start);
  r->header_bytes += used;
  if (e == HPE_OK && r->header_bytes >= WSF_MAX_HEADER_BLOCK)
    r->error = "request header block larger than 16 KiB";
  else if (e != HPE_OK && e != HPE_PAUSED_UPGRADE && !r->error)
    r->error = llhttp_words(e, false);
  if (consumed)
    *consumed = used;
  return req_result(r);
}

const char *wsf_hs_request_header(const wsf_hs_request *r, const char *lower_name) {
  return find_header(r->headers, r->n_headers, lower_name);
}

void wsf_hs_request_free(wsf_hs_request *r) {
  hdr_sink s = req_sink(r);
  headers_clear(&s);
  free(r->url);
  r->url = NULL;
  r->url_len = 0;
}

/* ---- server answers ---- */

char *wsf_handshake_build_101(const wsf_hs_request *r, const char *subprotocol, const char *extensions,
                              size_t *len) {
  const char *key = wsf_hs_request_header(r, "sec-websocket-key");
  if (!key_is_valid(key))
    return NULL;
  if (subprotocol && !is_token(subprotocol))
    return NULL;
  if (extensions && !is_safe_value(extensions))
    return NULL;
  char accept[WSF_ACCEPT_LEN + 1];
  wsf_handshake_accept_for(key, strlen(key), accept);
  sbuf b = {0};
  sb_str(&b, "HTTP/1.1 101 Switching Protocols\r\n");
  sb_header(&b, "Upgrade", "websocket");
  sb_header(&b, "Connection", "Upgrade");
  sb_header(&b, "Sec-WebSocket-Accept", accept);
  if (subprotocol)
    sb_header(&b, "Sec-WebSocket-Protocol", subprotocol);
  if (extensions && *extensions)
    sb_header(&b, "Sec-WebSocket-Extensions", extensions);
  sb_add(&b, "\r\n", 2);
  return sb_finish(&b, len);
}

char *wsf_handshake_build_error(int status, const char *reason, const char *body, size_t *len) {
  if (status < 100 || status > 999)
    status = 500;
  if (!reason || !*reason || !is_safe_value(reason))
    reason = "Error";
  if (!body)
    body = "";
  size_t body_len = strlen(body);
  char line[64];
  sbuf b = {0};
  snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
  sb_str(&b, line);
  sb_str(&b, reason);
  sb_add(&b, "\r\n", 2);
  sb_header(&b, "Content-Type", "text/plain; charset=utf-8");
  snprintf(line, sizeof line, "%zu", body_len);
  sb_header(&b, "Content-Length", line);
  sb_header(&b, "Connection", "close");
  /* RFC 6455 §4.4: a 426 names the versions the server speaks. */
  if (status == 426)
    sb_header(&b, "Sec-WebSocket-Version", "13");
  sb_add(&b, "\r\n", 2);
  sb_add(&b, body, body_len);
  return sb_finish(&b, len);
}
