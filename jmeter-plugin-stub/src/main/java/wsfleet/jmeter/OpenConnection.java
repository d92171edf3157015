package wsfleet.jmeter;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.util.JMeterUtils;

import wsfleet.jmeter.client.Hex;
import wsfleet.jmeter.client.Reply;

/**
 * Opens a WebSocket held by the daemon, or reuses the live one of that name and says so.
 * Response code 101; connect time is the handshake (DNS + TCP + TLS + upgrade), as the daemon
 * measured it.
 */
public class OpenConnection extends WsfleetSampler {
  public static final String URL = "URL";
  /** true (reuse a live connection of this name if its URL is the same), false, or any. */
  public static final String REUSE = "Reuse live connection";
  public static final String CONNECT_TIMEOUT = "Connect timeout (ms)";
  public static final String HEADERS = "Headers (Name: value | Name: value)";
  public static final String SUBPROTOCOLS = "Subprotocols (comma-separated)";
  public static final String KA_MODE = "Keepalive mode (ping|text|binary|none)";
  public static final String KA_INTERVAL = "Keepalive interval (ms)";
  public static final String KA_JITTER = "Keepalive jitter (ms)";
  public static final String KA_PAYLOAD = "Keepalive payload (binary as hex)";
  public static final String PONG_TIMEOUT = "Pong timeout (ms)";
  public static final String KA_REPLY = "Heartbeat reply contains";
  public static final String MAX_MESSAGE = "Max message bytes";
  public static final String INBOX_MESSAGES = "Inbox max messages";
  public static final String INBOX_BYTES = "Inbox max bytes";
  public static final String TLS_VERIFY = "TLS verify certificate";
  public static final String TLS_CA = "TLS CA file";
  public static final String TLS_SERVER_NAME = "TLS server name";
  public static final String TLS_CERT = "TLS client certificate file";
  public static final String TLS_KEY = "TLS client key file";
  public static final String TLS_CIPHERS = "TLS ciphers";
  public static final String DEFLATE = "Compression (permessage-deflate)";
  public static final String DEFLATE_NO_CONTEXT = "Compression without context takeover";
  /** http://[user:pass@]host:port, none (direct), or blank: JMeter's proxy settings (ProxySettings). */
  public static final String PROXY = "Proxy";
  // Issue 18: protocol sessions run by the daemon (PROTOCOL.md: presets, session, auto_reply, ...).
  public static final String PRESET = "Preset (none|socketio4|stomp12|signalr-json|echo-heartbeat)";
  public static final String PRESET_OPTIONS = "Preset options (JSON object)";
  public static final String FRAMING = "Framing (message|record_separator|stomp)";
  public static final String SESSION = "Session steps (JSON array)";
  public static final String AUTO_REPLY = "Auto-reply rules (JSON array)";
  public static final String RECONNECT_MAX = "Reconnect max";
  public static final String RECONNECT_BACKOFF = "Reconnect backoff (ms)";
  public static final String RECONNECT_BACKOFF_MAX = "Reconnect backoff max (ms)";
  public static final String RECONNECT_JITTER = "Reconnect jitter (ms)";
  public static final String RATE_MESSAGES = "Rate limit messages";
  public static final String RATE_PER_MS = "Rate limit per (ms)";

  @Override
  protected String method() {
    return "open";
  }

  @Override
  protected void addParameters(Arguments a) {
    a.addArgument(URL, "ws://localhost:8080/");
    a.addArgument(REUSE, "true", null, "true: reuse a live connection of this name to the same URL; false; any: reuse it whatever its URL");
    a.addArgument(CONNECT_TIMEOUT, "10000");
    a.addArgument(HEADERS, "");
    a.addArgument(SUBPROTOCOLS, "");
    a.addArgument(KA_MODE, "ping");
    a.addArgument(KA_INTERVAL, "25000");
    a.addArgument(KA_JITTER, "");
    a.addArgument(KA_PAYLOAD, "");
    a.addArgument(PONG_TIMEOUT, "10000");
    a.addArgument(KA_REPLY, "");
    a.addArgument(MAX_MESSAGE, "");
    a.addArgument(INBOX_MESSAGES, "");
    a.addArgument(INBOX_BYTES, "");
    a.addArgument(TLS_VERIFY, "true");
    a.addArgument(TLS_CA, "");
    a.addArgument(TLS_SERVER_NAME, "");
    a.addArgument(TLS_CERT, "");
    a.addArgument(TLS_KEY, "");
    a.addArgument(TLS_CIPHERS, "");
    a.addArgument(DEFLATE, "false");
    a.addArgument(DEFLATE_NO_CONTEXT, "false");
    a.addArgument(PROXY, "", null, "http://[user:pass@]host:port, none for a direct connection; "
        + "blank: JMeter's proxy (-H/-P, http[s].proxyHost), else the daemon's default");
    a.addArgument(PRESET, "", null, "a protocol the daemon speaks for this connection; blank: none");
    a.addArgument(PRESET_OPTIONS, "", null, "e.g. {\"namespace\":\"/chat\"} (socketio4), {\"login\":\"guest\",\"passcode\":\"guest\"} (stomp12)");
    a.addArgument(FRAMING, "", null, "blank: the preset's, else message");
    a.addArgument(SESSION, "", null, "[{\"send\":\"...\",\"expect\":{\"contains\":\"...\"}}, ...] run after the upgrade");
    a.addArgument(AUTO_REPLY, "", null, "[{\"name\":\"pong\",\"match\":{\"regex\":\"^2$\"},\"reply\":\"3\"}, ...]");
    a.addArgument(RECONNECT_MAX, "", null, "reconnects over the connection's life; blank or 0: none");
    a.addArgument(RECONNECT_BACKOFF, "");
    a.addArgument(RECONNECT_BACKOFF_MAX, "");
    a.addArgument(RECONNECT_JITTER, "");
    a.addArgument(RATE_MESSAGES, "", null, "at most this many messages per window (with the next field)");
    a.addArgument(RATE_PER_MS, "");
  }

  @Override
  protected long expectedWaitMs(Map<String, Object> params) {
    Object t = params.get("connect_timeout_ms");
    return t instanceof Long ? (Long) t : 10_000;
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    String url = p.str(URL);
    if (url == null) {
      throw new IllegalArgumentException("\"" + URL + "\" is required");
    }
    m.put("url", url);
    Map<String, Object> headers = parseHeaders(p.raw(HEADERS));
    if (!headers.isEmpty()) {
      m.put("headers", headers);
    }
    List<Object> subs = new ArrayList<>();
    for (String s : p.raw(SUBPROTOCOLS).split(",")) {
      if (!s.trim().isEmpty()) {
        subs.add(s.trim());
      }
    }
    if (!subs.isEmpty()) {
      m.put("subprotocols", subs);
    }
    m.put("reuse", reuse(p));
    putStr(m, "proxy", ProxySettings.forOpen(p.str(PROXY), url, System::getProperty, OpenConnection::jmeterProperty));
    putNum(m, "connect_timeout_ms", p.num(CONNECT_TIMEOUT));
    putNum(m, "max_message_bytes", p.num(MAX_MESSAGE));
    Map<String, Object> inbox = new LinkedHashMap<>();
    putNum(inbox, "max_messages", p.num(INBOX_MESSAGES));
    putNum(inbox, "max_bytes", p.num(INBOX_BYTES));
    if (!inbox.isEmpty()) {
      m.put("inbox", inbox);
    }
    ProtocolOptions.put(m, p);
    Map<String, Object> ka = keepalive(p, m.containsKey("preset"));
    if (ka != null) {
      m.put("keepalive", ka);
    }
    if (url.regionMatches(true, 0, "wss:", 0, 4)) {
      Map<String, Object> tls = new LinkedHashMap<>();
      tls.put("verify", p.bool(TLS_VERIFY, true));
      putStr(tls, "ca_file", p.str(TLS_CA));
      putStr(tls, "server_name", p.str(TLS_SERVER_NAME));
      putStr(tls, "cert_file", p.str(TLS_CERT));
      putStr(tls, "key_file", p.str(TLS_KEY));
      putStr(tls, "ciphers", p.str(TLS_CIPHERS));
      m.put("tls", tls);
    }
    if (p.bool(DEFLATE, false)) {
      // Without context takeover neither side keeps zlib state between messages: cheap idle sessions.
      boolean noContext = p.bool(DEFLATE_NO_CONTEXT, false);
      Map<String, Object> deflate = new LinkedHashMap<>();
      deflate.put("enabled", true);
      deflate.put("client_no_context_takeover", noContext);
      deflate.put("server_no_context_takeover", noContext);
      m.put("deflate", deflate);
    }
    return m;
  }

  /**
   * open's reuse: true (the default: a live connection of this name is reused when its URL is the
   * one asked for, else the open fails with url_mismatch), false (a live name is conn_exists), or
   * "any" (reuse whatever connection has this name).
   */
  static Object reuse(Params p) {
    String v = p.str(REUSE);
    if (v == null) {
      return true;
    }
    v = v.toLowerCase(Locale.ROOT);
    if (v.equals("any")) {
      return "any";
    }
    if (v.equals("true") || v.equals("false")) {
      return Boolean.valueOf(v);
    }
    throw new IllegalArgumentException("\"" + REUSE + "\" must be true, false or any, got \"" + v + "\"");
  }

  /**
   * The keepalive map, or null to leave the daemon's default (mode left blank) or the preset's.
   * With a preset, mode ping (the form's default, and what many wsfleet Defaults say for plain
   * connections) is left to the preset: an open's own keepalive replaces the preset's whole, and a
   * STOMP or echo heartbeat replaced by pings lets the server time the session out. text, binary
   * and none still replace it, on purpose.
   */
  static Map<String, Object> keepalive(Params p, boolean preset) {
    String mode = p.str(KA_MODE);
    if (mode == null) {
      return null;
    }
    mode = mode.toLowerCase(Locale.ROOT);
    if (preset && mode.equals("ping")) {
      return null;
    }
    Map<String, Object> ka = new LinkedHashMap<>();
    ka.put("mode", mode);
    if (mode.equals("none")) {
      return ka;
    }
    if (!mode.equals("ping") && !mode.equals("text") && !mode.equals("binary")) {
      throw new IllegalArgumentException("\"" + KA_MODE + "\" must be ping, text, binary or none, got \""
          + mode + "\"");
    }
    putNum(ka, "interval_ms", p.num(KA_INTERVAL));
    putNum(ka, "jitter_ms", p.num(KA_JITTER));
    String payload = p.raw(KA_PAYLOAD);
    if (mode.equals("binary")) {
      if (payload.trim().isEmpty()) {
        throw new IllegalArgumentException("keepalive mode binary needs \"" + KA_PAYLOAD + "\" (hex)");
      }
      ka.put("payload", Hex.decode(payload));
    } else if (mode.equals("text")) {
      if (payload.isEmpty()) {
        throw new IllegalArgumentException("keepalive mode text needs \"" + KA_PAYLOAD
            + "\", the heartbeat message");
      }
      ka.put("payload", payload);
    } else if (!payload.isEmpty()) {
      ka.put("payload", payload);
    }
    putNum(ka, "pong_timeout_ms", p.num(PONG_TIMEOUT));
    if (!mode.equals("ping")) {
      ka.remove("pong_timeout_ms");
      putStr(ka, "reply_contains", p.str(KA_REPLY));
    }
    return ka;
  }

  /** "Origin: http://x | Cookie: a=b" (or one header per line) into an ordered map. */
  static Map<String, Object> parseHeaders(String s) {
    Map<String, Object> h = new LinkedHashMap<>();
    for (String line : s.split("[|\\r\\n]+")) {
      if (line.trim().isEmpty()) {
        continue;
      }
      int colon = line.indexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("header \"" + line.trim() + "\" is not Name: value");
      }
      h.put(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
    }
    return h;
  }

  static void putNum(Map<String, Object> m, String k, Long v) {
    if (v != null) {
      m.put(k, v);
    }
  }

  static void putStr(Map<String, Object> m, String k, String v) {
    if (v != null) {
      m.put(k, v);
    }
  }

  /** A JMeter property, null outside JMeter (its properties are not loaded there). */
  static String jmeterProperty(String key) {
    return JMeterUtils.getJMeterProperties() != null ? JMeterUtils.getProperty(key) : null;
  }

  @Override
  protected void onError(SampleResult res, Reply r, Map<String, Object> params) {
    applyError(res, r);
    if ("url_mismatch".equals(r.errorCode())) {
      // Both URLs, whatever words the daemon used: the plan reuses a name another group owns.
      Map<String, Object> e = r.error();
      res.setResponseMessage("connection " + e.getOrDefault("conn", params.get("conn")) + " is live on "
          + e.get("url") + ", not " + e.getOrDefault("requested_url", params.get("url")) + " (\"" + REUSE
          + "\" any would reuse it)");
    }
  }

  @Override
  @SuppressWarnings("unchecked")
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    Map<String, Object> out = r.result();
    res.setResponseCode(String.valueOf(out.getOrDefault("status", 101L)));
    StringBuilder hdrs = new StringBuilder("HTTP/1.1 101 Switching Protocols\n");
    Object h = out.get("headers");
    if (h instanceof Map) {
      for (Map.Entry<String, Object> e : ((Map<String, Object>) h).entrySet()) {
        hdrs.append(e.getKey()).append(": ").append(e.getValue()).append('\n');
      }
    }
    res.setResponseHeaders(hdrs.toString());
    res.setHeadersSize(hdrs.length());
    res.setBytes((long) hdrs.length());
    res.setResponseData(new byte[0]);
    StringBuilder msg = new StringBuilder();
    if (Boolean.TRUE.equals(out.get("reused"))) {
      // The timings describe the original handshake: this sample only looked the name up.
      msg.append("reused live connection ").append(params.get("conn"));
      res.setConnectTime(0);
      res.setLatency(res.getTime());
    } else {
      msg.append("Switching Protocols");
      Reconnects.forget(String.valueOf(params.get("conn"))); // a new connection: its count starts at 0
      Object t = out.get("timings");
      if (t instanceof Map) {
        Map<String, Object> tm = (Map<String, Object>) t;
        long total = ms(tm.get("total_us"));
        long queued = Math.max(0, ms(tm.get("queued_us")));
        daemonElapsed(res, total, total, total >= 0 ? Math.max(0, total - queued) : -1);
      }
    }
    if (out.get("subprotocol") != null) {
      msg.append(", subprotocol ").append(out.get("subprotocol"));
    }
    Object tls = out.get("tls");
    if (tls instanceof Map) {
      Map<String, Object> tm = (Map<String, Object>) tls;
      msg.append(", ").append(tm.get("version")).append(' ').append(tm.get("cipher"))
          .append(Boolean.TRUE.equals(tm.get("verified")) ? ", verified" : ", NOT verified");
    }
    res.setResponseMessage(msg.toString());
  }
}
