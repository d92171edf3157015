package wsfleet.jmeter.messages;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import wsfleet.jmeter.client.Json;

/**
 * ASP.NET Core SignalR JSON hub protocol messages (the signalr-json preset, PROTOCOL.md): an
 * invocation is {@code {"type":1,"invocationId":"7","target":"Send","arguments":[…]}} followed by
 * the record separator 0x1E; without an invocationId the server sends no completion. The server
 * invokes client methods with type 1 (no invocationId) and completes an invocation with type 3
 * carrying its invocationId. Matching reads the records the preset's record_separator framing hands
 * recv (one JSON message each, no 0x1E).
 */
public final class SignalR {
  public static final char RECORD_SEPARATOR = '\u001e';

  private SignalR() {}

  /** The invocation; with invocationId non-null the server answers with a completion (type 3). */
  public static Outgoing invocation(String target, List<Object> arguments, String invocationId) {
    if (target == null || target.isEmpty()) {
      throw new IllegalArgumentException("a SignalR invocation needs a target (the hub method)");
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("type", 1L);
    if (invocationId != null) {
      m.put("invocationId", invocationId);
    }
    m.put("target", target);
    m.put("arguments", arguments == null ? new ArrayList<>() : arguments);
    String text = Json.write(m) + RECORD_SEPARATOR;
    return invocationId == null ? new Outgoing(text, null, null)
        : new Outgoing(text, invocationId, onCompletion(invocationId));
  }

  /** The server invoking a client method: type 1 with that target. */
  public static Criteria onInvocation(String target) {
    if (target == null || target.isEmpty()) {
      throw new IllegalArgumentException("matching a SignalR invocation needs a target");
    }
    return new Criteria(typeRegex(1), "target", target);
  }

  /** The completion (type 3) of the invocation with that id. */
  public static Criteria onCompletion(String invocationId) {
    return new Criteria(typeRegex(3), "invocationId", invocationId);
  }

  /** "type":N as a whole number, whatever spaces a server's serializer puts around it. */
  private static String typeRegex(int type) {
    return "\"type\"[ ]*:[ ]*" + type + "[ ]*[,}]";
  }
}
