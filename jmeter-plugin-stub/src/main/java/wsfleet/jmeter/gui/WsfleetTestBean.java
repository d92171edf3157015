package wsfleet.jmeter.gui;

import java.util.ArrayList;
import java.util.List;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.config.ConfigTestElement;
import org.apache.jmeter.protocol.java.sampler.JavaSamplerClient;
import org.apache.jmeter.protocol.java.sampler.JavaSamplerContext;
import org.apache.jmeter.samplers.AbstractSampler;
import org.apache.jmeter.samplers.Entry;
import org.apache.jmeter.samplers.SampleResult;
import org.apache.jmeter.testbeans.TestBean;
import org.apache.jmeter.testelement.TestElement;
import org.apache.jmeter.testelement.TestStateListener;

/**
 * A wsfleet sampler as a test element of its own (Add → Sampler), doing its work through the Java
 * Request class of the same name: each non-empty field becomes that class's parameter, an empty
 * one is left out so the class applies its own default. Behaviour therefore has one
 * implementation, and a Java Request plan and a plan of these elements send the daemon the same
 * requests.
 *
 * <p>Life cycle as JMeter's Java Request sampler gives it: each thread's copy makes its own
 * instance of the class on its first sample and calls {@code setupTest} then, {@code runTest} per
 * sample, and {@code teardownTest} when the test ends.
 *
 * <p>Values are read from the element's properties at sample time (not from the bean fields,
 * which exist for the JavaBeans introspection that builds the form): they hold what a wsfleet
 * Defaults element in scope filled into empty fields, with functions and variables evaluated for
 * this sample.
 */
public abstract class WsfleetTestBean extends AbstractSampler implements TestBean, TestStateListener {
  private static final long serialVersionUID = 1L;
  static final String JAVA_REQUEST_PACKAGE = "wsfleet.jmeter.";

  /** Every thread copy's client and its last context, torn down at test end (as JavaSampler does). */
  private static final List<Object[]> TO_TEAR_DOWN = new ArrayList<>();

  private transient JavaSamplerClient client;

  /** Simple name of the Java Request class in {@code wsfleet.jmeter} that does the work. */
  abstract String delegate();

  /** The fields, in form order. */
  abstract Field[] fields();

  /** The value a field has for this sample; "" when neither the element nor a Defaults sets it. */
  String value(String key) {
    return getPropertyAsString(key);
  }

  /** The Java Request parameters for this sample. */
  public Arguments arguments() {
    Arguments a = new Arguments();
    for (Field f : fields()) {
      String v = value(f.key);
      if (v != null && !v.isEmpty()) {
        a.addArgument(f.param, v);
      }
    }
    a.addArgument(TestElement.NAME, getName()); // as JavaSampler passes it
    return a;
  }

  /** Only wsfleet Defaults fill in these fields; other config elements have nothing for them. */
  @Override
  public boolean applies(ConfigTestElement config) {
    return config instanceof WsfleetDefaults;
  }

  @Override
  public SampleResult sample(Entry e) {
    JavaSamplerContext ctx = new JavaSamplerContext(arguments());
    if (client == null) {
      client = newClient();
      client.setupTest(ctx);
      synchronized (TO_TEAR_DOWN) {
        TO_TEAR_DOWN.add(new Object[] {client, ctx});
      }
    }
    SampleResult res = client.runTest(ctx);
    if (res.getSampleLabel() == null || res.getSampleLabel().isEmpty()) {
      res.setSampleLabel(getName());
    }
    return res;
  }

  JavaSamplerClient newClient() {
    String name = JAVA_REQUEST_PACKAGE + delegate();
    try {
      return (JavaSamplerClient) Class.forName(name, true, WsfleetTestBean.class.getClassLoader())
          .getDeclaredConstructor().newInstance();
    } catch (ReflectiveOperationException ex) {
      throw new IllegalStateException("wsfleet: cannot make " + name, ex); // a broken jar
    }
  }

  @Override
  public void testStarted() {
    // nothing: clients are made per thread on their first sample
  }

  @Override
  public void testStarted(String host) {
    testStarted();
  }

  @Override
  public void testEnded() {
    List<Object[]> all;
    synchronized (TO_TEAR_DOWN) {
      all = new ArrayList<>(TO_TEAR_DOWN);
      TO_TEAR_DOWN.clear();
    }
    for (Object[] c : all) {
      ((JavaSamplerClient) c[0]).teardownTest((JavaSamplerContext) c[1]);
    }
  }

  @Override
  public void testEnded(String host) {
    testEnded();
  }
}
