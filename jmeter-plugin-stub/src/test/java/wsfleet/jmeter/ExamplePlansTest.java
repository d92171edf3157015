package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import javax.xml.parsers.DocumentBuilderFactory;

import org.apache.jmeter.protocol.java.sampler.AbstractJavaSamplerClient;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Every wsfleet sampler in the example plans names a class that exists and only parameters that
 * class reads: a misspelt parameter would otherwise be ignored and silently take its default. The
 * same for the Add-menu elements (wsfleet.jmeter.gui.*): only fields their form has.
 */
class ExamplePlansTest {
  /** Checks the wsfleet.jmeter.gui elements of a plan; returns how many there are. */
  static int checkElements(Document doc, File f) throws Exception {
    int n = 0;
    NodeList all = doc.getElementsByTagName("*");
    for (int i = 0; i < all.getLength(); i++) {
      Element e = (Element) all.item(i);
      if (!e.getTagName().startsWith("wsfleet.jmeter.gui.")) {
        continue;
      }
      n++;
      Set<String> known = new java.util.HashSet<>();
      for (java.beans.PropertyDescriptor p : java.beans.Introspector.getBeanInfo(Class.forName(e.getTagName()))
          .getPropertyDescriptors()) {
        if (p.getWriteMethod() != null && !p.isHidden()) {
          known.add(p.getName());
        }
      }
      NodeList props = e.getChildNodes();
      for (int k = 0; k < props.getLength(); k++) {
        if (props.item(k) instanceof Element) {
          String name = ((Element) props.item(k)).getAttribute("name");
          assertTrue(known.contains(name), f.getName() + ": " + e.getAttribute("testname") + " ("
              + e.getTagName() + ") has no field \"" + name + "\"; its fields: " + known);
        }
      }
    }
    return n;
  }

  static final File EXAMPLES = new File(System.getProperty("wsfleet.source", "..") + "/jmeter-plugin-stub/examples");

  @TestFactory
  Stream<DynamicTest> examplePlansUseOnlyParametersTheSamplersKnow() {
    File[] plans = EXAMPLES.listFiles((d, n) -> n.endsWith(".jmx"));
    assertTrue(plans != null && plans.length >= 3, "example plans in " + EXAMPLES);
    return Stream.of(plans).map(f -> DynamicTest.dynamicTest(f.getName(), () -> {
      Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(f);
      NodeList samplers = doc.getElementsByTagName("JavaSampler");
      assertFalse(samplers.getLength() == 0 && checkElements(doc, f) == 0, "no wsfleet sampler in " + f);
      for (int i = 0; i < samplers.getLength(); i++) {
        Element s = (Element) samplers.item(i);
        String cls = null;
        List<String> names = new ArrayList<>();
        NodeList props = s.getElementsByTagName("stringProp");
        for (int k = 0; k < props.getLength(); k++) {
          Element p = (Element) props.item(k);
          if (p.getAttribute("name").equals("classname")) {
            cls = p.getTextContent();
          } else if (p.getAttribute("name").equals("Argument.name")) {
            names.add(p.getTextContent());
          }
        }
        AbstractJavaSamplerClient sampler = (AbstractJavaSamplerClient) Class.forName(cls).getDeclaredConstructor().newInstance();
        Set<String> known = sampler.getDefaultParameters().getArgumentsAsMap().keySet();
        for (String n : names) {
          assertTrue(known.contains(n), f.getName() + ": " + s.getAttribute("testname") + " (" + cls
              + ") has unknown parameter \"" + n + "\"; known: " + known);
        }
      }
    }));
  }
}
