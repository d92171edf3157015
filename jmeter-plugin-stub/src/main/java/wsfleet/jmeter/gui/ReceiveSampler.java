package wsfleet.jmeter.gui;

/**
 * wsfleet Receive: {@code wsfleet.jmeter.ReceiveMessage} as a sampler of its own.
 * Takes the oldest matching message from the inbox.
 */
public class ReceiveSampler extends MatchingSampler {
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

  private String optional = "";

  @Override
  String delegate() {
    return "ReceiveMessage";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }

  public String getOptional() {
    return optional;
  }

  public void setOptional(String v) {
    optional = v;
  }
}
