package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static wsfleet.jmeter.SamplersTest.data;
import static wsfleet.jmeter.SamplersTest.describe;
import static wsfleet.jmeter.SamplersTest.sample;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

import org.apache.jmeter.samplers.SampleResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.testing.TestDaemon;
import wsfleet.jmeter.testing.TestPeer;

/**
 * The helpers' match criteria in the daemon's own POSIX regex engine: an echo peer hands back the
 * protocol messages the plan sends (raw: the server's shapes, decoys first), and Receive's match
 * event must take exactly the right one.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ProtocolHelpersTest {
  private static void send(ControlClient c, String... kv) {
    String[] all = new String[kv.length + 2];
    all[0] = WsfleetSampler.CONN;
    all[1] = "p";
    System.arraycopy(kv, 0, all, 2, kv.length);
    SampleResult s = sample(new SendMessage(), c, all);
    assertTrue(s.isSuccessful(), describe(s));
  }

  private static void raw(ControlClient c, String message) {
    send(c, WsfleetSampler.MESSAGE, message);
  }

  private static String receive(ControlClient c, String kind, String event, String replyId, String... more) {
    String[] base = {WsfleetSampler.CONN, "p", WsfleetSampler.READ_TIMEOUT, "3000", WsfleetSampler.MATCH_EVENT_KIND, kind,
        event != null ? WsfleetSampler.MATCH_EVENT : WsfleetSampler.MATCH_REPLY_ID, event != null ? event : replyId};
    String[] all = new String[base.length + more.length];
    System.arraycopy(base, 0, all, 0, base.length);
    System.arraycopy(more, 0, all, base.length, more.length);
    SampleResult r = sample(new ReceiveMessage(), c, all);
    return r.isSuccessful() ? data(r) : r.getResponseCode();
  }

  private static ControlClient open(TestDaemon d, TestPeer echo) throws IOException {
    ControlClient c = d.client();
    SampleResult o = sample(new OpenConnection(), c, WsfleetSampler.CONN, "p", OpenConnection.URL, echo.url());
    assertTrue(o.isSuccessful(), describe(o));
    return c;
  }

  @Test
  void socketIoEventsAndAcksAreTakenByNameNamespaceAndId() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = open(d, echo);
      raw(c, "42[\"bb\",1]");
      raw(c, "42/chat,[\"b\"]");
      raw(c, "42[\"b2\"]");
      send(c, WsfleetSampler.MESSAGE_KIND, "socketio", WsfleetSampler.SIO_EVENT, "b", WsfleetSampler.SIO_ARGS, "[{\"x\":1}]");
      raw(c, "42[\"a.b*$^\\\\(\"]".replace("a.b", "aXb")); // decoy: . must not match X
      send(c, WsfleetSampler.MESSAGE_KIND, "socketio", WsfleetSampler.SIO_EVENT, "a.b*$^\\(");
      raw(c, "4312[\"no\"]");
      raw(c, "4317[\"not 1\"]");
      raw(c, "431[\"yes\"]");
      assertEquals("42[\"b\",{\"x\":1}]", receive(c, "socketio", "b", null));
      assertEquals("42/chat,[\"b\"]", receive(c, "socketio", "b", null, WsfleetSampler.SIO_NAMESPACE, "/chat"));
      assertEquals("42[\"a.b*$^\\\\(\"]", receive(c, "socketio", "a.b*$^\\(", null));
      assertEquals("431[\"yes\"]", receive(c, "socketio", null, "1"));
      assertEquals("timeout", receive(c, "socketio", "b", null, WsfleetSampler.READ_TIMEOUT, "200"));
    }
  }

  @Test
  void stompMessagesByDestinationAndReceiptsById() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = open(d, echo);
      // decoy: a body line that reads like the header must not match
      raw(c, "MESSAGE\ndestination:/topic/other\n\ndestination:/topic/a\n\0");
      raw(c, "MESSAGE\r\nsubscription:0\r\ndestination:/topic/a\\cb\r\n\r\nhi\0");
      raw(c, "RECEIPT\nreceipt-id:wsfleet-10\n\n\0");
      raw(c, "\nRECEIPT\nreceipt-id:wsfleet-1\n\n\0");
      assertEquals("timeout", receive(c, "stomp", "/topic/a", null, WsfleetSampler.READ_TIMEOUT, "200"));
      assertEquals("MESSAGE\r\nsubscription:0\r\ndestination:/topic/a\\cb\r\n\r\nhi\0", receive(c, "stomp", "/topic/a:b", null));
      assertEquals("\nRECEIPT\nreceipt-id:wsfleet-1\n\n\0", receive(c, "stomp", null, "wsfleet-1"));
      // a frame the helper built comes back as the server would echo it: its own shape, unchanged
      send(c, WsfleetSampler.MESSAGE_KIND, "stomp", WsfleetSampler.STOMP_DESTINATION, "/queue/x", WsfleetSampler.MESSAGE, "body");
      SampleResult r = sample(new ReceiveMessage(), c, WsfleetSampler.CONN, "p", WsfleetSampler.MATCH_CONTAINS, "/queue/x");
      assertEquals("SEND\ndestination:/queue/x\ncontent-length:4\n\nbody\0", data(r));
    }
  }

  @Test
  void signalRInvocationsByTargetAndCompletionsById() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = open(d, echo);
      raw(c, "{\"type\":1,\"target\":\"RecvX\",\"arguments\":[]}");
      raw(c, "{\"type\":3,\"invocationId\":\"19\",\"result\":1}");
      raw(c, "{\"type\":2,\"invocationId\":\"9\",\"item\":0}");
      raw(c, "{ \"type\" : 1, \"target\": \"Recv\", \"arguments\": [\"x\"] }");
      raw(c, "{\"invocationId\":\"9\",\"type\":3,\"result\":3}");
      assertEquals("{ \"type\" : 1, \"target\": \"Recv\", \"arguments\": [\"x\"] }", receive(c, "signalr", "Recv", null));
      assertEquals("{\"invocationId\":\"9\",\"type\":3,\"result\":3}", receive(c, "signalr", null, "9"));
    }
  }
}
