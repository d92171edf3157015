package wsfleet.jmeter.gui;

/**
 * wsfleet Ping: {@code wsfleet.jmeter.Ping} as a sampler of its own.
 * Sends a ping frame and waits for its pong.
 */
public class PingSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", "Connection name"),
      new Field("pingPayload", "Ping payload (up to 125 bytes)"),
      new Field("pingTimeout", "Pong timeout (ms)"),
  };

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
