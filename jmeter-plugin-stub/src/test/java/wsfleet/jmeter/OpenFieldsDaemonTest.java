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

/** The Open's reconnect and rate-limit fields as the real daemon takes them (status shows them back). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OpenFieldsDaemonTest {
  @Test
  void reconnectAndRateLimitReachTheDaemonAndTheThirdSendIsPaced() throws IOException {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("sink")) {
      ControlClient c = d.client();
      SampleResult o = sample(new OpenConnection(), c, WsfleetSampler.CONN, "f", OpenConnection.URL, echo.url(),
          OpenConnection.KA_MODE, "none", OpenConnection.RECONNECT_MAX, "4", OpenConnection.RECONNECT_BACKOFF, "200",
          OpenConnection.RECONNECT_BACKOFF_MAX, "800", OpenConnection.RATE_MESSAGES, "2", OpenConnection.RATE_PER_MS, "1000");
      assertTrue(o.isSuccessful(), describe(o));
      SampleResult st = sample(new ConnectionStatus(), c, WsfleetSampler.CONN, "f");
      String status = data(st);
      assertTrue(status.contains("\"reconnect\":{\"max\":4"), status);
      assertTrue(status.contains("\"rate_limit\":{\"messages\":2,\"per_ms\":1000"), status);
      for (int i = 0; i < 2; i++) {
        SampleResult s = sample(new SendMessage(), c, WsfleetSampler.CONN, "f", WsfleetSampler.MESSAGE, "m" + i);
        assertEquals("sent 2 bytes", s.getResponseMessage(), describe(s));
      }
      SampleResult third = sample(new SendMessage(), c, WsfleetSampler.CONN, "f", WsfleetSampler.MESSAGE, "m2");
      assertTrue(third.getResponseMessage().matches("sent 2 bytes, paced [0-9]+ ms by the rate limit"),
          third.getResponseMessage());
    }
  }
}
