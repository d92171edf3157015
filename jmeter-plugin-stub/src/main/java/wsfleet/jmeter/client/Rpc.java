package wsfleet.jmeter.client;

import java.io.IOException;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;

/** msgpack-RPC 1.0 framing as PROTOCOL.md §2 fixes it: bytes in, messages out, no I/O. */
public final class Rpc {
  public static final int REQUEST = 0;
  public static final int RESPONSE = 1;
  public static final int NOTIFICATION = 2;

  private Rpc() {}

  /**
   * Packers start with this much room and add chunks as needed. msgpack's default is 8 KiB, and a
   * typical request is under 200 bytes: allocating (and zeroing) 8 KiB per sample showed in JFR.
   */
  private static final MessagePack.PackerConfig PACKER = new MessagePack.PackerConfig().withBufferSize(512);

  /** {@code [0, msgid, method, [params]]}; a null params map is sent as an empty params array. */
  public static byte[] encodeRequest(long msgid, String method, Map<String, ?> params) {
    try (MessageBufferPacker pk = PACKER.newBufferPacker()) {
      pk.packArrayHeader(4);
      pk.packInt(REQUEST);
      pk.packLong(msgid);
      pk.packString(method);
      if (params == null) {
        pk.packArrayHeader(0);
      } else {
        pk.packArrayHeader(1);
        Msgpack.pack(pk, params);
      }
      return pk.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException("in-memory packing failed", e);
    }
  }

  /** One decoded message from the daemon (a response or a notification). */
  public static final class Message {
    public final int type;
    public final long msgid; // responses
    public final Map<String, Object> error; // responses; null on success
    public final Map<String, Object> result; // responses; null on error
    public final String method; // notifications
    public final Map<String, Object> params; // notifications: the first params element, or {}

    Message(int type, long msgid, Map<String, Object> error, Map<String, Object> result,
        String method, Map<String, Object> params) {
      this.type = type;
      this.msgid = msgid;
      this.error = error;
      this.result = result;
      this.method = method;
      this.params = params;
    }
  }

  /**
   * Reads the next message. Returns null at a clean end of stream between messages.
   *
   * @throws RpcFormatException when the object read is not a response or notification
   * @throws IOException when the bytes are not msgpack or the stream ends inside a message
   */
  public static Message read(MessageUnpacker u) throws IOException {
    if (!u.hasNext()) {
      return null;
    }
    Object o = Msgpack.unpack(u);
    return toMessage(o);
  }

  @SuppressWarnings("unchecked")
  static Message toMessage(Object o) throws RpcFormatException {
    if (!(o instanceof List)) {
      throw new RpcFormatException("message is not an array");
    }
    List<Object> a = (List<Object>) o;
    if (a.isEmpty() || !(a.get(0) instanceof Long)) {
      throw new RpcFormatException("message type missing");
    }
    long type = (Long) a.get(0);
    if (type == RESPONSE && a.size() == 4) {
      if (!(a.get(1) instanceof Long) || (Long) a.get(1) < 0) {
        throw new RpcFormatException("response msgid is not an unsigned int");
      }
      Object err = a.get(2);
      Object res = a.get(3);
      if (err != null && !(err instanceof Map)) {
        throw new RpcFormatException("response error is not a map");
      }
      if (res != null && !(res instanceof Map)) {
        throw new RpcFormatException("response result is not a map");
      }
      return new Message(RESPONSE, (Long) a.get(1), (Map<String, Object>) err,
          err != null ? null : (Map<String, Object>) res, null, null);
    }
    if (type == NOTIFICATION && a.size() == 3) {
      if (!(a.get(1) instanceof String) || !(a.get(2) instanceof List)) {
        throw new RpcFormatException("notification is not [2, str, array]");
      }
      List<Object> p = (List<Object>) a.get(2);
      Map<String, Object> params = Collections.emptyMap();
      if (!p.isEmpty()) {
        if (p.size() != 1 || !(p.get(0) instanceof Map)) {
          throw new RpcFormatException("notification params is not [map]");
        }
        params = (Map<String, Object>) p.get(0);
      }
      return new Message(NOTIFICATION, 0, null, null, (String) a.get(1), params);
    }
    throw new RpcFormatException("not a response or notification (type " + type + ", "
        + a.size() + " elements)");
  }

  /** A complete msgpack object that is not a message a client accepts. */
  public static final class RpcFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    RpcFormatException(String msg) {
      super(msg);
    }
  }
}
