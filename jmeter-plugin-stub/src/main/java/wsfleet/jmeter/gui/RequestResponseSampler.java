package wsfleet.jmeter.gui;

/**
 * wsfleet Request-Response: {@code wsfleet.jmeter.RequestResponse} as a sampler of its own.
 * Sends a message, then takes the first matching reply.
 */
public class RequestResponseSampler extends MatchingSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", "Connection name"),
      new Field("message", "Message"),
      new Field("messageType", "Message type (text|binary; binary as hex)"),
      new Field("readTimeout", "Read timeout (ms)"),
      new Field("matchContains", "Match substring"),
      new Field("matchRegex", "Match regex (POSIX extended)"),
      new Field("matchJsonField", "Match JSON field (dotted path)"),
      new Field("matchJsonValue", "Match JSON value"),
      new Field("discardUnmatched", "Discard unmatched messages"),
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
