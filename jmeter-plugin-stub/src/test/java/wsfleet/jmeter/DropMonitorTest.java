package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

import org.apache.jmeter.samplers.SampleResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.testing.TestDaemon;
import wsfleet.jmeter.testing.TestPeer;

/** The Drop Monitor turns background endings into samples, against the real daemon. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DropMonitorTest {
  static SampleResult next(DropMonitor m, DropFeed feed, String... kv) {
    return m.next(feed, SamplersTest.params(m, kv), null);
  }

  @Test
  void aDropNoThreadTouchesIsOneFailedSampleAndThePlansOwnCloseIsNone() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer rst = TestPeer.raw("rst", "--delay-ms", "200");
         TestPeer echo = TestPeer.py("echo");
         TestPeer refuse = TestPeer.raw("http_status", "--status", "503", "--status-text", "Busy")) {
      ControlClient c = d.client();
      DropFeed feed = new DropFeed(c);
      feed.ensureSubscribed();
      DropMonitor m = new DropMonitor();
      assertTrue(next(m, feed, DropMonitor.WAIT, "100").isIgnore(), "nothing ended: nothing recorded");

      assertTrue(SamplersTest.sample(new OpenConnection(), c, "Connection name", "own", "URL", echo.url()).isSuccessful());
      assertTrue(SamplersTest.sample(new CloseConnection(), c, "Connection name", "own").isSuccessful());
      long before = System.currentTimeMillis();
      assertTrue(SamplersTest.sample(new OpenConnection(), c, "Connection name", "dropped", "URL", rst.url(),
          OpenConnection.KA_MODE, "none").isSuccessful());
      // nobody samples "dropped" again: the monitor alone reports it (the own close is skipped)
      SampleResult r = next(m, feed, DropMonitor.WAIT, "3000");
      assertFalse(r.isIgnore());
      assertFalse(r.isSuccessful(), SamplersTest.data(r));
      assertEquals("1006", r.getResponseCode());
      assertEquals("1006 reset: reset by peer", r.getResponseMessage());
      assertTrue(SamplersTest.data(r).contains("\"conn\":\"dropped\"") && SamplersTest.data(r).contains("\"cause\":\"reset\""), SamplersTest.data(r));
      assertTrue(r.getTimeStamp() >= before && r.getTimeStamp() <= System.currentTimeMillis(), "stamped at the drop");
      assertTrue(r.getSamplerData().startsWith("close dropped ws://"), r.getSamplerData());

      assertFalse(SamplersTest.sample(new OpenConnection(), c, "Connection name", "refused", "URL", refuse.url())
          .isSuccessful());
      SampleResult h = next(m, feed, DropMonitor.WAIT, "3000");
      assertEquals("503", h.getResponseCode(), SamplersTest.data(h));
      assertTrue(h.getResponseMessage().startsWith("handshake_failed: HTTP 503"), h.getResponseMessage());
      assertTrue(next(m, feed, DropMonitor.WAIT, "200").isIgnore());

      // with nothing ignored, the plan's own close is shown, as a success
      assertTrue(SamplersTest.sample(new OpenConnection(), c, "Connection name", "own", "URL", echo.url()).isSuccessful());
      assertTrue(SamplersTest.sample(new CloseConnection(), c, "Connection name", "own").isSuccessful());
      SampleResult own = next(m, feed, DropMonitor.WAIT, "3000", DropMonitor.IGNORE, "");
      assertTrue(own.isSuccessful(), SamplersTest.data(own));
      assertEquals("1000", own.getResponseCode());
    }
  }
}
