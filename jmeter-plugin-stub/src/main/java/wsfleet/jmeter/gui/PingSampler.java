package wsfleet.jmeter.gui;

import wsfleet.jmeter.Ping;
import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Ping: {@code wsfleet.jmeter.Ping} as a sampler of its own.
 * Sends a ping frame and waits for its pong.
 */
public class PingSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", WsfleetSampler.CONN),
      new Field("pingPayload", Ping.PAYLOAD),
      new Field("pingTimeout", Ping.PONG_TIMEOUT),
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
