package wsfleet.jmeter.gui;

import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Request-Response: {@code wsfleet.jmeter.RequestResponse} as a sampler of its own.
 * Sends a message, then takes the first matching reply.
 */
public class RequestResponseSampler extends MatchingSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = withMatchFields(new Field[] {
      new Field("message", WsfleetSampler.MESSAGE),
      new Field("messageType", WsfleetSampler.MESSAGE_TYPE),
  });

  private String message = "";
  private String messageType = "";

  @Override
  String delegate() {
    return "RequestResponse";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }

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
}
