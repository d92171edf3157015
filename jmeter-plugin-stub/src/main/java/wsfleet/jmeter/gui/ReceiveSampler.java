package wsfleet.jmeter.gui;

import wsfleet.jmeter.ReceiveMessage;
import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Receive: {@code wsfleet.jmeter.ReceiveMessage} as a sampler of its own.
 * Takes the oldest matching message from the inbox.
 */
public class ReceiveSampler extends MatchingSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = withMatchFields(new Field[0], new Field("sioNamespace", WsfleetSampler.SIO_NAMESPACE),
      new Field("optional", ReceiveMessage.OPTIONAL));

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
