package wsfleet.jmeter.messages;

import java.util.ArrayList;
import java.util.List;

import wsfleet.jmeter.client.Json;

/**
 * Socket.IO v4 packets over Engine.IO v4 (the socketio4 preset, PROTOCOL.md): an event is
 * {@code 42["name",arg,…]} on the default namespace and {@code 42/chat,["name",…]} on another;
 * asking for an ack puts its id between the prefix and the array, {@code 42/chat,7["name",…]}, and
 * the server answers {@code 43/chat,7[…]}. The event name and arguments are written as
 * JSON.stringify writes them, so the matcher sees the server's bytes. Binary events (45/46) are
 * not built.
 */
public final class SocketIo {
  private SocketIo() {}

  /** "" for the default namespace ("", "/"), else "/ns," (a leading "/" added when missing). */
  static String namespacePrefix(String namespace) {
    if (namespace == null || namespace.isEmpty() || namespace.equals("/")) {
      return "";
    }
    if (namespace.indexOf(',') >= 0) {
      throw new IllegalArgumentException("a Socket.IO namespace cannot contain ',', got \"" + namespace + "\"");
    }
    return (namespace.startsWith("/") ? namespace : "/" + namespace) + ",";
  }

  /** The event packet; with ackId non-null it asks for an ack and its reply criteria find the answer. */
  public static Outgoing event(String namespace, String name, List<Object> args, Long ackId) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("a Socket.IO event needs an event name");
    }
    String nsp = namespacePrefix(namespace);
    List<Object> array = new ArrayList<>();
    array.add(name);
    if (args != null) {
      array.addAll(args);
    }
    String text = "42" + nsp + (ackId != null ? ackId.toString() : "") + Json.write(array);
    if (ackId == null) {
      return new Outgoing(text, null, null);
    }
    return new Outgoing(text, ackId.toString(), onAck(namespace, ackId));
  }

  /**
   * An event of that name on that namespace: {@code 42}, the namespace, an optional ack id, then
   * the JSON array whose first element is the name.
   */
  public static Criteria onEvent(String namespace, String name) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("matching a Socket.IO event needs an event name");
    }
    return new Criteria("^42" + Posix.literal(namespacePrefix(namespace)) + "[0-9]*[[]"
        + Posix.literal(Json.quote(name)) + "[],]", null, null);
  }

  /** The ack with that id on that namespace: {@code 43}, the namespace, the id, then its array. */
  public static Criteria onAck(String namespace, long ackId) {
    return new Criteria("^43" + Posix.literal(namespacePrefix(namespace)) + ackId + "[[]", null, null);
  }
}
