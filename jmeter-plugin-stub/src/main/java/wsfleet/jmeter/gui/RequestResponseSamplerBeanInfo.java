package wsfleet.jmeter.gui;

/** Form of wsfleet Request-Response: groups, order and editors (labels: RequestResponseSamplerResources). */
public class RequestResponseSamplerBeanInfo extends WsfleetBeanInfo {
  public RequestResponseSamplerBeanInfo() {
    super(RequestResponseSampler.class);
    group("connectionGroup", "connection");
    group("messageGroup", "messageKind", "message", "messageType");
    messageKindGroups();
    group("matchGroup",
        "readTimeout", "matchContains", "matchRegex", "matchJsonField", "matchJsonValue", "discardUnmatched");
    group("matchEventGroup", "matchEventKind", "matchEvent", "matchReplyId");
    textArea("message");
    tags("messageType", "text", "binary");
    messageKindFields();
    tags("discardUnmatched", "true", "false");
    tags("matchEventKind", "socketio", "stomp", "signalr");
  }
}
