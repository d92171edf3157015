package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.protocol.java.sampler.JavaSamplerContext;
import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.threads.JMeterVariables;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import wsfleet.jmeter.client.ClientConfig;
import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.testing.TestDaemon;
import wsfleet.jmeter.testing.TestPeer;

/** Each sampler's SampleResult, driven through the real daemon to real peers. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SamplersTest {
  /** Runs a sampler with only the given parameters set (the rest take the GUI defaults). */
  static SampleResult sample(WsfleetSampler s, ControlClient c, String... kv) {
    return s.run(c, params(s, kv));
  }

  /** The sampler's parameters as JMeter gives them: only those named, the rest take the defaults. */
  static Params params(org.apache.jmeter.protocol.java.sampler.AbstractJavaSamplerClient s, String... kv) {
    Arguments a = new Arguments();
    for (int i = 0; i < kv.length; i += 2) {
      a.addArgument(kv[i], kv[i + 1]);
    }
    return new Params(new JavaSamplerContext(a), s);
  }

  static String data(SampleResult r) {
    return new String(r.getResponseData(), StandardCharsets.UTF_8);
  }

  static String describe(SampleResult r) {
    return r.getResponseCode() + " " + r.getResponseMessage() + " " + data(r);
  }

  @Test
  void openAnswers101WithTheHandshakeAsConnectTimeAndSaysWhenItReuses() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      SampleResult r = sample(new OpenConnection(), c, "Connection name", "vu-1", "URL", echo.url());
      assertTrue(r.isSuccessful(), describe(r));
      assertEquals("101", r.getResponseCode());
      assertTrue(r.getResponseMessage().startsWith("Switching Protocols"), r.getResponseMessage());
      assertTrue(r.getResponseHeaders().toLowerCase().contains("sec-websocket-accept"), r.getResponseHeaders());
      assertTrue(r.getConnectTime() >= 0 && r.getConnectTime() <= r.getTime(), r.getConnectTime() + " vs " + r.getTime());
      assertEquals(r.getTime(), r.getLatency());

      SampleResult again = sample(new OpenConnection(), c, "Connection name", "vu-1", "URL", echo.url());
      assertTrue(again.isSuccessful(), describe(again));
      assertEquals("101", again.getResponseCode());
      assertTrue(again.getResponseMessage().contains("reused"), again.getResponseMessage());
      assertEquals(0, again.getConnectTime());
    }
  }

  @Test
  void theConnectionNameDefaultsToTheThreadNameUniqueAcrossThreadGroups() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      // JMeter names each thread "GROUP N-M"; two groups that keep the default never share a name.
      String[] names = {"users 1-1", "admins 2-1"};
      SampleResult[] opens = new SampleResult[2];
      for (int i = 0; i < 2; i++) {
        final int k = i;
        Thread t = new Thread(() -> opens[k] = sample(new OpenConnection(), c, "URL", echo.url()), names[i]);
        t.start();
        t.join(20_000);
      }
      for (int i = 0; i < 2; i++) {
        assertTrue(opens[i].isSuccessful(), describe(opens[i]));
        assertTrue(opens[i].getResponseMessage().startsWith("Switching Protocols"), describe(opens[i]));
        assertTrue(opens[i].getSamplerData().contains("\"conn\":\"" + names[i] + "\""), opens[i].getSamplerData());
      }
      // a blank name is the default too
      Thread t = new Thread(() -> opens[0] = sample(new OpenConnection(), c, "Connection name", " ",
          "URL", echo.url()), names[0]);
      t.start();
      t.join(20_000);
      assertTrue(opens[0].getResponseMessage().startsWith("reused live connection users 1-1"), describe(opens[0]));
    }
  }

  @Test
  void reuseTakesTrueFalseOrAnyAndAUrlMismatchNamesBothUrls() {
    Map<String, Object> e = new HashMap<>();
    e.put("code", "url_mismatch");
    e.put("message", "live on another URL");
    e.put("conn", "users 1-1");
    e.put("url", "ws://a.example/x");
    e.put("requested_url", "ws://b.example/y");
    OpenConnection open = new OpenConnection();
    SampleResult r = new SampleResult();
    Map<String, Object> params = new HashMap<>();
    params.put("conn", "users 1-1");
    open.onError(r, new wsfleet.jmeter.client.Reply(null, e), params);
    assertFalse(r.isSuccessful());
    assertEquals("url_mismatch", r.getResponseCode());
    assertTrue(r.getResponseMessage().contains("ws://a.example/x") && r.getResponseMessage().contains("ws://b.example/y"),
        r.getResponseMessage());
    for (String[] v : new String[][] {{"true", "true"}, {"FALSE", "false"}, {"any", "any"}, {"", "true"}}) {
      Arguments a = new Arguments();
      a.addArgument(OpenConnection.REUSE, v[0]);
      assertEquals(v[1], String.valueOf(OpenConnection.reuse(new Params(new JavaSamplerContext(a), open))));
    }
    ControlClient c = new ControlClient(ClientConfig.from(k -> null));
    SampleResult bad = sample(open, c, "URL", "ws://x/", OpenConnection.REUSE, "sometimes");
    assertEquals("bad_parameter", bad.getResponseCode());
  }

  @Test
  void sentMessagesComeBackAsResponseDataWithSentAndReceivedBytes() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      assertTrue(sample(new OpenConnection(), c, "Connection name", "a", "URL", echo.url()).isSuccessful());
      SampleResult s = sample(new SendMessage(), c, "Connection name", "a", "Message", "{\"n\":1,\"é\":true}");
      assertTrue(s.isSuccessful(), describe(s));
      assertEquals(17, s.getSentBytes()); // UTF-8 bytes of the payload (é is two)
      SampleResult r = sample(new ReceiveMessage(), c, "Connection name", "a", WsfleetSampler.READ_TIMEOUT, "3000");
      assertTrue(r.isSuccessful(), describe(r));
      assertEquals("{\"n\":1,\"é\":true}", data(r));
      assertEquals(17, r.getBytesAsLong());
      assertEquals("200", r.getResponseCode());

      SampleResult rr = sample(new RequestResponse(), c, "Connection name", "a", "Message",
          "{\"action\":\"echo\",\"id\":42}", WsfleetSampler.MATCH_JSON_FIELD, "id", WsfleetSampler.MATCH_JSON_VALUE, "42");
      assertTrue(rr.isSuccessful(), describe(rr));
      assertEquals("{\"action\":\"echo\",\"id\":42}", data(rr));
      assertEquals("{\"action\":\"echo\",\"id\":42}".length(), rr.getSentBytes());

      SampleResult bin = sample(new RequestResponse(), c, "Connection name", "a", "Message", "00 ff 10",
          WsfleetSampler.MESSAGE_TYPE, "binary");
      assertTrue(bin.isSuccessful(), describe(bin));
      assertEquals(SampleResult.BINARY, bin.getDataType());
      assertEquals(3, bin.getResponseData().length);
      assertEquals((byte) 0xff, bin.getResponseData()[1]);
    }
  }

  @Test
  void compressionIsOfferedWhenAskedAndCountedInTheStatus() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo", "--deflate")) {
      ControlClient c = d.client();
      SampleResult open = sample(new OpenConnection(), c, "Connection name", "z", "URL", echo.url(),
          OpenConnection.DEFLATE, "true", OpenConnection.DEFLATE_NO_CONTEXT, "true");
      assertTrue(open.isSuccessful(), describe(open));
      String text = "compressible compressible compressible compressible compressible";
      SampleResult rr = sample(new RequestResponse(), c, "Connection name", "z", "Message", text);
      assertTrue(rr.isSuccessful(), describe(rr));
      assertEquals(text, data(rr));
      SampleResult st = sample(new ConnectionStatus(), c, "Connection name", "z");
      assertTrue(st.isSuccessful(), describe(st));
      assertTrue(data(st).contains("\"server_no_context_takeover\":true"), data(st));
      assertTrue(data(st).contains("\"bytes_out\":" + text.length()), data(st));
      SampleResult plain = sample(new OpenConnection(), c, "Connection name", "p", "URL", echo.url());
      SampleResult pst = sample(new ConnectionStatus(), c, "Connection name", "p");
      assertTrue(plain.isSuccessful() && data(pst).contains("\"deflate\":null"), data(pst));
    }
  }

  @Test
  void aReadTimeoutFailsUnlessTheReadIsOptional() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      assertTrue(sample(new OpenConnection(), c, "Connection name", "a", "URL", echo.url()).isSuccessful());
      SampleResult r = sample(new ReceiveMessage(), c, "Connection name", "a", WsfleetSampler.READ_TIMEOUT, "300");
      assertFalse(r.isSuccessful());
      assertEquals("timeout", r.getResponseCode());
      assertTrue(r.getTime() >= 250, "waited " + r.getTime() + " ms");
      SampleResult o = sample(new ReceiveMessage(), c, "Connection name", "a", WsfleetSampler.READ_TIMEOUT, "100",
          ReceiveMessage.OPTIONAL, "true");
      assertTrue(o.isSuccessful(), describe(o));
      assertEquals(0, o.getResponseData().length);
    }
  }

  @Test
  void pingStatusAndCloseReportWhatTheDaemonSaw() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      assertTrue(sample(new OpenConnection(), c, "Connection name", "a", "URL", echo.url()).isSuccessful());
      SampleResult p = sample(new Ping(), c, "Connection name", "a");
      assertTrue(p.isSuccessful(), describe(p));
      assertTrue(p.getResponseMessage().startsWith("pong after"), p.getResponseMessage());
      SampleResult st = sample(new ConnectionStatus(), c, "Connection name", "a");
      assertTrue(st.isSuccessful(), describe(st));
      assertTrue(data(st).contains("\"state\":\"open\""), data(st));
      SampleResult cl = sample(new CloseConnection(), c, "Connection name", "a", CloseConnection.REASON, "bye");
      assertTrue(cl.isSuccessful(), describe(cl));
      assertEquals("1000", cl.getResponseCode());
      assertEquals("1000 local_close: closed by the client", cl.getResponseMessage());
      SampleResult none = sample(new Ping(), c, "Connection name", "never-opened");
      assertFalse(none.isSuccessful());
      assertEquals("no_such_conn", none.getResponseCode());
    }
  }

  @Test
  void aConnectionResetByThePeerIs1006WithTheCauseInTheResponseMessage() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer rst = TestPeer.raw("rst", "--delay-ms", "200")) {
      ControlClient c = d.client();
      SampleResult o = sample(new OpenConnection(), c, "Connection name", "a", "URL", rst.url(),
          OpenConnection.KA_MODE, "none");
      assertTrue(o.isSuccessful(), describe(o));
      Thread.sleep(600);
      JMeterVariables vars = new JMeterVariables();
      JMeterContextService.getContext().setVariables(vars);
      System.setProperty(CloseRecords.VARIABLES_PROPERTY, "ws_");
      SampleResult p;
      try {
        p = sample(new Ping(), c, "Connection name", "a");
      } finally {
        System.clearProperty(CloseRecords.VARIABLES_PROPERTY);
      }
      assertFalse(p.isSuccessful());
      assertEquals("1006", p.getResponseCode(), describe(p));
      // code + cause + fixed words: the same for every drop of this cause, so dashboards group them
      assertEquals("1006 reset: reset by peer", p.getResponseMessage());
      // what varies per drop is in the record (response data) and, when asked, in variables
      assertTrue(data(p).startsWith("{") && data(p).contains("\"cause\":\"reset\""), data(p));
      assertTrue(data(p).contains("\"summary\":\"1006 reset by peer"), data(p));
      assertEquals("1006", vars.get("ws_code"));
      assertEquals("reset", vars.get("ws_cause"));
      assertTrue(Long.parseLong(vars.get("ws_age_ms")) >= 150, vars.get("ws_age_ms"));
      assertTrue(vars.get("ws_summary").contains(" open"), vars.get("ws_summary"));
      assertFalse(vars.get("ws_open_conns").isEmpty());
      System.setProperty(CloseRecords.VARIABLES_PROPERTY, "ws_");
      try {
        assertFalse(sample(new Ping(), c, "Connection name", "never-opened").isSuccessful());
      } finally {
        System.clearProperty(CloseRecords.VARIABLES_PROPERTY);
      }
      assertEquals("", vars.get("ws_cause"), "a later sample without a record clears the variables");
      SampleResult st = sample(new ConnectionStatus(), c, "Connection name", "a");
      assertFalse(st.isSuccessful());
      assertEquals("1006", st.getResponseCode());
      SampleResult cl = sample(new CloseConnection(), c, "Connection name", "a");
      assertFalse(cl.isSuccessful(), "closing a connection that had already dropped: " + describe(cl));
      assertEquals("1006", cl.getResponseCode());
    }
  }

  @Test
  void everySamplerOnAConnectionThePlanClosedFailsWithClosedByPlan() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      assertTrue(sample(new OpenConnection(), c, "Connection name", "a", "URL", echo.url()).isSuccessful());
      SampleResult cl = sample(new CloseConnection(), c, "Connection name", "a");
      assertTrue(cl.isSuccessful(), describe(cl));
      SampleResult[] after = {
          sample(new SendMessage(), c, "Connection name", "a", "Message", "x"),
          sample(new ReceiveMessage(), c, "Connection name", "a", WsfleetSampler.READ_TIMEOUT, "200"),
          sample(new ReceiveMessage(), c, "Connection name", "a", WsfleetSampler.READ_TIMEOUT, "200",
              ReceiveMessage.OPTIONAL, "true"),
          sample(new RequestResponse(), c, "Connection name", "a", "Message", "x"),
          sample(new Ping(), c, "Connection name", "a"),
          sample(new ConnectionStatus(), c, "Connection name", "a"),
          // a second close: another thread sharing the name, or the same thread twice
          sample(new CloseConnection(), c, "Connection name", "a"),
      };
      for (SampleResult r : after) {
        assertFalse(r.isSuccessful(), describe(r));
        assertEquals(WsfleetSampler.CLOSED_BY_PLAN, r.getResponseCode(), describe(r));
        assertEquals("closed_by_plan: the plan closed this connection (1000 local_close: closed by the client)",
            r.getResponseMessage());
        assertTrue(data(r).contains("\"cause\":\"local_close\""), data(r));
        assertEquals(r.getTime(), r.getLatency());
      }
    }
  }

  @Test
  void aRefusedUpgradeAnswersWithTheHttpStatus() throws IOException {
    try (TestDaemon d = new TestDaemon();
         TestPeer refuse = TestPeer.raw("http_status", "--status", "403", "--body", "no entry");
         TestPeer badAccept = TestPeer.raw("bad_accept")) {
      ControlClient c = d.client();
      SampleResult r = sample(new OpenConnection(), c, "Connection name", "a", "URL", refuse.url());
      assertFalse(r.isSuccessful());
      assertEquals("403", r.getResponseCode(), describe(r));
      assertTrue(r.getResponseMessage().startsWith("handshake_failed: HTTP 403"), r.getResponseMessage());
      assertTrue(data(r).contains("no entry"), data(r));
      assertEquals(r.getTime(), r.getLatency());
      // a 101 with a wrong Sec-WebSocket-Accept is no HTTP refusal
      SampleResult b = sample(new OpenConnection(), c, "Connection name", "b", "URL", badAccept.url());
      assertFalse(b.isSuccessful());
      assertEquals("handshake_failed", b.getResponseCode(), describe(b));
    }
  }

  @Test
  void badParametersAndAnUnreachableDaemonAreReportedNotThrown() {
    Map<String, String> p = new HashMap<>();
    p.put("wsfleet.transport", "unix");
    p.put("wsfleet.socket", "/nonexistent/wsfleetd.sock");
    ControlClient c = new ControlClient(ClientConfig.from(p::get));
    SampleResult r = sample(new Ping(), c, "Connection name", "a");
    assertFalse(r.isSuccessful());
    assertEquals("control_error", r.getResponseCode());
    SampleResult bad = sample(new OpenConnection(), c, "URL", "ws://x/", OpenConnection.KA_MODE, "sometimes");
    assertEquals("bad_parameter", bad.getResponseCode());
    SampleResult badHex = sample(new SendMessage(), c, "Message", "xyz", WsfleetSampler.MESSAGE_TYPE, "binary");
    assertEquals("bad_parameter", badHex.getResponseCode());
  }
}
