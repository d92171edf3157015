/* preset.c and proto.c: each preset expanded into steps, rules, framing and
 * keepalive as the protocols' specifications say; the socketio4 URL; STOMP's
 * negotiated heart-beat; equal specs share one compiled set; compile errors
 * name the field. */
#include <stdlib.h>

#include "preset.h"
#include "testlib.h"

static bool bytes_are(const uint8_t *p, size_t len, const char *want) {
  return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

static bool str_is(const char *p, size_t len, const char *want) {
  return bytes_are((const uint8_t *)p, len, want);
}

static void expand(wsf_preset preset, wsf_preset_options *o, wsf_proto_spec *spec, wsf_preset_out *out) {
  memset(spec, 0, sizeof *spec);
  CHECK(wsf_preset_expand(preset, o, false, false, spec, out) == NULL);
}

static void test_socketio_default_namespace(void) {
  wsf_preset_options o;
  wsf_proto_spec spec;
  wsf_preset_out out;
  wsf_preset_options_default(WSF_PRESET_SOCKETIO4, &o);
  expand(WSF_PRESET_SOCKETIO4, &o, &spec, &out);
  CHECK(spec.framing == WSF_FRAMING_MESSAGE && spec.n_steps == 2 && spec.n_rules == 1);
  CHECK(str_is(spec.steps[0].expect.regex, spec.steps[0].expect.regex_len, "^0\\{"));
  CHECK(spec.steps[0].n_captures == 3 && str_is(spec.steps[0].captures[0].name, 3, "sid"));
  CHECK(bytes_are(spec.steps[1].send, spec.steps[1].send_len, "40"));
  CHECK(str_is(spec.rules[0].name, spec.rules[0].name_len, "engineio-ping"));
  CHECK(bytes_are(spec.rules[0].reply, spec.rules[0].reply_len, "3"));
  CHECK(!out.has_keepalive); /* the server pings: Engine.IO v4 */
  wsf_preset_out_free(&out);
}

static void test_socketio_namespace_and_auth(void) {
  wsf_preset_options o;
  wsf_proto_spec spec;
  wsf_preset_out out;
  wsf_preset_options_default(WSF_PRESET_SOCKETIO4, &o);
  o.ns = "/chat.v2";
  o.ns_len = strlen(o.ns);
  o.auth = "{\"token\":\"t\"}";
  o.auth_len = strlen(o.auth);
  expand(WSF_PRESET_SOCKETIO4, &o, &spec, &out);
  CHECK(bytes_are(spec.steps[1].send, spec.steps[1].send_len, "40/chat.v2,{\"token\":\"t\"}"));
  CHECK(str_is(spec.steps[1].expect.regex, spec.steps[1].expect.regex_len, "^40/chat\\.v2,"));
  wsf_preset_out_free(&out);
  o.ns = "chat";
  o.ns_len = 4;
  memset(&spec, 0, sizeof spec);
  CHECK(wsf_preset_expand(WSF_PRESET_SOCKETIO4, &o, false, false, &spec, &out) != NULL);
  wsf_preset_out_free(&out);
}

static void test_socketio_url(void) {
  size_t n;
  char *u = wsf_preset_socketio_url("ws://h/socket.io/", 17, &n);
  CHECK(u && strcmp(u, "ws://h/socket.io/?EIO=4&transport=websocket") == 0 && n == strlen(u));
  free(u);
  u = wsf_preset_socketio_url("ws://h/s/?a=1", 13, &n);
  CHECK(u && strcmp(u, "ws://h/s/?a=1&EIO=4&transport=websocket") == 0);
  free(u);
  CHECK(wsf_preset_socketio_url("ws://h/s/?EIO=3&transport=websocket", 35, &n) == NULL);
  CHECK(wsf_preset_socketio_url("ws://h/s/?x=1&EIO=4", 19, &n) == NULL);
}

static void test_stomp_connect_frame_and_heartbeat(void) {
  wsf_preset_options o;
  wsf_proto_spec spec;
  wsf_preset_out out;
  wsf_preset_options_default(WSF_PRESET_STOMP12, &o);
  o.host = "broker";
  o.host_len = 6;
  o.login = "guest";
  o.login_len = 5;
  o.passcode = "pw";
  o.passcode_len = 2;
  o.heart_beat[0] = 4000;
  o.heart_beat[1] = 0;
  expand(WSF_PRESET_STOMP12, &o, &spec, &out);
  CHECK(spec.framing == WSF_FRAMING_STOMP && spec.n_steps == 1 && spec.n_rules == 0);
  CHECK(
      bytes_are(spec.steps[0].send, spec.steps[0].send_len,
                "CONNECT\naccept-version:1.2\nhost:broker\nheart-beat:4000,0\nlogin:guest\npasscode:pw\n\n"));
  CHECK(spec.stomp_cx_ms == 4000);
  CHECK(out.subprotocol && strcmp(out.subprotocol, "v12.stomp") == 0);
  wsf_preset_out_free(&out);
  o.login = "a\nb";
  o.login_len = 3;
  memset(&spec, 0, sizeof spec);
  CHECK(wsf_preset_expand(WSF_PRESET_STOMP12, &o, false, false, &spec, &out) != NULL);
  wsf_preset_out_free(&out);
  /* max(cx, sy); none when either side says 0 */
  CHECK(wsf_stomp_heartbeat_ms(4000, "0,10000", 7) == 10000);
  CHECK(wsf_stomp_heartbeat_ms(4000, "5000,2000", 9) == 4000);
  CHECK(wsf_stomp_heartbeat_ms(4000, "5000,0", 6) == 0);
  CHECK(wsf_stomp_heartbeat_ms(0, "5000,2000", 9) == 0);
  CHECK(wsf_stomp_heartbeat_ms(4000, "junk", 4) == 0);
  CHECK(wsf_stomp_heartbeat_ms(4000, NULL, 0) == 0);
}

static void test_keepalive_within_never_draws_past_the_interval(void) {
  wsf_keepalive ka = {0};
  wsf_preset_keepalive_within(&ka, 10000);
  CHECK(ka.interval_ms == 9000 && ka.jitter_ms == 1000);
  CHECK(ka.interval_ms + ka.jitter_ms == 10000);
}

static void test_signalr_and_echo(void) {
  wsf_preset_options o;
  wsf_proto_spec spec;
  wsf_preset_out out;
  wsf_preset_options_default(WSF_PRESET_SIGNALR_JSON, &o);
  expand(WSF_PRESET_SIGNALR_JSON, &o, &spec, &out);
  CHECK(spec.framing == WSF_FRAMING_RECORD_SEPARATOR);
  CHECK(bytes_are(spec.steps[0].send, spec.steps[0].send_len, "{\"protocol\":\"json\",\"version\":1}"));
  CHECK(spec.n_rules == 1 && spec.rules[0].reply_opcode == 0); /* pings swallowed */
  CHECK(out.has_keepalive && out.keepalive.mode == WSF_KA_TEXT);
  CHECK(bytes_are(out.keepalive.payload, out.keepalive.payload_len, "{\"type\":6}\x1e"));
  CHECK(out.keepalive.interval_ms + out.keepalive.jitter_ms == 15000);
  wsf_preset_out_free(&out);
  wsf_preset_options_default(WSF_PRESET_ECHO_HEARTBEAT, &o);
  expand(WSF_PRESET_ECHO_HEARTBEAT, &o, &spec, &out);
  CHECK(spec.n_steps == 0 && spec.n_rules == 0 && out.has_keepalive);
  CHECK(str_is(out.keepalive.reply_contains, out.keepalive.reply_contains_len, "wsfleet-heartbeat"));
  CHECK(out.keepalive.reply_timeout_ms == 10000 &&
        out.keepalive.interval_ms + out.keepalive.jitter_ms == 25000);
  wsf_preset_out_free(&out);
}

static void test_equal_specs_share_one_compiled_set(void) {
  wsf_proto_table t = {0};
  wsf_preset_options o;
  wsf_proto_spec spec;
  wsf_preset_out out;
  char err[200];
  wsf_preset_options_default(WSF_PRESET_SOCKETIO4, &o);
  expand(WSF_PRESET_SOCKETIO4, &o, &spec, &out);
  wsf_proto *a = wsf_proto_get(&t, &spec, err, sizeof err);
  wsf_proto *b = wsf_proto_get(&t, &spec, err, sizeof err);
  CHECK(a && a == b && a->refs == 2);
  CHECK(a->n_capture_names == 3 && wsf_proto_capture_slot(a, "pingTimeout", 11) == 2);
  CHECK(t.n_names == 1 && strcmp(t.names[a->rules[0].stats_slot], "engineio-ping") == 0);
  spec.rules[0].reply = (const uint8_t *)"4";
  wsf_proto *c = wsf_proto_get(&t, &spec, err, sizeof err);
  CHECK(c && c != a && t.n_names == 1); /* same rule name, same stats slot */
  wsf_preset_out_free(&out);
  wsf_proto_release(&t, a);
  wsf_proto_release(&t, b);
  wsf_proto_release(&t, c);
  CHECK(t.head == NULL);
  wsf_proto_table_free(&t);
}

static void test_compile_errors_name_the_field(void) {
  wsf_proto_table t = {0};
  wsf_proto_spec *spec = calloc(1, sizeof *spec);
  char err[200] = "";
  spec->n_rules = 2;
  spec->rules[1].match.regex = "(";
  spec->rules[1].match.regex_len = 1;
  CHECK(wsf_proto_get(&t, spec, err, sizeof err) == NULL);
  CHECK(strncmp(err, "auto_reply[1].match: bad regex", 30) == 0);
  CHECK(t.head == NULL);
  free(spec);
  wsf_proto_table_free(&t);
}

int main(void) {
  RUN(test_socketio_default_namespace);
  RUN(test_socketio_namespace_and_auth);
  RUN(test_socketio_url);
  RUN(test_stomp_connect_frame_and_heartbeat);
  RUN(test_keepalive_within_never_draws_past_the_interval);
  RUN(test_signalr_and_echo);
  RUN(test_equal_specs_share_one_compiled_set);
  RUN(test_compile_errors_name_the_field);
  return wsf_test_result();
}
