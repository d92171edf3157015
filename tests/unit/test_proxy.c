/* HTTP CONNECT proxies (proxy.c): the proxy URL, which proxy an open uses
 * (precedence and NO_PROXY), the CONNECT request, and the proxy's answer
 * fed whole and split byte by byte. */
#include <stddef.h>
#include <stdlib.h>

#include "proxy.h"
#include "testlib.h"

static int parse(const char *s, wsf_proxy_url *u, const char **err) {
  *err = NULL;
  return wsf_proxy_url_parse(s, strlen(s), u, err);
}

static void proxy_urls_give_host_port_and_basic_auth(void) {
  wsf_proxy_url u;
  const char *err;
  CHECK(parse("http://127.0.0.1:3128", &u, &err) == 0);
  CHECK_STR(u.host, "127.0.0.1");
  CHECK(u.port == 3128);
  CHECK_STR(u.auth, "");
  CHECK(parse("HTTP://proxy.example:8080/", &u, &err) == 0 && u.port == 8080);
  CHECK_STR(u.host, "proxy.example");
  /* base64("user:pa ss@") with the password percent-decoded, as curl does */
  CHECK(parse("http://user:pa%20ss%40@[::1]:3128", &u, &err) == 0);
  CHECK_STR(u.host, "::1");
  CHECK_STR(u.auth, "Basic dXNlcjpwYSBzc0A=");
  CHECK(parse("http://aladdin:opensesame@p:1", &u, &err) == 0);
  CHECK_STR(u.auth, "Basic YWxhZGRpbjpvcGVuc2VzYW1l");
}

static void bad_proxy_urls_are_refused_with_words(void) {
  wsf_proxy_url u;
  const char *err;
  CHECK(parse("https://p:3128", &u, &err) == -1 && strstr(err, "http://"));
  CHECK(parse("socks5://p:1080", &u, &err) == -1 && strstr(err, "http://"));
  CHECK(parse("http://p", &u, &err) == -1 && strstr(err, "port"));
  CHECK(parse("http://p:0", &u, &err) == -1 && strstr(err, "port"));
  CHECK(parse("http://p:65536", &u, &err) == -1 && strstr(err, "port"));
  CHECK(parse("http://p:80x", &u, &err) == -1 && strstr(err, "port"));
  CHECK(parse("http://:80", &u, &err) == -1 && strstr(err, "host"));
  CHECK(parse("http://u:%zz@p:80", &u, &err) == -1 && strstr(err, "credentials"));
  CHECK(parse("http://[::1:80", &u, &err) == -1 && strstr(err, "IPv6"));
}

static void open_proxy_then_daemon_then_environment(void) {
  wsf_proxy_env env = {
      .http_proxy = "http://env-http:1", .https_proxy = "http://env-https:2", .no_proxy = NULL};
  CHECK_STR(wsf_proxy_choose("http://open:3", "http://daemon:4", &env, "gw", false), "http://open:3");
  CHECK(wsf_proxy_choose("none", "http://daemon:4", &env, "gw", false) == NULL);
  CHECK_STR(wsf_proxy_choose(NULL, "http://daemon:4", &env, "gw", true), "http://daemon:4");
  CHECK(wsf_proxy_choose(NULL, "none", &env, "gw", true) == NULL);
  CHECK_STR(wsf_proxy_choose(NULL, NULL, &env, "gw", false), "http://env-http:1");
  CHECK_STR(wsf_proxy_choose(NULL, NULL, &env, "gw", true), "http://env-https:2");
  wsf_proxy_env empty = {0};
  CHECK(wsf_proxy_choose(NULL, NULL, &empty, "gw", true) == NULL);
  /* NO_PROXY exempts from --proxy and the environment, never from open's own */
  env.no_proxy = "localhost, .internal.example";
  CHECK(wsf_proxy_choose(NULL, NULL, &env, "gw.internal.example", true) == NULL);
  CHECK(wsf_proxy_choose(NULL, "http://daemon:4", &env, "localhost", false) == NULL);
  CHECK_STR(wsf_proxy_choose("http://open:3", NULL, &env, "localhost", false), "http://open:3");
}

static void no_proxy_matches_host_suffixes_as_curl(void) {
  CHECK(wsf_proxy_no_proxy_match("example.com", "example.com"));
  CHECK(wsf_proxy_no_proxy_match("example.com", "gw.example.com"));
  CHECK(wsf_proxy_no_proxy_match(".example.com", "gw.example.com"));
  CHECK(wsf_proxy_no_proxy_match(".example.com", "example.com"));
  CHECK(!wsf_proxy_no_proxy_match("example.com", "badexample.com"));
  CHECK(!wsf_proxy_no_proxy_match("gw.example.com", "example.com"));
  CHECK(wsf_proxy_no_proxy_match("EXAMPLE.com", "gw.Example.COM"));
  CHECK(wsf_proxy_no_proxy_match("a.test,b.test", "x.b.test"));
  CHECK(wsf_proxy_no_proxy_match("a.test b.test", "b.test"));
  CHECK(wsf_proxy_no_proxy_match("*", "anything"));
  CHECK(wsf_proxy_no_proxy_match("127.0.0.1", "127.0.0.1"));
  CHECK(wsf_proxy_no_proxy_match("gw.test:8080", "gw.test")); /* ports ignored */
  CHECK(wsf_proxy_no_proxy_match("[::1]", "::1"));
  CHECK(wsf_proxy_no_proxy_match("::1", "::1"));
  CHECK(!wsf_proxy_no_proxy_match("", "gw"));
  CHECK(!wsf_proxy_no_proxy_match(NULL, "gw"));
}

static void connect_request_names_the_gateway(void) {
  size_t len;
  char *req = wsf_proxy_build_connect("gw.example", 443, "", &len);
  CHECK(len == strlen(req));
  CHECK(strncmp(req, "CONNECT gw.example:443 HTTP/1.1\r\nHost: gw.example:443\r\n", 55) == 0);
  CHECK(strstr(req, "Proxy-Authorization") == NULL);
  CHECK(strcmp(req + len - 4, "\r\n\r\n") == 0);
  free(req);
  req = wsf_proxy_build_connect("::1", 8443, "Basic YTpi", &len);
  CHECK(strncmp(req, "CONNECT [::1]:8443 HTTP/1.1\r\n", 29) == 0);
  CHECK(strstr(req, "\r\nProxy-Authorization: Basic YTpi\r\n") != NULL);
  free(req);
}

/* Feeds s whole, then one byte at a time; both must agree. */
static wsf_proxy_result feed(const char *s, wsf_proxy_response *r, size_t *consumed, bool split) {
  wsf_proxy_response_init(r);
  size_t len = strlen(s);
  if (!split)
    return wsf_proxy_response_feed(r, (const uint8_t *)s, len, consumed);
  wsf_proxy_result res = WSF_PROXY_NEED_MORE;
  size_t total = 0;
  for (size_t i = 0; i < len && res == WSF_PROXY_NEED_MORE; i++) {
    size_t used = 0;
    res = wsf_proxy_response_feed(r, (const uint8_t *)s + i, 1, &used);
    total += used;
  }
  *consumed = total;
  return res;
}

static void answers_whole_and_split(void) {
  for (int split = 0; split < 2; split++) {
    wsf_proxy_response r;
    size_t consumed;
    const char *ok = "HTTP/1.1 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n";
    CHECK(feed(ok, &r, &consumed, split) == WSF_PROXY_ESTABLISHED);
    CHECK(consumed == strlen(ok));
    CHECK(r.status == 200);
    CHECK_STR(r.reason, "Connection established");
    /* HTTP/1.0 and no headers (some proxies answer so) */
    CHECK(feed("HTTP/1.0 200 OK\r\n\r\n", &r, &consumed, split) == WSF_PROXY_ESTABLISHED);
    /* a refusal with a body: the status is the answer, the body is not awaited */
    const char *denied =
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
        "Content-Length: 1000\r\n\r\npartial";
    CHECK(feed(denied, &r, &consumed, split) == WSF_PROXY_REFUSED);
    CHECK(r.status == 407);
    CHECK_STR(r.reason, "Proxy Authentication Required");
    CHECK(feed("HTTP/1.1 403 Access violation\r\n\r\n", &r, &consumed, split) == WSF_PROXY_REFUSED &&
          r.status == 403);
    CHECK(feed("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n<html>", &r, &consumed, split) ==
              WSF_PROXY_REFUSED &&
          r.status == 502);
    /* an interim 100 is skipped */
    CHECK(feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", &r, &consumed, split) ==
              WSF_PROXY_ESTABLISHED &&
          r.status == 200);
    /* not HTTP */
    CHECK(feed("SSH-2.0-OpenSSH\r\n", &r, &consumed, split) == WSF_PROXY_ERROR && strstr(r.error, "HTTP"));
  }
}

static void tunnel_bytes_after_the_answer_are_not_consumed(void) {
  wsf_proxy_response r;
  size_t consumed;
  const char *s = "HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01";
  CHECK(feed(s, &r, &consumed, false) == WSF_PROXY_ESTABLISHED);
  CHECK(consumed == strlen(s) - 3);
  /* after the end, further feeds consume nothing */
  CHECK(wsf_proxy_response_feed(&r, (const uint8_t *)"x", 1, &consumed) == WSF_PROXY_ESTABLISHED &&
        consumed == 0);
}

static void eof_and_oversized_answers_fail_with_words(void) {
  wsf_proxy_response r;
  wsf_proxy_response_init(&r);
  CHECK(wsf_proxy_response_eof(&r) == WSF_PROXY_ERROR && strstr(r.error, "without an answer"));
  size_t consumed;
  CHECK(feed("HTTP/1.1 200 OK\r\nX: y\r\n", &r, &consumed, false) == WSF_PROXY_NEED_MORE);
  CHECK(wsf_proxy_response_eof(&r) == WSF_PROXY_ERROR && strstr(r.error, "middle"));
  /* an endless header block is refused at 16 KiB, not buffered */
  wsf_proxy_response_init(&r);
  const char *head = "HTTP/1.1 200 OK\r\nX-Long: ";
  CHECK(wsf_proxy_response_feed(&r, (const uint8_t *)head, strlen(head), &consumed) == WSF_PROXY_NEED_MORE);
  static uint8_t filler[4096];
  memset(filler, 'a', sizeof filler);
  wsf_proxy_result res = WSF_PROXY_NEED_MORE;
  for (int i = 0; i < 10 && res == WSF_PROXY_NEED_MORE; i++)
    res = wsf_proxy_response_feed(&r, filler, sizeof filler, &consumed);
  CHECK(res == WSF_PROXY_ERROR && strstr(r.error, "16 KiB"));
  CHECK(r.header_bytes == WSF_PROXY_MAX_HEADER_BLOCK);
}

int main(void) {
  RUN(proxy_urls_give_host_port_and_basic_auth);
  RUN(bad_proxy_urls_are_refused_with_words);
  RUN(open_proxy_then_daemon_then_environment);
  RUN(no_proxy_matches_host_suffixes_as_curl);
  RUN(connect_request_names_the_gateway);
  RUN(answers_whole_and_split);
  RUN(tunnel_bytes_after_the_answer_are_not_consumed);
  RUN(eof_and_oversized_answers_fail_with_words);
  return wsf_test_result();
}
