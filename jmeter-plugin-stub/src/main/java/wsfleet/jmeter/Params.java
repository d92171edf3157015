package wsfleet.jmeter;

import java.util.Collections;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.jmeter.protocol.java.sampler.AbstractJavaSamplerClient;
import org.apache.jmeter.protocol.java.sampler.JavaSamplerContext;
import org.apache.jmeter.threads.JMeterContext;

/**
 * Reads a sampler's parameters: trimmed, blank meaning "not given". A parameter the plan does not
 * list at all takes the default the GUI shows, so a short plan behaves like a full one.
 */
final class Params {
  /**
   * Each sampler class's defaults, built once: getDefaultParameters() makes a JMeter Argument
   * element per parameter, which per sample was the stub's largest own cost in a JFR profile.
   */
  private static final Map<Class<?>, Map<String, String>> DEFAULTS = new ConcurrentHashMap<>();

  private final JavaSamplerContext ctx;
  private final Map<String, String> defaults;

  Params(JavaSamplerContext ctx, AbstractJavaSamplerClient sampler) {
    this.ctx = ctx;
    this.defaults = DEFAULTS.computeIfAbsent(sampler.getClass(),
        k -> Collections.unmodifiableMap(sampler.getDefaultParameters().getArgumentsAsMap()));
  }

  private String get(String name) {
    if (ctx.containsParameter(name)) {
      return ctx.getParameter(name);
    }
    return defaults.get(name);
  }

  /** The raw value (not trimmed: a message may start or end with spaces), "" when absent. */
  String raw(String name) {
    String v = get(name);
    return v == null ? "" : v;
  }

  /** Trimmed value or null when blank. */
  String str(String name) {
    String v = get(name);
    if (v == null || v.trim().isEmpty()) {
      return null;
    }
    return v.trim();
  }

  /** Integer value or null when blank. */
  Long num(String name) {
    String v = str(name);
    if (v == null) {
      return null;
    }
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("\"" + name + "\" must be a whole number, got \"" + v + "\"");
    }
  }

  long num(String name, long def) {
    Long v = num(name);
    return v == null ? def : v;
  }

  boolean bool(String name, boolean def) {
    String v = str(name);
    return v == null ? def : Boolean.parseBoolean(v);
  }

  /**
   * The connection name; blank means the default, {@link WsfleetSampler#CONN_DEFAULT}, the JMeter
   * thread's name ("group 1-3": thread group name, group number, thread number), unique per thread
   * across thread groups. A parameter missing from the plan falls back to the default text
   * unevaluated, so the thread functions are replaced here.
   */
  String conn() {
    String v = str(WsfleetSampler.CONN);
    if (v == null) {
      v = WsfleetSampler.CONN_DEFAULT;
    }
    if (v.contains("${__threadName}")) {
      v = v.replace("${__threadName}", threadName());
    }
    if (v.contains("${__threadNum}")) {
      int n = ctx.getJMeterContext() != null ? ctx.getJMeterContext().getThreadNum() + 1 : 1;
      v = v.replace("${__threadNum}", String.valueOf(n));
    }
    return v;
  }

  private String threadName() {
    JMeterContext jc = ctx.getJMeterContext();
    if (jc != null && jc.getThread() != null) {
      return jc.getThread().getThreadName();
    }
    return Thread.currentThread().getName();
  }
}
