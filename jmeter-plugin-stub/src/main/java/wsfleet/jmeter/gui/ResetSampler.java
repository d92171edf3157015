package wsfleet.jmeter.gui;

import wsfleet.jmeter.ResetFleet;

/**
 * wsfleet Reset: {@code wsfleet.jmeter.ResetFleet} as a sampler of its own.
 * Closes every connection of the daemon and forgets every name.
 */
public class ResetSampler extends WsfleetTestBean {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("closeCode", ResetFleet.CODE),
      new Field("closeReason", ResetFleet.REASON),
  };

  private String closeCode = "";
  private String closeReason = "";

  @Override
  String delegate() {
    return "ResetFleet";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }

  public String getCloseCode() {
    return closeCode;
  }

  public void setCloseCode(String v) {
    closeCode = v;
  }

  public String getCloseReason() {
    return closeReason;
  }

  public void setCloseReason(String v) {
    closeReason = v;
  }
}
