package wsfleet.jmeter;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.util.JMeterUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import wsfleet.jmeter.client.ClientConfig;
import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.client.Reply;

/** The JVM's one control client, made on first use, and the once-per-test-run reset. */
public final class Fleet {
  private static final Logger log = LoggerFactory.getLogger(Fleet.class);
  private static ControlClient shared;
  private static long resetForTestStart = Long.MIN_VALUE;

  private Fleet() {}

  public static synchronized ControlClient client() {
    if (shared == null) {
      shared = new ControlClient(ClientConfig.from(Fleet::property));
    }
    return shared;
  }

  /** Replaces the shared client (tests; or after changing wsfleet.* properties in the GUI). */
  static synchronized void replace(ControlClient c) {
    if (shared != null && shared != c) {
      shared.close();
    }
    shared = c;
    resetForTestStart = Long.MIN_VALUE;
  }

  /**
   * With wsfleet.reset=true, sends {@code reset} once per test run (keyed by the run's start time),
   * so names and connections from an earlier run never leak into this one. Every thread calls this
   * from setupTest; the first does the reset while the others wait on the lock, so no thread opens
   * a connection that the reset would then close.
   */
  static synchronized void resetOnceForRun(long testStart) {
    ControlClient c = client();
    if (!c.config().resetAtStart || resetForTestStart == testStart) {
      return;
    }
    resetForTestStart = testStart;
    try {
      Map<String, Object> p = new LinkedHashMap<>();
      p.put("reason", "new test run");
      Reply r = c.call("reset", p);
      if (r.ok()) {
        log.info("wsfleet: reset at test start: {}", r.result());
      } else {
        log.warn("wsfleet: reset at test start failed: {}: {}", r.errorCode(), r.errorMessage());
      }
    } catch (IOException e) {
      log.warn("wsfleet: reset at test start failed: {}", e.getMessage());
    }
  }

  /** A JMeter property (-J), else a Java system property (-D). */
  static String property(String key) {
    // Outside JMeter its properties are not loaded (getProperty would throw on every call).
    String v = JMeterUtils.getJMeterProperties() != null ? JMeterUtils.getProperty(key) : null;
    return v != null ? v : System.getProperty(key);
  }
}
