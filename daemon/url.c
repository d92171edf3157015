/* ws:// and wss:// URL parsing (RFC 6455 §3).
 *
 * Deliberately narrower than a general URL parser: the result feeds a TCP
 * connect, an SNI name, a Host header and a request line, so anything that
 * could be read two ways is refused with words a load-test author can act on.
 * - scheme ws or wss, any case; nothing else (no http:// aliasing);
 * - no user:password@, no #fragment (RFC 6455 §3: must not be used);
 * - IPv6 only as [literal]; zone ids ([fe80::1%eth0]) are refused: they need
 *   an interface index at connect time and an encoded Host header, and the
 *   loopback and routable addresses a load test uses never carry one;
 * - dotted-digit hosts must be valid IPv4, other hosts are DNS-style names;
 * - spaces and control bytes are refused; bytes >= 0x80 in the path or query
 *   are percent-encoded, as browsers do, so the request line stays ASCII. */
/* url.h uses size_t without including <stddef.h>. */
#include <stddef.h>

#include "url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_DNS_NAME 253

static int fail(const char **error, const char *why) {
  if (error)
    *error = why;
  return -1;
}

static bool is_ctl_or_space(unsigned char c) {
  return c <= 0x20 || c == 0x7f;
}

static bool is_name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

/* Port digits: 1-65535; leading zeros tolerated, the value is what counts. */
static int parse_port(const char *s, size_t n, uint16_t *port, const char **error) {
  if (n == 0)
    return fail(error, "port is empty after ':'");
  unsigned long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return fail(error, "port must be digits");
    v = v * 10 + (unsigned long)(s[i] - '0');
    if (v > 65535)
      return fail(error, "port must be 1-65535");
  }
  if (v == 0)
    return fail(error, "port must be 1-65535");
  *port = (uint16_t)v;
  return 0;
}

static int parse_host(const char *s, size_t n, wsf_url *out, const char **error) {
  if (n == 0)
    return fail(error, "URL has no host");
  if (n > MAX_DNS_NAME)
    return fail(error, "host too long (over 253 characters)");
  bool dotted_digits = true;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '[' || c == ']')
      return fail(error, "IPv6 addresses must be written in brackets, e.g. ws://[::1]:8080/");
    if (!is_name_char(c))
      return fail(error, "host contains an invalid character");
    if (!(c == '.' || (c >= '0' && c <= '9')))
      dotted_digits = false;
  }
  memcpy(out->host, s, n);
  out->host[n] = '\0';
  /* "1.2.3.999" is a typo for an address, not a name to send to DNS. */
  struct in_addr a4;
  if (dotted_digits && inet_pton(AF_INET, out->host, &a4) != 1)
    return fail(error, "bad IPv4 address");
  return 0;
}

static int parse_ipv6(const char *s, size_t n, wsf_url *out, const char **error) {
  if (memchr(s, '%', n))
    return fail(error, "IPv6 zone ids (%) are not supported");
  if (n == 0 || n >= INET6_ADDRSTRLEN)
    return fail(error, "bad IPv6 address");
  char buf[INET6_ADDRSTRLEN];
  memcpy(buf, s, n);
  buf[n] = '\0';
  struct in6_addr a6;
  if (inet_pton(AF_INET6, buf, &a6) != 1)
    return fail(error, "bad IPv6 address");
  memcpy(out->host, buf, n + 1);
  out->host_is_ipv6 = true;
  return 0;
}

/* Path and query into out->resource; "" and "?q" gain the leading "/". */
static int copy_resource(const char *s, size_t n, wsf_url *out, const char **error) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  const size_t cap = sizeof out->resource - 1;
  if (n == 0 || s[0] != '/')
    out->resource[o++] = '/';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    size_t need = c >= 0x80 ? 3 : 1;
    if (o + need > cap)
      return fail(error, "path and query too long (over 4095 bytes)");
    if (c >= 0x80) {
      out->resource[o++] = '%';
      out->resource[o++] = hex[c >> 4];
      out->resource[o++] = hex[c & 15];
    } else {
      out->resource[o++] = (char)c;
    }
  }
  out->resource[o] = '\0';
  return 0;
}

int wsf_url_parse(const char *url, size_t len, wsf_url *out, const char **error) {
  memset(out, 0, sizeof *out);
  if (!url || len == 0)
    return fail(error, "URL is empty");
  for (size_t i = 0; i < len; i++)
    if (is_ctl_or_space((unsigned char)url[i]))
      return fail(error, "URL contains a space or control character");
  if (memchr(url, '#', len))
    return fail(error, "URL must not have a #fragment (RFC 6455)");

  size_t p;
  if (len >= 5 && strncasecmp(url, "ws://", 5) == 0) {
    p = 5;
  } else if (len >= 6 && strncasecmp(url, "wss://", 6) == 0) {
    p = 6;
    out->tls = true;
  } else {
    return fail(error, "scheme must be ws or wss (ws://host[:port]/path)");
  }

  /* The authority runs to the first '/' or '?'. */
  size_t a = p;
  while (p < len && url[p] != '/' && url[p] != '?')
    p++;
  const char *auth = url + a;
  size_t auth_len = p - a;
  if (memchr(auth, '@', auth_len))
    return fail(error, "user:password@ in the URL is not supported");

  const char *port_s = NULL;
  size_t port_len = 0;
  if (auth_len > 0 && auth[0] == '[') {
    const char *close = memchr(auth, ']', auth_len);
    if (!close)
      return fail(error, "IPv6 address is missing its closing ']'");
    size_t v6_len = (size_t)(close - auth) - 1;
    if (parse_ipv6(auth + 1, v6_len, out, error) < 0)
      return -1;
    size_t rest = auth_len - v6_len - 2;
    if (rest > 0) {
      if (close[1] != ':')
        return fail(error, "unexpected characters after the IPv6 address");
      port_s = close + 2;
      port_len = rest - 1;
    }
  } else {
    const char *colon = memchr(auth, ':', auth_len);
    size_t host_len = colon ? (size_t)(colon - auth) : auth_len;
    if (colon && memchr(colon + 1, ':', auth_len - host_len - 1))
      return fail(error, "IPv6 addresses must be written in brackets, e.g. ws://[::1]:8080/");
    if (parse_host(auth, host_len, out, error) < 0)
      return -1;
    if (colon) {
      port_s = colon + 1;
      port_len = auth_len - host_len - 1;
    }
  }

  if (port_s) {
    if (parse_port(port_s, port_len, &out->port, error) < 0)
      return -1;
    out->port_explicit = true;
  } else {
    out->port = out->tls ? 443 : 80;
  }
  return copy_resource(url + p, len - p, out, error);
}

void wsf_url_host_header(const wsf_url *url, char *buf, size_t buflen) {
  if (buflen == 0)
    return;
  bool default_port = url->port == (url->tls ? 443 : 80);
  const char *lb = url->host_is_ipv6 ? "[" : "", *rb = url->host_is_ipv6 ? "]" : "";
  if (default_port)
    snprintf(buf, buflen, "%s%s%s", lb, url->host, rb);
  else
    snprintf(buf, buflen, "%s%s%s:%u", lb, url->host, rb, (unsigned)url->port);
}
