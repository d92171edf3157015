package wsfleet.jmeter.gui;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import wsfleet.jmeter.WsfleetSampler;

/**
 * wsfleet Send: {@code wsfleet.jmeter.SendMessage} as a sampler of its own.
 * Queues one text or binary message, or one a protocol helper builds.
 */
public class SendSampler extends MessageSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = fields(MESSAGE_FIELDS);

  private static Field[] fields(Field[] message) {
    List<Field> all = new ArrayList<>();
    all.add(new Field("connection", WsfleetSampler.CONN));
    all.addAll(Arrays.asList(message));
    return all.toArray(new Field[0]);
  }

  @Override
  String delegate() {
    return "SendMessage";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }
}
