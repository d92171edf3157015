package wsfleet.jmeter.gui;

import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Request-Response: {@code wsfleet.jmeter.RequestResponse} as a sampler of its own.
 * Sends a message, then takes the first matching reply.
 */
public class RequestResponseSampler extends MatchingSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", WsfleetSampler.CONN),
      new Field("message", WsfleetSampler.MESSAGE),
      new Field("messageType", WsfleetSampler.MESSAGE_TYPE),
      new Field("readTimeout", WsfleetSampler.READ_TIMEOUT),
      new Field("matchContains", WsfleetSampler.MATCH_CONTAINS),
      new Field("matchRegex", WsfleetSampler.MATCH_REGEX),
      new Field("matchJsonField", WsfleetSampler.MATCH_JSON_FIELD),
      new Field("matchJsonValue", WsfleetSampler.MATCH_JSON_VALUE),
      new Field("discardUnmatched", WsfleetSampler.DISCARD),
  };

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
