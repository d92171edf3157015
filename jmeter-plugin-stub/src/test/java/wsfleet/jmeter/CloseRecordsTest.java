package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/** The stable messages use the daemon's own cause list (daemon/cause.h), word for word. */
class CloseRecordsTest {
  @Test
  void everyCauseOfTheDaemonHasItsWordsInTheStableMessage() throws Exception {
    File h = new File(System.getProperty("wsfleet.source", ".."), "daemon/cause.h");
    String src = new String(Files.readAllBytes(h.toPath()), StandardCharsets.UTF_8);
    Matcher m = Pattern.compile("X\\((\\w+), \"(\\w+)\", \"([^\"]*)\"\\)").matcher(src);
    int n = 0;
    while (m.find()) {
      if (m.group(1).equals("NONE")) {
        continue;
      }
      Map<String, Object> rec = new LinkedHashMap<>();
      rec.put("code", 1006L);
      rec.put("cause", m.group(2));
      assertEquals("1006 " + m.group(2) + ": " + m.group(3), CloseRecords.stableMessage(rec));
      n++;
    }
    assertTrue(n >= 19, "causes read from " + h + ": " + n);
  }
}
