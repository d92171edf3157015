/* libFuzzer target for the upgrade parsers and the request builder.
 *
 * Each input is used three ways:
 * 1. as a server's answer, fed whole and again split at a point taken from the
 *    first byte: both runs must reach the same result and, when DONE, claim
 *    the same number of bytes (a TCP segment boundary must change nothing);
 * 2. as a client's request, split the same way; a request the server parser
 *    accepts must get a 101 that the client parser accepts;
 * 3. as an extra header "name:value" for the request builder: whatever it
 *    accepts must read back as exactly one extra header (no injection). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handshake.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

#define REQUIRE(c)                                                                                           \
  do {                                                                                                       \
    if (!(c))                                                                                                \
      abort();                                                                                               \
  } while (0)

static const char *const offer[] = {"chat", "superchat"};

static wsf_hs_result response_run(const uint8_t *d, size_t n, size_t cut, size_t *consumed,
                                  wsf_hs_response *r) {
  wsf_hs_response_init(r, KEY, offer, 2);
  size_t u1 = 0, u2 = 0;
  wsf_hs_result res = wsf_hs_response_feed(r, d, cut, &u1);
  REQUIRE(u1 <= cut);
  if (res == WSF_HS_NEED_MORE) {
    REQUIRE(u1 == cut);
    res = wsf_hs_response_feed(r, d + cut, n - cut, &u2);
    REQUIRE(u2 <= n - cut);
  }
  *consumed = u1 + u2;
  if (res == WSF_HS_NEED_MORE) {
    REQUIRE(*consumed == n);
    res = wsf_hs_response_eof(r);
    REQUIRE(res != WSF_HS_NEED_MORE);
  }
  REQUIRE(r->body_len <= WSF_BODY_KEEP);
  REQUIRE(r->n_headers <= WSF_MAX_HEADERS);
  if (res == WSF_HS_DONE)
    REQUIRE(r->status == 101 && r->error == NULL);
  if (res == WSF_HS_REJECTED)
    REQUIRE(r->error != NULL && r->status >= 100);
  if (res == WSF_HS_ERROR)
    REQUIRE(r->error != NULL);
  if (r->subprotocol)
    REQUIRE(strcmp(r->subprotocol, "chat") == 0 || strcmp(r->subprotocol, "superchat") == 0);
  return res;
}

static void fuzz_response(const uint8_t *d, size_t n, size_t cut) {
  wsf_hs_response a, b;
  size_t ca, cb;
  wsf_hs_result ra = response_run(d, n, n, &ca, &a);
  wsf_hs_result rb = response_run(d, n, cut, &cb, &b);
  REQUIRE(ra == rb);
  if (ra == WSF_HS_DONE)
    REQUIRE(ca == cb);
  if (ra != WSF_HS_ERROR)
    REQUIRE(a.status == b.status);
  wsf_hs_response_free(&a);
  wsf_hs_response_free(&b);
}

static void fuzz_request(const uint8_t *d, size_t n, size_t cut) {
  wsf_hs_request r;
  wsf_hs_request_init(&r);
  size_t u1 = 0, u2 = 0;
  wsf_hs_result res = wsf_hs_request_feed(&r, d, cut, &u1);
  REQUIRE(u1 <= cut);
  if (res == WSF_HS_NEED_MORE) {
    REQUIRE(u1 == cut);
    res = wsf_hs_request_feed(&r, d + cut, n - cut, &u2);
    REQUIRE(u2 <= n - cut);
  }
  REQUIRE(r.n_headers <= WSF_MAX_HEADERS);
  if (res == WSF_HS_DONE) {
    REQUIRE(r.error == NULL && r.url && r.url[0] == '/');
    size_t len = 0;
    char *resp = wsf_handshake_build_101(&r, NULL, NULL, &len);
    REQUIRE(resp && len == strlen(resp));
    wsf_hs_response c;
    wsf_hs_response_init(&c, wsf_hs_request_header(&r, "sec-websocket-key"), NULL, 0);
    size_t used = 0;
    REQUIRE(wsf_hs_response_feed(&c, (const uint8_t *)resp, len, &used) == WSF_HS_DONE);
    REQUIRE(used == len);
    wsf_hs_response_free(&c);
    free(resp);
  } else if (res != WSF_HS_NEED_MORE) {
    REQUIRE(r.error != NULL);
  }
  wsf_hs_request_free(&r);
}

static void fuzz_build(const uint8_t *d, size_t n) {
  char *buf = malloc(n + 1);
  memcpy(buf, d, n);
  buf[n] = '\0';
  char *colon = strchr(buf, ':');
  if (!colon) {
    free(buf);
    return;
  }
  *colon = '\0';
  wsf_header h = {buf, colon + 1};
  wsf_url u;
  const char *err = NULL;
  REQUIRE(wsf_url_parse("ws://h/", 7, &u, &err) == 0);
  size_t len = 0;
  char *req = wsf_handshake_build_request(&u, KEY, &h, 1, offer, 2, NULL, &len, &err);
  if (req) {
    wsf_hs_request r;
    wsf_hs_request_init(&r);
    size_t used = 0;
    REQUIRE(wsf_hs_request_feed(&r, (const uint8_t *)req, len, &used) == WSF_HS_DONE);
    REQUIRE(used == len);
    REQUIRE(r.n_headers == 7); /* six of ours and the caller's one */
    const char *got = NULL;
    for (size_t i = 0; i < r.n_headers; i++)
      if (strcasecmp(r.headers[i].name, h.name) == 0)
        got = r.headers[i].value;
    REQUIRE(got != NULL);
    /* The value reads back as sent, less surrounding blanks. */
    const char *v = h.value;
    size_t vl = strlen(v);
    while (*v == ' ' || *v == '\t')
      v++, vl--;
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
      vl--;
    REQUIRE(strlen(got) == vl && memcmp(got, v, vl) == 0);
    wsf_hs_request_free(&r);
    free(req);
  } else {
    REQUIRE(err != NULL);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t n = size - 1;
  const uint8_t *d = data + 1;
  size_t cut = n ? (size_t)data[0] * 257u % (n + 1) : 0;
  fuzz_response(d, n, cut);
  fuzz_request(d, n, cut);
  fuzz_build(d, n);
  return 0;
}
