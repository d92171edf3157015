/* libFuzzer target for wsf_url_parse. Whatever it accepts must be usable as
 * is: a non-empty host without brackets or blanks, a port, a resource that
 * starts with '/' and is plain visible ASCII, and a request built from it that
 * the server parser reads back with the same target and Host. */
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "url.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

#define REQUIRE(c)                                                                                           \
  do {                                                                                                       \
    if (!(c))                                                                                                \
      abort();                                                                                               \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wsf_url u;
  const char *err = NULL;
  if (wsf_url_parse((const char *)data, size, &u, &err) != 0) {
    REQUIRE(err != NULL);
    return 0;
  }
  REQUIRE(u.host[0] != '\0' && strlen(u.host) < sizeof u.host);
  REQUIRE(strpbrk(u.host, "[]/?#@ ") == NULL);
  REQUIRE(u.port != 0);
  REQUIRE(u.port_explicit || u.port == (u.tls ? 443 : 80));
  REQUIRE(u.resource[0] == '/');
  for (const unsigned char *p = (const unsigned char *)u.resource; *p; p++)
    REQUIRE(*p > 0x20 && *p < 0x7f && *p != '#');

  char host[300];
  wsf_url_host_header(&u, host, sizeof host);
  size_t len = 0;
  char *req = wsf_handshake_build_request(&u, KEY, NULL, 0, NULL, 0, NULL, &len, &err);
  REQUIRE(req != NULL);
  wsf_hs_request r;
  wsf_hs_request_init(&r);
  size_t used = 0;
  REQUIRE(wsf_hs_request_feed(&r, (const uint8_t *)req, len, &used) == WSF_HS_DONE);
  REQUIRE(used == len);
  REQUIRE(strcmp(r.url, u.resource) == 0);
  REQUIRE(strcmp(wsf_hs_request_header(&r, "host"), host) == 0);
  wsf_hs_request_free(&r);
  free(req);
  return 0;
}
