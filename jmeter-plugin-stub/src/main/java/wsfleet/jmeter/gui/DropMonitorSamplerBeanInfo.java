package wsfleet.jmeter.gui;

/** Form of wsfleet Drop Monitor: groups, order and editors (labels: DropMonitorSamplerResources). */
public class DropMonitorSamplerBeanInfo extends WsfleetBeanInfo {
  public DropMonitorSamplerBeanInfo() {
    super(DropMonitorSampler.class);
    group("monitorGroup", "waitForEnding", "ignoreCauses", "stopWhenOthersEnded");
    tags("stopWhenOthersEnded", "true", "false");
  }
}
