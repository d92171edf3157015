package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static wsfleet.jmeter.SamplersTest.data;
import static wsfleet.jmeter.SamplersTest.describe;
import static wsfleet.jmeter.SamplersTest.sample;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.jmeter.samplers.SampleResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.client.Reply;
import wsfleet.jmeter.testing.TestDaemon;
import wsfleet.jmeter.testing.TestPeer;

/**
 * Reconnects through the real daemon: a python3-websockets peer closes every session after one
 * message (1001 "restart"); the daemon reopens it; the thread's next sample shows the reconnect
 * and the Drop Monitor reports the drop (1001) and the reconnect apart.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReconnectsDaemonTest {
  @SuppressWarnings("unchecked")
  static long reconnectCount(ControlClient c, String conn) throws IOException {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("conn", conn);
    Reply s = c.call("status", p);
    Object rc = s.ok() ? s.result().get("reconnect") : null;
    return rc instanceof Map && ((Map<String, Object>) rc).get("count") instanceof Long
        ? (Long) ((Map<String, Object>) rc).get("count") : 0;
  }

  @Test
  void theNextSampleAfterAReopenCarriesItAndTheMonitorReportsBoth() throws Exception {
    try (TestDaemon d = new TestDaemon();
         TestPeer peer = TestPeer.py("close_after", "--after", "1", "--close-code", "1001", "--close-reason", "restart")) {
      ControlClient c = d.client();
      DropFeed feed = new DropFeed(c);
      feed.ensureSubscribed();
      SampleResult o = sample(new OpenConnection(), c, WsfleetSampler.CONN, "rc", OpenConnection.URL, peer.url(),
          OpenConnection.KA_MODE, "none", OpenConnection.RECONNECT_MAX, "2", OpenConnection.RECONNECT_BACKOFF, "50",
          OpenConnection.RECONNECT_JITTER, "0");
      assertTrue(o.isSuccessful(), describe(o));
      SampleResult first = sample(new SendMessage(), c, WsfleetSampler.CONN, "rc", WsfleetSampler.MESSAGE, "x");
      assertEquals(0, first.getSubResults().length, describe(first));
      long deadline = System.currentTimeMillis() + 10_000;
      while (reconnectCount(c, "rc") < 1 && System.currentTimeMillis() < deadline) {
        Thread.sleep(20);
      }
      assertEquals(1, reconnectCount(c, "rc"));
      SampleResult ping = sample(new Ping(), c, WsfleetSampler.CONN, "rc");
      assertTrue(ping.isSuccessful(), describe(ping));
      assertTrue(ping.getResponseMessage().endsWith("(reconnected once since this thread's last sample: 1 in all)"),
          ping.getResponseMessage());
      assertEquals(1, ping.getSubResults().length);
      SampleResult sub = ping.getSubResults()[0];
      assertEquals("1001", sub.getResponseCode(), data(sub));
      assertEquals("1001 server_close: closed by the server", sub.getResponseMessage());
      assertEquals(Reconnects.LABEL, sub.getSampleLabel());
      assertEquals(0, sample(new Ping(), c, WsfleetSampler.CONN, "rc").getSubResults().length, "seen once");

      DropMonitor m = new DropMonitor();
      SampleResult drop = DropMonitorTest.next(m, feed, DropMonitor.WAIT, "3000");
      assertEquals("1001", drop.getResponseCode(), data(drop));
      SampleResult reopen = DropMonitorTest.next(m, feed, DropMonitor.WAIT, "3000");
      assertFalse(reopen.isSuccessful());
      assertEquals("reconnect", reopen.getResponseCode(), data(reopen));
      assertEquals("reconnect: reopened after 1001 server_close: closed by the server", reopen.getResponseMessage());
    }
  }
}
