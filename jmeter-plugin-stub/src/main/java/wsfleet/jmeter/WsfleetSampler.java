package wsfleet.jmeter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.protocol.java.sampler.AbstractJavaSamplerClient;
import org.apache.jmeter.protocol.java.sampler.JavaSamplerContext;
import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.threads.JMeterContextService;

import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.client.Json;
import wsfleet.jmeter.client.Reply;

/**
 * Shared plumbing of the wsfleet samplers: each subclass is one daemon method, with the
 * parameters JMeter's Java Request GUI shows for it.
 *
 * <p>Results: elapsed, connect time and latency come from the daemon's own measurements where it
 * reports them; the response code is the close code when the connection has ended (e.g. 1006, with
 * {@link CloseRecords#stableMessage} as the message and the close record as response data), else
 * the daemon's error code; response data is the message received, so extractors and assertions
 * work as with any sampler.
 */
public abstract class WsfleetSampler extends AbstractJavaSamplerClient {
  // Parameter keys (public static final String here and in each sampler class): the argument
  // names saved in Java Request plans, and what the wsfleet.jmeter.gui elements send. Never change
  // a value: saved plans would lose the parameter silently.
  public static final String CONN = "Connection name";
  /**
   * The JMeter thread's name, e.g. "users 1-3" (thread group name, group number, thread number):
   * one connection per thread, unique across thread groups, and the same text as the JTL's
   * threadName column. (Before 0.2 the default was vu-${__threadNum}, numbered per thread group,
   * so two groups that kept it shared vu-1, vu-2, ...)
   */
  public static final String CONN_DEFAULT = "${__threadName}";
  public static final String READ_TIMEOUT = "Read timeout (ms)";
  public static final String MESSAGE = "Message";
  public static final String MESSAGE_TYPE = "Message type (text|binary; binary as hex)";
  public static final String MATCH_CONTAINS = "Match substring";
  public static final String MATCH_REGEX = "Match regex (POSIX extended)";
  public static final String MATCH_JSON_FIELD = "Match JSON field (dotted path)";
  public static final String MATCH_JSON_VALUE = "Match JSON value";
  public static final String DISCARD = "Discard unmatched messages";
  // Message helpers (issue 18; shapes in wsfleet.jmeter.messages and PROTOCOL.md's presets).
  public static final String MESSAGE_KIND = "Message kind (raw|socketio|stomp|signalr)";
  public static final String SIO_NAMESPACE = "Socket.IO namespace";
  public static final String SIO_EVENT = "Socket.IO event";
  public static final String SIO_ARGS = "Socket.IO args (JSON array)";
  public static final String SIO_ACK = "Socket.IO ack (true|false)";
  public static final String STOMP_COMMAND = "STOMP command";
  public static final String STOMP_DESTINATION = "STOMP destination";
  public static final String STOMP_ID = "STOMP id (subscription or ack id)";
  public static final String STOMP_HEADERS = "STOMP headers (Name: value | Name: value)";
  public static final String STOMP_RECEIPT = "STOMP receipt (true|false)";
  public static final String SIGNALR_TARGET = "SignalR target";
  public static final String SIGNALR_ARGUMENTS = "SignalR arguments (JSON array)";
  public static final String SIGNALR_COMPLETION = "SignalR with completion (true|false)";
  public static final String MATCH_EVENT_KIND = "Match event kind (socketio|stomp|signalr)";
  public static final String MATCH_EVENT = "Match event (Socket.IO event, STOMP destination, SignalR target)";
  public static final String MATCH_REPLY_ID = "Match reply id (Socket.IO ack, STOMP receipt, SignalR invocation)";

  /** The daemon method this sampler calls. */
  protected abstract String method();

  /** Parameters after the connection name, in GUI order, with their defaults. */
  protected abstract void addParameters(Arguments a);

  /** The request's params map, read from the sampler's parameters. */
  protected abstract Map<String, Object> params(Params p, String conn);

  /** Fills in a successful reply. */
  protected abstract void onSuccess(SampleResult res, Reply r, Map<String, Object> params);

  /** Fills in an error reply; samplers with optional outcomes override this. */
  protected void onError(SampleResult res, Reply r, Map<String, Object> params) {
    applyError(res, r);
  }

  /** How long the daemon may take on this request (its own timeout), in ms. */
  protected long expectedWaitMs(Map<String, Object> params) {
    Object t = params.get("timeout_ms");
    return t instanceof Long ? (Long) t : 10_000;
  }

  /** Whether this sampler's results carry the connection's reconnect count (send, recv, request, ping). */
  protected boolean reportsReconnects() {
    return false;
  }

  /** Whether this sampler has a connection name (all but reset). */
  protected boolean hasConn() {
    return true;
  }

  @Override
  public Arguments getDefaultParameters() {
    Arguments a = new Arguments();
    if (hasConn()) {
      a.addArgument(CONN, CONN_DEFAULT, null, "name of the daemon's connection (blank: this thread's name); threads that give the same name share it");
    }
    addParameters(a);
    return a;
  }

  @Override
  public void setupTest(JavaSamplerContext context) {
    Fleet.beginRun(JMeterContextService.getTestStartTime());
  }

  @Override
  public SampleResult runTest(JavaSamplerContext context) {
    return run(Fleet.client(), new Params(context, this));
  }

  /** One sample against the given client (tests call this directly). */
  SampleResult run(ControlClient client, Params p) {
    SampleResult res = new SampleResult();
    res.setDataType(SampleResult.TEXT);
    res.setDataEncoding("UTF-8");
    long startMs = System.currentTimeMillis();
    long t0 = System.nanoTime();
    Map<String, Object> params;
    try {
      params = params(p, hasConn() ? p.conn() : null);
    } catch (IllegalArgumentException e) {
      res.setStampAndTime(startMs, 0);
      fail(res, "bad_parameter", e.getMessage(), null);
      CloseRecords.exportVariables(null);
      return res;
    }
    res.setSamplerData(method() + " " + Json.write(params));
    Reply r;
    try {
      r = client.call(method(), params, expectedWaitMs(params));
    } catch (IOException e) {
      res.setStampAndTime(startMs, (System.nanoTime() - t0) / 1_000_000);
      fail(res, "control_error", e.getMessage(), null);
      CloseRecords.exportVariables(null);
      return res;
    }
    // The local round trip; subclasses replace it with the daemon's figure where there is one.
    res.setStampAndTime(startMs, (System.nanoTime() - t0) / 1_000_000);
    if (r.ok()) {
      res.setSuccessful(true);
      res.setResponseCodeOK();
      res.setResponseMessageOK();
      onSuccess(res, r, params);
    } else {
      onError(res, r, params);
    }
    if (Boolean.TRUE.equals(r.error() != null ? r.error().get("reconnecting") : null)) {
      // The daemon is reopening it (reconnect policy): the same stable message, and why it fails now.
      res.setResponseMessage(res.getResponseMessage() + " (reconnecting)");
    }
    if (reportsReconnects()) {
      Reconnects.report(res, client, (String) params.get("conn"), r);
    }
    CloseRecords.exportVariables(r.record());
    return res;
  }

  static void addMessageArguments(Arguments a) {
    a.addArgument(MESSAGE, "");
    a.addArgument(MESSAGE_TYPE, "text");
  }

  static void addMatchArguments(Arguments a) {
    a.addArgument(READ_TIMEOUT, "10000");
    a.addArgument(MATCH_CONTAINS, "");
    a.addArgument(MATCH_REGEX, "");
    a.addArgument(MATCH_JSON_FIELD, "");
    a.addArgument(MATCH_JSON_VALUE, "");
    a.addArgument(DISCARD, "false");
  }

  /** data (str for text, bin for binary given as hex) and type. */
  static void putMessage(Map<String, Object> m, Params p) {
    String type = p.str(MESSAGE_TYPE);
    type = type == null ? "text" : type.toLowerCase(java.util.Locale.ROOT);
    if (type.equals("binary")) {
      m.put("data", wsfleet.jmeter.client.Hex.decode(p.raw(MESSAGE)));
    } else if (type.equals("text")) {
      m.put("data", p.raw(MESSAGE));
    } else {
      throw new IllegalArgumentException("\"" + MESSAGE_TYPE + "\" must be text or binary, got \"" + type + "\"");
    }
    m.put("type", type);
  }

  static void putMatch(Map<String, Object> m, Params p) {
    m.put("timeout_ms", p.num(READ_TIMEOUT, 10_000));
    OpenConnection.putStr(m, "contains", emptyToNull(p.raw(MATCH_CONTAINS)));
    OpenConnection.putStr(m, "regex", emptyToNull(p.raw(MATCH_REGEX)));
    OpenConnection.putStr(m, "json_field", p.str(MATCH_JSON_FIELD));
    OpenConnection.putStr(m, "json_value", emptyToNull(p.raw(MATCH_JSON_VALUE)));
    if (p.bool(DISCARD, false)) {
      m.put("discard_unmatched", true);
    }
  }

  private static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }

  /** Fills in a recv/request result: the message as response data, words on it as the message. */
  static void applyReceived(SampleResult res, Map<String, Object> out, String timingField) {
    long n = setMessage(res, out.get("data"), out.get("type"));
    long t = ms(out.get(timingField));
    daemonElapsed(res, t, t, -1);
    StringBuilder msg = new StringBuilder();
    msg.append(out.get("type") == null ? "text" : out.get("type")).append(" message, ").append(n)
        .append(" bytes");
    if (out.get("inbox") != null) {
      msg.append(", ").append(out.get("inbox")).append(" left in inbox");
    }
    Object d = out.get("discarded");
    if (d instanceof Long && (Long) d > 0) {
      msg.append(", ").append(d).append(" discarded");
    }
    res.setResponseMessage(msg.toString());
  }

  /** Response code of every sample on a connection the plan itself closed (cause local_close). */
  static final String CLOSED_BY_PLAN = "closed_by_plan";

  /**
   * Error reply: a refused upgrade answers with its HTTP status (as JMeter's HTTP sampler would);
   * an ended connection with its close code (or {@link #CLOSED_BY_PLAN}) and the stable message;
   * anything else with the daemon's error code.
   */
  static void applyError(SampleResult res, Reply r) {
    Map<String, Object> e = r.error();
    Object status = e.get("http_status");
    Map<String, Object> rec = r.record();
    if ("handshake_failed".equals(r.errorCode()) && status instanceof Long && (Long) status != 101
        && (Long) status != 0) {
      // 101 with a bad accept key or subprotocol is not an HTTP refusal: it keeps handshake_failed;
      // nor is 0, a proxy whose answer was not HTTP.
      // A proxy's refusal says so whatever the daemon's words: the same 403 from the gateway means
      // something else.
      String phase = "proxy".equals(e.get("phase")) ? " (phase proxy)" : "";
      fail(res, String.valueOf(status), "handshake_failed" + phase + ": HTTP " + status + " " + r.errorMessage(),
          Json.write(e));
    } else if (rec != null && rec.get("code") != null) {
      failOnRecord(res, rec);
    } else {
      StringBuilder msg = new StringBuilder(r.errorMessage());
      boolean session = "session".equals(e.get("phase"));
      if (status != null && !session) {
        msg.append(" (HTTP ").append(status).append(')');
      }
      if (session) {
        // After the 101, a session step (a preset's or the plan's) failed; the server's message is
        // the error's body, in the response data.
        msg.append(" (phase session, step ").append(e.get("step")).append(')');
      } else if (e.get("phase") != null) {
        msg.append(" (phase ").append(e.get("phase")).append(')');
      }
      if (e.get("detail") != null && !msg.toString().contains(String.valueOf(e.get("detail")))) {
        msg.append(" (").append(e.get("detail")).append(')');
      }
      fail(res, r.errorCode(), msg.toString(), Json.write(e));
    }
  }

  /** A failed sample on an ended connection: the close record as response data. */
  static void failOnRecord(SampleResult res, Map<String, Object> rec) {
    if ("local_close".equals(rec.get("cause"))) {
      fail(res, CLOSED_BY_PLAN, CLOSED_BY_PLAN + ": the plan closed this connection ("
          + CloseRecords.stableMessage(rec) + ")", CloseRecords.data(rec));
    } else {
      fail(res, String.valueOf(rec.get("code")), CloseRecords.stableMessage(rec), CloseRecords.data(rec));
    }
  }

  /** A failed sample; its latency is its elapsed time (JMeter reads 0 as "no response"). */
  static void fail(SampleResult res, String code, String message, String data) {
    res.setSuccessful(false);
    res.setResponseCode(code);
    res.setResponseMessage(message);
    res.setResponseData(data == null ? "" : data, "UTF-8");
    res.setLatency(res.getTime());
  }

  /** A daemon duration (µs) in JMeter's milliseconds, rounded; -1 when absent. */
  static long ms(Object us) {
    if (!(us instanceof Long)) {
      return -1;
    }
    return ((Long) us + 500) / 1000;
  }

  /** Replaces the local elapsed time by the daemon's measurement of the same operation. */
  static void daemonElapsed(SampleResult res, long elapsedMs, long latencyMs, long connectMs) {
    if (elapsedMs < 0) {
      return;
    }
    res.setEndTime(res.getStartTime() + elapsedMs); // recomputes elapsed from the start stamp
    if (latencyMs >= 0) {
      res.setLatency(latencyMs);
    }
    if (connectMs >= 0) {
      res.setConnectTime(connectMs);
    }
  }

  /** Response data for a received message: text as UTF-8, binary as is. */
  static long setMessage(SampleResult res, Object data, Object type) {
    if (data instanceof byte[]) {
      byte[] b = (byte[]) data;
      res.setResponseData(b);
      res.setDataType(SampleResult.BINARY);
      res.setBytes((long) b.length);
      return b.length;
    }
    String s = data == null ? "" : String.valueOf(data);
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    res.setResponseData(b);
    res.setDataType("binary".equals(type) ? SampleResult.BINARY : SampleResult.TEXT);
    res.setBytes((long) b.length);
    return b.length;
  }
}
