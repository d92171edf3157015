/* The HTTP/1.1 upgrade, both sides: keys, request building (and refusing
 * header injection), the client's response parser under every split of its
 * input, and the server's request parser. */
#include <stdlib.h>

#include "handshake.h"
#include "testlib.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* A 101 as servers write it (the RFC 6455 §1.3 example). */
static const char ok_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                             "\r\n";

/* A text frame "hello" (unmasked, as from a server). */
static const char frame[] = "\x81\x05hello";

typedef struct fed {
  wsf_hs_result res;
  size_t consumed; /* total over all feeds */
  size_t feeds_after_done;
} fed;

/* Feeds `s` in pieces of `step` bytes (0: whole) until a final result; bytes
 * after a final result are not fed, like a caller that switches to frames. */
static fed feed_response(wsf_hs_response *r, const char *s, size_t len, size_t step) {
  fed f = {WSF_HS_NEED_MORE, 0, 0};
  size_t off = 0;
  if (step == 0)
    step = len ? len : 1;
  while (off < len) {
    size_t n = len - off < step ? len - off : step;
    size_t used = 99999;
    f.res = wsf_hs_response_feed(r, (const uint8_t *)s + off, n, &used);
    CHECK(used <= n);
    f.consumed += used;
    if (f.res != WSF_HS_NEED_MORE)
      break;
    CHECK(used == n); /* while more is needed, everything given is HTTP */
    off += n;
  }
  return f;
}

static wsf_hs_result parse_whole(wsf_hs_response *r, const char *s, const char *const *offer,
                                 size_t n_offer) {
  wsf_hs_response_init(r, RFC_KEY, offer, n_offer);
  return feed_response(r, s, strlen(s), 0).res;
}

/* ---- keys ---- */

static void accept_matches_rfc6455_example(void) {
  char acc[WSF_ACCEPT_LEN + 1];
  wsf_handshake_accept_for(RFC_KEY, strlen(RFC_KEY), acc);
  CHECK_STR(acc, RFC_ACCEPT);
}

static void keys_are_24_base64_chars_of_16_random_bytes(void) {
  char a[WSF_KEY_LEN + 1], b[WSF_KEY_LEN + 1];
  CHECK(wsf_handshake_make_key(a) == 0);
  CHECK(wsf_handshake_make_key(b) == 0);
  CHECK(strlen(a) == WSF_KEY_LEN && strlen(b) == WSF_KEY_LEN);
  CHECK(a[22] == '=' && a[23] == '=');
  CHECK(strcmp(a, b) != 0);
  char acc[WSF_ACCEPT_LEN + 1];
  wsf_handshake_accept_for(a, strlen(a), acc);
  CHECK(strlen(acc) == WSF_ACCEPT_LEN);
}

/* ---- request building ---- */

static wsf_url url_of(const char *s) {
  wsf_url u;
  const char *err = NULL;
  if (wsf_url_parse(s, strlen(s), &u, &err) != 0)
    fprintf(stderr, "bad test url %s: %s\n", s, err);
  return u;
}

static void request_has_the_rfc_headers_in_order(void) {
  wsf_url u = url_of("ws://example.com:8080/chat?room=1");
  size_t len = 0;
  const char *err = NULL;
  char *req = wsf_handshake_build_request(&u, RFC_KEY, NULL, 0, NULL, 0, NULL, &len, &err);
  CHECK(req != NULL && err == NULL);
  if (!req)
    return;
  CHECK_STR(req, "GET /chat?room=1 HTTP/1.1\r\n"
                 "Host: example.com:8080\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: " RFC_KEY "\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "\r\n");
  CHECK(len == strlen(req));
  free(req);
}

static void request_carries_subprotocols_extensions_and_extra_headers(void) {
  wsf_url u = url_of("wss://[::1]/s");
  const char *protos[] = {"chat", "superchat"};
  wsf_header extra[] = {{"Origin", "https://example.com"}, {"Authorization", "Bearer a b\tc"}};
  size_t len;
  const char *err = NULL;
  char *req = wsf_handshake_build_request(&u, RFC_KEY, extra, 2, protos, 2,
                                          "permessage-deflate; client_max_window_bits", &len, &err);
  CHECK(req != NULL);
  if (!req)
    return;
  CHECK(strstr(req, "GET /s HTTP/1.1\r\nHost: [::1]\r\n") == req);
  CHECK(strstr(req, "\r\nSec-WebSocket-Protocol: chat, superchat\r\n") != NULL);
  CHECK(strstr(req, "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n") != NULL);
  CHECK(strstr(req, "\r\nOrigin: https://example.com\r\nAuthorization: Bearer a b\tc\r\n\r\n") != NULL);

  /* The server parser reads back exactly what was meant. */
  wsf_hs_request sr;
  wsf_hs_request_init(&sr);
  size_t used = 0;
  CHECK(wsf_hs_request_feed(&sr, (const uint8_t *)req, len, &used) == WSF_HS_DONE);
  CHECK(used == len);
  CHECK_STR(sr.url, "/s");
  CHECK_STR(wsf_hs_request_header(&sr, "sec-websocket-protocol"), "chat, superchat");
  CHECK_STR(wsf_hs_request_header(&sr, "authorization"), "Bearer a b\tc");
  CHECK(sr.n_headers == 9);
  wsf_hs_request_free(&sr);
  free(req);
}

static void check_build_refused(const wsf_header *extra, size_t n_extra, const char *const *protos,
                                size_t n_protos, const char *ext, const char *words) {
  wsf_url u = url_of("ws://h/");
  size_t len;
  const char *err = NULL;
  char *req = wsf_handshake_build_request(&u, RFC_KEY, extra, n_extra, protos, n_protos, ext, &len, &err);
  CHECK(req == NULL);
  CHECK(err != NULL && strstr(err, words) != NULL);
  if (req || !err || !strstr(err, words))
    fprintf(stderr, "  wanted '%s', got '%s'\n", words, err ? err : "(none)");
  free(req);
}

static void header_injection_is_refused(void) {
  wsf_header crlf_value[] = {{"X-A", "1\r\nX-Evil: 2"}};
  wsf_header lf_value[] = {{"X-A", "1\nX-Evil: 2"}};
  wsf_header cr_value[] = {{"X-A", "1\r"}};
  wsf_header ctl_value[] = {{"X-A", "a\x01"}};
  wsf_header crlf_name[] = {{"X-A\r\nX-Evil", "1"}};
  wsf_header colon_name[] = {{"X-A: b\r\n", "1"}};
  wsf_header space_name[] = {{"X A", "1"}};
  wsf_header empty_name[] = {{"", "1"}};
  wsf_header null_value[] = {{"X-A", NULL}};
  check_build_refused(crlf_value, 1, NULL, 0, NULL, "must not contain CR, LF");
  check_build_refused(lf_value, 1, NULL, 0, NULL, "must not contain CR, LF");
  check_build_refused(cr_value, 1, NULL, 0, NULL, "must not contain CR, LF");
  check_build_refused(ctl_value, 1, NULL, 0, NULL, "control characters");
  check_build_refused(crlf_name, 1, NULL, 0, NULL, "name must be a token");
  check_build_refused(colon_name, 1, NULL, 0, NULL, "name must be a token");
  check_build_refused(space_name, 1, NULL, 0, NULL, "name must be a token");
  check_build_refused(empty_name, 1, NULL, 0, NULL, "name must be a token");
  check_build_refused(null_value, 1, NULL, 0, NULL, "must not contain");

  const char *bad_proto[] = {"chat\r\nX-Evil: 1"};
  const char *comma_proto[] = {"a,b"};
  const char *empty_proto[] = {""};
  const char *dup_proto[] = {"chat", "chat"};
  check_build_refused(NULL, 0, bad_proto, 1, NULL, "subprotocol names must be non-empty tokens");
  check_build_refused(NULL, 0, comma_proto, 1, NULL, "subprotocol names must be non-empty tokens");
  check_build_refused(NULL, 0, empty_proto, 1, NULL, "subprotocol names must be non-empty tokens");
  check_build_refused(NULL, 0, dup_proto, 2, NULL, "offered twice");
  check_build_refused(NULL, 0, NULL, 0, "permessage-deflate\r\nX-Evil: 1", "Sec-WebSocket-Extensions");
  check_build_refused(NULL, 0, NULL, 0, "", "Sec-WebSocket-Extensions");
}

static void reserved_headers_are_refused_in_any_case(void) {
  static const char *const names[] = {"Host",
                                      "host",
                                      "UPGRADE",
                                      "Connection",
                                      "sec-websocket-key",
                                      "Sec-WebSocket-Version",
                                      "SEC-WEBSOCKET-ACCEPT"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    wsf_header h[] = {{"X-Fine", "1"}, {(char *)names[i], "x"}};
    check_build_refused(h, 2, NULL, 0, NULL, "may not be Host, Upgrade, Connection");
  }
  wsf_header proto[] = {{"sec-websocket-PROTOCOL", "chat"}};
  check_build_refused(proto, 1, NULL, 0, NULL, "through the subprotocols list");
  wsf_header ext[] = {{"Sec-WebSocket-Extensions", "x"}};
  check_build_refused(ext, 1, NULL, 0, NULL, "through the extensions offer");
  wsf_header cl[] = {{"Content-Length", "5"}};
  check_build_refused(cl, 1, NULL, 0, NULL, "Content-Length or Transfer-Encoding");
  wsf_header te[] = {{"transfer-encoding", "chunked"}};
  check_build_refused(te, 1, NULL, 0, NULL, "Content-Length or Transfer-Encoding");
}

static void request_needs_a_valid_key(void) {
  wsf_url u = url_of("ws://h/");
  const char *err = NULL;
  size_t len;
  CHECK(wsf_handshake_build_request(&u, NULL, NULL, 0, NULL, 0, NULL, &len, &err) == NULL);
  CHECK(err && strstr(err, "Sec-WebSocket-Key"));
  err = NULL;
  CHECK(wsf_handshake_build_request(&u, "short==", NULL, 0, NULL, 0, NULL, &len, &err) == NULL);
  CHECK(err && strstr(err, "Sec-WebSocket-Key"));
  err = NULL;
  CHECK(wsf_handshake_build_request(&u, "dGhlIHNhbXBsZSBub25jZQ\r\n", NULL, 0, NULL, 0, NULL, &len, &err) ==
        NULL);
  CHECK(err && strstr(err, "Sec-WebSocket-Key"));
}

/* A wsf_url filled by hand rather than parsed cannot smuggle lines either. */
static void hand_made_url_cannot_inject(void) {
  wsf_url u = url_of("ws://h/");
  const char *err = NULL;
  size_t len;
  strcpy(u.host, "h\r\nX-Evil: 1");
  CHECK(wsf_handshake_build_request(&u, RFC_KEY, NULL, 0, NULL, 0, NULL, &len, &err) == NULL);
  CHECK(err && strstr(err, "host"));
  u = url_of("ws://h/");
  strcpy(u.resource, "/ HTTP/1.1\r\nX-Evil: 1\r\n");
  err = NULL;
  CHECK(wsf_handshake_build_request(&u, RFC_KEY, NULL, 0, NULL, 0, NULL, &len, &err) == NULL);
  CHECK(err != NULL);
}

/* ---- client: parsing the answer ---- */

static void valid_101_is_done_however_it_is_split(void) {
  size_t len = strlen(ok_101);
  wsf_hs_response r;
  /* Whole, then every two-piece split, then byte by byte. */
  for (size_t step = 0; step <= len; step++) {
    wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
    fed f = feed_response(&r, ok_101, len, step);
    CHECK(f.res == WSF_HS_DONE);
    CHECK(f.consumed == len);
    CHECK(r.status == 101);
    CHECK(r.error == NULL);
    wsf_hs_response_free(&r);
  }
  for (size_t cut = 0; cut <= len; cut++) {
    wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
    size_t u1 = 0, u2 = 0;
    wsf_hs_result a = wsf_hs_response_feed(&r, (const uint8_t *)ok_101, cut, &u1);
    wsf_hs_result b =
        a == WSF_HS_NEED_MORE ? wsf_hs_response_feed(&r, (const uint8_t *)ok_101 + cut, len - cut, &u2) : a;
    CHECK(b == WSF_HS_DONE);
    CHECK(u1 + u2 == len);
    wsf_hs_response_free(&r);
  }
}

/* A fast server may send frames in the same segment as its 101: they are not
 * HTTP and must be left for the WebSocket layer, at every split point. */
static void frames_after_101_are_not_consumed(void) {
  char buf[512];
  size_t hlen = strlen(ok_101), flen = sizeof frame - 1;
  memcpy(buf, ok_101, hlen);
  memcpy(buf + hlen, frame, flen);
  size_t total = hlen + flen;
  for (size_t cut = 0; cut <= total; cut++) {
    wsf_hs_response r;
    wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
    size_t u1 = 0, u2 = 0;
    wsf_hs_result a = wsf_hs_response_feed(&r, (const uint8_t *)buf, cut, &u1);
    wsf_hs_result b = a;
    if (a == WSF_HS_NEED_MORE)
      b = wsf_hs_response_feed(&r, (const uint8_t *)buf + cut, total - cut, &u2);
    CHECK(b == WSF_HS_DONE);
    CHECK(u1 + u2 == hlen);
    if (cut >= hlen)
      CHECK(a == WSF_HS_DONE && u1 == hlen);
    /* A late feed after DONE takes nothing either. */
    size_t u3 = 7;
    CHECK(wsf_hs_response_feed(&r, (const uint8_t *)frame, flen, &u3) == WSF_HS_DONE && u3 == 0);
    wsf_hs_response_free(&r);
  }
}

static void connection_may_list_upgrade_among_tokens(void) {
  wsf_hs_response r;
  /* With a frame behind it: the end of the header block is found whatever
   * llhttp itself makes of these headers. */
  const char *resp = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
                     "sec-websocket-accept: " RFC_ACCEPT "\r\n\r\n\x81\x05hello";
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  fed f = feed_response(&r, resp, strlen(resp), 0);
  CHECK(f.res == WSF_HS_DONE && f.consumed == strlen(resp) - 7);
  wsf_hs_response_free(&r);
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgraded\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.error && strstr(r.error, "Connection: upgrade"));
  wsf_hs_response_free(&r);
}

static void wrong_accept_is_rejected(void) {
  wsf_hs_response r;
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: AAAAMLBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.error && strstr(r.error, "Sec-WebSocket-Accept does not match"));
  CHECK(r.status == 101);
  wsf_hs_response_free(&r);
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.error && strstr(r.error, "without Sec-WebSocket-Accept"));
  wsf_hs_response_free(&r);
  /* The same accept twice is joined into "a, a": not a match. */
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  wsf_hs_response_free(&r);
}

static void missing_or_wrong_upgrade_is_rejected(void) {
  wsf_hs_response r;
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.error && strstr(r.error, "without an Upgrade header"));
  wsf_hs_response_free(&r);
  /* Even then the header block ends the HTTP part: frames behind it are not
   * parsed as a second response. */
  const char *resp = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n\x81\x05hello";
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  fed f = feed_response(&r, resp, strlen(resp), 0);
  CHECK(f.res == WSF_HS_REJECTED && f.consumed == strlen(resp) - 7);
  wsf_hs_response_free(&r);
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.error && strstr(r.error, "not websocket"));
  wsf_hs_response_free(&r);
  CHECK(parse_whole(&r,
                    "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  wsf_hs_response_free(&r);
}

static void subprotocol_must_be_one_offered(void) {
  const char *offer[] = {"chat", "superchat"};
  wsf_hs_response r;
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: superchat\r\n"
                    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                    offer, 2) == WSF_HS_DONE);
  CHECK(r.subprotocol && strcmp(r.subprotocol, "superchat") == 0);
  CHECK(r.extensions && strcmp(r.extensions, "permessage-deflate") == 0);
  wsf_hs_response_free(&r);

  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
                    offer, 2) == WSF_HS_REJECTED);
  CHECK(r.error && strcmp(r.error, "server chose a subprotocol that was not offered") == 0);
  wsf_hs_response_free(&r);
  /* Two answers at once is not one choice. */
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n",
                    offer, 2) == WSF_HS_REJECTED);
  wsf_hs_response_free(&r);
  /* Offering none and getting one. */
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
                    NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.error && strstr(r.error, "not offered"));
  wsf_hs_response_free(&r);
  /* No choice from the server is fine; subprotocol stays NULL. */
  CHECK(parse_whole(&r, ok_101, offer, 2) == WSF_HS_DONE);
  CHECK(r.subprotocol == NULL && r.extensions == NULL);
  wsf_hs_response_free(&r);
}

static void headers_are_lower_cased_trimmed_and_joined(void) {
  wsf_hs_response r;
  CHECK(parse_whole(&r,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept:   " RFC_ACCEPT "  \r\nX-Trace: a\r\nSet-Cookie: s=1\r\n"
                    "x-trace: b\r\nX-Empty:\r\n\r\n",
                    NULL, 0) == WSF_HS_DONE);
  CHECK_STR(wsf_hs_response_header(&r, "x-trace"), "a, b");
  CHECK_STR(wsf_hs_response_header(&r, "set-cookie"), "s=1");
  CHECK_STR(wsf_hs_response_header(&r, "x-empty"), "");
  CHECK(wsf_hs_response_header(&r, "X-Trace") == NULL); /* lookups take lower-case names */
  CHECK(wsf_hs_response_header(&r, "absent") == NULL);
  CHECK(r.n_headers == 6);
  wsf_hs_response_free(&r);
}

/* Feeds a non-101 in `step`-sized pieces, then eof if still needed. */
static void check_non_101(const char *resp, size_t step, int status, const char *body, bool needs_eof) {
  wsf_hs_response r;
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  fed f = feed_response(&r, resp, strlen(resp), step);
  if (needs_eof) {
    CHECK(f.res == WSF_HS_NEED_MORE);
    f.res = wsf_hs_response_eof(&r);
  }
  CHECK(f.res == WSF_HS_REJECTED);
  CHECK(r.status == status);
  CHECK(r.error && strstr(r.error, "not 101"));
  CHECK(r.body_len == strlen(body));
  CHECK(r.body_len == 0 || (r.body && memcmp(r.body, body, r.body_len) == 0));
  /* Once rejected, it stays rejected. */
  CHECK(wsf_hs_response_eof(&r) == WSF_HS_REJECTED);
  wsf_hs_response_free(&r);
}

static void non_101_keeps_status_and_body(void) {
  const char *cl =
      "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nno token: go";
  const char *chunked = "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nover \r\n6\r\nloaded\r\n0\r\n\r\n";
  const char *close_delimited = "HTTP/1.0 400 Bad Request\r\nServer: x\r\n\r\nbad upgrade";
  const char *empty = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  const char *no_body = "HTTP/1.1 204 No Content\r\n\r\n";
  for (size_t step = 0; step < 4; step++) {
    check_non_101(cl, step, 403, "no token: go", false);
    check_non_101(chunked, step, 503, "over loaded", false);
    check_non_101(close_delimited, step, 400, "bad upgrade", true);
    check_non_101(empty, step, 404, "", false);
    check_non_101(no_body, step, 204, "", false);
  }
}

static void non_101_body_is_cut_at_the_keep_limit(void) {
  char resp[2048];
  int n = snprintf(resp, sizeof resp, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000\r\n\r\n");
  memset(resp + n, 'x', 1000);
  resp[n + 1000] = '\0';
  wsf_hs_response r;
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  /* Only part of the body has arrived, but the keep-limit is reached. */
  fed f = feed_response(&r, resp, (size_t)n + WSF_BODY_KEEP + 10, 0);
  CHECK(f.res == WSF_HS_REJECTED);
  CHECK(r.status == 500 && r.body_len == WSF_BODY_KEEP);
  wsf_hs_response_free(&r);
  /* Body cut short by the close: what arrived is kept. */
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  f = feed_response(&r, resp, (size_t)n + 20, 1);
  CHECK(f.res == WSF_HS_NEED_MORE);
  CHECK(wsf_hs_response_eof(&r) == WSF_HS_REJECTED);
  CHECK(r.status == 500 && r.body_len == 20);
  wsf_hs_response_free(&r);
}

static void interim_1xx_before_101_is_skipped(void) {
  wsf_hs_response r;
  char buf[2048];
  snprintf(buf, sizeof buf, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n%s", ok_101);
  for (size_t step = 0; step < 3; step++) {
    wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
    fed f = feed_response(&r, buf, strlen(buf), step);
    CHECK(f.res == WSF_HS_DONE && f.consumed == strlen(buf));
    CHECK(wsf_hs_response_header(&r, "link") == NULL);
    wsf_hs_response_free(&r);
  }
  /* A (malformed) interim answer with a body longer than the keep-limit is
   * still only interim: found by fuzzing. */
  int n = snprintf(buf, sizeof buf, "HTTP/1.1 110 Odd\r\nContent-Length: 600\r\n\r\n");
  memset(buf + n, 'b', 600);
  strcpy(buf + n + 600, ok_101);
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  fed f = feed_response(&r, buf, strlen(buf), 0);
  CHECK(f.res == WSF_HS_DONE && f.consumed == strlen(buf));
  CHECK(r.status == 101 && r.body_len == 0);
  wsf_hs_response_free(&r);
}

static void oversized_header_block_is_an_error(void) {
  size_t big = WSF_MAX_HEADER_BLOCK + 100;
  char *resp = malloc(big + 64);
  CHECK(resp != NULL);
  if (!resp)
    return;
  int n = sprintf(resp, "HTTP/1.1 101 Switching Protocols\r\nX-Big: ");
  memset(resp + n, 'a', big - (size_t)n);
  memcpy(resp + big, "\r\n\r\n", 5);
  wsf_hs_response r;
  for (size_t step = 0; step < 2; step++) {
    wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
    fed f = feed_response(&r, resp, big + 4, step ? 1000 : 0);
    CHECK(f.res == WSF_HS_ERROR);
    CHECK(r.error && strstr(r.error, "larger than 16 KiB"));
    CHECK(r.header_bytes <= WSF_MAX_HEADER_BLOCK);
    wsf_hs_response_free(&r);
  }
  /* A block just under the limit is fine. */
  n = sprintf(resp, "%.*sX-Pad: ", (int)strlen(ok_101) - 2, ok_101);
  size_t pad = WSF_MAX_HEADER_BLOCK - (size_t)n - 4;
  memset(resp + n, 'p', pad);
  memcpy(resp + n + pad, "\r\n\r\n", 5);
  CHECK(strlen(resp) == WSF_MAX_HEADER_BLOCK);
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  CHECK(feed_response(&r, resp, strlen(resp), 0).res == WSF_HS_DONE);
  wsf_hs_response_free(&r);
  free(resp);
}

static void too_many_headers_is_an_error(void) {
  char resp[8192];
  size_t n = (size_t)sprintf(resp, "HTTP/1.1 101 Switching Protocols\r\n");
  for (int i = 0; i < WSF_MAX_HEADERS + 1; i++)
    n += (size_t)sprintf(resp + n, "X-%d: v\r\n", i);
  strcpy(resp + n, "\r\n");
  wsf_hs_response r;
  CHECK(parse_whole(&r, resp, NULL, 0) == WSF_HS_ERROR);
  CHECK(r.error && strstr(r.error, "more than 64"));
  wsf_hs_response_free(&r);
  /* Repeats of one name count once. */
  n = (size_t)sprintf(resp, "HTTP/1.1 403 No\r\nContent-Length: 0\r\n");
  for (int i = 0; i < 200; i++)
    n += (size_t)sprintf(resp + n, "Via: %d\r\n", i);
  strcpy(resp + n, "\r\n");
  CHECK(parse_whole(&r, resp, NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.status == 403);
  wsf_hs_response_free(&r);
}

static void garbage_and_early_close_are_errors(void) {
  wsf_hs_response r;
  CHECK(parse_whole(&r, "SSH-2.0-OpenSSH_9.2\r\n", NULL, 0) == WSF_HS_ERROR);
  CHECK(r.error && strstr(r.error, "not an HTTP/1.x response"));
  wsf_hs_response_free(&r);
  /* llhttp reads any three digits; below 100 is no status at all. */
  CHECK(parse_whole(&r, "HTTP/1.1 051 Odd\r\nContent-Length: 0\r\n\r\n", NULL, 0) == WSF_HS_ERROR);
  CHECK(r.error && strstr(r.error, "bad HTTP status code"));
  wsf_hs_response_free(&r);
  /* A TLS alert, as from a wss:// server spoken to with ws://. */
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  size_t used;
  CHECK(wsf_hs_response_feed(&r, (const uint8_t *)"\x15\x03\x01\x00\x02\x02\x46", 7, &used) == WSF_HS_ERROR);
  wsf_hs_response_free(&r);

  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  CHECK(wsf_hs_response_eof(&r) == WSF_HS_ERROR);
  CHECK(r.error && strstr(r.error, "before any HTTP response"));
  wsf_hs_response_free(&r);
  wsf_hs_response_init(&r, RFC_KEY, NULL, 0);
  CHECK(feed_response(&r, ok_101, 40, 0).res == WSF_HS_NEED_MORE);
  CHECK(wsf_hs_response_eof(&r) == WSF_HS_ERROR);
  CHECK(r.error && strstr(r.error, "middle of the HTTP response headers"));
  wsf_hs_response_free(&r);
}

/* ---- server side ---- */

static const char good_request[] = "GET /chat?x=1 HTTP/1.1\r\n"
                                   "Host: server.example.com\r\n"
                                   "Upgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: " RFC_KEY "\r\n"
                                   "Origin: http://example.com\r\n"
                                   "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                   "Sec-WebSocket-Version: 13\r\n"
                                   "\r\n";

static void server_accepts_the_rfc_request_however_split(void) {
  size_t len = strlen(good_request);
  char buf[1024];
  memcpy(buf, good_request, len);
  memcpy(buf + len, "\x81\x85", 2); /* a masked frame's first bytes */
  for (size_t cut = 0; cut <= len + 2; cut++) {
    wsf_hs_request r;
    wsf_hs_request_init(&r);
    size_t u1 = 0, u2 = 0;
    wsf_hs_result a = wsf_hs_request_feed(&r, (const uint8_t *)buf, cut, &u1);
    wsf_hs_result b =
        a == WSF_HS_NEED_MORE ? wsf_hs_request_feed(&r, (const uint8_t *)buf + cut, len + 2 - cut, &u2) : a;
    CHECK(b == WSF_HS_DONE);
    CHECK(u1 + u2 == len);
    CHECK(r.error == NULL);
    CHECK(r.url && strcmp(r.url, "/chat?x=1") == 0 && r.url_len == 9);
    CHECK(r.n_headers == 7);
    wsf_hs_request_free(&r);
  }
}

static void check_request_rejected(const char *req, const char *words) {
  wsf_hs_request r;
  wsf_hs_request_init(&r);
  size_t used;
  wsf_hs_result res = wsf_hs_request_feed(&r, (const uint8_t *)req, strlen(req), &used);
  CHECK(res == WSF_HS_REJECTED);
  CHECK(r.error && strstr(r.error, words));
  if (res != WSF_HS_REJECTED || !r.error || !strstr(r.error, words))
    fprintf(stderr, "  wanted REJECTED '%s', got %d '%s'\n", words, res, r.error ? r.error : "(none)");
  wsf_hs_request_free(&r);
}

#define HDRS_NO_KEY "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"

static void server_rejects_invalid_upgrades_with_words(void) {
  check_request_rejected("POST / HTTP/1.1\r\n" HDRS_NO_KEY "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "method must be GET");
  check_request_rejected("GET / HTTP/1.0\r\n" HDRS_NO_KEY "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "HTTP/1.1");
  check_request_rejected("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "missing Host");
  check_request_rejected("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "Upgrade header");
  check_request_rejected("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "Upgrade header");
  check_request_rejected("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "Connection header");
  check_request_rejected("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "Sec-WebSocket-Version");
  check_request_rejected("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "Sec-WebSocket-Version");
  check_request_rejected("GET / HTTP/1.1\r\n" HDRS_NO_KEY "\r\n", "Sec-WebSocket-Key");
  /* 15 bytes, 17 bytes, and not base64. */
  check_request_rejected("GET / HTTP/1.1\r\n" HDRS_NO_KEY "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n\r\n",
                         "Sec-WebSocket-Key");
  check_request_rejected("GET / HTTP/1.1\r\n" HDRS_NO_KEY
                         "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
                         "Sec-WebSocket-Key");
  check_request_rejected("GET / HTTP/1.1\r\n" HDRS_NO_KEY
                         "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA*A==\r\n\r\n",
                         "Sec-WebSocket-Key");
  check_request_rejected("GET / HTTP/1.1\r\n" HDRS_NO_KEY "Sec-WebSocket-Key: " RFC_KEY
                         "\r\nContent-Length: 3\r\n\r\nabc",
                         "must not have a body");
  check_request_rejected("GET http://h/ HTTP/1.1\r\n" HDRS_NO_KEY "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
                         "request target");
}

static void server_accepts_token_lists_in_upgrade_and_connection(void) {
  const char *req =
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: foo, WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n";
  wsf_hs_request r;
  wsf_hs_request_init(&r);
  size_t used;
  CHECK(wsf_hs_request_feed(&r, (const uint8_t *)req, strlen(req), &used) == WSF_HS_DONE);
  CHECK(used == strlen(req));
  wsf_hs_request_free(&r);
}

static void server_errors_on_garbage_and_oversize(void) {
  wsf_hs_request r;
  size_t used;
  wsf_hs_request_init(&r);
  CHECK(wsf_hs_request_feed(&r, (const uint8_t *)"\x16\x03\x01\x02\x00\x01", 6, &used) == WSF_HS_ERROR);
  CHECK(r.error != NULL);
  wsf_hs_request_free(&r);

  size_t big = WSF_MAX_HEADER_BLOCK + 10;
  char *req = malloc(big);
  memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
  memset(req + 19, 'a', big - 19);
  wsf_hs_request_init(&r);
  wsf_hs_result res = WSF_HS_NEED_MORE;
  for (size_t off = 0; off < big && res == WSF_HS_NEED_MORE; off += 1000)
    res = wsf_hs_request_feed(&r, (const uint8_t *)req + off, big - off < 1000 ? big - off : 1000, &used);
  CHECK(res == WSF_HS_ERROR);
  CHECK(r.error && strstr(r.error, "larger than 16 KiB"));
  wsf_hs_request_free(&r);
  free(req);
}

/* The server's 101, read by the client parser, completes a handshake. */
static void built_101_completes_the_client_handshake(void) {
  wsf_hs_request sr;
  wsf_hs_request_init(&sr);
  size_t used;
  CHECK(wsf_hs_request_feed(&sr, (const uint8_t *)good_request, strlen(good_request), &used) == WSF_HS_DONE);
  size_t len = 0;
  char *resp = wsf_handshake_build_101(&sr, "chat", "permessage-deflate", &len);
  CHECK(resp != NULL && len == strlen(resp));
  CHECK(resp && strstr(resp, "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n") != NULL);
  const char *offer[] = {"superchat", "chat"};
  wsf_hs_response r;
  CHECK(resp && parse_whole(&r, resp, offer, 2) == WSF_HS_DONE);
  CHECK(r.subprotocol && strcmp(r.subprotocol, "chat") == 0);
  wsf_hs_response_free(&r);
  free(resp);
  /* Nothing to inject through the server's choices either. */
  CHECK(wsf_handshake_build_101(&sr, "chat\r\nX: 1", NULL, &len) == NULL);
  CHECK(wsf_handshake_build_101(&sr, NULL, "x\r\nX: 1", &len) == NULL);
  wsf_hs_request_free(&sr);
  /* A request that never validated has no key to answer. */
  wsf_hs_request_init(&sr);
  CHECK(wsf_handshake_build_101(&sr, NULL, NULL, &len) == NULL);
  wsf_hs_request_free(&sr);
}

static void built_error_is_a_complete_http_answer(void) {
  size_t len;
  char *resp = wsf_handshake_build_error(503, "Service Unavailable", "session cap reached", &len);
  CHECK(resp != NULL && len == strlen(resp));
  wsf_hs_response r;
  CHECK(resp && parse_whole(&r, resp, NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.status == 503 && r.body_len == 19 && memcmp(r.body, "session cap reached", 19) == 0);
  CHECK_STR(wsf_hs_response_header(&r, "connection"), "close");
  wsf_hs_response_free(&r);
  free(resp);

  resp = wsf_handshake_build_error(426, "Upgrade Required", NULL, &len);
  CHECK(resp && parse_whole(&r, resp, NULL, 0) == WSF_HS_REJECTED);
  CHECK(r.status == 426 && r.body_len == 0);
  CHECK(wsf_hs_response_header(&r, "sec-websocket-version") &&
        strcmp(wsf_hs_response_header(&r, "sec-websocket-version"), "13") == 0);
  wsf_hs_response_free(&r);
  free(resp);

  /* A reason with CR/LF cannot add headers. */
  resp = wsf_handshake_build_error(400, "Bad\r\nX-Evil: 1", "b", &len);
  CHECK(resp && strstr(resp, "X-Evil") == NULL);
  CHECK(resp && strncmp(resp, "HTTP/1.1 400 Error\r\n", 20) == 0);
  free(resp);
}

int main(void) {
  RUN(accept_matches_rfc6455_example);
  RUN(keys_are_24_base64_chars_of_16_random_bytes);
  RUN(request_has_the_rfc_headers_in_order);
  RUN(request_carries_subprotocols_extensions_and_extra_headers);
  RUN(header_injection_is_refused);
  RUN(reserved_headers_are_refused_in_any_case);
  RUN(request_needs_a_valid_key);
  RUN(hand_made_url_cannot_inject);
  RUN(valid_101_is_done_however_it_is_split);
  RUN(frames_after_101_are_not_consumed);
  RUN(connection_may_list_upgrade_among_tokens);
  RUN(wrong_accept_is_rejected);
  RUN(missing_or_wrong_upgrade_is_rejected);
  RUN(subprotocol_must_be_one_offered);
  RUN(headers_are_lower_cased_trimmed_and_joined);
  RUN(non_101_keeps_status_and_body);
  RUN(non_101_body_is_cut_at_the_keep_limit);
  RUN(interim_1xx_before_101_is_skipped);
  RUN(oversized_header_block_is_an_error);
  RUN(too_many_headers_is_an_error);
  RUN(garbage_and_early_close_are_errors);
  RUN(server_accepts_the_rfc_request_however_split);
  RUN(server_rejects_invalid_upgrades_with_words);
  RUN(server_accepts_token_lists_in_upgrade_and_connection);
  RUN(server_errors_on_garbage_and_oversize);
  RUN(built_101_completes_the_client_handshake);
  RUN(built_error_is_a_complete_http_answer);
  return wsf_test_result();
}
