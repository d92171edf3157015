package wsfleet.jmeter.gui;

/** Form of wsfleet Ping: groups, order and editors (labels: PingSamplerResources). */
public class PingSamplerBeanInfo extends WsfleetBeanInfo {
  public PingSamplerBeanInfo() {
    super(PingSampler.class);
    group("connectionGroup", "connection");
    group("pingGroup", "pingPayload", "pingTimeout");
  }
}
