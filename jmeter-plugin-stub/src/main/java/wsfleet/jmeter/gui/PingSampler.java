package wsfleet.jmeter.gui;

/**
 * wsfleet Ping: {@code wsfleet.jmeter.Ping} as a sampler of its own. Sends a ping frame and waits for its pong.
 */
public class PingSampler extends WsfleetTestBean {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", "Connection name"),
      new Field("pingPayload", "Ping payload (up to 125 bytes)"),
      new Field("pingTimeout", "Pong timeout (ms)"),
  };

  private String connection = "";
  private String pingPayload = "";
  private String pingTimeout = "";

  @Override
  String delegate() {
    return "Ping";
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

  public String getPingPayload() {
    return pingPayload;
  }

  public void setPingPayload(String v) {
    pingPayload = v;
  }

  public String getPingTimeout() {
    return pingTimeout;
  }

  public void setPingTimeout(String v) {
    pingTimeout = v;
  }
}
