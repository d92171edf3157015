/* HTTP CONNECT proxies (issue 17): which proxy an open uses, the proxy URL,
 * the CONNECT request, and the proxy's answer. No I/O here: conn_proxy.c
 * runs the exchange on the connection's transport after the TCP connect and
 * before TLS, so TLS to the gateway (SNI, verification against the
 * gateway's name) runs inside the tunnel unchanged. */
#ifndef WSF_PROXY_H
#define WSF_PROXY_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The proxy answer's header block is refused past this size, as the gateway's is. */
#define WSF_PROXY_MAX_HEADER_BLOCK (16 * 1024)

typedef struct wsf_proxy_url {
  char host[256]; /* without brackets for an IPv6 literal */
  uint16_t port;
  char auth[512]; /* "Basic <base64(user:pass)>", or "" without credentials */
} wsf_proxy_url;

/* Parses "http://[user:pass@]host:port" (user and pass percent-decoded, as
 * curl does). 0, or -1 with *error set to a static message. */
int wsf_proxy_url_parse(const char *s, size_t len, wsf_proxy_url *out, const char **error);

/* The daemon's environment, read once at start (main.c). Any may be NULL. */
typedef struct wsf_proxy_env {
  const char *http_proxy;  /* http_proxy, else HTTP_PROXY: for ws:// */
  const char *https_proxy; /* https_proxy, else HTTPS_PROXY: for wss:// */
  const char *no_proxy;    /* no_proxy, else NO_PROXY */
} wsf_proxy_env;

/* Which proxy an open to host uses, or NULL for a direct connection:
 * open's proxy ("none" = direct) if given, else the daemon's --proxy, else
 * the environment's for the scheme. NO_PROXY exempts the host from --proxy
 * and the environment (not from an open's explicit proxy). The result
 * points into one of the arguments. */
const char *wsf_proxy_choose(const char *open_proxy, const char *daemon_proxy, const wsf_proxy_env *env,
                             const char *host, bool tls);

/* true when host is exempt under a NO_PROXY list, matched as curl does:
 * comma or space separated entries, "*" matches every host, an entry
 * matches the host itself or any name ending in "." + entry (a leading dot
 * of the entry is ignored), case-insensitively; ports in entries are ignored. */
bool wsf_proxy_no_proxy_match(const char *no_proxy, const char *host);

/* The CONNECT request for host:port (brackets added for an IPv6 literal),
 * with Proxy-Authorization when auth is non-empty. Caller frees; *len set. */
char *wsf_proxy_build_connect(const char *host, uint16_t port, const char *auth, size_t *len);

typedef enum wsf_proxy_result {
  WSF_PROXY_NEED_MORE,   /* feed more bytes */
  WSF_PROXY_ESTABLISHED, /* a 2xx: the tunnel is open */
  WSF_PROXY_REFUSED,     /* another status (407, 403, 502 ...): status says which */
  WSF_PROXY_ERROR,       /* not an HTTP answer, or too large: error says why */
} wsf_proxy_result;

typedef struct wsf_proxy_response {
  llhttp_t parser;
  llhttp_settings_t settings;
  int status;
  char reason[64]; /* the status line's reason phrase, cut to fit */
  size_t reason_len;
  size_t header_bytes;
  bool done;
  const char *error; /* static */
} wsf_proxy_response;

void wsf_proxy_response_init(wsf_proxy_response *r);
/* Parses the proxy's answer. *consumed says how many bytes belonged to it;
 * after ESTABLISHED the rest belong to the tunnel. The answer's body, if a
 * refusal has one, is not read. */
wsf_proxy_result wsf_proxy_response_feed(wsf_proxy_response *r, const uint8_t *data, size_t len,
                                         size_t *consumed);
/* The proxy closed the connection: the answer so far. */
wsf_proxy_result wsf_proxy_response_eof(wsf_proxy_response *r);

#endif
