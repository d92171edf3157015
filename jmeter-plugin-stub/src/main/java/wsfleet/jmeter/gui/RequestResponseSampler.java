package wsfleet.jmeter.gui;

/**
 * wsfleet Request-Response: {@code wsfleet.jmeter.RequestResponse} as a sampler of its own. Sends a message, then takes the first matching reply.
 */
public class RequestResponseSampler extends WsfleetTestBean {
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

  private String connection = "";
  private String message = "";
  private String messageType = "";
  private String readTimeout = "";
  private String matchContains = "";
  private String matchRegex = "";
  private String matchJsonField = "";
  private String matchJsonValue = "";
  private String discardUnmatched = "";

  @Override
  String delegate() {
    return "RequestResponse";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }

  public String getConnection() {
    return connection;
  }

  public void setConnection(String v) {
    connection = v;
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

  public String getReadTimeout() {
    return readTimeout;
  }

  public void setReadTimeout(String v) {
    readTimeout = v;
  }

  public String getMatchContains() {
    return matchContains;
  }

  public void setMatchContains(String v) {
    matchContains = v;
  }

  public String getMatchRegex() {
    return matchRegex;
  }

  public void setMatchRegex(String v) {
    matchRegex = v;
  }

  public String getMatchJsonField() {
    return matchJsonField;
  }

  public void setMatchJsonField(String v) {
    matchJsonField = v;
  }

  public String getMatchJsonValue() {
    return matchJsonValue;
  }

  public void setMatchJsonValue(String v) {
    matchJsonValue = v;
  }

  public String getDiscardUnmatched() {
    return discardUnmatched;
  }

  public void setDiscardUnmatched(String v) {
    discardUnmatched = v;
  }
}
