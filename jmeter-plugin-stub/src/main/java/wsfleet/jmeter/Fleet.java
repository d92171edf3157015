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

/**
 * The JVM's one control client, made on first use and made again at the start of a run whose
 * daemon location differs from it; and the once-per-test-run reset.
 */
public final class Fleet {
  private static final Logger log = LoggerFactory.getLogger(Fleet.class);
  private static ControlClient shared;
  /** The start time of the run that last called {@link #beginRun}. */
  private static long runStart = Long.MIN_VALUE;

  private Fleet() {}

  public static synchronized ControlClient client() {
    if (shared == null) {
      shared = new ControlClient(ClientConfig.from(Fleet::property));
    }
    return shared;
  }

  /** Replaces the shared client (tests). */
  static synchronized void replace(ControlClient c) {
    if (shared != null && shared != c) {
      shared.close();
    }
    shared = c;
    runStart = Long.MIN_VALUE;
  }

  /**
   * Every sampler thread calls this from setupTest, before its first sample; the first call of a
   * run (keyed by the run's start time) does two things while the others wait on the lock.
   *
   * <p>It makes the client again when the wsfleet.* daemon location (transport, socket, TCP
   * address, token file, auto-start settings) is not the one the client was made from: in a GUI
   * session a wsfleet Defaults or a property changed between runs then takes effect from the next
   * run. Only here: no sample of this run has used the client yet and the previous run has ended,
   * so no request is in flight on the client that is closed. A daemon the old client started keeps
   * running until the JVM ends (its lifeline is the JVM's).
   *
   * <p>With wsfleet.reset=true (read per run) it sends {@code reset}, so names and connections from
   * an earlier run never leak into this one, and no thread opens a connection the reset would close.
   */
  static synchronized void beginRun(long testStart) {
    if (runStart == testStart) {
      return;
    }
    runStart = testStart;
    ClientConfig now = ClientConfig.from(Fleet::property);
    if (shared != null && !shared.config().sameDaemon(now)) {
      log.info("wsfleet: the daemon location changed since the last run (socket {}, was {}): new control client",
          now.socketPath, shared.config().socketPath);
      shared.close();
      shared = null;
    }
    ControlClient c = client();
    if (!now.resetAtStart) {
      return;
    }
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
