package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Json;
import wsfleet.jmeter.client.Reply;

/**
 * Reports a connection's state as JSON response data (counters, keepalive, close record). Once
 * the connection has ended the sample fails like any other sampler on it: the close code and the
 * stable words for its cause, or closed_by_plan when the plan itself closed it.
 */
public class ConnectionStatus extends WsfleetSampler {
  @Override
  protected String method() {
    return "status";
  }

  @Override
  protected void addParameters(Arguments a) {
    // the connection name only
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    Map<String, Object> out = r.result();
    res.setResponseData(Json.write(out), "UTF-8");
    Object state = out.get("state");
    Map<String, Object> rec = r.record();
    if ("closed".equals(state) && rec != null) {
      failOnRecord(res, rec);
      res.setResponseData(Json.write(out), "UTF-8"); // the whole status, record included
      return;
    }
    StringBuilder msg = new StringBuilder(String.valueOf(state));
    appendSeconds(msg, ", age ", out.get("age_us"));
    appendSeconds(msg, ", last sent ", out.get("since_sent_us"));
    appendSeconds(msg, ", last received ", out.get("since_recv_us"));
    res.setResponseMessage(msg.toString());
  }

  private static void appendSeconds(StringBuilder sb, String label, Object us) {
    if (us instanceof Long) {
      sb.append(label).append(String.format(java.util.Locale.ROOT, "%.1f s", (Long) us / 1e6));
    }
  }
}
