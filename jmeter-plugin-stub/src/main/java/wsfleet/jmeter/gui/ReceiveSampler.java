package wsfleet.jmeter.gui;

import wsfleet.jmeter.ReceiveMessage;
import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Receive: {@code wsfleet.jmeter.ReceiveMessage} as a sampler of its own.
 * Takes the oldest matching message from the inbox.
 */
public class ReceiveSampler extends MatchingSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", WsfleetSampler.CONN),
      new Field("readTimeout", WsfleetSampler.READ_TIMEOUT),
      new Field("matchContains", WsfleetSampler.MATCH_CONTAINS),
      new Field("matchRegex", WsfleetSampler.MATCH_REGEX),
      new Field("matchJsonField", WsfleetSampler.MATCH_JSON_FIELD),
      new Field("matchJsonValue", WsfleetSampler.MATCH_JSON_VALUE),
      new Field("discardUnmatched", WsfleetSampler.DISCARD),
      new Field("optional", ReceiveMessage.OPTIONAL),
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
