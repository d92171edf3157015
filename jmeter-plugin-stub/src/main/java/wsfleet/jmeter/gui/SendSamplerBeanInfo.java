package wsfleet.jmeter.gui;

/** Form of wsfleet Send: groups, order and editors (labels: SendSamplerResources). */
public class SendSamplerBeanInfo extends WsfleetBeanInfo {
  public SendSamplerBeanInfo() {
    super(SendSampler.class);
    group("connectionGroup", "connection");
    group("messageGroup", "messageKind", "message", "messageType");
    messageKindGroups();
    textArea("message");
    tags("messageType", "text", "binary");
    messageKindFields();
  }
}
