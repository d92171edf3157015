package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Json;
import wsfleet.jmeter.client.Reply;

/**
 * Closes every connection of the daemon and forgets every name, record and counter; for a setUp
 * Thread Group (or set wsfleet.reset=true to do this once per run without a sampler).
 */
public class ResetFleet extends WsfleetSampler {
  public static final String CODE = CloseConnection.CODE; // one key, as Close names it
  public static final String REASON = CloseConnection.REASON;

  @Override
  protected String method() {
    return "reset";
  }

  @Override
  protected boolean hasConn() {
    return false;
  }

  @Override
  protected void addParameters(Arguments a) {
    a.addArgument(CODE, "1001");
    a.addArgument(REASON, "reset");
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("code", p.num(CODE, 1001));
    m.put("reason", p.raw(REASON));
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    res.setResponseData(Json.write(r.result()), "UTF-8");
    res.setResponseMessage("closed " + r.result().get("closed") + ", forgot " + r.result().get("forgotten"));
  }
}
