package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.jmeter.samplers.SampleResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import wsfleet.jmeter.testing.TestDaemon;

/** JMeter's proxy settings into open's proxy field: precedence, scheme, nonProxyHosts, credentials. */
class ProxySettingsTest {
  /** System properties as JMeter's -H 10.0.0.9 -P 3128 leave them (JMeter.java sets both pairs). */
  static Map<String, String> dashHP(String host, String port) {
    Map<String, String> m = new HashMap<>();
    m.put("http.proxyHost", host);
    m.put("https.proxyHost", host);
    m.put("http.proxyPort", port);
    m.put("https.proxyPort", port);
    return m;
  }

  static String pick(String explicit, String url, Map<String, String> sys, Map<String, String> jm) {
    return ProxySettings.forOpen(explicit, url, sys::get, jm::get);
  }

  @Test
  void dashHAndPBecomeTheProxyForWsAndWss() {
    Map<String, String> sys = dashHP("10.0.0.9", "3128");
    assertEquals("http://10.0.0.9:3128", pick(null, "ws://gw.example:8080/chat", sys, new HashMap<>()));
    assertEquals("http://10.0.0.9:3128", pick(null, "wss://gw.example/chat", sys, new HashMap<>()));
  }

  @Test
  void wssTakesTheHttpsPairAndWsTheHttpPair() {
    Map<String, String> sys = new HashMap<>();
    sys.put("http.proxyHost", "plain.proxy");
    sys.put("http.proxyPort", "8080");
    sys.put("https.proxyHost", "secure.proxy");
    sys.put("https.proxyPort", "8443");
    assertEquals("http://plain.proxy:8080", pick(null, "ws://gw/", sys, new HashMap<>()));
    assertEquals("http://secure.proxy:8443", pick(null, "WSS://gw/", sys, new HashMap<>()));
    sys.remove("https.proxyHost");
    assertNull(pick(null, "wss://gw/", sys, new HashMap<>()), "only http.proxyHost: wss:// is direct, as for Java");
  }

  @Test
  void anUnsetPortIs80AsJavaTakesIt() {
    Map<String, String> sys = new HashMap<>();
    sys.put("http.proxyHost", "p");
    assertEquals("http://p:80", pick(null, "ws://gw/", sys, new HashMap<>()));
  }

  @Test
  void dashUAndAAddPercentEncodedCredentials() {
    Map<String, String> jm = new HashMap<>();
    jm.put("http.proxyUser", "load tester");
    jm.put("http.proxyPass", "p@ss:w/rd%");
    assertEquals("http://load%20tester:p%40ss%3Aw%2Frd%25@10.0.0.9:3128",
        pick(null, "ws://gw/", dashHP("10.0.0.9", "3128"), jm));
    jm.remove("http.proxyPass");
    assertEquals("http://load%20tester@10.0.0.9:3128", pick(null, "ws://gw/", dashHP("10.0.0.9", "3128"), jm));
  }

  @Test
  void anIpv6ProxyIsBracketed() {
    assertEquals("http://[::1]:3128", pick(null, "ws://gw/", dashHP("::1", "3128"), new HashMap<>()));
  }

  @Test
  void nonProxyHostsAreDirectWithJMetersRule() {
    Map<String, String> sys = dashHP("10.0.0.9", "3128");
    sys.put("http.nonProxyHosts", "localhost|*.internal.example|127.0.0.1|::1");
    assertNull(pick(null, "ws://localhost:8080/", sys, new HashMap<>()));
    assertNull(pick(null, "wss://chat.internal.example/", sys, new HashMap<>()), "-N covers wss:// too");
    assertNull(pick(null, "ws://CHAT.Internal.Example/", sys, new HashMap<>()));
    assertNull(pick(null, "ws://127.0.0.1:9/", sys, new HashMap<>()));
    assertNull(pick(null, "ws://[::1]:9/", sys, new HashMap<>()));
    assertEquals("http://10.0.0.9:3128", pick(null, "ws://internal.example.org/", sys, new HashMap<>()));
    assertEquals("http://10.0.0.9:3128", pick(null, "ws://127.0.0.10/", sys, new HashMap<>()),
        "an entry without * is the whole host");
    assertTrue(ProxySettings.nonProxy("*.a|b", "x.a"));
    assertFalse(ProxySettings.nonProxy("*.a|b", "bb"));
    assertFalse(ProxySettings.nonProxy(null, "b"));
  }

  @Test
  void theOpensOwnFieldWinsAndNoneIsDirectEvenWithDashH() {
    Map<String, String> sys = dashHP("10.0.0.9", "3128");
    sys.put("http.nonProxyHosts", "gw");
    assertEquals("http://other:1", pick("http://other:1", "ws://gw/", sys, new HashMap<>()),
        "the field is not subject to nonProxyHosts");
    assertEquals("none", pick("none", "ws://x/", sys, new HashMap<>()));
    assertEquals("none", pick("NONE", "ws://x/", sys, new HashMap<>()));
  }

  @Test
  void withoutAnyJMeterProxyTheFieldIsLeftOutForTheDaemonsDefault() {
    assertNull(pick(null, "ws://gw/", new HashMap<>(), new HashMap<>()));
    Map<String, String> blank = dashHP(" ", "3128");
    assertNull(pick(null, "ws://gw/", blank, new HashMap<>()));
  }

  @Test
  void openSendsTheFieldFromItsParameterOrFromTheSystemProperties() {
    OpenConnection o = new OpenConnection();
    Map<String, Object> m = o.params(SamplersTest.params(o, "URL", "ws://gw/", "Proxy", "http://u:p@h:1"), "c");
    assertEquals("http://u:p@h:1", m.get("proxy"));
    String before = System.getProperty("http.proxyHost");
    System.setProperty("http.proxyHost", "127.0.0.7");
    System.setProperty("http.proxyPort", "3129");
    try {
      assertEquals("http://127.0.0.7:3129", o.params(SamplersTest.params(o, "URL", "ws://gw/"), "c").get("proxy"));
      assertFalse(o.params(SamplersTest.params(o, "URL", "wss://gw/"), "c").containsKey("proxy"));
    } finally {
      if (before == null) {
        System.clearProperty("http.proxyHost");
      } else {
        System.setProperty("http.proxyHost", before);
      }
      System.clearProperty("http.proxyPort");
    }
    assertFalse(o.params(SamplersTest.params(o, "URL", "ws://gw/"), "c").containsKey("proxy"));
  }

  /**
   * The README's row "the HTTP proxy refused the CONNECT", through the real daemon: a proxy that
   * answers CONNECT with 407 gives a failed sample coded 407 that says it was the proxy.
   */
  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void aProxysRefusalIsItsStatusWithThePhaseInTheMessage() throws Exception {
    try (TestDaemon d = new TestDaemon();
        ServerSocket proxy = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
      Thread answer = new Thread(() -> refuseOneConnect(proxy));
      answer.setDaemon(true);
      answer.start();
      SampleResult r = SamplersTest.sample(new OpenConnection(), d.client(), "Connection name", "via-proxy",
          "URL", "ws://127.0.0.1:9/", "Proxy", "http://127.0.0.1:" + proxy.getLocalPort());
      assertFalse(r.isSuccessful(), SamplersTest.describe(r));
      assertEquals("407", r.getResponseCode(), SamplersTest.describe(r));
      assertTrue(r.getResponseMessage().startsWith("handshake_failed (phase proxy): HTTP 407"),
          r.getResponseMessage());
      assertTrue(SamplersTest.data(r).contains("\"phase\":\"proxy\""), SamplersTest.data(r));
    }
  }

  /** Reads one CONNECT request head and answers 407, as a proxy wanting credentials does. */
  private static void refuseOneConnect(ServerSocket proxy) {
    try (Socket s = proxy.accept()) {
      InputStream in = s.getInputStream();
      StringBuilder head = new StringBuilder();
      int c;
      while (!head.toString().endsWith("\r\n\r\n") && (c = in.read()) >= 0 && head.length() < 16384) {
        head.append((char) c);
      }
      OutputStream out = s.getOutputStream();
      out.write(("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
          + "Content-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
    } catch (IOException e) {
      // the test's assertions say what went wrong
    }
  }
}
