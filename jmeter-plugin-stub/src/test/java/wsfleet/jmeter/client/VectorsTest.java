package wsfleet.jmeter.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;

/** The stub against protocol/vectors/vectors.json, the vectors the C codec passes too. */
class VectorsTest {
  static final File FILE = new File(System.getProperty("wsfleet.vectors", "../protocol/vectors/vectors.json"));

  static List<JsonNode> vectors(String kind) throws IOException {
    JsonNode all = new ObjectMapper().readTree(FILE);
    List<JsonNode> out = new ArrayList<>();
    for (JsonNode v : all) {
      if (v.get("kind").asText().equals(kind)) {
        out.add(v);
      }
    }
    return out;
  }

  @Test
  void everyKindIsPresent() throws IOException {
    for (String k : new String[] {"request", "response", "notification", "invalid", "malformed", "too_large"}) {
      assertFalse(vectors(k).isEmpty(), "no vectors of kind " + k + " in " + FILE);
    }
  }

  @TestFactory
  Stream<DynamicTest> requestsEncodeToTheVectorBytes() throws IOException {
    return vectors("request").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
      JsonNode p = v.get("params");
      @SuppressWarnings("unchecked")
      Map<String, Object> params = p == null || p.isNull() ? null : (Map<String, Object>) fromJson(p);
      byte[] got = Rpc.encodeRequest(v.get("msgid").asLong(), v.get("method").asText(), params);
      assertEquals(v.get("hex").asText(), Hex.encode(got), v.get("description").asText());
    }));
  }

  @TestFactory
  Stream<DynamicTest> responsesDecodeToTheVectorJson() throws IOException {
    return vectors("response").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
      Rpc.Message m = decodeOne(v.get("hex").asText());
      assertEquals(Rpc.RESPONSE, m.type);
      assertEquals(v.get("msgid").asLong(), m.msgid);
      assertEquals(canon(fromJson(v.get("error"))), canon(m.error), "error");
      assertEquals(canon(fromJson(v.get("result"))), canon(m.result), "result");
      Reply r = new Reply(m.result, m.error);
      assertEquals(v.get("error").isNull(), r.ok());
    }));
  }

  @TestFactory
  Stream<DynamicTest> notificationsDecodeToTheVectorJson() throws IOException {
    return vectors("notification").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
      Rpc.Message m = decodeOne(v.get("hex").asText());
      assertEquals(Rpc.NOTIFICATION, m.type);
      assertEquals(v.get("method").asText(), m.method);
      assertEquals(canon(fromJson(v.get("params"))), canon(m.params));
    }));
  }

  /** Invalid requests are still msgpack: the stub's reader must parse them without losing framing. */
  @TestFactory
  Stream<DynamicTest> invalidVectorsAreWellFormedMsgpack() throws IOException {
    return vectors("invalid").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
      byte[] b = Hex.decode(v.get("hex").asText());
      try (MessageUnpacker u = MessagePack.newDefaultUnpacker(b)) {
        Msgpack.unpack(u);
        assertFalse(u.hasNext(), "one object exactly");
      }
    }));
  }

  @TestFactory
  Stream<DynamicTest> malformedVectorsAreRejected() throws IOException {
    return vectors("malformed").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
      byte[] b = Hex.decode(v.get("hex").asText());
      try (MessageUnpacker u = MessagePack.newDefaultUnpacker(b)) {
        assertThrows(Exception.class, () -> Rpc.read(u));
      }
    }));
  }

  /** The stub never sends what the daemon would refuse as too large: it checks the encoded size. */
  @TestFactory
  Stream<DynamicTest> tooLargeVectorsExceedTheirLimit() throws IOException {
    return vectors("too_large").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
      byte[] b = Hex.decode(v.get("hex").asText());
      long limit = v.has("max_request_bytes") ? v.get("max_request_bytes").asLong() : 1024;
      // Complete vectors are over the limit as they stand; prefix-only ones declare more than it.
      boolean prefixOnly = v.get("description").asText().startsWith("prefix only");
      assertTrue(prefixOnly || b.length > limit, "vector of " + b.length + " bytes vs limit " + limit);
    }));
  }

  @Test
  void aResponseWithoutErrorOrResultIsAnEmptySuccess() throws IOException {
    Rpc.Message m = decodeOne("940107c0c0");
    assertNull(m.error);
    assertTrue(new Reply(m.result, m.error).ok());
    assertTrue(new Reply(m.result, m.error).result().isEmpty());
  }

  static Rpc.Message decodeOne(String hex) throws IOException {
    try (MessageUnpacker u = MessagePack.newDefaultUnpacker(Hex.decode(hex))) {
      Rpc.Message m = Rpc.read(u);
      assertFalse(u.hasNext(), "trailing bytes after the message");
      return m;
    }
  }

  /** JSON form to the Java values the stub packs: {"$bin": hex} is bin, integers are Long. */
  static Object fromJson(JsonNode n) {
    if (n == null || n.isNull()) {
      return null;
    }
    if (n.isObject()) {
      if (n.size() == 1 && n.has("$bin")) {
        return Hex.decode(n.get("$bin").asText());
      }
      Map<String, Object> m = new LinkedHashMap<>();
      Iterator<Map.Entry<String, JsonNode>> it = n.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        m.put(e.getKey(), fromJson(e.getValue()));
      }
      return m;
    }
    if (n.isArray()) {
      List<Object> l = new ArrayList<>();
      n.forEach(x -> l.add(fromJson(x)));
      return l;
    }
    if (n.isIntegralNumber()) {
      return n.canConvertToLong() ? (Object) n.asLong() : n.bigIntegerValue();
    }
    if (n.isBoolean()) {
      return n.asBoolean();
    }
    if (n.isNumber()) {
      return n.asDouble();
    }
    return n.asText();
  }

  /** A comparable form that also pins map key order and the str/bin distinction. */
  static Object canon(Object o) {
    if (o instanceof Map) {
      List<Object> pairs = new ArrayList<>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
        pairs.add(List.of(String.valueOf(e.getKey()), String.valueOf(canon(e.getValue()))));
      }
      return "map" + pairs;
    }
    if (o instanceof List) {
      List<Object> l = new ArrayList<>();
      for (Object x : (List<?>) o) {
        l.add(canon(x));
      }
      return "list" + l;
    }
    if (o instanceof byte[]) {
      return "bin:" + Hex.encode((byte[]) o);
    }
    if (o instanceof String) {
      return "str:" + o;
    }
    if (o instanceof Long || o instanceof BigInteger) {
      return "int:" + o;
    }
    return String.valueOf(o);
  }

  @Test
  void hexRoundTrips() {
    byte[] b = {0, 1, (byte) 0xfe, (byte) 0xff};
    assertArrayEquals(b, Hex.decode(Hex.encode(b)));
    assertArrayEquals(b, Hex.decode("0x00 01:fe ff"));
    assertThrows(IllegalArgumentException.class, () -> Hex.decode("abc"));
    assertThrows(IllegalArgumentException.class, () -> Hex.decode("zz"));
  }
}
