package wsfleet.jmeter.gui;

import wsfleet.jmeter.CloseConnection;
import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Close: {@code wsfleet.jmeter.CloseConnection} as a sampler of its own.
 * Closes a connection with a close frame.
 */
public class CloseSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", WsfleetSampler.CONN),
      new Field("closeCode", CloseConnection.CODE),
      new Field("closeReason", CloseConnection.REASON),
      new Field("closeTimeout", CloseConnection.TIMEOUT),
  };

  private String closeCode = "";
  private String closeReason = "";
  private String closeTimeout = "";

  @Override
  String delegate() {
    return "CloseConnection";
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

  public String getCloseTimeout() {
    return closeTimeout;
  }

  public void setCloseTimeout(String v) {
    closeTimeout = v;
  }
}
