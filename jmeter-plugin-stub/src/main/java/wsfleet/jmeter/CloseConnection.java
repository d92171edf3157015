package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Json;
import wsfleet.jmeter.client.Reply;

/**
 * Closes a connection with a close frame. The response code is the code the server answered
 * with; the sample fails when the connection had already ended, on its own (its close code, e.g.
 * 1006) or by an earlier close of the plan (closed_by_plan, e.g. another thread closed a shared
 * name), since that is what a plan closing at the end of a session needs to notice.
 */
public class CloseConnection extends WsfleetSampler {
  public static final String CODE = "Close code";
  public static final String REASON = "Close reason";
  public static final String TIMEOUT = "Close timeout (ms)";

  @Override
  protected String method() {
    return "close";
  }

  @Override
  protected void addParameters(Arguments a) {
    a.addArgument(CODE, "1000");
    a.addArgument(REASON, "");
    a.addArgument(TIMEOUT, "5000");
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    m.put("code", p.num(CODE, 1000));
    m.put("reason", p.raw(REASON));
    m.put("timeout_ms", p.num(TIMEOUT, 5000));
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    Map<String, Object> out = r.result();
    Map<String, Object> rec = r.record();
    res.setResponseData(Json.write(out), "UTF-8");
    res.setResponseCode(String.valueOf(out.get("code")));
    res.setResponseMessage(rec != null ? CloseRecords.stableMessage(rec) : "closed " + out.get("code"));
    if (rec == null) {
      res.setSuccessful(true);
      return;
    }
    // Closing an ended connection returns its old record. The daemon's wall clock and ours are the
    // same clock: a record that predates this sample was not made by this close.
    Object at = rec.get("closed_at_ms");
    boolean before = at instanceof Long && (Long) at < res.getStartTime();
    boolean ours = "client".equals(out.get("initiator")) && "local_close".equals(rec.get("cause"));
    if (ours && !before) {
      res.setSuccessful(true); // our own close frame started it: a clean, intended end
    } else {
      failOnRecord(res, rec); // ended on its own (e.g. 1006), or the plan had closed it already
      res.setResponseData(Json.write(out), "UTF-8");
    }
  }
}
