package wsfleet.jmeter.gui;

/**
 * A sampler that acts on one named connection of the daemon.
 * The fields every such sampler has (JavaBeans accessors, for the form).
 */
abstract class ConnectionSampler extends WsfleetTestBean {
  private static final long serialVersionUID = 1L;

  private String connection = "";

  public String getConnection() {
    return connection;
  }

  public void setConnection(String v) {
    connection = v;
  }
}
