package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Reply;

/** Sends a ping frame and waits for its pong; elapsed is the daemon's round-trip time. */
public class Ping extends WsfleetSampler {
  public static final String PAYLOAD = "Ping payload (up to 125 bytes)";
  public static final String PONG_TIMEOUT = "Pong timeout (ms)";

  @Override
  protected boolean reportsReconnects() {
    return true;
  }

  @Override
  protected String method() {
    return "ping";
  }

  @Override
  protected void addParameters(Arguments a) {
    a.addArgument(PAYLOAD, "");
    a.addArgument(PONG_TIMEOUT, "10000");
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    String payload = p.raw(PAYLOAD);
    if (!payload.isEmpty()) {
      m.put("data", payload);
    }
    m.put("timeout_ms", p.num(PONG_TIMEOUT, 10_000));
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    Object rtt = r.result().get("rtt_us");
    long t = ms(rtt);
    daemonElapsed(res, t, t, -1);
    res.setResponseData(new byte[0]);
    res.setResponseMessage(rtt instanceof Long
        ? String.format(java.util.Locale.ROOT, "pong after %.3f ms", (Long) rtt / 1000.0) : "pong");
  }
}
