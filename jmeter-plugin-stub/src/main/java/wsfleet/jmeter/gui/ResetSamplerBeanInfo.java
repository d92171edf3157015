package wsfleet.jmeter.gui;

/** Form of wsfleet Reset: groups, order and editors (labels: ResetSamplerResources). */
public class ResetSamplerBeanInfo extends WsfleetBeanInfo {
  public ResetSamplerBeanInfo() {
    super(ResetSampler.class);
    group("resetGroup", "closeCode", "closeReason");
  }
}
