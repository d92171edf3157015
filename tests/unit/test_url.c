/* ws:// and wss:// URL parsing: what is accepted, what it becomes, and the
 * words each refusal carries. */
#include <stddef.h>

#include "testlib.h"
#include "url.h"

static int parse(const char *s, wsf_url *u, const char **err) {
  *err = NULL;
  return wsf_url_parse(s, strlen(s), u, err);
}

/* Parses a URL that must fail and checks the words contain `words`. */
static void check_refused(const char *s, const char *words) {
  wsf_url u;
  const char *err = NULL;
  int rc = parse(s, &u, &err);
  CHECK(rc == -1);
  CHECK(err != NULL && strstr(err, words) != NULL);
  if (rc == 0 || !err || !strstr(err, words))
    fprintf(stderr, "  url %s: rc %d error '%s', wanted '%s'\n", s, rc, err ? err : "(none)", words);
}

static void default_ports_follow_the_scheme(void) {
  wsf_url u;
  const char *err;
  CHECK(parse("ws://example.com", &u, &err) == 0);
  CHECK(!u.tls && u.port == 80 && !u.port_explicit);
  CHECK_STR(u.host, "example.com");
  CHECK_STR(u.resource, "/");
  CHECK(parse("wss://example.com/chat", &u, &err) == 0);
  CHECK(u.tls && u.port == 443 && !u.port_explicit);
  CHECK_STR(u.resource, "/chat");
}

static void scheme_is_case_insensitive_and_only_ws_or_wss(void) {
  wsf_url u;
  const char *err;
  CHECK(parse("WS://h/", &u, &err) == 0 && !u.tls);
  CHECK(parse("WsS://h/", &u, &err) == 0 && u.tls);
  check_refused("http://h/", "scheme must be ws or wss");
  check_refused("https://h/", "scheme must be ws or wss");
  check_refused("ws:/h/", "scheme must be ws or wss");
  check_refused("h:80/", "scheme must be ws or wss");
  check_refused("", "empty");
}

static void explicit_ports_are_1_to_65535(void) {
  wsf_url u;
  const char *err;
  CHECK(parse("ws://h:1/", &u, &err) == 0 && u.port == 1 && u.port_explicit);
  CHECK(parse("ws://h:65535/", &u, &err) == 0 && u.port == 65535);
  CHECK(parse("ws://h:8080", &u, &err) == 0 && u.port == 8080);
  CHECK_STR(u.resource, "/");
  CHECK(parse("wss://h:443/", &u, &err) == 0 && u.port == 443 && u.port_explicit);
  check_refused("ws://h:0/", "port must be 1-65535");
  check_refused("ws://h:65536/", "port must be 1-65535");
  check_refused("ws://h:99999999999999999999/", "port must be 1-65535");
  check_refused("ws://h:80a/", "port must be digits");
  check_refused("ws://h:-1/", "port must be digits");
  check_refused("ws://h:/", "port is empty");
}

static void ipv4_addresses_are_checked(void) {
  wsf_url u;
  const char *err;
  CHECK(parse("ws://127.0.0.1:9001/x", &u, &err) == 0);
  CHECK_STR(u.host, "127.0.0.1");
  CHECK(!u.host_is_ipv6 && u.port == 9001);
  check_refused("ws://127.0.0.256/", "bad IPv4 address");
  check_refused("ws://1.2.3/", "bad IPv4 address");
}

static void ipv6_literals_in_brackets(void) {
  wsf_url u;
  const char *err;
  CHECK(parse("ws://[::1]:8080/a?b", &u, &err) == 0);
  CHECK_STR(u.host, "::1");
  CHECK(u.host_is_ipv6 && u.port == 8080);
  CHECK_STR(u.resource, "/a?b");
  CHECK(parse("wss://[2001:db8::1]", &u, &err) == 0);
  CHECK_STR(u.host, "2001:db8::1");
  CHECK(u.port == 443);
  CHECK(parse("ws://[::ffff:127.0.0.1]/", &u, &err) == 0);
  check_refused("ws://[fe80::1%25eth0]/", "zone ids");
  check_refused("ws://[fe80::1%eth0]:80/", "zone ids");
  check_refused("ws://[::1/", "closing ']'");
  check_refused("ws://[::1]x/", "after the IPv6 address");
  check_refused("ws://[]/", "bad IPv6 address");
  check_refused("ws://[not:v6:zz]/", "bad IPv6 address");
  check_refused("ws://::1/", "brackets");
  check_refused("ws://::1:80/", "brackets");
}

static void path_and_query_are_kept(void) {
  wsf_url u;
  const char *err;
  CHECK(parse("ws://h/a/b/c?x=1&y=%20z", &u, &err) == 0);
  CHECK_STR(u.resource, "/a/b/c?x=1&y=%20z");
  CHECK(parse("ws://h?token=abc", &u, &err) == 0);
  CHECK_STR(u.host, "h");
  CHECK_STR(u.resource, "/?token=abc");
  CHECK(parse("ws://h:81?q", &u, &err) == 0 && u.port == 81);
  CHECK_STR(u.resource, "/?q");
  /* Bytes beyond ASCII become %XX so the request line stays ASCII. */
  CHECK(parse("ws://h/caf\xc3\xa9", &u, &err) == 0);
  CHECK_STR(u.resource, "/caf%C3%A9");
}

static void fragment_userinfo_and_spaces_are_refused(void) {
  check_refused("ws://h/chat#top", "#fragment");
  check_refused("ws://h#", "#fragment");
  check_refused("ws://user:pw@h/", "user:password@");
  check_refused("ws://@h/", "user:password@");
  check_refused("ws://h/a b", "space or control");
  check_refused(" ws://h/", "space or control");
  check_refused("ws://h/\r\nX-Evil: 1", "space or control");
  wsf_url u;
  const char *err = NULL;
  /* An embedded NUL is a control byte, not the end of the string. */
  CHECK(wsf_url_parse("ws://h/\0x", 9, &u, &err) == -1 && err != NULL);
}

static void empty_and_bad_hosts_are_refused(void) {
  check_refused("ws://", "no host");
  check_refused("ws:///path", "no host");
  check_refused("ws://:80/", "no host");
  check_refused("ws://?q", "no host");
  check_refused("ws://ho$t/", "invalid character");
  check_refused("ws://h\xc3\xa9/", "invalid character");
}

static void overlong_parts_are_refused(void) {
  char buf[6000];
  wsf_url u;
  const char *err;
  /* 253 characters is the longest DNS name; one more is refused. */
  strcpy(buf, "ws://");
  memset(buf + 5, 'a', 253);
  buf[5 + 253] = '\0';
  CHECK(parse(buf, &u, &err) == 0 && strlen(u.host) == 253);
  memset(buf + 5, 'a', 254);
  buf[5 + 254] = '\0';
  check_refused(buf, "host too long");

  /* resource[4096]: 4095 bytes of path fit, 4096 do not. */
  strcpy(buf, "ws://h");
  memset(buf + 6, 'p', 4095);
  buf[6] = '/';
  buf[6 + 4095] = '\0';
  CHECK(parse(buf, &u, &err) == 0 && strlen(u.resource) == 4095);
  buf[6 + 4095] = 'p';
  buf[6 + 4096] = '\0';
  check_refused(buf, "path and query too long");
  /* Percent-encoding counts toward the limit. */
  memset(buf + 6, 'p', 4093);
  buf[6] = '/';
  memcpy(buf + 6 + 4093, "\xff", 2);
  check_refused(buf, "path and query too long");
}

static void host_header_omits_default_port(void) {
  wsf_url u;
  const char *err;
  char h[300];
  CHECK(parse("ws://example.com:80/", &u, &err) == 0);
  wsf_url_host_header(&u, h, sizeof h);
  CHECK_STR(h, "example.com");
  CHECK(parse("wss://example.com:80/", &u, &err) == 0);
  wsf_url_host_header(&u, h, sizeof h);
  CHECK_STR(h, "example.com:80");
  CHECK(parse("wss://example.com/", &u, &err) == 0);
  wsf_url_host_header(&u, h, sizeof h);
  CHECK_STR(h, "example.com");
  CHECK(parse("ws://[::1]:9000/", &u, &err) == 0);
  wsf_url_host_header(&u, h, sizeof h);
  CHECK_STR(h, "[::1]:9000");
  CHECK(parse("wss://[::1]:443/", &u, &err) == 0);
  wsf_url_host_header(&u, h, sizeof h);
  CHECK_STR(h, "[::1]");
  /* A short buffer truncates rather than overflows. */
  char small[5];
  wsf_url_host_header(&u, small, sizeof small);
  CHECK_STR(small, "[::1");
}

int main(void) {
  RUN(default_ports_follow_the_scheme);
  RUN(scheme_is_case_insensitive_and_only_ws_or_wss);
  RUN(explicit_ports_are_1_to_65535);
  RUN(ipv4_addresses_are_checked);
  RUN(ipv6_literals_in_brackets);
  RUN(path_and_query_are_kept);
  RUN(fragment_userinfo_and_spaces_are_refused);
  RUN(empty_and_bad_hosts_are_refused);
  RUN(overlong_parts_are_refused);
  RUN(host_header_omits_default_port);
  return wsf_test_result();
}
