package wsfleet.jmeter.client;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the JSON text a plan writes in a field (auto-reply rules, session steps, preset options,
 * event arguments) into the values the control client sends: Map (key order kept), List, String,
 * Long (Double for numbers with a fraction or exponent), Boolean, null. Strict RFC 8259, so a typo
 * fails the sample naming the field and the character, not the daemon with a vaguer word.
 */
public final class JsonText {
  private final String s;
  private final String field;
  private int i;

  private JsonText(String s, String field) {
    this.s = s;
    this.field = field;
  }

  /** The value of text; IllegalArgumentException naming field and where the text goes wrong. */
  public static Object parse(String text, String field) {
    JsonText p = new JsonText(text, field);
    p.ws();
    Object v = p.value(0);
    p.ws();
    if (p.i != text.length()) {
      throw p.error("text after the value");
    }
    return v;
  }

  /** A JSON array, as a list. */
  public static List<Object> array(String text, String field) {
    Object v = parse(text, field);
    if (!(v instanceof List)) {
      throw new IllegalArgumentException("\"" + field + "\" must be a JSON array ([...]), got " + kind(v));
    }
    @SuppressWarnings("unchecked")
    List<Object> l = (List<Object>) v;
    return l;
  }

  /** A JSON object, as a map. */
  public static Map<String, Object> object(String text, String field) {
    Object v = parse(text, field);
    if (!(v instanceof Map)) {
      throw new IllegalArgumentException("\"" + field + "\" must be a JSON object ({...}), got " + kind(v));
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> m = (Map<String, Object>) v;
    return m;
  }

  static String kind(Object v) {
    if (v == null) {
      return "null";
    }
    if (v instanceof Map) {
      return "an object";
    }
    if (v instanceof List) {
      return "an array";
    }
    if (v instanceof String) {
      return "a string";
    }
    if (v instanceof Boolean) {
      return "a boolean";
    }
    return "a number";
  }

  /** Nesting deeper than this is refused: a plan's rules never need it, a recursion would overflow. */
  private static final int MAX_DEPTH = 64;

  private Object value(int depth) {
    if (depth > MAX_DEPTH) {
      throw error("nested deeper than " + MAX_DEPTH);
    }
    if (i >= s.length()) {
      throw error("a value expected, the text ended");
    }
    char c = s.charAt(i);
    switch (c) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"':
        return string();
      case 't':
        return literal("true", Boolean.TRUE);
      case 'f':
        return literal("false", Boolean.FALSE);
      case 'n':
        return literal("null", null);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return number();
        }
        throw error("unexpected '" + c + "'");
    }
  }

  private Map<String, Object> object(int depth) {
    Map<String, Object> m = new LinkedHashMap<>();
    i++;
    ws();
    if (peek() == '}') {
      i++;
      return m;
    }
    while (true) {
      ws();
      if (peek() != '"') {
        throw error("a \"key\" expected");
      }
      String k = string();
      ws();
      expect(':');
      ws();
      m.put(k, value(depth + 1));
      ws();
      char c = peek();
      i++;
      if (c == '}') {
        return m;
      }
      if (c != ',') {
        i--;
        throw error("',' or '}' expected");
      }
    }
  }

  private List<Object> array(int depth) {
    List<Object> l = new ArrayList<>();
    i++;
    ws();
    if (peek() == ']') {
      i++;
      return l;
    }
    while (true) {
      ws();
      l.add(value(depth + 1));
      ws();
      char c = peek();
      i++;
      if (c == ']') {
        return l;
      }
      if (c != ',') {
        i--;
        throw error("',' or ']' expected");
      }
    }
  }

  private String string() {
    StringBuilder sb = new StringBuilder();
    i++;
    while (true) {
      if (i >= s.length()) {
        throw error("unterminated string");
      }
      char c = s.charAt(i++);
      if (c == '"') {
        return sb.toString();
      }
      if (c < 0x20) {
        i--;
        throw error("control character in a string (write it as \\n, \\u0000, ...)");
      }
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      if (i >= s.length()) {
        throw error("unterminated string");
      }
      char e = s.charAt(i++);
      switch (e) {
        case '"':
        case '\\':
        case '/':
          sb.append(e);
          break;
        case 'b':
          sb.append('\b');
          break;
        case 'f':
          sb.append('\f');
          break;
        case 'n':
          sb.append('\n');
          break;
        case 'r':
          sb.append('\r');
          break;
        case 't':
          sb.append('\t');
          break;
        case 'u':
          if (i + 4 > s.length()) {
            throw error("\\u needs 4 hex digits");
          }
          try {
            sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
          } catch (NumberFormatException ex) {
            throw error("\\u needs 4 hex digits");
          }
          i += 4;
          break;
        default:
          i--;
          throw error("unknown escape \\" + e);
      }
    }
  }

  private Object number() {
    int start = i;
    if (peek() == '-') {
      i++;
    }
    if (peek() == '0') {
      i++;
    } else if (digit()) {
      while (digit()) {
        i++;
      }
    } else {
      throw error("a digit expected");
    }
    boolean whole = true;
    if (peek() == '.') {
      whole = false;
      i++;
      if (!digit()) {
        throw error("a digit expected after '.'");
      }
      while (digit()) {
        i++;
      }
    }
    if (peek() == 'e' || peek() == 'E') {
      whole = false;
      i++;
      if (peek() == '+' || peek() == '-') {
        i++;
      }
      if (!digit()) {
        throw error("a digit expected in the exponent");
      }
      while (digit()) {
        i++;
      }
    }
    String t = s.substring(start, i);
    if (whole) {
      try {
        return Long.parseLong(t);
      } catch (NumberFormatException ex) {
        // beyond 64 bits: kept as a double, as JavaScript would read it
      }
    }
    return Double.parseDouble(t);
  }

  private Object literal(String word, Object v) {
    if (!s.startsWith(word, i)) {
      throw error("unexpected '" + s.charAt(i) + "'");
    }
    i += word.length();
    return v;
  }

  private boolean digit() {
    char c = peek();
    return c >= '0' && c <= '9';
  }

  private char peek() {
    return i < s.length() ? s.charAt(i) : '\0';
  }

  private void expect(char c) {
    if (peek() != c) {
      throw error("'" + c + "' expected");
    }
    i++;
  }

  private void ws() {
    while (i < s.length()) {
      char c = s.charAt(i);
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return;
      }
      i++;
    }
  }

  private IllegalArgumentException error(String what) {
    return new IllegalArgumentException("\"" + field + "\" is not valid JSON: " + what + " at character "
        + (i + 1));
  }
}
