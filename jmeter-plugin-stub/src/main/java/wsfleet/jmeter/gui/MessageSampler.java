package wsfleet.jmeter.gui;

import wsfleet.jmeter.WsfleetSampler;

/**
 * A sampler that sends a message: written out (raw) or built by a protocol helper (Socket.IO
 * event, STOMP frame, SignalR invocation). The fields every such sampler has (JavaBeans accessors,
 * for the form); Receive inherits them through MatchingSampler and hides all but the Socket.IO
 * namespace, which its event matching reads.
 */
abstract class MessageSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  /** The message fields, in the order the forms show them. */
  static final Field[] MESSAGE_FIELDS = {
      new Field("message", WsfleetSampler.MESSAGE),
      new Field("messageType", WsfleetSampler.MESSAGE_TYPE),
      new Field("messageKind", WsfleetSampler.MESSAGE_KIND),
      new Field("sioNamespace", WsfleetSampler.SIO_NAMESPACE),
      new Field("sioEvent", WsfleetSampler.SIO_EVENT),
      new Field("sioArgs", WsfleetSampler.SIO_ARGS),
      new Field("sioAck", WsfleetSampler.SIO_ACK),
      new Field("stompCommand", WsfleetSampler.STOMP_COMMAND),
      new Field("stompDestination", WsfleetSampler.STOMP_DESTINATION),
      new Field("stompId", WsfleetSampler.STOMP_ID),
      new Field("stompHeaders", WsfleetSampler.STOMP_HEADERS),
      new Field("stompReceipt", WsfleetSampler.STOMP_RECEIPT),
      new Field("signalrTarget", WsfleetSampler.SIGNALR_TARGET),
      new Field("signalrArguments", WsfleetSampler.SIGNALR_ARGUMENTS),
      new Field("signalrCompletion", WsfleetSampler.SIGNALR_COMPLETION),
  };

  private String message = "";
  private String messageType = "";
  private String messageKind = "";
  private String sioNamespace = "";
  private String sioEvent = "";
  private String sioArgs = "";
  private String sioAck = "";
  private String stompCommand = "";
  private String stompDestination = "";
  private String stompId = "";
  private String stompHeaders = "";
  private String stompReceipt = "";
  private String signalrTarget = "";
  private String signalrArguments = "";
  private String signalrCompletion = "";

  public String getMessage() {
    return message;
  }

  public void setMessage(String v) {
    message = v;
  }

  public String getMessageType() {
    return messageType;
  }

  public void setMessageType(String v) {
    messageType = v;
  }

  public String getMessageKind() {
    return messageKind;
  }

  public void setMessageKind(String v) {
    messageKind = v;
  }

  public String getSioNamespace() {
    return sioNamespace;
  }

  public void setSioNamespace(String v) {
    sioNamespace = v;
  }

  public String getSioEvent() {
    return sioEvent;
  }

  public void setSioEvent(String v) {
    sioEvent = v;
  }

  public String getSioArgs() {
    return sioArgs;
  }

  public void setSioArgs(String v) {
    sioArgs = v;
  }

  public String getSioAck() {
    return sioAck;
  }

  public void setSioAck(String v) {
    sioAck = v;
  }

  public String getStompCommand() {
    return stompCommand;
  }

  public void setStompCommand(String v) {
    stompCommand = v;
  }

  public String getStompDestination() {
    return stompDestination;
  }

  public void setStompDestination(String v) {
    stompDestination = v;
  }

  public String getStompId() {
    return stompId;
  }

  public void setStompId(String v) {
    stompId = v;
  }

  public String getStompHeaders() {
    return stompHeaders;
  }

  public void setStompHeaders(String v) {
    stompHeaders = v;
  }

  public String getStompReceipt() {
    return stompReceipt;
  }

  public void setStompReceipt(String v) {
    stompReceipt = v;
  }

  public String getSignalrTarget() {
    return signalrTarget;
  }

  public void setSignalrTarget(String v) {
    signalrTarget = v;
  }

  public String getSignalrArguments() {
    return signalrArguments;
  }

  public void setSignalrArguments(String v) {
    signalrArguments = v;
  }

  public String getSignalrCompletion() {
    return signalrCompletion;
  }

  public void setSignalrCompletion(String v) {
    signalrCompletion = v;
  }
}
