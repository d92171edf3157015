package wsfleet.jmeter.gui;

import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Send: {@code wsfleet.jmeter.SendMessage} as a sampler of its own.
 * Queues one text or binary message.
 */
public class SendSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", WsfleetSampler.CONN),
      new Field("message", WsfleetSampler.MESSAGE),
      new Field("messageType", WsfleetSampler.MESSAGE_TYPE),
  };

  private String message = "";
  private String messageType = "";

  @Override
  String delegate() {
    return "SendMessage";
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
