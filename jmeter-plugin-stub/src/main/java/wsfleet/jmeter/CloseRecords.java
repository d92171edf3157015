package wsfleet.jmeter;

import java.util.HashMap;
import java.util.Map;

import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.threads.JMeterVariables;

import wsfleet.jmeter.client.Json;

/**
 * What a sample says about a connection that ended, from its close record (PROTOCOL.md §7).
 *
 * <p>The response message is only the code, the cause and fixed words for the cause, e.g.
 * {@code 1006 eof: dropped by peer (TCP FIN, no close frame)}: JMeter's dashboard and summariser
 * group errors by code + message, and the record's own summary carries the silence and the open
 * count, so 12 drops of 2 causes became 11 error rows. Everything that varies per drop stays in the
 * response data (the record as JSON) and, when {@code wsfleet.record_variables} names a prefix, in
 * JMeter variables a plan can save as JTL columns with {@code sample_variables}.
 */
public final class CloseRecords {
  /** JMeter property: the prefix of the close-record variables; unset or blank: none are set. */
  public static final String VARIABLES_PROPERTY = "wsfleet.record_variables";

  /** The record fields exported as variables; durations in ms as JMeter users read them. */
  static final String[] VARIABLES = {"code", "cause", "initiator", "clean", "detail", "reason", "age_ms",
      "since_sent_ms", "since_recv_ms", "since_pong_ms", "open_conns", "summary"};

  /** PROTOCOL.md §7's causes in the same words as the daemon's summary line (daemon/cause.h). */
  private static final Map<String, String> WORDS = new HashMap<>();

  static {
    WORDS.put("server_close", "closed by the server");
    WORDS.put("local_close", "closed by the client");
    WORDS.put("eof", "dropped by peer (TCP FIN, no close frame)");
    WORDS.put("reset", "reset by peer");
    WORDS.put("tls_alert", "TLS alert from peer");
    WORDS.put("tls_close_notify", "TLS close_notify without a close frame");
    WORDS.put("tls_error", "TLS error");
    WORDS.put("pong_timeout", "no pong in time");
    WORDS.put("protocol_error", "protocol error by the server");
    WORDS.put("message_too_big", "message too big");
    WORDS.put("invalid_utf8", "invalid UTF-8 from the server");
    WORDS.put("timeout", "close handshake timed out");
    WORDS.put("shutdown", "daemon shutting down");
    WORDS.put("daemon_reset", "reset by the reset command");
    WORDS.put("io_error", "I/O error");
    WORDS.put("handshake_failed", "handshake failed");
    WORDS.put("dns_error", "DNS lookup failed");
    WORDS.put("connect_error", "TCP connect failed");
    WORDS.put("output_stalled", "the server stopped reading (output over its cap)");
    WORDS.put("reply_timeout", "no heartbeat reply in time");
    WORDS.put("session_failed", "session setup failed"); // a preset's or the plan's session steps (issue 18)
  }

  private CloseRecords() {}

  /** {@code CODE CAUSE: WORDS}; a cause this plugin does not know yet reads {@code CODE CAUSE}. */
  static String stableMessage(Map<String, Object> rec) {
    Object cause = rec.get("cause");
    String words = WORDS.get(String.valueOf(cause));
    return rec.get("code") + " " + cause + (words != null ? ": " + words : "");
  }

  /** The record as response data. */
  static String data(Map<String, Object> rec) {
    return Json.write(rec);
  }

  /**
   * Sets (rec != null) or clears (rec == null) this thread's close-record variables when the plan
   * asked for them, so a sample never carries the values of an earlier one.
   */
  static void exportVariables(Map<String, Object> rec) {
    String prefix = Fleet.property(VARIABLES_PROPERTY);
    if (prefix == null || prefix.trim().isEmpty()) {
      return;
    }
    JMeterVariables vars = JMeterContextService.getContext().getVariables();
    if (vars == null) {
      return; // outside a JMeter thread
    }
    prefix = prefix.trim();
    for (String name : VARIABLES) {
      vars.put(prefix + name, rec == null ? "" : variable(rec, name));
    }
  }

  private static String variable(Map<String, Object> rec, String name) {
    Object v;
    if (name.endsWith("_ms")) {
      String us = name.substring(0, name.length() - 3) + "_us";
      long ms = WsfleetSampler.ms(rec.get(us));
      return ms < 0 ? "" : String.valueOf(ms);
    }
    v = rec.get(name);
    return v == null ? "" : String.valueOf(v);
  }
}
