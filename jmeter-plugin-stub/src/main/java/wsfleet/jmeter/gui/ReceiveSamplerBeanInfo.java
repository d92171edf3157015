package wsfleet.jmeter.gui;

/** Form of wsfleet Receive: groups, order and editors (labels: ReceiveSamplerResources). */
public class ReceiveSamplerBeanInfo extends WsfleetBeanInfo {
  public ReceiveSamplerBeanInfo() {
    super(ReceiveSampler.class);
    group("connectionGroup", "connection");
    group("matchGroup",
        "readTimeout", "matchContains", "matchRegex", "matchJsonField", "matchJsonValue", "discardUnmatched",
        "optional");
    tags("discardUnmatched", "true", "false");
    tags("optional", "true", "false");
  }
}
