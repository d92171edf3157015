package wsfleet.jmeter.gui;

/** Form of wsfleet Receive: groups, order and editors (labels: ReceiveSamplerResources). */
public class ReceiveSamplerBeanInfo extends WsfleetBeanInfo {
  public ReceiveSamplerBeanInfo() {
    super(ReceiveSampler.class);
    group("connectionGroup", "connection");
    group("matchGroup",
        "readTimeout", "matchContains", "matchRegex", "matchJsonField", "matchJsonValue", "discardUnmatched",
        "optional");
    group("matchEventGroup", "matchEventKind", "matchEvent", "matchReplyId", "sioNamespace");
    hide("message", "messageType", "messageKind", "sioEvent", "sioArgs", "sioAck", "stompCommand", "stompDestination",
        "stompId", "stompHeaders", "stompReceipt", "signalrTarget", "signalrArguments", "signalrCompletion");
    tags("discardUnmatched", "true", "false");
    tags("optional", "true", "false");
    tags("matchEventKind", "socketio", "stomp", "signalr");
  }
}
