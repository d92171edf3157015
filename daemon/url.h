/* ws:// and wss:// URL parsing (RFC 6455 §3). */
#ifndef WSF_URL_H
#define WSF_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wsf_url {
  bool tls;          /* wss */
  char host[256];    /* without brackets for IPv6 literals, e.g. "::1" */
  bool host_is_ipv6; /* written as [..] in the URL */
  uint16_t port;     /* explicit, or 80 / 443 */
  bool port_explicit;
  char resource[4096]; /* path and query, at least "/"; no fragment */
} wsf_url;

/* Returns 0, or -1 with *error set to a static string in words
 * ("scheme must be ws or wss", "bad port", "host too long", ...). */
int wsf_url_parse(const char *url, size_t len, wsf_url *out, const char **error);

/* The Host header value: host, [v6], with :port only when not the default. */
void wsf_url_host_header(const wsf_url *url, char *buf, size_t buflen);

#endif
