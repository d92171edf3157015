package wsfleet.jmeter.messages;

/**
 * Literal text inside a POSIX extended regular expression, the dialect of recv's {@code regex}
 * (the daemon's regcomp with REG_EXTENDED, no REG_NEWLINE: {@code .} and {@code [^x]} match a
 * newline, {@code ^} is only the start of the message).
 */
final class Posix {
  private Posix() {}

  /**
   * text matched literally. Each special character goes into a bracket of its own ({@code [.]},
   * {@code [\]}): inside a bracket POSIX gives no character but {@code ^ - ]} a meaning, whereas a
   * backslash before {@code ]} or {@code &#125;} is undefined in POSIX ERE. {@code ^} is escaped.
   */
  static String literal(String text) {
    StringBuilder sb = new StringBuilder(text.length() + 8);
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      switch (c) {
        case '.':
        case '[':
        case '\\':
        case '(':
        case ')':
        case '*':
        case '+':
        case '?':
        case '{':
        case '|':
        case '$':
          sb.append('[').append(c).append(']');
          break;
        case '^':
          sb.append("\\^");
          break;
        default:
          sb.append(c);
      }
    }
    return sb.toString();
  }
}
