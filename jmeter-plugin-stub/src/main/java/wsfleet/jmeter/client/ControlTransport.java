package wsfleet.jmeter.client;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * A byte stream to the daemon: a Unix socket (Java 16+) or loopback TCP.
 *
 * <p>One reader thread and any number of writers (serialised by the caller) use it at once.
 */
public abstract class ControlTransport implements Closeable {
  private final String name;
  private final boolean needsToken;
  private InputStream in;
  private OutputStream out;

  /** The subclass sets the streams with {@link #streams} before the transport is used. */
  ControlTransport(String name, boolean needsToken) {
    this.name = name;
    this.needsToken = needsToken;
  }

  final void streams(InputStream in, OutputStream out) {
    this.in = in;
    this.out = out;
  }

  public final InputStream in() {
    return in;
  }

  public final OutputStream out() {
    return out;
  }

  /** True when the first request must carry the token (PROTOCOL.md §1). */
  public final boolean needsToken() {
    return needsToken;
  }

  public final String describe() {
    return name;
  }

  /** Whether this JVM can open Unix sockets (Java 16+: {@code java.net.UnixDomainSocketAddress}). */
  public static boolean unixSupported() {
    try {
      Class.forName("java.net.UnixDomainSocketAddress");
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  /**
   * Connects to a Unix socket. The plugin is compiled for Java 8, so the Java 16 API is reached by
   * reflection: one jar runs on every JVM JMeter 5.6 supports. The socket's directory is checked
   * first ({@link SocketDirectory}).
   */
  public static ControlTransport unix(String path) throws IOException {
    SocketDirectory.check(path);
    SocketAddress addr;
    SocketChannel ch;
    try {
      Class<?> udsa = Class.forName("java.net.UnixDomainSocketAddress");
      addr = (SocketAddress) udsa.getMethod("of", String.class).invoke(null, path);
      Class<?> family = Class.forName("java.net.StandardProtocolFamily");
      Object unixFamily = family.getField("UNIX").get(null);
      Method open = SocketChannel.class.getMethod("open", Class.forName("java.net.ProtocolFamily"));
      ch = (SocketChannel) open.invoke(null, unixFamily);
    } catch (ReflectiveOperationException e) {
      throw new IOException("Unix sockets need Java 16 or later (running "
          + System.getProperty("java.version") + "); set wsfleet.transport=tcp", e);
    }
    try {
      ch.connect(addr);
    } catch (IOException e) {
      ch.close();
      throw new IOException("cannot connect to " + path + ": " + e.getMessage(), e);
    }
    return new ChannelTransport(ch, "unix:" + path);
  }

  public static ControlTransport tcp(String host, int port, int timeoutMs) throws IOException {
    Socket s = new Socket();
    try {
      s.setTcpNoDelay(true);
      s.connect(new InetSocketAddress(host, port), timeoutMs);
    } catch (IOException e) {
      s.close();
      throw new IOException("cannot connect to " + host + ":" + port + ": " + e.getMessage(), e);
    }
    return new SocketTransport(s, "tcp:" + host + ":" + port);
  }

  /**
   * Streams over a blocking SocketChannel. Not Channels.newInputStream/newOutputStream: those
   * take the channel's blocking lock, so a reader blocked in read() would stall every writer.
   */
  static final class ChannelTransport extends ControlTransport {
    private final SocketChannel ch;

    ChannelTransport(SocketChannel ch, String name) {
      super(name, false);
      this.ch = ch;
      InputStream in = new InputStream() {
        @Override
        public int read() throws IOException {
          byte[] one = new byte[1];
          int n = read(one, 0, 1);
          return n <= 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          if (len == 0) {
            return 0;
          }
          return ChannelTransport.this.ch.read(ByteBuffer.wrap(b, off, len));
        }
      };
      OutputStream out = new OutputStream() {
        @Override
        public void write(int b) throws IOException {
          write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          ByteBuffer buf = ByteBuffer.wrap(b, off, len);
          while (buf.hasRemaining()) {
            ChannelTransport.this.ch.write(buf);
          }
        }
      };
      streams(in, out);
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }
  }

  static final class SocketTransport extends ControlTransport {
    private final Socket s;

    SocketTransport(Socket s, String name) throws IOException {
      super(name, true);
      this.s = s;
      streams(s.getInputStream(), s.getOutputStream());
    }

    @Override
    public void close() throws IOException {
      s.close();
    }
  }
}
