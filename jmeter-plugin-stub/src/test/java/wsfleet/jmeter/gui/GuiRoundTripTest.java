package wsfleet.jmeter.gui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Component;
import java.awt.Container;
import java.awt.Rectangle;
import java.awt.Robot;
import java.beans.BeanInfo;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import javax.imageio.ImageIO;
import javax.swing.AbstractButton;
import javax.swing.JComponent;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JMenu;
import javax.swing.JScrollPane;
import javax.swing.SwingUtilities;
import javax.swing.border.TitledBorder;

import org.apache.jmeter.control.gui.TestPlanGui;
import org.apache.jmeter.gui.JMeterGUIComponent;
import org.apache.jmeter.gui.action.ActionNames;
import org.apache.jmeter.gui.util.MenuFactory;
import org.apache.jmeter.save.SaveService;
import org.apache.jmeter.testbeans.gui.TestBeanGUI;
import org.apache.jmeter.testelement.TestElement;
import org.apache.jmeter.testelement.TestPlan;
import org.apache.jmeter.testelement.property.BooleanProperty;
import org.apache.jmeter.control.LoopController;
import org.apache.jmeter.threads.ThreadGroup;
import org.apache.jmeter.threads.gui.PostThreadGroupGui;
import org.apache.jmeter.threads.gui.ThreadGroupGui;
import org.apache.jmeter.util.JMeterUtils;
import org.apache.jorphan.collections.HashTree;
import org.apache.jorphan.collections.ListedHashTree;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The elements' forms in JMeter's own GUI classes, on a real display (Xvfb in the e2e suite:
 * tests/e2e/test_jmeter_gui_elements.py runs this with -Dwsfleet.jmeter_home and
 * -Dwsfleet.gui_out): each form is made by TestBeanGUI with its labels from the bundle, shows
 * what the element holds and gives it back unchanged; the elements are in Add → Sampler / Config
 * Element; and a plan built through these forms is saved by SaveService for the e2e test to run
 * in non-GUI JMeter. One form is shown in a window and photographed.
 */
@EnabledIfSystemProperty(named = "wsfleet.jmeter_home", matches = ".+")
class GuiRoundTripTest {
  static final List<Class<? extends TestElement>> ELEMENTS = new ArrayList<>();
  static File out;

  @BeforeAll
  static void jmeter() {
    String home = System.getProperty("wsfleet.jmeter_home");
    out = new File(System.getProperty("wsfleet.gui_out", "target/gui"));
    out.mkdirs();
    JMeterUtils.setJMeterHome(home);
    JMeterUtils.loadJMeterProperties(home + "/bin/jmeter.properties");
    // the Add menu scans lib/ext and search_paths: our classes are in target/classes
    JMeterUtils.setProperty("search_paths", new File("target/classes").getAbsolutePath());
    JMeterUtils.setLocale(Locale.ENGLISH);
    for (WsfleetTestBean s : FieldMappingTest.samplers()) {
      ELEMENTS.add(s.getClass());
    }
    ELEMENTS.add(WsfleetDefaults.class);
  }

  static List<String> texts(Component c, List<String> acc) {
    if (c instanceof JLabel && ((JLabel) c).getText() != null) {
      acc.add(((JLabel) c).getText().trim().replaceAll(":$", "")); // TestBeanGUI appends a colon
    }
    if (c instanceof JComponent && ((JComponent) c).getBorder() instanceof TitledBorder) {
      acc.add(((TitledBorder) ((JComponent) c).getBorder()).getTitle());
    }
    if (c instanceof Container) {
      for (Component k : ((Container) c).getComponents()) {
        texts(k, acc);
      }
    }
    return acc;
  }

  static List<String> fieldKeys(Class<?> bean) throws Exception {
    List<String> keys = new ArrayList<>();
    BeanInfo info = Introspector.getBeanInfo(bean);
    for (PropertyDescriptor p : info.getPropertyDescriptors()) {
      if (!p.isHidden() && p.getWriteMethod() != null) {
        keys.add(p.getName());
      }
    }
    return keys;
  }

  /** What a user's edits leave in the element: the form shows `values`, then saves into a new element. */
  static TestElement throughForm(JMeterGUIComponent gui, String name, Map<String, String> values) {
    TestElement el = gui.createTestElement();
    el.setName(name);
    for (Map.Entry<String, String> v : values.entrySet()) {
      el.setProperty(v.getKey(), v.getValue());
    }
    gui.configure(el);
    return gui.createTestElement(); // createTestElement = a new element + modifyTestElement
  }

  @Test
  void everyFormShowsItsLabelsAndGivesBackWhatItWasGiven() throws Exception {
    for (Class<? extends TestElement> cls : ELEMENTS) {
      TestBeanGUI gui = new TestBeanGUI(cls);
      BeanInfo info = Introspector.getBeanInfo(cls);
      assertEquals(info.getBeanDescriptor().getDisplayName(), gui.getStaticLabel());
      Map<String, String> values = new LinkedHashMap<>();
      for (String k : fieldKeys(cls)) {
        values.put(k, k.startsWith("message") ? "  " + k + " ${__threadNum}  " : k + "-${x}");
      }
      TestElement back = throughForm(gui, "round trip", values);
      List<String> shown = texts(gui, new ArrayList<>());
      for (PropertyDescriptor p : info.getPropertyDescriptors()) {
        if (values.containsKey(p.getName())) {
          assertTrue(shown.contains(p.getDisplayName()), cls.getSimpleName() + ": no label \""
              + p.getDisplayName() + "\" in " + shown);
        }
      }
      assertTrue(cls.isInstance(back), back.getClass().getName());
      assertEquals(TestBeanGUI.class.getName(), back.getPropertyAsString(TestElement.GUI_CLASS));
      assertEquals("round trip", back.getName());
      for (Map.Entry<String, String> v : values.entrySet()) {
        assertEquals(v.getValue(), back.getPropertyAsString(v.getKey()), cls.getSimpleName() + "." + v.getKey());
      }
      // a new element (Add menu: clearGui, then createTestElement) saves no field at all, so
      // nothing in the .jmx overrides a Defaults
      gui.clearGui();
      TestElement saved = gui.createTestElement();
      for (String k : fieldKeys(cls)) {
        assertEquals("", saved.getPropertyAsString(k), cls.getSimpleName() + "." + k);
      }
    }
  }

  /** A plan saved while Reuse live connection was a checkbox holds a boolProp: the form shows it and keeps it (the run: e2e). */
  @Test
  void aReuseSavedAsABooleanLoadsIntoTheChoice() {
    TestBeanGUI gui = new TestBeanGUI(OpenSampler.class);
    TestElement old = gui.createTestElement();
    old.setProperty(new BooleanProperty("reuse", false));
    gui.configure(old);
    // JMeter's boolean editor shows it as "False"; the Java Request reads it case-insensitively
    assertEquals("false", gui.createTestElement().getPropertyAsString("reuse").toLowerCase(Locale.ROOT));
    TestElement any = gui.createTestElement();
    any.setProperty("reuse", "any");
    gui.configure(any);
    assertEquals("any", gui.createTestElement().getPropertyAsString("reuse"));
  }

  @Test
  void theElementsAreInTheAddMenu() {
    List<String> samplers = menuItems(MenuFactory.makeMenu(MenuFactory.SAMPLERS, ActionNames.ADD));
    for (String s : new String[] {"wsfleet Open", "wsfleet Send", "wsfleet Receive", "wsfleet Request-Response",
        "wsfleet Ping", "wsfleet Close", "wsfleet Status", "wsfleet Reset", "wsfleet Drop Monitor"}) {
      assertTrue(samplers.contains(s), s + " not in " + samplers);
    }
    assertTrue(menuItems(MenuFactory.makeMenu(MenuFactory.CONFIG_ELEMENTS, ActionNames.ADD))
        .contains("wsfleet Defaults"));
  }

  static List<String> menuItems(JMenu menu) {
    List<String> items = new ArrayList<>();
    for (Component c : menu.getMenuComponents()) {
      if (c instanceof AbstractButton) {
        items.add(((AbstractButton) c).getText());
      }
    }
    return items;
  }

  static Map<String, String> map(String... kv) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  /**
   * The plan the e2e test runs against the mock gateway's chat protocol: a Defaults says where the
   * daemon and the gateway are and sets a text heartbeat; each thread opens (URL from the
   * Defaults), configures its session, asks and reads the agent's reply, pings, reads its status
   * and closes; a tearDown group resets the daemon. Each thread also opens a second connection
   * to -Jdoomed_url (a gateway that drops every session after a while) and never touches it
   * again: the wsfleet Drop Monitor thread group records each of those drops. A second Open of
   * the thread's connection ("reopen") gets, in the e2e test, Reuse live connection as an old plan
   * saved it (a boolProp).
   */
  @Test
  void aPlanBuiltThroughTheFormsIsSavedBySaveService() throws Exception {
    TestPlanGui planGui = new TestPlanGui();
    TestPlan plan = (TestPlan) planGui.createTestElement();
    plan.setName("built in the GUI");
    ThreadGroupGui tgGui = new ThreadGroupGui();
    TestElement users = tgGui.createTestElement();
    users.setName("users");
    users.setProperty("ThreadGroup.num_threads", "${__P(threads,2)}");
    users.setProperty("ThreadGroup.ramp_time", "0");

    TestElement defaults = throughForm(new TestBeanGUI(WsfleetDefaults.class), "wsfleet defaults", map(
        "daemonTransport", "unix", "daemonSocket", "${__P(daemon_socket)}",
        "urlBase", "${__P(url)}", "keepaliveMode", "text",
        "keepalivePayload", "{\"action\":\"echo\",\"message\":\"keepalive\"}",
        "keepaliveInterval", "${__P(heartbeat_ms,1000)}", "heartbeatReply", "\"body\":\"keepalive\""));
    List<TestElement> steps = new ArrayList<>();
    steps.add(throughForm(new TestBeanGUI(OpenSampler.class), "doomed", map(
        "connection", "${__threadName} doomed", "url", "${__P(doomed_url)}")));
    steps.add(throughForm(new TestBeanGUI(OpenSampler.class), "open", map()));
    steps.add(throughForm(new TestBeanGUI(OpenSampler.class), "reopen", map())); // e2e saves its reuse as a boolProp
    steps.add(throughForm(new TestBeanGUI(RequestResponseSampler.class), "configureSession", map(
        "message", "{\"action\":\"configureSession\",\"deploymentId\":\"gui\"}",
        "matchJsonField", "class", "matchJsonValue", "SessionResponse", "readTimeout", "5000")));
    steps.add(throughForm(new TestBeanGUI(SendSampler.class), "ask", map(
        "message", "{\"action\":\"onMessage\",\"message\":{\"type\":\"Text\",\"text\":\"hi from ${__threadNum}\"}}")));
    steps.add(throughForm(new TestBeanGUI(ReceiveSampler.class), "agent reply", map(
        "matchContains", "agent reply to: hi from ${__threadNum}", "readTimeout", "5000")));
    steps.add(throughForm(new TestBeanGUI(PingSampler.class), "ping", map()));
    steps.add(throughForm(new TestBeanGUI(StatusSampler.class), "status", map()));
    steps.add(throughForm(new TestBeanGUI(CloseSampler.class), "close", map("closeReason", "done")));

    // the Drop Monitor in a thread group of its own: one thread, loop forever, stops by itself
    ThreadGroup monitorGroup = (ThreadGroup) tgGui.createTestElement();
    monitorGroup.setName("wsfleet drop monitor");
    monitorGroup.setProperty("ThreadGroup.num_threads", "1");
    ((LoopController) monitorGroup.getSamplerController()).setLoops(-1);
    TestElement monitor = throughForm(new TestBeanGUI(DropMonitorSampler.class), "wsfleet drops",
        map("waitForEnding", "500"));

    PostThreadGroupGui tdGui = new PostThreadGroupGui();
    TestElement teardown = tdGui.createTestElement();
    teardown.setName("tearDown");
    TestElement reset = throughForm(new TestBeanGUI(ResetSampler.class), "reset", map("closeReason", "end of run"));

    HashTree tree = new ListedHashTree();
    HashTree planTree = tree.add(plan);
    planTree.add(defaults); // in scope of every thread group
    planTree.add(monitorGroup).add(monitor); // first, so it subscribes before the users open
    HashTree usersTree = planTree.add(users);
    for (TestElement s : steps) {
      usersTree.add(s);
    }
    HashTree tdTree = planTree.add(teardown);
    tdTree.add(reset);

    File jmx = new File(out, "gui-built.jmx");
    try (OutputStream os = new FileOutputStream(jmx)) {
      SaveService.saveTree(tree, os);
    }
    // and JMeter reads it back as the same elements
    HashTree loaded = SaveService.loadTree(jmx);
    List<String> classes = new ArrayList<>();
    collect(loaded, classes);
    assertTrue(classes.contains(OpenSampler.class.getName()), classes.toString());
    assertTrue(classes.contains(WsfleetDefaults.class.getName()), classes.toString());
    assertTrue(classes.contains(ResetSampler.class.getName()), classes.toString());
    assertTrue(classes.contains(DropMonitorSampler.class.getName()), classes.toString());
  }

  static void collect(HashTree t, List<String> acc) {
    for (Object k : t.list()) {
      acc.add(k.getClass().getName());
      collect(t.getTree(k), acc);
    }
  }

  /** The Open form in a window, photographed (`import -window root`, else java.awt.Robot). */
  @Test
  void theOpenFormOnScreen() throws Exception {
    File png = new File(out, "wsfleet-open.png");
    JFrame[] frame = new JFrame[1];
    SwingUtilities.invokeAndWait(() -> {
      TestBeanGUI gui = new TestBeanGUI(OpenSampler.class);
      TestElement el = gui.createTestElement();
      el.setName("open chat");
      el.setProperty("url", "/chat");
      el.setProperty("keepaliveMode", "text");
      el.setProperty("keepalivePayload", "{\"action\":\"echo\"}");
      gui.configure(el);
      frame[0] = new JFrame("wsfleet Open");
      frame[0].add(new JScrollPane(gui));
      frame[0].setBounds(0, 0, 1000, 1000);
      frame[0].setVisible(true);
    });
    Thread.sleep(1500); // let the window manager-less X server paint it
    try {
      Process p = new ProcessBuilder("import", "-window", "root", png.getPath()).inheritIO().start();
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IllegalStateException("import failed");
      }
    } catch (Exception e) {
      ImageIO.write(new Robot().createScreenCapture(new Rectangle(0, 0, 1000, 1000)), "png", png);
    } finally {
      SwingUtilities.invokeAndWait(() -> frame[0].dispose());
    }
    assertTrue(png.length() > 10_000, png + " is " + png.length() + " bytes");
  }
}
