/* HTTP CONNECT proxies: choosing one, its URL, the request, the answer (proxy.h). */
#include "proxy.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..len) into out (cap bytes with the NUL); -1 if it does not fit or is malformed. */
static int percent_decode(const char *s, size_t len, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (ch == '%') {
      if (i + 2 >= len)
        return -1;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      ch = (char)(hi * 16 + lo);
      i += 2;
    }
    if (o + 1 >= cap)
      return -1;
    out[o++] = ch;
  }
  out[o] = '\0';
  return (int)o;
}

int wsf_proxy_url_parse(const char *s, size_t len, wsf_proxy_url *out, const char **error) {
  memset(out, 0, sizeof *out);
  static const char scheme[] = "http://";
  if (len < sizeof scheme - 1 || strncasecmp(s, scheme, sizeof scheme - 1) != 0) {
    *error = "proxy must be http://[user:pass@]host:port or \"none\"";
    return -1;
  }
  const char *p = s + sizeof scheme - 1, *end = s + len;
  if (end > p && end[-1] == '/')
    end--; /* "http://proxy:3128/" as curl accepts it */
  const char *at = memchr(p, '@', (size_t)(end - p));
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    char user[128], pass[128], plain[258];
    if (percent_decode(p, (size_t)((colon ? colon : at) - p), user, sizeof user) < 0 ||
        percent_decode(colon ? colon + 1 : at, colon ? (size_t)(at - colon - 1) : 0, pass, sizeof pass) < 0) {
      *error = "proxy credentials malformed or longer than 127 bytes each";
      return -1;
    }
    int n = snprintf(plain, sizeof plain, "%s:%s", user, pass);
    memcpy(out->auth, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out->auth + 6, (const unsigned char *)plain, n);
    p = at + 1;
  }
  const char *host_end, *port_at;
  if (p < end && *p == '[') { /* [v6]:port */
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (!close || close + 1 >= end || close[1] != ':') {
      *error = "proxy URL needs [IPv6]:port";
      return -1;
    }
    p++;
    host_end = close;
    port_at = close + 2;
  } else {
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
      if (*q == ':')
        colon = q;
    if (!colon) {
      *error = "proxy URL needs a port (http://host:port)";
      return -1;
    }
    host_end = colon;
    port_at = colon + 1;
  }
  size_t host_len = (size_t)(host_end - p);
  if (host_len == 0 || host_len >= sizeof out->host || memchr(p, '/', host_len)) {
    *error = "proxy URL has no valid host";
    return -1;
  }
  unsigned long port = 0;
  if (port_at == end || end - port_at > 5) {
    *error = "proxy URL has no valid port";
    return -1;
  }
  for (const char *q = port_at; q < end; q++) {
    if (*q < '0' || *q > '9') {
      *error = "proxy URL has no valid port";
      return -1;
    }
    port = port * 10 + (unsigned long)(*q - '0');
  }
  if (port == 0 || port > 65535) {
    *error = "proxy URL has no valid port";
    return -1;
  }
  memcpy(out->host, p, host_len);
  out->port = (uint16_t)port;
  return 0;
}

bool wsf_proxy_no_proxy_match(const char *no_proxy, const char *host) {
  if (!no_proxy || !host)
    return false;
  size_t host_len = strlen(host);
  const char *p = no_proxy;
  while (*p) {
    while (*p == ',' || *p == ' ' || *p == '\t')
      p++;
    const char *start = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t')
      p++;
    size_t n = (size_t)(p - start);
    if (n == 0)
      continue;
    if (n == 1 && *start == '*')
      return true;
    if (*start == '.') {
      start++;
      n--;
    }
    /* a port suffix (host:port) is ignored; not for a bracketed IPv6 entry */
    if (*start != '[') {
      const char *colon = memchr(start, ':', n);
      if (colon && !memchr(colon + 1, ':', (size_t)(start + n - colon - 1)))
        n = (size_t)(colon - start);
    } else if (n >= 2) {
      const char *close = memchr(start, ']', n);
      if (close) {
        start++;
        n = (size_t)(close - start);
      }
    }
    if (n == 0 || n > host_len)
      continue;
    const char *tail = host + host_len - n;
    if (strncasecmp(tail, start, n) == 0 && (n == host_len || tail[-1] == '.'))
      return true;
  }
  return false;
}

const char *wsf_proxy_choose(const char *open_proxy, const char *daemon_proxy, const wsf_proxy_env *env,
                             const char *host, bool tls) {
  if (open_proxy)
    return strcasecmp(open_proxy, "none") == 0 ? NULL : open_proxy;
  const char *chosen = daemon_proxy;
  if (!chosen && env)
    chosen = tls ? env->https_proxy : env->http_proxy;
  if (!chosen || !*chosen || strcasecmp(chosen, "none") == 0)
    return NULL;
  if (env && wsf_proxy_no_proxy_match(env->no_proxy, host))
    return NULL;
  return chosen;
}

char *wsf_proxy_build_connect(const char *host, uint16_t port, const char *auth, size_t *len) {
  bool v6 = strchr(host, ':') != NULL;
  char authority[300];
  snprintf(authority, sizeof authority, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
  size_t cap = 2 * strlen(authority) + strlen(auth) + 128;
  char *req = wsf_xmalloc(cap);
  int n = snprintf(req, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%sUser-Agent: wsfleetd\r\n\r\n",
                   authority, authority, *auth ? "Proxy-Authorization: " : "", auth, *auth ? "\r\n" : "");
  *len = (size_t)n;
  return req;
}

/* ---- the answer ---- */

static int on_status(llhttp_t *p, const char *at, size_t n) {
  wsf_proxy_response *r = p->data;
  size_t room = sizeof r->reason - 1 - r->reason_len;
  if (n > room)
    n = room;
  memcpy(r->reason + r->reason_len, at, n);
  r->reason_len += n;
  r->reason[r->reason_len] = '\0';
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  wsf_proxy_response *r = p->data;
  r->reason_len = 0;
  r->reason[0] = '\0';
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  wsf_proxy_response *r = p->data;
  r->status = llhttp_get_status_code(p);
  /* An answer to CONNECT has no body for llhttp to wait for: a 2xx starts
   * the tunnel, and a refusal's body is not needed to say why. */
  return 1;
}

static int on_message_complete(llhttp_t *p) {
  wsf_proxy_response *r = p->data;
  if (r->status >= 100 && r->status < 200)
    return 0; /* an interim answer: the real one follows */
  r->done = true;
  return HPE_PAUSED;
}

void wsf_proxy_response_init(wsf_proxy_response *r) {
  memset(r, 0, sizeof *r);
  llhttp_settings_init(&r->settings);
  r->settings.on_message_begin = on_message_begin;
  r->settings.on_status = on_status;
  r->settings.on_headers_complete = on_headers_complete;
  r->settings.on_message_complete = on_message_complete;
  llhttp_init(&r->parser, HTTP_RESPONSE, &r->settings);
  r->parser.data = r;
}

static wsf_proxy_result result_of(const wsf_proxy_response *r) {
  if (r->error)
    return WSF_PROXY_ERROR;
  if (!r->done)
    return WSF_PROXY_NEED_MORE;
  return r->status >= 200 && r->status < 300 ? WSF_PROXY_ESTABLISHED : WSF_PROXY_REFUSED;
}

wsf_proxy_result wsf_proxy_response_feed(wsf_proxy_response *r, const uint8_t *data, size_t len,
                                         size_t *consumed) {
  *consumed = 0;
  if (r->done || r->error)
    return result_of(r);
  size_t n = len;
  if (n > WSF_PROXY_MAX_HEADER_BLOCK - r->header_bytes)
    n = WSF_PROXY_MAX_HEADER_BLOCK - r->header_bytes;
  const char *start = (const char *)data;
  llhttp_errno_t e = llhttp_execute(&r->parser, start, n);
  size_t used = n;
  if (e == HPE_PAUSED)
    used = (size_t)(llhttp_get_error_pos(&r->parser) - start);
  else if (e != HPE_OK)
    r->error = e == HPE_INVALID_CONSTANT || e == HPE_INVALID_VERSION ? "proxy answer is not HTTP/1.x"
                                                                     : "malformed proxy answer";
  r->header_bytes += used;
  *consumed = used;
  if (!r->done && !r->error && r->header_bytes >= WSF_PROXY_MAX_HEADER_BLOCK)
    r->error = "proxy answer header block larger than 16 KiB";
  return result_of(r);
}

wsf_proxy_result wsf_proxy_response_eof(wsf_proxy_response *r) {
  if (!r->done && !r->error)
    r->error = r->header_bytes ? "proxy closed the connection in the middle of its answer"
                               : "proxy closed the connection without an answer";
  return result_of(r);
}
