package wsfleet.jmeter.gui;

import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Status: {@code wsfleet.jmeter.ConnectionStatus} as a sampler of its own.
 * Reports a connection's state and close record as JSON.
 */
public class StatusSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", WsfleetSampler.CONN),
  };


  @Override
  String delegate() {
    return "ConnectionStatus";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }

}
