package wsfleet.jmeter.gui;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import wsfleet.jmeter.WsfleetSampler;

/**
 * A sampler that takes a message from the connection's inbox:
 * which one, and how long to wait.
 * The fields every such sampler has (JavaBeans accessors, for the form).
 */
abstract class MatchingSampler extends MessageSampler {
  private static final long serialVersionUID = 1L;

  /** The fields that choose the message, in the order both forms show them. */
  private static final Field[] MATCH_FIELDS = {
      new Field("readTimeout", WsfleetSampler.READ_TIMEOUT),
      new Field("matchContains", WsfleetSampler.MATCH_CONTAINS),
      new Field("matchRegex", WsfleetSampler.MATCH_REGEX),
      new Field("matchJsonField", WsfleetSampler.MATCH_JSON_FIELD),
      new Field("matchJsonValue", WsfleetSampler.MATCH_JSON_VALUE),
      new Field("discardUnmatched", WsfleetSampler.DISCARD),
      new Field("matchEventKind", WsfleetSampler.MATCH_EVENT_KIND),
      new Field("matchEvent", WsfleetSampler.MATCH_EVENT),
      new Field("matchReplyId", WsfleetSampler.MATCH_REPLY_ID),
  };

  /** A form's fields: the connection name, {@code before}, the match fields, {@code after}. */
  static Field[] withMatchFields(Field[] before, Field... after) {
    List<Field> all = new ArrayList<>();
    all.add(new Field("connection", WsfleetSampler.CONN));
    all.addAll(Arrays.asList(before));
    all.addAll(Arrays.asList(MATCH_FIELDS));
    all.addAll(Arrays.asList(after));
    return all.toArray(new Field[0]);
  }

  private String readTimeout = "";
  private String matchContains = "";
  private String matchRegex = "";
  private String matchJsonField = "";
  private String matchJsonValue = "";
  private String discardUnmatched = "";
  private String matchEventKind = "";
  private String matchEvent = "";
  private String matchReplyId = "";

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

  public String getMatchEventKind() {
    return matchEventKind;
  }

  public void setMatchEventKind(String v) {
    matchEventKind = v;
  }

  public String getMatchEvent() {
    return matchEvent;
  }

  public void setMatchEvent(String v) {
    matchEvent = v;
  }

  public String getMatchReplyId() {
    return matchReplyId;
  }

  public void setMatchReplyId(String v) {
    matchReplyId = v;
  }
}
