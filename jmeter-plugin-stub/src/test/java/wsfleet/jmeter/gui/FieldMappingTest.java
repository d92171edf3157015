package wsfleet.jmeter.gui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.beans.BeanInfo;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.ResourceBundle;
import java.util.Set;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.protocol.java.sampler.JavaSamplerClient;
import org.apache.jmeter.testbeans.gui.GenericTestBeanCustomizer;
import org.apache.jmeter.testelement.TestElement;
import org.apache.jmeter.testelement.property.BooleanProperty;
import org.apache.jmeter.util.JMeterUtils;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The wsfleet test elements against the Java Request classes they delegate to: every field maps
 * to a parameter the class reads, every field is on the form with a label from the bundle, and
 * values (own, inherited from wsfleet Defaults, or absent) become the parameters the class gets.
 */
class FieldMappingTest {
  @BeforeAll
  static void jmeterLocale() {
    JMeterUtils.setLocale(java.util.Locale.ENGLISH); // what JMeter sets before it reads any form
  }

  static List<WsfleetTestBean> samplers() {
    List<WsfleetTestBean> all = new ArrayList<>();
    all.add(new OpenSampler());
    all.add(new SendSampler());
    all.add(new ReceiveSampler());
    all.add(new RequestResponseSampler());
    all.add(new PingSampler());
    all.add(new CloseSampler());
    all.add(new StatusSampler());
    all.add(new ResetSampler());
    all.add(new DropMonitorSampler());
    return all;
  }

  @Test
  void everyFieldIsAParameterOfTheJavaRequestClass() {
    for (WsfleetTestBean s : samplers()) {
      JavaSamplerClient c = s.newClient();
      Set<String> params = c.getDefaultParameters().getArgumentsAsMap().keySet();
      Set<String> mapped = new LinkedHashSet<>();
      for (Field f : s.fields()) {
        assertTrue(params.contains(f.param), s.delegate() + " has no parameter \"" + f.param + "\"");
        assertTrue(mapped.add(f.param), "two fields map to " + f.param);
      }
      // and the other way round: nothing the Java Request form offers is missing from ours
      assertEquals(params, mapped, s.delegate());
    }
  }

  /**
   * The keys as saved plans hold them, written out once more on purpose: the samplers and the GUI
   * elements share one declaration (public constants), and this pins its values.
   */
  @Test
  void theParameterKeysAreTheOnesSavedPlansHold() {
    String conn = "Connection name";
    String[] match = {"Read timeout (ms)", "Match substring", "Match regex (POSIX extended)",
        "Match JSON field (dotted path)", "Match JSON value", "Discard unmatched messages"};
    Map<String, List<String>> want = new java.util.LinkedHashMap<>();
    want.put("OpenConnection", java.util.Arrays.asList(conn, "URL", "Reuse live connection", "Connect timeout (ms)",
        "Headers (Name: value | Name: value)", "Subprotocols (comma-separated)", "Keepalive mode (ping|text|binary|none)",
        "Keepalive interval (ms)", "Keepalive jitter (ms)", "Keepalive payload (binary as hex)", "Pong timeout (ms)",
        "Heartbeat reply contains", "Max message bytes", "Inbox max messages", "Inbox max bytes",
        "TLS verify certificate", "TLS CA file", "TLS server name", "TLS client certificate file",
        "TLS client key file", "TLS ciphers", "Compression (permessage-deflate)", "Compression without context takeover", "Proxy",
        "Preset (none|socketio4|stomp12|signalr-json|echo-heartbeat)", "Preset options (JSON object)",
        "Framing (message|record_separator|stomp)", "Session steps (JSON array)", "Auto-reply rules (JSON array)",
        "Reconnect max", "Reconnect backoff (ms)", "Reconnect backoff max (ms)", "Reconnect jitter (ms)",
        "Rate limit messages", "Rate limit per (ms)"));
    List<String> message = java.util.Arrays.asList("Message", "Message type (text|binary; binary as hex)",
        "Message kind (raw|socketio|stomp|signalr)", "Socket.IO namespace", "Socket.IO event", "Socket.IO args (JSON array)",
        "Socket.IO ack (true|false)", "STOMP command", "STOMP destination", "STOMP id (subscription or ack id)",
        "STOMP headers (Name: value | Name: value)", "STOMP receipt (true|false)", "SignalR target",
        "SignalR arguments (JSON array)", "SignalR with completion (true|false)");
    List<String> matchEvent = java.util.Arrays.asList("Match event kind (socketio|stomp|signalr)",
        "Match event (Socket.IO event, STOMP destination, SignalR target)",
        "Match reply id (Socket.IO ack, STOMP receipt, SignalR invocation)");
    List<String> send = new ArrayList<>(java.util.Arrays.asList(conn));
    send.addAll(message);
    want.put("SendMessage", send);
    List<String> receive = new ArrayList<>(java.util.Arrays.asList(conn));
    receive.addAll(java.util.Arrays.asList(match));
    receive.addAll(matchEvent);
    receive.add("Socket.IO namespace");
    receive.add("Optional read (no message is not an error)");
    want.put("ReceiveMessage", receive);
    List<String> rr = new ArrayList<>(java.util.Arrays.asList(conn));
    rr.addAll(message);
    rr.addAll(java.util.Arrays.asList(match));
    rr.addAll(matchEvent);
    want.put("RequestResponse", rr);
    want.put("Ping", java.util.Arrays.asList(conn, "Ping payload (up to 125 bytes)", "Pong timeout (ms)"));
    want.put("CloseConnection", java.util.Arrays.asList(conn, "Close code", "Close reason", "Close timeout (ms)"));
    want.put("ConnectionStatus", java.util.Arrays.asList(conn));
    want.put("ResetFleet", java.util.Arrays.asList("Close code", "Close reason"));
    want.put("DropMonitor", java.util.Arrays.asList("Wait for an ending (ms)", "Ignore causes (comma-separated)",
        "Stop when the other threads have ended"));
    for (WsfleetTestBean s : samplers()) {
      List<String> keys = new ArrayList<>(s.newClient().getDefaultParameters().getArgumentsAsMap().keySet());
      assertEquals(new LinkedHashSet<>(want.get(s.delegate())), new LinkedHashSet<>(keys), s.delegate());
    }
  }

  @Test
  void everyFieldIsOnTheFormWithALabelAndNothingElseIs() throws Exception {
    List<Class<?>> beans = new ArrayList<>();
    for (WsfleetTestBean s : samplers()) {
      beans.add(s.getClass());
    }
    beans.add(WsfleetDefaults.class);
    for (Class<?> bean : beans) {
      BeanInfo info = Introspector.getBeanInfo(bean);
      ResourceBundle rb = (ResourceBundle) info.getBeanDescriptor().getValue(GenericTestBeanCustomizer.RESOURCE_BUNDLE);
      assertNotNull(rb, bean + " has no resource bundle");
      assertTrue(info.getBeanDescriptor().getDisplayName().startsWith("wsfleet "), bean.getName());
      Set<String> onForm = new LinkedHashSet<>();
      for (PropertyDescriptor p : info.getPropertyDescriptors()) {
        if (p.isHidden() || p.getWriteMethod() == null) { // what TestBeanGUI leaves off the form
          continue;
        }
        String group = (String) p.getValue(GenericTestBeanCustomizer.GROUP);
        assertNotNull(group, bean.getSimpleName() + "." + p.getName() + " is in no group");
        assertTrue(rb.containsKey(group + ".displayName"), group);
        assertTrue(rb.containsKey(p.getName() + ".displayName"), bean.getSimpleName() + "." + p.getName());
        assertTrue(rb.containsKey(p.getName() + ".shortDescription"), bean.getSimpleName() + "." + p.getName());
        assertEquals("", p.getValue(GenericTestBeanCustomizer.DEFAULT));
        onForm.add(p.getName());
      }
      if (bean != WsfleetDefaults.class) {
        Set<String> keys = new LinkedHashSet<>();
        for (Field f : ((WsfleetTestBean) bean.getDeclaredConstructor().newInstance()).fields()) {
          keys.add(f.key);
        }
        assertEquals(keys, onForm, bean.getSimpleName());
      }
    }
  }

  @Test
  void emptyFieldsAreLeftToTheJavaRequestDefaults() {
    OpenSampler open = new OpenSampler();
    open.setName("open chat");
    open.setProperty("url", "ws://127.0.0.1:9/chat");
    open.setProperty("keepaliveInterval", "5000");
    open.setProperty("headers", "Origin: http://x\nCookie: a=b");
    Map<String, String> a = open.arguments().getArgumentsAsMap();
    assertEquals("ws://127.0.0.1:9/chat", a.get("URL"));
    assertEquals("5000", a.get("Keepalive interval (ms)"));
    assertEquals("Origin: http://x\nCookie: a=b", a.get("Headers (Name: value | Name: value)"));
    assertEquals("open chat", a.get(TestElement.NAME));
    assertFalse(a.containsKey("Connection name"), "an empty name must take the Java Request default");
    assertEquals(4, a.size(), a.toString());
  }

  @Test
  void messagesKeepTheirSpaces() {
    SendSampler send = new SendSampler();
    send.setProperty("message", "  two spaces each side  ");
    assertEquals("  two spaces each side  ", send.arguments().getArgumentsAsMap().get("Message"));
  }

  /** What JMeter's TestCompiler does with a config element in scope before each sample. */
  private static void mergeDefaults(WsfleetTestBean sampler, WsfleetDefaults defaults) {
    sampler.setRunningVersion(true);
    defaults.setRunningVersion(true);
    assertTrue(sampler.applies(defaults));
    sampler.addTestElement(defaults);
  }

  @Test
  void emptyFieldsInheritFromWsfleetDefaultsAndOwnValuesWin() {
    WsfleetDefaults d = new WsfleetDefaults();
    d.setProperty("urlBase", "ws://gw.test:8080/app/");
    d.setProperty("keepaliveMode", "text");
    d.setProperty("keepalivePayload", "{\"action\":\"echo\"}");
    d.setProperty("keepaliveInterval", "25000");
    d.setProperty("tlsVerify", "false");
    d.setProperty("compression", "true");
    OpenSampler open = new OpenSampler();
    open.setProperty("url", "chat?room=1");
    open.setProperty("keepaliveInterval", "1000");
    mergeDefaults(open, d);
    Map<String, String> a = open.arguments().getArgumentsAsMap();
    assertEquals("ws://gw.test:8080/app/chat?room=1", a.get("URL"));
    assertEquals("text", a.get("Keepalive mode (ping|text|binary|none)"));
    assertEquals("{\"action\":\"echo\"}", a.get("Keepalive payload (binary as hex)"));
    assertEquals("1000", a.get("Keepalive interval (ms)"), "the sampler's own value wins");
    assertEquals("false", a.get("TLS verify certificate"));
    assertEquals("true", a.get("Compression (permessage-deflate)"));

    // after the sample JMeter takes the merged values back out: the sampler is as it was saved
    open.recoverRunningVersion();
    assertEquals("", open.getPropertyAsString("keepaliveMode"));
    assertEquals("chat?room=1", open.getPropertyAsString("url"));
  }

  @Test
  void defaultsReachOnlyTheFieldsOfTheSameKey() {
    WsfleetDefaults d = new WsfleetDefaults();
    d.setProperty("pongTimeout", "3000");
    d.setProperty("connectTimeout", "2000");
    PingSampler ping = new PingSampler();
    mergeDefaults(ping, d);
    // Ping's own timeout is another field: the keepalive's pong timeout does not change it
    Map<String, String> a = ping.arguments().getArgumentsAsMap();
    assertFalse(a.containsKey("Pong timeout (ms)"), a.toString());
  }

  static PropertyDescriptor descriptor(Class<?> bean, String key) throws Exception {
    for (PropertyDescriptor p : Introspector.getBeanInfo(bean).getPropertyDescriptors()) {
      if (p.getName().equals(key)) {
        return p;
      }
    }
    throw new AssertionError(bean.getSimpleName() + " has no field " + key);
  }

  @Test
  void reuseIsAChoiceOfTheThreeValuesTheJavaRequestTakes() throws Exception {
    PropertyDescriptor reuse = descriptor(OpenSampler.class, "reuse");
    assertEquals(java.util.Arrays.asList("true", "false", "any"),
        java.util.Arrays.asList((String[]) reuse.getValue(GenericTestBeanCustomizer.TAGS)));
    // not limited to the tags, so ${__P(reuse,any)} still goes in
    assertFalse(Boolean.TRUE.equals(reuse.getValue(GenericTestBeanCustomizer.NOT_OTHER)));
    OpenSampler open = new OpenSampler();
    open.setProperty("reuse", "any");
    assertEquals("any", open.arguments().getArgumentsAsMap().get("Reuse live connection"));
  }

  @Test
  void aReuseSavedAsABooleanIsSentAsTrueOrFalse() {
    // a plan saved while the field was a checkbox holds <boolProp name="reuse">
    OpenSampler open = new OpenSampler();
    open.setProperty(new BooleanProperty("reuse", false));
    assertEquals("false", open.arguments().getArgumentsAsMap().get("Reuse live connection"));
    open.setProperty(new BooleanProperty("reuse", true));
    assertEquals("true", open.arguments().getArgumentsAsMap().get("Reuse live connection"));
  }

  @Test
  void theConnectionNameHelpNamesTheThreadNameDefault() throws Exception {
    for (WsfleetTestBean s : samplers()) {
      if (s instanceof ConnectionSampler) {
        String help = descriptor(s.getClass(), "connection").getShortDescription();
        assertTrue(help.contains("Empty: ${__threadName}"), s.getClass().getSimpleName() + ": " + help);
      }
    }
  }

  @Test
  void theDropMonitorPassesItsThreeFields() {
    DropMonitorSampler m = new DropMonitorSampler();
    m.setName("wsfleet drops");
    m.setProperty("waitForEnding", "500");
    m.setProperty("ignoreCauses", "local_close");
    m.setProperty("stopWhenOthersEnded", "false");
    Map<String, String> a = m.arguments().getArgumentsAsMap();
    assertEquals("500", a.get("Wait for an ending (ms)"));
    assertEquals("local_close", a.get("Ignore causes (comma-separated)"));
    assertEquals("false", a.get("Stop when the other threads have ended"));
    assertEquals("wsfleet drops", a.get(TestElement.NAME));
    assertEquals("wsfleet Drop Monitor", descriptorName(DropMonitorSampler.class));
  }

  static String descriptorName(Class<?> bean) {
    try {
      return Introspector.getBeanInfo(bean).getBeanDescriptor().getDisplayName();
    } catch (java.beans.IntrospectionException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void defaultsSetTheDaemonLocationAndRecordVariablesPropertiesAtTestStart() throws Exception {
    File empty = File.createTempFile("wsf-jmeter", ".properties");
    boolean loaded = JMeterUtils.getJMeterProperties() != null;
    if (!loaded) {
      JMeterUtils.loadJMeterProperties(empty.getPath()); // what JMeter has before a test starts
    }
    WsfleetDefaults d = new WsfleetDefaults();
    d.setProperty("daemonSocket", " /run/x/wsfleetd.sock ");
    d.setProperty("recordVariables", "ws_");
    try {
      d.testStarted();
      assertEquals("/run/x/wsfleetd.sock", JMeterUtils.getProperty("wsfleet.socket"));
      assertEquals("ws_", JMeterUtils.getProperty("wsfleet.record_variables"));
      assertEquals(null, JMeterUtils.getProperty("wsfleet.tcp"), "an empty field sets nothing");
    } finally {
      JMeterUtils.getJMeterProperties().remove("wsfleet.socket");
      JMeterUtils.getJMeterProperties().remove("wsfleet.record_variables");
      Files.delete(empty.toPath());
    }
  }

  @Test
  void otherConfigElementsDoNotApply() {
    assertFalse(new OpenSampler().applies(new Arguments()));
  }

  @Test
  void urlsResolveAgainstTheBase() {
    assertEquals("ws://h:1/a/b", WsfleetDefaults.resolveUrl("ws://h:1/a/", "b"));
    assertEquals("ws://h:1/b", WsfleetDefaults.resolveUrl("ws://h:1/a/", "/b"));
    assertEquals("ws://h:1/a/", WsfleetDefaults.resolveUrl("ws://h:1/a/", ""));
    assertEquals("wss://o:2/", WsfleetDefaults.resolveUrl("ws://h:1/a/", "wss://o:2/"));
    assertEquals("/b", WsfleetDefaults.resolveUrl("", "/b"));
    assertEquals("", WsfleetDefaults.resolveUrl("", ""));
  }
}
