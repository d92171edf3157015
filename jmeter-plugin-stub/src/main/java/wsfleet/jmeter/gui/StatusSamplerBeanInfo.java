package wsfleet.jmeter.gui;

/** Form of wsfleet Status: groups, order and editors (labels: StatusSamplerResources). */
public class StatusSamplerBeanInfo extends WsfleetBeanInfo {
  public StatusSamplerBeanInfo() {
    super(StatusSampler.class);
    group("connectionGroup", "connection");
  }
}
