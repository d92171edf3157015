/* The CONNECT step of an open through an HTTP proxy (issue 17): after the
 * TCP connect to the proxy, before TLS to the gateway. The exchange itself
 * is proxy.c's (no I/O); this file writes the request built at open, feeds
 * the proxy's answer to the parser, and then hands the tunnel back to the
 * dial sequence, or fails the open with phase "proxy" and the status. */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void conn_start_proxy(wsf_conn *c) {
  wsf_handshake *hs = c->hs;
  hs->phase = "proxy";
  if (wsf_transport_write(&c->transport, (const uint8_t *)hs->proxy_request, hs->proxy_request_len) != 0 ||
      wsf_transport_read_start(&c->transport) != 0) {
    conn_fail_open(c, WSF_E_CONNECT, WSF_CAUSE_IO_ERROR, "cannot write the CONNECT request", 0, NULL, 0);
    return;
  }
  free(hs->proxy_request);
  hs->proxy_request = NULL;
}

/* data == NULL: the proxy closed the connection. */
void conn_proxy_data(wsf_conn *c, const uint8_t *data, size_t len) {
  wsf_handshake *hs = c->hs;
  size_t consumed = 0;
  wsf_proxy_result r = data ? wsf_proxy_response_feed(hs->proxy_resp, data, len, &consumed)
                            : wsf_proxy_response_eof(hs->proxy_resp);
  char msg[700]; /* two host names of up to 255 bytes */
  switch (r) {
  case WSF_PROXY_NEED_MORE:
    return;
  case WSF_PROXY_ESTABLISHED:
    if (consumed < len) {
      /* Neither TLS nor the upgrade lets the gateway speak first. */
      conn_fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED,
                     "proxy sent bytes after its CONNECT answer before we spoke", hs->proxy_resp->status,
                     NULL, 0);
      return;
    }
    free(hs->proxy_resp);
    hs->proxy_resp = NULL;
    hs->t_proxied = wsf_now_us();
    conn_secure_and_upgrade(c);
    return;
  case WSF_PROXY_REFUSED:
    snprintf(msg, sizeof msg, "proxy %s:%u refused CONNECT %s:%u: HTTP %d %s", hs->host, hs->port,
             hs->gateway_host, hs->gateway_port, hs->proxy_resp->status, hs->proxy_resp->reason);
    conn_fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, hs->proxy_resp->status, NULL, 0);
    return;
  case WSF_PROXY_ERROR:
    snprintf(msg, sizeof msg, "proxy %s:%u: %s", hs->host, hs->port, hs->proxy_resp->error);
    conn_fail_open(c, WSF_E_HANDSHAKE, WSF_CAUSE_HANDSHAKE_FAILED, msg, 0, NULL, 0);
    return;
  }
}

int conn_plan_proxy(wsf_handshake *hs, const char *proxy, const char **error) {
  wsf_proxy_url u;
  if (wsf_proxy_url_parse(proxy, strlen(proxy), &u, error) != 0)
    return -1;
  /* The dial sequence (DNS, connect) goes to the proxy; the gateway is the CONNECT's target. */
  memcpy(hs->gateway_host, hs->host, sizeof hs->gateway_host);
  hs->gateway_port = hs->port;
  hs->proxy_request =
      wsf_proxy_build_connect(hs->gateway_host, hs->gateway_port, u.auth, &hs->proxy_request_len);
  hs->proxy_resp = wsf_xmalloc(sizeof *hs->proxy_resp);
  wsf_proxy_response_init(hs->proxy_resp);
  memcpy(hs->host, u.host, sizeof hs->host);
  hs->port = u.port;
  return 0;
}
