package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.threads.JMeterVariables;
import org.junit.jupiter.api.Test;

import wsfleet.jmeter.client.Reply;

/** What a plan sees of reconnects: sub-results, the marker, the variable, the Drop Monitor's sample. */
class ReconnectsTest {
  static Map<String, Object> record(long code, String cause, long at) {
    Map<String, Object> rec = new LinkedHashMap<>();
    rec.put("code", code);
    rec.put("cause", cause);
    rec.put("closed_at_ms", at);
    return rec;
  }

  static Reply ok(Long reconnects) {
    Map<String, Object> res = new LinkedHashMap<>();
    res.put("bytes", 3L);
    if (reconnects != null) {
      res.put("reconnects", reconnects);
    }
    return new Reply(res, null);
  }

  static SampleResult sample() {
    SampleResult s = new SampleResult();
    s.setSuccessful(true);
    s.setResponseMessage("sent 3 bytes");
    return s;
  }

  @Test
  void aSampleAfterReconnectsGetsOneFailedSubResultEachAndSaysSo() {
    JMeterVariables vars = new JMeterVariables();
    JMeterContextService.getContext().setVariables(vars);
    AtomicInteger statusCalls = new AtomicInteger();
    Map<String, Object> last = record(1006, "eof", 1_700_000_000_000L);
    Reconnects.forget("r1");

    SampleResult quiet = sample();
    Reconnects.report(quiet, "r1", ok(null), () -> {
      statusCalls.incrementAndGet();
      return last;
    });
    assertEquals(0, quiet.getSubResults().length);
    assertEquals("sent 3 bytes", quiet.getResponseMessage());
    assertEquals("0", vars.get(Reconnects.VARIABLE));
    assertEquals(0, statusCalls.get(), "no status call without a new reconnect");

    SampleResult one = sample();
    Reconnects.report(one, "r1", ok(1L), () -> {
      statusCalls.incrementAndGet();
      return last;
    });
    assertTrue(one.isSuccessful(), "the sample keeps its own outcome");
    assertEquals("sent 3 bytes (reconnected once since this thread's last sample: 1 in all)", one.getResponseMessage());
    assertEquals(1, one.getSubResults().length);
    SampleResult sub = one.getSubResults()[0];
    assertEquals(Reconnects.LABEL, sub.getSampleLabel());
    assertFalse(sub.isSuccessful());
    assertEquals("1006", sub.getResponseCode());
    assertEquals("1006 eof: dropped by peer (TCP FIN, no close frame)", sub.getResponseMessage());
    assertEquals(1_700_000_000_000L, sub.getTimeStamp(), "stamped at the ending it replaced");
    assertTrue(new String(sub.getResponseData(), StandardCharsets.UTF_8).contains("\"cause\":\"eof\""));
    assertEquals("1", vars.get(Reconnects.VARIABLE));

    SampleResult same = sample();
    Reconnects.report(same, "r1", ok(1L), () -> last);
    assertEquals(0, same.getSubResults().length, "seen already");

    SampleResult two = sample();
    Reconnects.report(two, "r1", ok(3L), () -> {
      statusCalls.incrementAndGet();
      return last;
    });
    assertEquals(2, two.getSubResults().length);
    assertEquals("reconnect", two.getSubResults()[0].getResponseCode(), "status keeps only the latest record");
    assertEquals("1006", two.getSubResults()[1].getResponseCode());
    assertTrue(two.getResponseMessage().endsWith("(reconnected 2 times since this thread's last sample: 3 in all)"));
    assertEquals(2, statusCalls.get());
  }

  @Test
  void aFreshConnectionUnderTheNameStartsAgainAndErrorsWithoutACountChangeNothing() {
    Reconnects.forget("r2");
    Reconnects.report(sample(), "r2", ok(2L), () -> null);
    SampleResult fresh = sample();
    Reconnects.report(fresh, "r2", ok(null), () -> null);
    assertEquals(0, fresh.getSubResults().length);
    Map<String, Object> err = new LinkedHashMap<>();
    err.put("code", "conn_closed");
    err.put("reconnecting", true);
    SampleResult failed = sample();
    Reconnects.report(failed, "r2", new Reply(null, err), () -> null);
    assertEquals(0, failed.getSubResults().length);
    SampleResult after = sample();
    Reconnects.report(after, "r2", ok(1L), () -> null);
    assertEquals(1, after.getSubResults().length);
    assertNull(Reconnects.count(new Reply(null, err)));
  }

  @Test
  void theDropMonitorReportsAReconnectApartFromTheDropItFollowed() {
    Map<String, Object> ev = new LinkedHashMap<>();
    ev.put("event", "reconnect");
    ev.put("conn", "users 1-1");
    ev.put("url", "ws://h/");
    ev.put("at_ms", 1_700_000_000_500L);
    ev.put("attempt", 1L);
    ev.put("record", record(1006, "reset", 1_700_000_000_000L));
    SampleResult r = DropMonitor.toSample(ev, Collections.singleton("local_close"));
    assertFalse(r.isSuccessful());
    assertEquals("reconnect", r.getResponseCode());
    assertEquals("reconnect: reopened after 1006 reset: reset by peer", r.getResponseMessage());
    assertEquals(1_700_000_000_500L, r.getTimeStamp());
    assertNull(DropMonitor.toSample(ev, Collections.singleton("reconnect")), "Ignore causes: reconnect");
  }
}
