package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Reply;

/**
 * Takes the oldest matching message from the connection's inbox, waiting up to the read timeout.
 * The message is the response data; elapsed and latency are the daemon's wait.
 */
public class ReceiveMessage extends WsfleetSampler {
  public static final String OPTIONAL = "Optional read (no message is not an error)";

  /** This thread's setting for the sample in progress (JMeter gives each thread its own instance). */
  private boolean optional;

  @Override
  protected boolean reportsReconnects() {
    return true;
  }

  @Override
  protected String method() {
    return "recv";
  }

  @Override
  protected void addParameters(Arguments a) {
    addMatchArguments(a);
    MessageKinds.addMatchEventArguments(a);
    a.addArgument(SIO_NAMESPACE, "");
    a.addArgument(OPTIONAL, "false");
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    putMatch(m, p);
    MessageKinds.putMatchEvent(m, p);
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    applyReceived(res, r.result(), "waited_us");
  }

  @Override
  protected void onError(SampleResult res, Reply r, Map<String, Object> params) {
    applyError(res, r);
    if ("timeout".equals(r.errorCode()) && optional) {
      res.setSuccessful(true);
      res.setResponseData(new byte[0]);
      res.setResponseMessage("no message within " + params.get("timeout_ms") + " ms (optional read)");
    }
  }

  @Override
  SampleResult run(wsfleet.jmeter.client.ControlClient client, Params p) {
    optional = p.bool(OPTIONAL, false);
    return super.run(client, p);
  }
}
