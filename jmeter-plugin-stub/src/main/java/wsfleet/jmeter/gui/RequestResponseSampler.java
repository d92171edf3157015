package wsfleet.jmeter.gui;

/**
 * wsfleet Request-Response: {@code wsfleet.jmeter.RequestResponse} as a sampler of its own.
 * Sends a message, then takes the first matching reply.
 */
public class RequestResponseSampler extends MatchingSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = withMatchFields(MESSAGE_FIELDS);

  @Override
  String delegate() {
    return "RequestResponse";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }
}
