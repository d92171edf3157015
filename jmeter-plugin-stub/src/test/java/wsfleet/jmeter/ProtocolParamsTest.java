package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.threads.JMeterVariables;
import org.junit.jupiter.api.Test;

import wsfleet.jmeter.client.Json;

/**
 * The issue-18 fields as the daemon receives them: what each Open, Send, Receive and
 * Request-Response parameter becomes in the request, and the bad_parameter sample a wrong one
 * gives (naming the field) before anything reaches the daemon.
 */
class ProtocolParamsTest {
  static Map<String, Object> open(String... kv) {
    return new OpenConnection().params(SamplersTest.params(new OpenConnection(), kv), "c");
  }

  static Map<String, Object> request(WsfleetSampler s, String... kv) {
    return s.params(SamplersTest.params(s, kv), "c");
  }

  /** The sample a bad parameter gives: it never reaches the daemon (no client needed). */
  static SampleResult bad(WsfleetSampler s, String... kv) {
    SampleResult r = s.run(null, SamplersTest.params(s, kv));
    assertFalse(r.isSuccessful());
    assertEquals("bad_parameter", r.getResponseCode());
    return r;
  }

  @Test
  void anOpenWithoutTheNewFieldsSendsWhatItAlwaysSent() {
    Map<String, Object> m = open("URL", "ws://h/");
    for (String k : new String[] {"preset", "preset_options", "framing", "session", "auto_reply", "reconnect", "rate_limit"}) {
      assertFalse(m.containsKey(k), k + " in " + m);
    }
    assertEquals("ping", ((Map<?, ?>) m.get("keepalive")).get("mode"));
    assertFalse(open("URL", "ws://h/", OpenConnection.PRESET, "none").containsKey("preset"));
  }

  @Test
  void aPresetWithItsOptionsLeavesTheKeepaliveToThePresetUnlessTextBinaryOrNone() {
    Map<String, Object> m = open("URL", "ws://h/", OpenConnection.PRESET, "stomp12",
        OpenConnection.PRESET_OPTIONS, "{\"login\":\"guest\",\"passcode\":\"guest\",\"heart_beat\":[5000,5000]}");
    assertEquals("stomp12", m.get("preset"));
    assertEquals("{\"login\":\"guest\",\"passcode\":\"guest\",\"heart_beat\":[5000,5000]}", Json.write(m.get("preset_options")));
    assertNull(m.get("keepalive"), "mode ping (the default) would replace STOMP's heart-beats");
    Map<String, Object> none = open("URL", "ws://h/", OpenConnection.PRESET, "SocketIO4", OpenConnection.KA_MODE, "none");
    assertEquals("socketio4", none.get("preset"));
    assertEquals("{\"mode\":\"none\"}", Json.write(none.get("keepalive")));
  }

  @Test
  void sessionStepsAutoReplyFramingReconnectAndRateLimitAreSentAsGiven() {
    Map<String, Object> m = open("URL", "ws://h/",
        OpenConnection.FRAMING, "record_separator",
        OpenConnection.SESSION, "[{\"send\":\"hello\",\"expect\":{\"contains\":\"welcome\"},\"timeout_ms\":2000}]",
        OpenConnection.AUTO_REPLY, "[{\"name\":\"pong\",\"match\":{\"regex\":\"^ping (.*)$\"},\"reply\":\"pong $1\"},"
            + "{\"match\":{\"type\":\"binary\"},\"reply\":{\"$bin\":\"0a0b\"}}]",
        OpenConnection.RECONNECT_MAX, "3", OpenConnection.RECONNECT_BACKOFF, "500", OpenConnection.RECONNECT_JITTER, "0",
        OpenConnection.RATE_MESSAGES, "10", OpenConnection.RATE_PER_MS, "1000");
    assertEquals("record_separator", m.get("framing"));
    assertEquals("[{\"send\":\"hello\",\"expect\":{\"contains\":\"welcome\"},\"timeout_ms\":2000}]", Json.write(m.get("session")));
    List<?> rules = (List<?>) m.get("auto_reply");
    assertEquals("pong $1", ((Map<?, ?>) rules.get(0)).get("reply"));
    assertArrayEquals(new byte[] {0x0a, 0x0b}, (byte[]) ((Map<?, ?>) rules.get(1)).get("reply"), "{\"$bin\": hex} is bytes");
    assertEquals("{\"max\":3,\"backoff_ms\":500,\"jitter_ms\":0}", Json.write(m.get("reconnect")));
    assertEquals("{\"messages\":10,\"per_ms\":1000}", Json.write(m.get("rate_limit")));
  }

  @Test
  void aWrongFieldFailsTheSampleNamingTheField() {
    String[][] cases = {
        {OpenConnection.PRESET, "mqtt", "\"Preset (none|socketio4|stomp12|signalr-json|echo-heartbeat)\" must be none, socketio4"},
        {OpenConnection.PRESET_OPTIONS, "{\"a\":1}", "needs a preset"},
        {OpenConnection.FRAMING, "lines", "\"Framing (message|record_separator|stomp)\" must be message"},
        {OpenConnection.SESSION, "[{\"send\":\"x\",}]", "\"Session steps (JSON array)\" is not valid JSON: a \"key\" expected at character 14"},
        {OpenConnection.SESSION, "{\"send\":\"x\"}", "\"Session steps (JSON array)\" must be a JSON array"},
        {OpenConnection.SESSION, "[\"x\"]", "\"Session steps (JSON array)\": step 0 must be a JSON object"},
        {OpenConnection.AUTO_REPLY, "[{\"reply\":\"3\"}]", "\"Auto-reply rules (JSON array)\": rule 0 needs a \"match\" object"},
        {OpenConnection.RECONNECT_BACKOFF, "100", "the reconnect fields need \"Reconnect max\""},
        {OpenConnection.RECONNECT_MAX, "three", "\"Reconnect max\" must be a whole number"},
        {OpenConnection.RATE_MESSAGES, "5", "a rate limit needs both"},
    };
    for (String[] c : cases) {
      SampleResult r = bad(new OpenConnection(), "URL", "ws://h/", c[0], c[1]);
      assertTrue(r.getResponseMessage().contains(c[2]), c[1] + " -> " + r.getResponseMessage());
    }
    StringBuilder many = new StringBuilder("[");
    for (int i = 0; i < 33; i++) {
      many.append(i > 0 ? "," : "").append("{\"match\":{\"contains\":\"x\"}}");
    }
    SampleResult r = bad(new OpenConnection(), "URL", "ws://h/", OpenConnection.AUTO_REPLY, many + "]");
    assertTrue(r.getResponseMessage().contains("has 33 rules, at most 32"), r.getResponseMessage());
  }

  @Test
  void sendBuildsTheHelperMessagesAndPutsTheReplyIdInAVariable() {
    JMeterVariables vars = new JMeterVariables();
    JMeterContextService.getContext().setVariables(vars);
    Map<String, Object> sio = request(new SendMessage(), WsfleetSampler.MESSAGE_KIND, "socketio",
        WsfleetSampler.SIO_NAMESPACE, "/chat", WsfleetSampler.SIO_EVENT, "message", WsfleetSampler.SIO_ARGS, "[\"hi\"]");
    assertEquals("42/chat,[\"message\",\"hi\"]", sio.get("data"));
    assertEquals("text", sio.get("type"));
    assertEquals("", vars.get(MessageKinds.REPLY_ID_VARIABLE));
    Map<String, Object> stomp = request(new SendMessage(), WsfleetSampler.MESSAGE_KIND, "stomp",
        WsfleetSampler.STOMP_DESTINATION, "/topic/chat", WsfleetSampler.MESSAGE, "hello",
        WsfleetSampler.STOMP_HEADERS, "content-type: text/plain", WsfleetSampler.STOMP_RECEIPT, "true");
    String id = vars.get(MessageKinds.REPLY_ID_VARIABLE);
    assertTrue(id.startsWith("wsfleet-"), id);
    assertEquals("SEND\ndestination:/topic/chat\ncontent-type:text/plain\nreceipt:" + id + "\ncontent-length:5\n\nhello\0",
        stomp.get("data"));
    assertFalse(stomp.containsKey("regex"), "a Send does not wait");
    Map<String, Object> sr = request(new SendMessage(), WsfleetSampler.MESSAGE_KIND, "signalr",
        WsfleetSampler.SIGNALR_TARGET, "SendMessage", WsfleetSampler.SIGNALR_ARGUMENTS, "[\"bob\", 2]");
    assertEquals("{\"type\":1,\"target\":\"SendMessage\",\"arguments\":[\"bob\",2]}\u001e", sr.get("data"));
    Map<String, Object> raw = request(new SendMessage(), WsfleetSampler.MESSAGE, " as is ");
    assertEquals(" as is ", raw.get("data"));
  }

  @Test
  void requestWaitsForTheAnswerItsMessageAskedFor() {
    Map<String, Object> ack = request(new RequestResponse(), WsfleetSampler.MESSAGE_KIND, "socketio",
        WsfleetSampler.SIO_EVENT, "join", WsfleetSampler.SIO_ACK, "true");
    String data = (String) ack.get("data");
    String id = data.substring(2, data.indexOf('['));
    assertEquals("^43" + id + "[[]", ack.get("regex"));
    Map<String, Object> completion = request(new RequestResponse(), WsfleetSampler.MESSAGE_KIND, "signalr",
        WsfleetSampler.SIGNALR_TARGET, "Add", WsfleetSampler.SIGNALR_ARGUMENTS, "[1,2]", WsfleetSampler.SIGNALR_COMPLETION, "true");
    assertEquals("invocationId", completion.get("json_field"));
    assertTrue(((String) completion.get("data")).contains("\"invocationId\":\"" + completion.get("json_value") + "\""));
    // a substring the plan adds still applies; a regex of its own would be replaced: refused
    Map<String, Object> both = request(new RequestResponse(), WsfleetSampler.MESSAGE_KIND, "socketio",
        WsfleetSampler.SIO_EVENT, "join", WsfleetSampler.SIO_ACK, "true", WsfleetSampler.MATCH_CONTAINS, "ok");
    assertEquals("ok", both.get("contains"));
    SampleResult r = bad(new RequestResponse(), WsfleetSampler.MESSAGE_KIND, "socketio",
        WsfleetSampler.SIO_EVENT, "join", WsfleetSampler.SIO_ACK, "true", WsfleetSampler.MATCH_REGEX, "x");
    assertTrue(r.getResponseMessage().contains("sets the regex criterion itself"), r.getResponseMessage());
  }

  @Test
  void receiveTranslatesTheMatchEvent() {
    Map<String, Object> sio = request(new ReceiveMessage(), WsfleetSampler.MATCH_EVENT_KIND, "socketio",
        WsfleetSampler.MATCH_EVENT, "chat message", WsfleetSampler.SIO_NAMESPACE, "/chat");
    assertEquals("^42/chat,[0-9]*[[]\"chat message\"[],]", sio.get("regex"));
    Map<String, Object> stomp = request(new ReceiveMessage(), WsfleetSampler.MATCH_EVENT_KIND, "stomp",
        WsfleetSampler.MATCH_EVENT, "/topic/chat");
    assertTrue(((String) stomp.get("regex")).startsWith("^[\r\n]*MESSAGE\r?\n"), (String) stomp.get("regex"));
    Map<String, Object> sr = request(new ReceiveMessage(), WsfleetSampler.MATCH_EVENT_KIND, "signalr",
        WsfleetSampler.MATCH_REPLY_ID, "7");
    assertEquals("7", sr.get("json_value"));
    Map<String, Object> none = request(new ReceiveMessage());
    assertFalse(none.containsKey("regex"));
    assertTrue(bad(new ReceiveMessage(), WsfleetSampler.MATCH_EVENT, "x").getResponseMessage().contains("needs \"Match event kind"));
    assertTrue(bad(new ReceiveMessage(), WsfleetSampler.MATCH_EVENT_KIND, "mqtt").getResponseMessage().contains("must be socketio, stomp or signalr"));
    assertTrue(bad(new ReceiveMessage(), WsfleetSampler.MATCH_EVENT_KIND, "socketio").getResponseMessage().contains("needs either"));
    assertTrue(bad(new ReceiveMessage(), WsfleetSampler.MATCH_EVENT_KIND, "socketio", WsfleetSampler.MATCH_REPLY_ID, "x1")
        .getResponseMessage().contains("whole number"));
    assertTrue(bad(new SendMessage(), WsfleetSampler.MESSAGE_KIND, "signalr", WsfleetSampler.SIGNALR_TARGET, "T",
        WsfleetSampler.SIGNALR_ARGUMENTS, "{\"a\":1}").getResponseMessage().contains("\"SignalR arguments (JSON array)\" must be a JSON array"));
    assertTrue(bad(new SendMessage(), WsfleetSampler.MESSAGE_KIND, "stomp").getResponseMessage().contains("STOMP SEND needs a destination"));
  }

  @Test
  void everyPresetAndFramingTheFormOffersIsAccepted() {
    for (String preset : Arrays.asList("socketio4", "stomp12", "signalr-json", "echo-heartbeat")) {
      assertEquals(preset, open("URL", "ws://h/", OpenConnection.PRESET, preset).get("preset"));
    }
    for (String f : Arrays.asList("message", "record_separator", "stomp")) {
      assertEquals(f, open("URL", "ws://h/", OpenConnection.FRAMING, f).get("framing"));
    }
    assertEquals(Collections.emptyList(), open("URL", "ws://h/", OpenConnection.AUTO_REPLY, "[]").get("auto_reply"));
  }

  @Test
  void aFailedSessionStepReadsAsSuchWithTheServersMessageAsData() {
    // what h18-session's daemon answers when a socketio4 namespace connect is refused
    Map<String, Object> e = new java.util.LinkedHashMap<>();
    e.put("code", "handshake_failed");
    e.put("message", "session step 1: expected regex \"^40/private,\"; the server sent something else (body)");
    e.put("conn", "x");
    e.put("http_status", 101L);
    e.put("body", "44/private,{\"message\":\"not authorized\"}");
    e.put("phase", "session");
    e.put("step", 1L);
    SampleResult r = new SampleResult();
    WsfleetSampler.applyError(r, new wsfleet.jmeter.client.Reply(null, e));
    assertFalse(r.isSuccessful());
    assertEquals("handshake_failed", r.getResponseCode());
    assertEquals("session step 1: expected regex \"^40/private,\"; the server sent something else (body)"
        + " (phase session, step 1)", r.getResponseMessage());
    assertTrue(SamplersTest.data(r).contains("\"body\":\"44/private,{\\\"message\\\":\\\"not authorized\\\"}\""),
        SamplersTest.data(r));
  }

  @Test
  void aSendTheRateLimitHeldBackSaysHowLong() {
    Map<String, Object> out = new java.util.LinkedHashMap<>();
    out.put("bytes", 5L);
    out.put("paced_us", 249_600L);
    SampleResult r = new SampleResult();
    new SendMessage().onSuccess(r, new wsfleet.jmeter.client.Reply(out, null), out);
    assertEquals("sent 5 bytes, paced 250 ms by the rate limit", r.getResponseMessage());
    out.put("paced_us", 0L);
    new SendMessage().onSuccess(r, new wsfleet.jmeter.client.Reply(out, null), out);
    assertEquals("sent 5 bytes", r.getResponseMessage());
  }
}
