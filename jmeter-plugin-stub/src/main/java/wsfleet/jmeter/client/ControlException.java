package wsfleet.jmeter.client;

import java.io.IOException;

/** The control connection failed: no daemon, lost connection, or no answer in time. */
public class ControlException extends IOException {
  private static final long serialVersionUID = 1L;

  public ControlException(String msg) {
    super(msg);
  }

  public ControlException(String msg, Throwable cause) {
    super(msg, cause);
  }
}
