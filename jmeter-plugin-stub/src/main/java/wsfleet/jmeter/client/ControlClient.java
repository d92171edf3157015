package wsfleet.jmeter.client;

import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;

/**
 * The control connections of a JVM to wsfleetd: one multiplexed connection shared by every JMeter
 * thread, and a few that are lent to one call at a time ({@link LentLinks}).
 *
 * <p>Any thread may call {@link #call}. A call takes a free lent connection when there is one
 * (its thread reads its own reply); otherwise it goes to the shared connection, where requests are
 * written whole under a lock and a single reader thread hands each response to its caller by
 * msgid, so a {@code recv} waiting ten seconds holds up nobody. The shared connection is made on first use and made again after it is lost (the daemon
 * restarted): calls in flight on the lost connection fail, later calls go to the new one.
 */
public final class ControlClient implements Closeable {
  /** How long past a request's own timeout we wait before giving up on the daemon. */
  static final long ANSWER_SLACK_MS = 30_000;
  static final long HELLO_TIMEOUT_MS = 10_000;
  static final long START_WAIT_MS = 10_000;

  private final ClientConfig cfg;
  private final DaemonLauncher launcher = new DaemonLauncher();
  private final AtomicLong nextId = new AtomicLong(1);
  private final Object connectLock = new Object();
  private volatile Link link;
  private volatile Consumer<Rpc.Message> notificationListener;
  private volatile boolean closed;

  public ControlClient(ClientConfig cfg) {
    this.cfg = cfg;
  }

  public ClientConfig config() {
    return cfg;
  }

  /** Receives event notifications (after {@code subscribe}), on the reader thread. */
  public void onNotification(Consumer<Rpc.Message> listener) {
    this.notificationListener = listener;
  }

  /** The hello result of the current connection (connecting first if needed). */
  public Map<String, Object> hello() throws IOException {
    return link().hello;
  }

  /**
   * Sends one request and waits for its answer.
   *
   * @param waitMs how long the request may legitimately take in the daemon (e.g. recv's
   *     timeout_ms); the call gives up {@link #ANSWER_SLACK_MS} later
   * @throws ControlException when the daemon cannot be reached or does not answer
   */
  public Reply call(String method, Map<String, ?> params, long waitMs) throws IOException {
    Link l = link();
    long msgid = nextMsgid();
    byte[] bytes = Rpc.encodeRequest(msgid, method, params);
    if (bytes.length > l.maxRequestBytes) {
      // The daemon would answer limit_exceeded and drop the connection.
      return new Reply(null, error("limit_exceeded", "request of " + bytes.length
          + " bytes exceeds the daemon's max_request_bytes " + l.maxRequestBytes));
    }
    long timeoutMs = waitMs + ANSWER_SLACK_MS;
    // subscribe stays on the shared connection: its notifications need that connection's reader.
    LentLinks.Conn c = l.lent != null && !"subscribe".equals(method) ? l.lent.lend(this) : null;
    if (c != null) {
      return l.lent.call(c, msgid, method, bytes, timeoutMs);
    }
    return l.send(msgid, method, bytes, timeoutMs);
  }

  public Reply call(String method, Map<String, ?> params) throws IOException {
    return call(method, params, 0);
  }

  /** msgids are below 2^32 (PROTOCOL.md §2); 0 is skipped, the daemon uses it for framing errors. */
  long nextMsgid() {
    while (true) {
      long id = nextId.getAndIncrement() & 0xffffffffL;
      if (id != 0) {
        return id;
      }
    }
  }

  /** Whether a control connection is up right now (no connection attempt). */
  public boolean connected() {
    Link l = link;
    return l != null && !l.dead;
  }

  private Link link() throws IOException {
    Link l = link;
    if (l != null && !l.dead) {
      return l;
    }
    synchronized (connectLock) {
      if (closed) {
        throw new ControlException("wsfleet control client is closed");
      }
      l = link;
      if (l != null && !l.dead) {
        return l;
      }
      link = connect();
      return link;
    }
  }

  private Link connect() throws IOException {
    ControlTransport t;
    try {
      t = openTransport();
    } catch (SocketDirectory.Unsafe unsafe) {
      throw unsafe;
    } catch (IOException first) {
      if (cfg.daemonPath.isEmpty()) {
        throw new ControlException("wsfleetd is not reachable (" + first.getMessage()
            + "); start it, or set wsfleet.daemon to its binary to have it started", first);
      }
      t = startDaemonAndConnect(first);
    }
    Link l = new Link(t);
    l.start();
    Map<String, Object> hp = new LinkedHashMap<>();
    hp.put("client", "wsfleet-jmeter/0.1.0 java/" + System.getProperty("java.version"));
    if (t.needsToken()) {
      hp.put("token", readToken());
    }
    Reply r = l.call(nextMsgid(), "hello", hp, HELLO_TIMEOUT_MS);
    if (!r.ok()) {
      l.kill(new ControlException("hello refused"));
      throw new ControlException("wsfleetd refused hello on " + t.describe() + ": "
          + r.errorCode() + ": " + r.errorMessage());
    }
    l.hello = r.result();
    Object proto = l.hello.get("protocol");
    if (!(proto instanceof Long) || (Long) proto != 1L) {
      l.kill(new ControlException("protocol mismatch"));
      throw new ControlException("wsfleetd speaks protocol " + proto + ", this plugin speaks 1");
    }
    Object limits = l.hello.get("limits");
    long maxClients = 0;
    if (limits instanceof Map) {
      Object max = ((Map<?, ?>) limits).get("max_request_bytes");
      if (max instanceof Long) {
        l.maxRequestBytes = (Long) max;
      }
      Object clients = ((Map<?, ?>) limits).get("max_control_clients");
      if (clients instanceof Long) {
        maxClients = (Long) clients;
      }
    }
    int lent = (int) Math.min(cfg.controlConnections, maxClients / 4);
    if (lent > 0 && cfg.effectiveTransport() == ClientConfig.Transport.UNIX) {
      Map<String, Object> lentHello = new LinkedHashMap<>();
      lentHello.put("client", hp.get("client"));
      l.lent = new LentLinks(this::openTransport, lentHello, lent);
    }
    return l;
  }

  private ControlTransport openTransport() throws IOException {
    if (cfg.effectiveTransport() == ClientConfig.Transport.UNIX) {
      return ControlTransport.unix(cfg.socketPath);
    }
    return ControlTransport.tcp(cfg.tcpHost, cfg.tcpPort, 5000);
  }

  private ControlTransport startDaemonAndConnect(IOException first) throws IOException {
    launcher.ensureStarted(cfg);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_WAIT_MS);
    IOException last = first;
    while (System.nanoTime() < deadline) {
      String exit = launcher.exitStatus();
      if (exit != null) {
        throw new ControlException(exit + " (started from " + cfg.daemonPath + ")", last);
      }
      try {
        return openTransport();
      } catch (SocketDirectory.Unsafe unsafe) {
        throw unsafe;
      } catch (IOException e) {
        last = e;
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ControlException("interrupted while waiting for wsfleetd to start", e);
      }
    }
    throw new ControlException("started " + cfg.daemonPath + " but it did not listen within "
        + START_WAIT_MS + " ms: " + last.getMessage(), last);
  }

  private String readToken() throws IOException {
    try {
      return new String(Files.readAllBytes(Paths.get(cfg.tokenFile)), StandardCharsets.US_ASCII).trim();
    } catch (IOException e) {
      throw new ControlException("cannot read token file " + cfg.tokenFile + " (wsfleet.token_file): "
          + e.getMessage(), e);
    }
  }

  /** Stops a daemon this client started (it is stopped at JVM exit anyway). */
  public void stopLaunchedDaemon() {
    launcher.stop();
  }

  @Override
  public void close() {
    synchronized (connectLock) {
      closed = true;
      Link l = link;
      if (l != null) {
        l.kill(new ControlException("wsfleet control client closed"));
      }
    }
  }

  /** One control connection and the requests waiting on it. */
  private final class Link {
    final ControlTransport transport;
    final OutputStream out;
    final Object writeLock = new Object();
    final ConcurrentHashMap<Long, CompletableFuture<Reply>> pending = new ConcurrentHashMap<>();
    volatile boolean dead;
    volatile IOException deathCause;
    volatile Map<String, Object> hello;
    volatile long maxRequestBytes = Long.MAX_VALUE;
    /** Connections lent to one call at a time (null: every call shares this one). */
    volatile LentLinks lent;

    Link(ControlTransport transport) {
      this.transport = transport;
      this.out = transport.out();
    }

    void start() {
      Thread t = new Thread(this::readLoop, "wsfleet-control-reader");
      t.setDaemon(true);
      t.start();
    }

    Reply call(long msgid, String method, Map<String, ?> params, long timeoutMs) throws IOException {
      return send(msgid, method, Rpc.encodeRequest(msgid, method, params), timeoutMs);
    }

    Reply send(long msgid, String method, byte[] bytes, long timeoutMs) throws IOException {
      CompletableFuture<Reply> f = new CompletableFuture<>();
      pending.put(msgid, f);
      if (dead) {
        pending.remove(msgid);
        throw lost();
      }
      try {
        synchronized (writeLock) {
          out.write(bytes);
          out.flush();
        }
      } catch (IOException e) {
        kill(e);
      }
      try {
        return f.get(timeoutMs, TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        pending.remove(msgid);
        throw new ControlException("wsfleetd did not answer " + method + " within " + timeoutMs + " ms");
      } catch (InterruptedException e) {
        pending.remove(msgid);
        Thread.currentThread().interrupt();
        throw new ControlException("interrupted while waiting for " + method, e);
      } catch (ExecutionException e) {
        Throwable c = e.getCause();
        if (c instanceof IOException) {
          throw new ControlException(c.getMessage(), c);
        }
        throw new ControlException(String.valueOf(c), c);
      }
    }

    private ControlException lost() {
      IOException c = deathCause;
      return new ControlException("connection to wsfleetd lost"
          + (c != null ? ": " + c.getMessage() : ""), c);
    }

    void readLoop() {
      IOException cause = null;
      String framingError = null;
      try (MessageUnpacker u = MessagePack.newDefaultUnpacker(transport.in())) {
        while (!dead) {
          Rpc.Message m = Rpc.read(u);
          if (m == null) {
            break;
          }
          if (m.type == Rpc.RESPONSE) {
            if (m.msgid == 0 && m.error != null) {
              // msgid 0: the daemon could not read our request and closes the connection.
              framingError = m.error.get("code") + ": " + m.error.get("message");
              continue;
            }
            CompletableFuture<Reply> f = pending.remove(m.msgid);
            if (f != null) {
              f.complete(new Reply(m.result, m.error));
            }
          } else if (m.type == Rpc.NOTIFICATION) {
            Consumer<Rpc.Message> l = notificationListener;
            if (l != null) {
              try {
                l.accept(m);
              } catch (RuntimeException e) {
                // a listener's bug must not take the shared connection down
              }
            }
          }
        }
      } catch (IOException e) {
        cause = e;
      }
      String why = framingError != null ? "wsfleetd closed the control connection after " + framingError
          : cause != null ? transport.describe() + ": " + cause.getMessage()
          : transport.describe() + " closed by wsfleetd";
      kill(new ControlException(why, cause));
    }

    void kill(IOException cause) {
      synchronized (this) {
        if (!dead) {
          deathCause = cause;
          dead = true;
        }
      }
      try {
        transport.close();
      } catch (IOException ignored) {
        // already gone
      }
      LentLinks ll = lent;
      if (ll != null) {
        ll.close(); // same daemon: it died, or the client is closing
      }
      ControlException e = lost();
      for (Long id : pending.keySet()) {
        CompletableFuture<Reply> f = pending.remove(id);
        if (f != null) {
          f.completeExceptionally(e);
        }
      }
    }
  }

  static Map<String, Object> error(String code, String message) {
    Map<String, Object> e = new LinkedHashMap<>();
    e.put("code", code);
    e.put("message", message);
    return e;
  }
}
