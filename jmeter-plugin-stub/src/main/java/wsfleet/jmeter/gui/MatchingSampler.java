package wsfleet.jmeter.gui;

/**
 * A sampler that takes a message from the connection's inbox:
 * which one, and how long to wait.
 * The fields every such sampler has (JavaBeans accessors, for the form).
 */
abstract class MatchingSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  private String readTimeout = "";
  private String matchContains = "";
  private String matchRegex = "";
  private String matchJsonField = "";
  private String matchJsonValue = "";
  private String discardUnmatched = "";

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
