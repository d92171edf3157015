package wsfleet.jmeter.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class JsonTextTest {
  @Test
  void readsEveryJsonValueKeepingKeyOrder() {
    Object v = JsonText.parse(" {\"b\": [1, -2.5e1, true, false, null], \"a\": \"x\\u00e9\\n\\\"\\/\", \"c\": {}} ", "f");
    Map<?, ?> m = (Map<?, ?>) v;
    assertEquals(Arrays.asList("b", "a", "c"), Arrays.asList(m.keySet().toArray()));
    assertEquals(Arrays.asList(1L, -25.0, true, false, null), m.get("b"));
    assertEquals("xé\n\"/", m.get("a"));
    assertEquals(Collections.emptyMap(), m.get("c"));
    assertNull(JsonText.parse("null", "f"));
    assertEquals(Collections.emptyList(), JsonText.array("[ ]", "f"));
    assertEquals(123456789012345L, JsonText.parse("123456789012345", "f"));
  }

  @Test
  void writingWhatItReadGivesTheSameJson() {
    String s = "[{\"name\":\"engineio-ping\",\"match\":{\"regex\":\"^2$\"},\"reply\":\"3\"},1,\"a\\tb\"]";
    assertEquals(s, Json.write(JsonText.parse(s, "f")));
  }

  @Test
  void errorsNameTheFieldAndTheCharacter() {
    String[][] bad = {
        {"[1,]", "unexpected ']' at character 4"},
        {"{\"a\" 1}", "':' expected at character 6"},
        {"{'a':1}", "a \"key\" expected at character 2"},
        {"[1 2]", "',' or ']' expected at character 4"},
        {"\"abc", "unterminated string"},
        {"01", "text after the value at character 2"},
        {"", "a value expected, the text ended at character 1"},
        {"tru", "unexpected 't' at character 1"},
        {"\"a\\x\"", "unknown escape \\x"},
        {"\"a\nb\"", "control character in a string"},
    };
    for (String[] b : bad) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JsonText.parse(b[0], "Auto-reply rules"));
      assertEquals(true, e.getMessage().startsWith("\"Auto-reply rules\" is not valid JSON: "), e.getMessage());
      assertEquals(true, e.getMessage().contains(b[1]), b[0] + " -> " + e.getMessage());
    }
    assertEquals("\"Args\" must be a JSON array ([...]), got an object",
        assertThrows(IllegalArgumentException.class, () -> JsonText.array("{}", "Args")).getMessage());
    assertEquals("\"Opts\" must be a JSON object ({...}), got a number",
        assertThrows(IllegalArgumentException.class, () -> JsonText.object("3", "Opts")).getMessage());
  }

  @Test
  void deepNestingIsRefusedNotOverflowed() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 10000; i++) {
      sb.append('[');
    }
    assertThrows(IllegalArgumentException.class, () -> JsonText.parse(sb.toString(), "f"));
  }
}
