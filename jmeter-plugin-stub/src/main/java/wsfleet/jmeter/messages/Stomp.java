package wsfleet.jmeter.messages;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * STOMP 1.2 client frames (the stomp12 preset, PROTOCOL.md): {@code COMMAND\nname:value\n…\n\nbody\0},
 * header names and values escaped as STOMP 1.2 says for every frame but CONNECT ({@code \\ \n \c \r});
 * and the criteria that find the server's MESSAGE for a destination and RECEIPT for a receipt id in
 * the frames the daemon hands recv (leading EOLs, heart-beats, tolerated; CRLF or LF lines).
 */
public final class Stomp {
  /** Commands a client sends after CONNECT (the daemon's session sends CONNECT itself). */
  public static final List<String> COMMANDS = Arrays.asList(
      "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "DISCONNECT");

  private Stomp() {}

  /** STOMP 1.2 header escaping: backslash, LF, colon, CR. */
  public static String escape(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 4);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\':
          sb.append("\\\\");
          break;
        case '\n':
          sb.append("\\n");
          break;
        case ':':
          sb.append("\\c");
          break;
        case '\r':
          sb.append("\\r");
          break;
        default:
          sb.append(c);
      }
    }
    return sb.toString();
  }

  /**
   * A client frame. destination is required by SEND and SUBSCRIBE; id by SUBSCRIBE, UNSUBSCRIBE,
   * ACK and NACK; headers are extra (name, value) pairs in order; a receipt id adds
   * {@code receipt:} and criteria that find the server's RECEIPT. A SEND with a body gets a
   * {@code content-length} (UTF-8 bytes) unless the headers give one, so a body may hold a NUL.
   */
  public static Outgoing frame(String command, String destination, String id, List<String[]> headers,
      String body, String receiptId) {
    String cmd = command == null || command.trim().isEmpty() ? "SEND" : command.trim().toUpperCase(Locale.ROOT);
    if (!COMMANDS.contains(cmd)) {
      throw new IllegalArgumentException("STOMP command must be one of " + String.join(", ", COMMANDS)
          + ", got \"" + command + "\"");
    }
    boolean needsDestination = cmd.equals("SEND") || cmd.equals("SUBSCRIBE");
    boolean needsId = cmd.equals("SUBSCRIBE") || cmd.equals("UNSUBSCRIBE") || cmd.equals("ACK") || cmd.equals("NACK");
    StringBuilder sb = new StringBuilder(cmd).append('\n');
    if (needsDestination) {
      if (destination == null || destination.isEmpty()) {
        throw new IllegalArgumentException("STOMP " + cmd + " needs a destination");
      }
      header(sb, "destination", destination);
    }
    if (needsId) {
      if (id == null || id.isEmpty()) {
        throw new IllegalArgumentException("STOMP " + cmd + " needs an id");
      }
      header(sb, "id", id);
    }
    boolean hasLength = false;
    if (headers != null) {
      for (String[] h : headers) {
        header(sb, h[0], h[1]);
        hasLength |= h[0].equalsIgnoreCase("content-length");
      }
    }
    if (receiptId != null) {
      header(sb, "receipt", receiptId);
    }
    String b = body == null ? "" : body;
    if (!b.isEmpty() && !cmd.equals("SEND")) {
      throw new IllegalArgumentException("STOMP " + cmd + " has no body (only SEND does)");
    }
    if (!b.isEmpty() && !hasLength) {
      header(sb, "content-length", String.valueOf(b.getBytes(StandardCharsets.UTF_8).length));
    }
    sb.append('\n').append(b).append('\0');
    String text = sb.toString();
    return receiptId == null ? new Outgoing(text, null, null) : new Outgoing(text, receiptId, onReceipt(receiptId));
  }

  private static void header(StringBuilder sb, String name, String value) {
    sb.append(escape(name)).append(':').append(escape(value)).append('\n');
  }

  /** The server's MESSAGE frame for a destination (its header value as the server escapes it). */
  public static Criteria onMessage(String destination) {
    if (destination == null || destination.isEmpty()) {
      throw new IllegalArgumentException("matching a STOMP MESSAGE needs a destination");
    }
    return new Criteria(headerRegex("MESSAGE", "destination", destination), null, null);
  }

  /** The server's RECEIPT frame for a receipt id. */
  public static Criteria onReceipt(String receiptId) {
    return new Criteria(headerRegex("RECEIPT", "receipt-id", receiptId), null, null);
  }

  /**
   * A frame of this command with the header name:value among its headers (lines up to the blank
   * line that ends them: each header line is non-empty, so a body line cannot match). The pattern
   * holds real CR and LF characters: POSIX regex has no \n escape.
   */
  private static String headerRegex(String command, String name, String value) {
    return "^[\r\n]*" + command + "\r?\n([^\r\n][^\n]*\n)*" + Posix.literal(escape(name) + ":" + escape(value))
        + "\r?\n";
  }
}
