package wsfleet.jmeter.messages;

import java.util.Map;

/**
 * What recv / request look for (PROTOCOL.md §5 recv: all given criteria must hold), as a protocol
 * helper translated it: a POSIX extended regex and/or a JSON field with its value. Null: not used.
 */
public final class Criteria {
  public final String regex;
  public final String jsonField;
  public final String jsonValue;

  public Criteria(String regex, String jsonField, String jsonValue) {
    this.regex = regex;
    this.jsonField = jsonField;
    this.jsonValue = jsonValue;
  }

  /** Adds these criteria to recv's params, refusing to replace one the plan set itself. */
  public void putInto(Map<String, Object> params, String helperName) {
    put(params, "regex", regex, helperName);
    put(params, "json_field", jsonField, helperName);
    put(params, "json_value", jsonValue, helperName);
  }

  private static void put(Map<String, Object> m, String key, String v, String helperName) {
    if (v == null) {
      return;
    }
    if (m.containsKey(key)) {
      throw new IllegalArgumentException(helperName + " sets the " + key
          + " criterion itself: leave that match field empty (or match the raw message without it)");
    }
    m.put(key, v);
  }

  @Override
  public String toString() {
    return "regex=" + regex + " json_field=" + jsonField + " json_value=" + jsonValue;
  }
}
