package wsfleet.jmeter.gui;

/** Form of wsfleet Send: groups, order and editors (labels: SendSamplerResources). */
public class SendSamplerBeanInfo extends WsfleetBeanInfo {
  public SendSamplerBeanInfo() {
    super(SendSampler.class);
    group("connectionGroup", "connection");
    group("messageGroup", "messageKind", "message", "messageType");
    group("socketioGroup", "sioNamespace", "sioEvent", "sioArgs", "sioAck");
    group("stompGroup", "stompCommand", "stompDestination", "stompId", "stompHeaders", "stompReceipt");
    group("signalrGroup", "signalrTarget", "signalrArguments", "signalrCompletion");
    textArea("message");
    tags("messageType", "text", "binary");
    tags("messageKind", "raw", "socketio", "stomp", "signalr");
    tags("sioAck", "true", "false");
    tags("stompCommand", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "DISCONNECT");
    tags("stompReceipt", "true", "false");
    tags("signalrCompletion", "true", "false");
    textArea("sioArgs");
    textArea("signalrArguments");
  }
}
