package wsfleet.jmeter.gui;

/**
 * wsfleet Receive: {@code wsfleet.jmeter.ReceiveMessage} as a sampler of its own. Takes the oldest matching message from the inbox.
 */
public class ReceiveSampler extends WsfleetTestBean {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", "Connection name"),
      new Field("readTimeout", "Read timeout (ms)"),
      new Field("matchContains", "Match substring"),
      new Field("matchRegex", "Match regex (POSIX extended)"),
      new Field("matchJsonField", "Match JSON field (dotted path)"),
      new Field("matchJsonValue", "Match JSON value"),
      new Field("discardUnmatched", "Discard unmatched messages"),
      new Field("optional", "Optional read (no message is not an error)"),
  };

  private String connection = "";
  private String readTimeout = "";
  private String matchContains = "";
  private String matchRegex = "";
  private String matchJsonField = "";
  private String matchJsonValue = "";
  private String discardUnmatched = "";
  private String optional = "";

  @Override
  String delegate() {
    return "ReceiveMessage";
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

  public String getOptional() {
    return optional;
  }

  public void setOptional(String v) {
    optional = v;
  }
}
