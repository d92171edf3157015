package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Reply;

/** Queues one text or binary message on a connection. */
public class SendMessage extends WsfleetSampler {
  @Override
  protected String method() {
    return "send";
  }

  @Override
  protected void addParameters(Arguments a) {
    addMessageArguments(a);
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    putMessage(m, p);
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    Object b = r.result().get("bytes");
    long n = b instanceof Long ? (Long) b : 0;
    res.setSentBytes(n);
    res.setResponseData(new byte[0]);
    res.setResponseMessage("sent " + n + " bytes");
  }
}
