package wsfleet.jmeter;

import java.io.IOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.threads.JMeterVariables;

import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.client.Json;
import wsfleet.jmeter.client.Reply;

/**
 * Makes a reconnect (PROTOCOL.md, open's reconnect) visible to the plan: the daemon reopened a
 * dropped session under the same name, so the thread's next send / receive / request / ping
 * succeeds and would hide the drop. Each result of those carries the connection's reconnect count;
 * when it grew since this thread last saw the connection, the sample gets one failed sub-result per
 * new reconnect, labelled {@link #LABEL}: response code the close code of the ending it replaced
 * (e.g. 1006), the stable message ({@link CloseRecords#stableMessage}), the close record as data.
 * The JTL writes sub-results as rows of their own, so the dashboard's error table counts them under
 * that label. The sample itself keeps its own outcome and says "reconnected" in its message, and
 * the variable {@link #VARIABLE} holds the count (for sample_variables).
 */
final class Reconnects {
  static final String LABEL = "wsfleet reconnect";
  static final String VARIABLE = "wsfleet_reconnects";

  /** Per JMeter thread: connection name → the reconnect count this thread saw last. */
  private static final ThreadLocal<Map<String, Long>> SEEN = ThreadLocal.withInitial(HashMap::new);

  private Reconnects() {}

  /** The count a reply carries: result's reconnects (absent = 0); null when an error says nothing. */
  static Long count(Reply r) {
    Object n = r.ok() ? r.result().get("reconnects") : r.error().get("reconnects");
    if (n instanceof Long) {
      return (Long) n;
    }
    return r.ok() ? 0L : null;
  }

  /** Adds the sub-results and marks for reconnects this thread has not seen yet. */
  static void report(SampleResult res, ControlClient client, String conn, Reply r) {
    report(res, conn, r, () -> lastRecord(client, conn));
  }

  /** As above; lastRecord fetches the latest reconnect's record (called only when there are new ones). */
  static void report(SampleResult res, String conn, Reply r, Supplier<Map<String, Object>> lastRecord) {
    Long now = count(r);
    if (now == null || conn == null) {
      return;
    }
    Map<String, Long> seen = SEEN.get();
    long before = seen.getOrDefault(conn, 0L);
    seen.put(conn, now);
    exportVariable(now);
    if (now <= before) {
      return; // none new, or a fresh connection under this name (the count restarted)
    }
    long fresh = now - before;
    Map<String, Object> last = lastRecord.get();
    for (long i = before + 1; i <= now; i++) {
      res.storeSubResult(subResult(conn, i, i == now ? last : null), false);
    }
    res.setResponseMessage(res.getResponseMessage() + " (reconnected " + (fresh == 1 ? "once" : fresh + " times")
        + " since this thread's last sample: " + now + " in all)");
  }

  /**
   * status keeps the record of the latest reconnect's ending only (status.reconnect.last_record);
   * earlier ones between two samples of a thread are in the Drop Monitor and the event log.
   */
  @SuppressWarnings("unchecked")
  private static Map<String, Object> lastRecord(ControlClient client, String conn) {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("conn", conn);
    try {
      Reply s = client.call("status", p);
      Object rc = s.ok() ? s.result().get("reconnect") : null;
      Object rec = rc instanceof Map ? ((Map<String, Object>) rc).get("last_record") : null;
      return rec instanceof Map ? (Map<String, Object>) rec : null;
    } catch (IOException e) {
      return null;
    }
  }

  static SampleResult subResult(String conn, long n, Map<String, Object> rec) {
    SampleResult sub = new SampleResult();
    sub.setSampleLabel(LABEL);
    sub.setDataType(SampleResult.TEXT);
    Object at = rec != null ? rec.get("closed_at_ms") : null;
    sub.setStampAndTime(at instanceof Long ? (Long) at : System.currentTimeMillis(), 0);
    sub.setSuccessful(false);
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("conn", conn);
    data.put("reconnect", n);
    data.put("record", rec);
    if (rec != null && rec.get("code") != null) {
      sub.setResponseCode(String.valueOf(rec.get("code")));
      sub.setResponseMessage(CloseRecords.stableMessage(rec));
    } else {
      sub.setResponseCode("reconnect");
      sub.setResponseMessage("reconnect: the ending it replaced is in the Drop Monitor and the event log"
          + " (status keeps the latest one's record)");
    }
    sub.setResponseData(Json.write(data), "UTF-8");
    sub.setSamplerData("reconnect " + n + " of " + conn);
    return sub;
  }

  private static void exportVariable(long n) {
    JMeterVariables vars = JMeterContextService.getContext().getVariables();
    if (vars != null) {
      vars.put(VARIABLE, String.valueOf(n));
    }
  }

  /** Forgets what this thread saw of a name (a fresh open under it restarts the count). */
  static void forget(String conn) {
    SEEN.get().remove(conn);
  }
}
