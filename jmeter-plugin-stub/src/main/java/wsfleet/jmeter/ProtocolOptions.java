package wsfleet.jmeter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import wsfleet.jmeter.client.Hex;
import wsfleet.jmeter.client.JsonText;

/**
 * The open fields of issue 18 (PROTOCOL.md: preset, preset_options, framing, session, auto_reply,
 * reconnect, rate_limit) read from an Open's parameters. Lists and maps are JSON text in the plan;
 * each is checked here so a typo fails the sample with bad_parameter naming the field, before the
 * daemon sees it. A field left blank is not sent, so an Open without them sends what it always did.
 */
final class ProtocolOptions {
  static final List<String> PRESETS = Arrays.asList("socketio4", "stomp12", "signalr-json", "echo-heartbeat");
  static final List<String> FRAMINGS = Arrays.asList("message", "record_separator", "stomp");
  /** The daemon's caps (SPEC / PROTOCOL.md): checked here too, so the error names the plan's field. */
  static final int MAX_AUTO_REPLY_RULES = 32;

  private ProtocolOptions() {}

  /** The preset, or null for none ("none" and blank). */
  static String preset(Params p) {
    String v = p.str(OpenConnection.PRESET);
    if (v == null || v.equalsIgnoreCase("none")) {
      return null;
    }
    v = v.toLowerCase(Locale.ROOT);
    if (!PRESETS.contains(v)) {
      throw new IllegalArgumentException("\"" + OpenConnection.PRESET + "\" must be none, "
          + String.join(", ", PRESETS) + ", got \"" + v + "\"");
    }
    return v;
  }

  /** Adds the issue-18 fields the parameters give to open's params. */
  static void put(Map<String, Object> m, Params p) {
    String preset = preset(p);
    String options = p.str(OpenConnection.PRESET_OPTIONS);
    if (preset != null) {
      m.put("preset", preset);
      if (options != null) {
        m.put("preset_options", binaries(JsonText.object(options, OpenConnection.PRESET_OPTIONS)));
      }
    } else if (options != null) {
      throw new IllegalArgumentException("\"" + OpenConnection.PRESET_OPTIONS + "\" needs a preset in \""
          + OpenConnection.PRESET + "\"");
    }
    String framing = p.str(OpenConnection.FRAMING);
    if (framing != null) {
      framing = framing.toLowerCase(Locale.ROOT);
      if (!FRAMINGS.contains(framing)) {
        throw new IllegalArgumentException("\"" + OpenConnection.FRAMING + "\" must be "
            + String.join(", ", FRAMINGS) + ", got \"" + framing + "\"");
      }
      m.put("framing", framing);
    }
    List<Object> steps = listOfObjects(p, OpenConnection.SESSION, "step");
    if (steps != null) {
      m.put("session", steps);
    }
    List<Object> rules = listOfObjects(p, OpenConnection.AUTO_REPLY, "rule");
    if (rules != null) {
      if (rules.size() > MAX_AUTO_REPLY_RULES) {
        throw new IllegalArgumentException("\"" + OpenConnection.AUTO_REPLY + "\" has " + rules.size()
            + " rules, at most " + MAX_AUTO_REPLY_RULES);
      }
      for (int i = 0; i < rules.size(); i++) {
        if (!(((Map<?, ?>) rules.get(i)).get("match") instanceof Map)) {
          throw new IllegalArgumentException("\"" + OpenConnection.AUTO_REPLY + "\": rule " + i
              + " needs a \"match\" object ({\"contains\"|\"regex\"|\"json_field\"+\"json_value\"|\"type\": ...})");
        }
      }
      m.put("auto_reply", rules);
    }
    Map<String, Object> reconnect = new LinkedHashMap<>();
    OpenConnection.putNum(reconnect, "max", p.num(OpenConnection.RECONNECT_MAX));
    OpenConnection.putNum(reconnect, "backoff_ms", p.num(OpenConnection.RECONNECT_BACKOFF));
    OpenConnection.putNum(reconnect, "backoff_max_ms", p.num(OpenConnection.RECONNECT_BACKOFF_MAX));
    OpenConnection.putNum(reconnect, "jitter_ms", p.num(OpenConnection.RECONNECT_JITTER));
    if (!reconnect.isEmpty()) {
      if (!reconnect.containsKey("max")) {
        throw new IllegalArgumentException("the reconnect fields need \"" + OpenConnection.RECONNECT_MAX
            + "\" (0: never reconnect)");
      }
      m.put("reconnect", reconnect);
    }
    Long messages = p.num(OpenConnection.RATE_MESSAGES);
    Long perMs = p.num(OpenConnection.RATE_PER_MS);
    if (messages != null || perMs != null) {
      if (messages == null || perMs == null) {
        throw new IllegalArgumentException("a rate limit needs both \"" + OpenConnection.RATE_MESSAGES
            + "\" and \"" + OpenConnection.RATE_PER_MS + "\"");
      }
      Map<String, Object> rate = new LinkedHashMap<>();
      rate.put("messages", messages);
      rate.put("per_ms", perMs);
      m.put("rate_limit", rate);
    }
  }

  /** A JSON array of objects (session steps, auto-reply rules), or null when blank. */
  private static List<Object> listOfObjects(Params p, String key, String what) {
    String text = p.str(key);
    if (text == null) {
      return null;
    }
    List<Object> l = JsonText.array(text, key);
    List<Object> out = new ArrayList<>(l.size());
    for (int i = 0; i < l.size(); i++) {
      if (!(l.get(i) instanceof Map)) {
        throw new IllegalArgumentException("\"" + key + "\": " + what + " " + i + " must be a JSON object");
      }
      out.add(binaries(l.get(i)));
    }
    return out;
  }

  /**
   * {"$bin": "hex"} (the form Json writes binary data in, and protocol/vectors uses) becomes
   * bytes, so a session step or an auto-reply can send a binary message.
   */
  @SuppressWarnings("unchecked")
  static <T> T binaries(T v) {
    if (v instanceof Map) {
      Map<String, Object> m = (Map<String, Object>) v;
      if (m.size() == 1 && m.get("$bin") instanceof String) {
        return (T) Hex.decode((String) m.get("$bin"));
      }
      Map<String, Object> out = new LinkedHashMap<>();
      for (Map.Entry<String, Object> e : m.entrySet()) {
        out.put(e.getKey(), binaries(e.getValue()));
      }
      return (T) out;
    }
    if (v instanceof List) {
      List<Object> out = new ArrayList<>();
      for (Object o : (List<Object>) v) {
        out.add(binaries(o));
      }
      return (T) out;
    }
    return v;
  }
}
