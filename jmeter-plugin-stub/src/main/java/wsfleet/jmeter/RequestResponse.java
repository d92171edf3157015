package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Reply;

/**
 * Sends a message and waits for the first matching reply that arrives after it, in one round
 * trip. Elapsed and latency are the daemon's send-to-reply time.
 */
public class RequestResponse extends WsfleetSampler {
  @Override
  protected String method() {
    return "request";
  }

  @Override
  protected void addParameters(Arguments a) {
    addMessageArguments(a);
    addMatchArguments(a);
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    putMessage(m, p);
    putMatch(m, p);
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    applyReceived(res, r.result(), "rtt_us");
    Object b = r.result().get("bytes");
    if (b instanceof Long) {
      res.setSentBytes((Long) b);
    }
  }
}
