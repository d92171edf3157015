package wsfleet.jmeter.gui;

/** Form of wsfleet Request-Response: groups, order and editors (labels: RequestResponseSamplerResources). */
public class RequestResponseSamplerBeanInfo extends WsfleetBeanInfo {
  public RequestResponseSamplerBeanInfo() {
    super(RequestResponseSampler.class);
    group("connectionGroup", "connection");
    group("messageGroup", "message", "messageType");
    group("matchGroup",
        "readTimeout", "matchContains", "matchRegex", "matchJsonField", "matchJsonValue", "discardUnmatched");
    textArea("message");
    tags("messageType", "text", "binary");
    tags("discardUnmatched", "true", "false");
  }
}
