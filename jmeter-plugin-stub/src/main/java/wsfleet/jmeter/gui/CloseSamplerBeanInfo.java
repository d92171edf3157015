package wsfleet.jmeter.gui;

/** Form of wsfleet Close: groups, order and editors (labels: CloseSamplerResources). */
public class CloseSamplerBeanInfo extends WsfleetBeanInfo {
  public CloseSamplerBeanInfo() {
    super(CloseSampler.class);
    group("connectionGroup", "connection");
    group("closeGroup", "closeCode", "closeReason", "closeTimeout");
  }
}
