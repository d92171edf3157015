package wsfleet.jmeter.gui;

/** Form of wsfleet Request-Response: groups, order and editors (labels: RequestResponseSamplerResources). */
public class RequestResponseSamplerBeanInfo extends WsfleetBeanInfo {
  public RequestResponseSamplerBeanInfo() {
    super(RequestResponseSampler.class);
    group("connectionGroup", "connection");
    group("messageGroup", "messageKind", "message", "messageType");
    group("socketioGroup", "sioNamespace", "sioEvent", "sioArgs", "sioAck");
    group("stompGroup", "stompCommand", "stompDestination", "stompId", "stompHeaders", "stompReceipt");
    group("signalrGroup", "signalrTarget", "signalrArguments", "signalrCompletion");
    group("matchGroup",
        "readTimeout", "matchContains", "matchRegex", "matchJsonField", "matchJsonValue", "discardUnmatched");
    group("matchEventGroup", "matchEventKind", "matchEvent", "matchReplyId");
    textArea("message");
    tags("messageType", "text", "binary");
    tags("messageKind", "raw", "socketio", "stomp", "signalr");
    tags("sioAck", "true", "false");
    tags("stompCommand", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "DISCONNECT");
    tags("stompReceipt", "true", "false");
    tags("signalrCompletion", "true", "false");
    textArea("sioArgs");
    textArea("signalrArguments");
    tags("discardUnmatched", "true", "false");
    tags("matchEventKind", "socketio", "stomp", "signalr");
  }
}
