package wsfleet.jmeter.client;

import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePacker;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * Plain Java values to msgpack and back.
 *
 * <p>Java side: {@code null}, {@link Boolean}, integers ({@link Long}, or {@link BigInteger} above
 * {@code Long.MAX_VALUE}), {@link Double}, {@link String} (msgpack str), {@code byte[]} (msgpack
 * bin), {@link List}, and {@link Map} with String keys in insertion order. msgpack-core already
 * picks the smallest encoding for ints and headers, so the bytes are those of the C encoder.
 */
public final class Msgpack {
  private Msgpack() {}

  public static void pack(MessagePacker pk, Object v) throws IOException {
    if (v == null) {
      pk.packNil();
    } else if (v instanceof String) {
      pk.packString((String) v);
    } else if (v instanceof byte[]) {
      byte[] b = (byte[]) v;
      pk.packBinaryHeader(b.length);
      pk.writePayload(b);
    } else if (v instanceof Boolean) {
      pk.packBoolean((Boolean) v);
    } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
      pk.packLong(((Number) v).longValue());
    } else if (v instanceof BigInteger) {
      pk.packBigInteger((BigInteger) v);
    } else if (v instanceof Double || v instanceof Float) {
      pk.packDouble(((Number) v).doubleValue());
    } else if (v instanceof Map) {
      Map<?, ?> m = (Map<?, ?>) v;
      pk.packMapHeader(m.size());
      for (Map.Entry<?, ?> e : m.entrySet()) {
        pack(pk, e.getKey());
        pack(pk, e.getValue());
      }
    } else if (v instanceof Collection) {
      Collection<?> c = (Collection<?>) v;
      pk.packArrayHeader(c.size());
      for (Object o : c) {
        pack(pk, o);
      }
    } else {
      throw new IllegalArgumentException("cannot pack " + v.getClass().getName());
    }
  }

  /** Reads one object. Map keys that are not str are kept as their Java value's string form. */
  public static Object unpack(MessageUnpacker u) throws IOException {
    MessageFormat f = u.getNextFormat();
    ValueType t = f.getValueType();
    switch (t) {
      case NIL:
        u.unpackNil();
        return null;
      case BOOLEAN:
        return u.unpackBoolean();
      case INTEGER:
        if (f == MessageFormat.UINT64) {
          BigInteger b = u.unpackBigInteger();
          return b.bitLength() < 64 ? (Object) b.longValue() : b;
        }
        return u.unpackLong();
      case FLOAT:
        return u.unpackDouble();
      case STRING:
        return u.unpackString();
      case BINARY: {
        int n = u.unpackBinaryHeader();
        return u.readPayload(n);
      }
      case ARRAY: {
        int n = u.unpackArrayHeader();
        List<Object> list = new ArrayList<>(Math.min(n, 1024));
        for (int i = 0; i < n; i++) {
          list.add(unpack(u));
        }
        return list;
      }
      case MAP: {
        int n = u.unpackMapHeader();
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
          Object k = unpack(u);
          String key = k instanceof byte[] ? new String((byte[]) k, java.nio.charset.StandardCharsets.UTF_8)
              : String.valueOf(k);
          map.put(key, unpack(u));
        }
        return map;
      }
      case EXTENSION:
      default:
        throw new IOException("unsupported msgpack type " + t);
    }
  }
}
