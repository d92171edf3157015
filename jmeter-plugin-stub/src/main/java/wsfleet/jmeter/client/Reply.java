package wsfleet.jmeter.client;

import java.util.Collections;
import java.util.Map;

/** The daemon's answer to one request: a result map, or an error map {code, message, ...}. */
public final class Reply {
  private final Map<String, Object> result;
  private final Map<String, Object> error;

  public Reply(Map<String, Object> result, Map<String, Object> error) {
    this.result = error != null ? null : (result != null ? result : Collections.<String, Object>emptyMap());
    this.error = error;
  }

  public boolean ok() {
    return error == null;
  }

  /** The result map (empty on error). */
  public Map<String, Object> result() {
    return result != null ? result : Collections.<String, Object>emptyMap();
  }

  /** The error map, or null on success. */
  public Map<String, Object> error() {
    return error;
  }

  public String errorCode() {
    return error == null ? null : String.valueOf(error.get("code"));
  }

  public String errorMessage() {
    if (error == null) {
      return null;
    }
    Object m = error.get("message");
    return m == null ? "" : String.valueOf(m);
  }

  /** The close record carried by a {@code conn_closed} error or a close/status result, or null. */
  @SuppressWarnings("unchecked")
  public Map<String, Object> record() {
    Map<String, Object> m = error != null ? error : result;
    Object r = m == null ? null : m.get("record");
    return r instanceof Map ? (Map<String, Object>) r : null;
  }

  @Override
  public String toString() {
    return ok() ? "ok " + result : "error " + error;
  }
}
