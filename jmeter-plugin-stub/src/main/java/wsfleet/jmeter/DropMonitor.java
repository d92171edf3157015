package wsfleet.jmeter;

import java.io.IOException;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.protocol.java.sampler.AbstractJavaSamplerClient;
import org.apache.jmeter.protocol.java.sampler.JavaSamplerContext;
import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.threads.JMeterContext;
import org.apache.jmeter.threads.JMeterContextService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import wsfleet.jmeter.client.Json;
import wsfleet.jmeter.client.Reply;

/**
 * wsfleet Drop Monitor: one sample per connection that ended in the background — a drop, a server
 * close, a pong timeout, a failed (re)connect — whether or not any thread touches that connection
 * again, so the JTL, the dashboard and a CI gate see every ending.
 *
 * <p>Run it in a thread group of its own (one thread, loop forever). Each call waits up to
 * <i>Wait for an ending</i> for the daemon's next {@code close} / {@code handshake_failed} /
 * {@code reconnect} event and
 * returns it as a failed sample: response code the close code (the HTTP status for a refused
 * upgrade), the stable message ({@link CloseRecords#stableMessage}), the event with its close record
 * as response data, stamped at the time of the ending. A call that saw no ending records nothing.
 * Endings whose cause is in <i>Ignore causes</i> (default: the plan's own closes and resets) are
 * not samples. A reconnect (the daemon reopened a dropped session under its name) is a failed
 * sample of its own with response code {@code reconnect} and the message {@code reconnect:
 * reopened after} + the stable message of the ending it replaced (that ending is a sample too,
 * with its close code: one drop is counted once under its code); {@code reconnect} in Ignore causes
 * leaves them out. With <i>Stop when the other threads have ended</i> the monitor ends its thread once
 * it has seen other threads run and none is left, after one more whole wait without an ending.
 */
public class DropMonitor extends AbstractJavaSamplerClient {
  private static final Logger log = LoggerFactory.getLogger(DropMonitor.class);
  public static final String WAIT = "Wait for an ending (ms)";
  public static final String IGNORE = "Ignore causes (comma-separated)";
  public static final String STOP = "Stop when the other threads have ended";
  /** Response code of a reconnect event's sample, and the word in Ignore causes that leaves them out. */
  static final String RECONNECT = "reconnect";

  /** Monitor threads running in this JVM: the threads that are not load. */
  private static final AtomicInteger running = new AtomicInteger();

  private boolean sawOtherThreads;
  private boolean quietSinceTheyEnded;
  private long lostReported;

  @Override
  public Arguments getDefaultParameters() {
    Arguments a = new Arguments();
    a.addArgument(WAIT, "1000", null, "how long one call waits for an ending; no ending: no sample");
    a.addArgument(IGNORE, "local_close,daemon_reset", null,
        "causes (PROTOCOL.md close record) that are not samples: the plan's own closes and resets");
    a.addArgument(STOP, "true");
    return a;
  }

  @Override
  public void setupTest(JavaSamplerContext context) {
    running.incrementAndGet();
    Fleet.beginRun(JMeterContextService.getTestStartTime());
    try {
      DropFeed.shared().ensureSubscribed(); // before the load threads open anything
    } catch (IOException e) {
      log.warn("wsfleet drop monitor: cannot subscribe yet: {}", e.getMessage());
    }
  }

  @Override
  public void teardownTest(JavaSamplerContext context) {
    running.decrementAndGet();
  }

  @Override
  public SampleResult runTest(JavaSamplerContext context) {
    Params p = new Params(context, this);
    return next(DropFeed.shared(), p, JMeterContextService.getContext());
  }

  /** One call: the next ending as a sample, or an ignored result (not recorded) when none came. */
  SampleResult next(DropFeed feed, Params p, JMeterContext jc) {
    long waitMs;
    Set<String> ignore = new HashSet<>();
    try {
      waitMs = Math.max(1, p.num(WAIT, 1000));
      for (String c : p.raw(IGNORE).split(",")) {
        if (!c.trim().isEmpty()) {
          ignore.add(c.trim().toLowerCase(Locale.ROOT));
        }
      }
    } catch (IllegalArgumentException e) {
      SampleResult res = new SampleResult();
      res.setStampAndTime(System.currentTimeMillis(), 0);
      WsfleetSampler.fail(res, "bad_parameter", e.getMessage(), null);
      return res;
    }
    // Noted on every call, not only on quiet ones: in a short plan the load threads may run and
    // end while every call returns an ending, and the monitor would then never see them.
    sawOtherThreads |= JMeterContextService.getNumberOfThreads() - running.get() > 0;
    long deadline = System.currentTimeMillis() + waitMs;
    try {
      for (long left = waitMs; left > 0; left = deadline - System.currentTimeMillis()) {
        Map<String, Object> ev = feed.poll(left);
        if (ev == null) {
          break;
        }
        SampleResult res = toSample(ev, ignore);
        if (res != null) {
          return res;
        }
      }
    } catch (IOException e) {
      SampleResult res = new SampleResult();
      res.setStampAndTime(System.currentTimeMillis(), 0);
      WsfleetSampler.fail(res, "control_error", e.getMessage(), null);
      sleepQuietly(deadline - System.currentTimeMillis()); // a down daemon: no busy loop
      return res;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (feed.lost() > lostReported) {
      log.warn("wsfleet drop monitor: {} endings were dropped unseen (more than {} queued)",
          feed.lost() - lostReported, DropFeed.MAX_QUEUED);
      lostReported = feed.lost();
    }
    maybeStop(p, jc);
    SampleResult none = new SampleResult();
    none.setIgnore();
    return none;
  }

  /** The event as a sample, or null when its cause is ignored. */
  @SuppressWarnings("unchecked")
  static SampleResult toSample(Map<String, Object> ev, Set<String> ignore) {
    Object r = ev.get("record");
    Map<String, Object> rec = r instanceof Map ? (Map<String, Object>) r : null;
    String cause = rec != null ? String.valueOf(rec.get("cause")) : "";
    if (ignore.contains(cause)) {
      return null;
    }
    SampleResult res = new SampleResult();
    res.setDataType(SampleResult.TEXT);
    Object at = ev.get("at_ms");
    res.setStampAndTime(at instanceof Long ? (Long) at : System.currentTimeMillis(), 0);
    res.setSamplerData(ev.get("event") + " " + ev.get("conn") + " " + ev.get("url"));
    Object err = ev.get("error");
    if (RECONNECT.equals(ev.get("event"))) {
      if (ignore.contains(RECONNECT)) {
        return null;
      }
      // The ending it replaced was a close event (a sample of its own, with its close code); this one
      // says the session came back, so the plan's next samples on it do not hide that drop.
      WsfleetSampler.fail(res, RECONNECT, RECONNECT + ": reopened after "
          + (rec != null ? CloseRecords.stableMessage(rec) : "an ending"), null);
    } else if ("handshake_failed".equals(ev.get("event")) && err instanceof Map) {
      WsfleetSampler.applyError(res, new Reply(null, (Map<String, Object>) err));
    } else if (rec != null && "local_close".equals(cause)) {
      res.setSuccessful(true); // the plan's own clean close: shown when not ignored, never a failure
      res.setResponseCode(String.valueOf(rec.get("code")));
      res.setResponseMessage(CloseRecords.stableMessage(rec));
    } else if (rec != null) {
      WsfleetSampler.fail(res, String.valueOf(rec.get("code")), CloseRecords.stableMessage(rec), null);
    } else {
      WsfleetSampler.fail(res, "unknown_event", "event " + ev.get("event") + " without a close record", null);
    }
    res.setResponseData(Json.write(ev), "UTF-8");
    CloseRecords.exportVariables(rec);
    return res;
  }

  /** Ends this monitor thread once the load threads it watched have all ended. */
  private void maybeStop(Params p, JMeterContext jc) {
    if (!p.bool(STOP, true) || jc == null || jc.getThread() == null) {
      return;
    }
    int others = JMeterContextService.getNumberOfThreads() - running.get();
    if (others > 0 || !sawOtherThreads) {
      sawOtherThreads |= others > 0;
      quietSinceTheyEnded = false;
    } else if (!quietSinceTheyEnded) {
      quietSinceTheyEnded = true; // one more whole wait for endings that were on their way
    } else {
      log.info("wsfleet drop monitor: no other thread left, stopping {}", jc.getThread().getThreadName());
      jc.getThread().stop();
    }
  }

  private static void sleepQuietly(long ms) {
    if (ms <= 0) {
      return;
    }
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
