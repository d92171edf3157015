package wsfleet.jmeter.client;

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.function.Function;

/**
 * Where the daemon is and how to reach it, from JMeter properties ({@code -Jwsfleet.socket=...})
 * or Java system properties ({@code -Dwsfleet.socket=...}).
 *
 * <pre>
 * wsfleet.transport     auto | unix | tcp   (auto: unix on Java 16+, else tcp)
 * wsfleet.socket        Unix socket path    (default as wsfleetd's: $XDG_RUNTIME_DIR/wsfleet/wsfleetd.sock
 *                                            or /tmp/wsfleet-$UID/wsfleetd.sock)
 * wsfleet.tcp           127.0.0.1:PORT      (default 127.0.0.1:7878)
 * wsfleet.token_file    token for TCP       (default: token beside the default socket)
 * wsfleet.daemon        wsfleetd binary to start when none is listening (default: none, no auto-start)
 * wsfleet.daemon.args   extra arguments for that daemon, split on spaces
 * wsfleet.daemon.log    file for its output (default: inherit JMeter's console)
 * wsfleet.reset         true: reset the daemon once at the start of each test run
 * wsfleet.control_connections  connections lent to one call at a time (default 8, 0: share one)
 * </pre>
 */
public final class ClientConfig {
  public enum Transport { AUTO, UNIX, TCP }

  /** Property names (-J / -D, and the fields of wsfleet Defaults that set them). */
  public static final String TRANSPORT = "wsfleet.transport";
  public static final String SOCKET = "wsfleet.socket";
  public static final String TCP = "wsfleet.tcp";
  public static final String TOKEN_FILE = "wsfleet.token_file";
  public static final String DAEMON = "wsfleet.daemon";
  public static final String DAEMON_ARGS = "wsfleet.daemon.args";
  public static final String DAEMON_LOG = "wsfleet.daemon.log";
  public static final String RESET = "wsfleet.reset";
  public static final String CONTROL_CONNECTIONS = "wsfleet.control_connections";

  public final Transport transport;
  public final String socketPath;
  public final String tcpHost;
  public final int tcpPort;
  public final String tokenFile;
  public final String daemonPath;
  public final String daemonArgs;
  public final String daemonLog;
  public final boolean resetAtStart;
  /** At most this many control connections lent to one call at a time (Unix transport), beside the shared one. */
  public final int controlConnections;

  private ClientConfig(Function<String, String> props) {
    String t = get(props, TRANSPORT, "auto").toUpperCase(java.util.Locale.ROOT);
    this.transport = Transport.valueOf(t);
    String dir = defaultDir();
    this.socketPath = get(props, SOCKET, dir + "/wsfleetd.sock");
    String hostPort = get(props, TCP, "127.0.0.1:7878");
    int colon = hostPort.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException("wsfleet.tcp must be HOST:PORT, got " + hostPort);
    }
    String host = hostPort.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    this.tcpHost = host;
    this.tcpPort = Integer.parseInt(hostPort.substring(colon + 1));
    this.tokenFile = get(props, TOKEN_FILE, dir + "/token");
    this.daemonPath = get(props, DAEMON, "");
    this.daemonArgs = get(props, DAEMON_ARGS, "");
    this.daemonLog = get(props, DAEMON_LOG, "");
    this.resetAtStart = Boolean.parseBoolean(get(props, RESET, "false"));
    this.controlConnections = Integer.parseInt(get(props, CONTROL_CONNECTIONS, "8"));
    if (controlConnections < 0) {
      throw new IllegalArgumentException(CONTROL_CONNECTIONS + " must be 0 or more, got " + controlConnections);
    }
  }

  public static ClientConfig from(Function<String, String> props) {
    return new ClientConfig(props);
  }

  /**
   * Whether a client made from {@code o} reaches the same daemon the same way: every field but
   * resetAtStart, which is read per run.
   */
  public boolean sameDaemon(ClientConfig o) {
    return transport == o.transport && socketPath.equals(o.socketPath) && tcpHost.equals(o.tcpHost)
        && tcpPort == o.tcpPort && tokenFile.equals(o.tokenFile) && daemonPath.equals(o.daemonPath)
        && daemonArgs.equals(o.daemonArgs) && daemonLog.equals(o.daemonLog)
        && controlConnections == o.controlConnections;
  }

  /** The transport actually used: AUTO resolved against this JVM. */
  public Transport effectiveTransport() {
    if (transport != Transport.AUTO) {
      return transport;
    }
    return ControlTransport.unixSupported() ? Transport.UNIX : Transport.TCP;
  }

  private static String get(Function<String, String> props, String key, String def) {
    String v = props.apply(key);
    return v == null || v.trim().isEmpty() ? def : v.trim();
  }

  /** The daemon's default directory (PROTOCOL.md §1). */
  static String defaultDir() {
    String xdg = System.getenv("XDG_RUNTIME_DIR");
    if (xdg != null && !xdg.isEmpty()) {
      return xdg + "/wsfleet";
    }
    return "/tmp/wsfleet-" + uid();
  }

  static String uid() {
    try {
      return String.valueOf(Files.getAttribute(Paths.get("/proc/self"), "unix:uid"));
    } catch (Exception e) {
      return System.getProperty("user.name", "0"); // no /proc: not Linux; the user names the socket
    }
  }
}
