package wsfleet.jmeter.client;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.ClosedByInterruptException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;

/**
 * Control connections lent to one call at a time: the calling thread writes its request and reads
 * its own reply, so the kernel wakes that thread and nobody else.
 *
 * <p>Why: on the shared connection each reply wakes its reader thread, which then wakes the
 * waiting sampler thread. At 2,000 sessions and 400 echoes/s (tests/bench/RESULTS.md) lending
 * took the JVM from 4.4 to 2.9 context switches and from 5.3 to 2.2 futex calls per sample, and
 * saved 14 µs of JVM CPU per echo (of ~125).
 *
 * <p>At most {@code max} connections (wsfleet.control_connections, at most a quarter of the daemon's
 * max_control_clients so the CLI and other JVMs keep room). A call that finds none free and the
 * pool full, or whose connection cannot be made, goes to the shared connection; so does
 * {@code subscribe}, whose notifications need the shared connection's reader. Unix sockets only: a
 * thread blocked reading a SocketChannel is woken by {@link Thread#interrupt} (JMeter's stop), a
 * TCP Socket's stream is not. A lent connection has no read timeout of its own, so a watchdog
 * thread closes one whose call outlives its deadline (checked every {@link #WATCHDOG_MS} ms).
 */
final class LentLinks implements Closeable {
  static final long WATCHDOG_MS = 1000;

  /** Makes one new connection (transport only; the pool says hello on it). */
  interface Opener {
    ControlTransport open() throws IOException;
  }

  /** One lent connection. */
  static final class Conn {
    final ControlTransport transport;
    final OutputStream out;
    final MessageUnpacker in;
    /** System.nanoTime() after which the watchdog closes it; 0 while idle. */
    volatile long deadline;
    volatile boolean timedOut;

    Conn(ControlTransport transport) {
      this.transport = transport;
      this.out = transport.out();
      this.in = MessagePack.newDefaultUnpacker(transport.in());
    }

    void close() {
      try {
        transport.close();
      } catch (IOException ignored) {
        // already gone
      }
    }
  }

  private final Opener opener;
  private final Map<String, Object> helloParams;
  private final int max;
  private final ArrayDeque<Conn> idle = new ArrayDeque<>();
  private final List<Conn> all = new ArrayList<>();
  private int made; // open or being opened
  private boolean full; // the daemon refused one, or one could not be made: stop trying
  private boolean closed;
  private Thread watchdog;

  LentLinks(Opener opener, Map<String, Object> helloParams, int max) {
    this.opener = opener;
    this.helloParams = helloParams;
    this.max = max;
  }

  /** A connection for one call, or null: use the shared connection. */
  Conn lend(ControlClient ids) {
    synchronized (this) {
      if (closed) {
        return null;
      }
      Conn c = idle.pollFirst(); // the most recently used: its thread state is warm
      if (c != null) {
        return c;
      }
      if (full || made >= max) {
        return null;
      }
      made++;
    }
    Conn c = open(ids);
    synchronized (this) {
      if (c == null) {
        made--;
        full = true;
        return null;
      }
      if (closed) {
        made--;
        c.close();
        return null;
      }
      all.add(c);
      if (watchdog == null) {
        watchdog = new Thread(this::watch, "wsfleet-control-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
      }
      return c;
    }
  }

  /** Connects and says hello; null when that fails for any reason (the shared connection will say why). */
  private Conn open(ControlClient ids) {
    ControlTransport t;
    try {
      t = opener.open();
    } catch (IOException e) {
      return null;
    }
    Conn c = new Conn(t);
    try {
      long id = ids.nextMsgid();
      Reply r = exchange(c, id, Rpc.encodeRequest(id, "hello", helloParams), ControlClient.HELLO_TIMEOUT_MS);
      if (r.ok()) {
        return c;
      }
    } catch (IOException e) {
      // refused (max_control_clients answers msgid 0 and closes) or gone
    }
    c.close();
    return null;
  }

  /**
   * Sends one request on a lent connection and reads its reply on the calling thread; gives the
   * connection back, or closes it when the call failed (its stream may be mid-message).
   */
  Reply call(Conn c, long msgid, String method, byte[] request, long timeoutMs) throws IOException {
    try {
      Reply r = exchange(c, msgid, request, timeoutMs);
      giveBack(c);
      return r;
    } catch (IOException e) {
      discard(c);
      if (e instanceof ClosedByInterruptException) {
        throw new ControlException("interrupted while waiting for " + method, e);
      }
      if (c.timedOut) {
        throw new ControlException("wsfleetd did not answer " + method + " within " + timeoutMs + " ms");
      }
      if (e instanceof ControlException) {
        throw e;
      }
      // AsynchronousCloseException (the shared connection found the daemon gone) has no message
      String why = e.getMessage() != null ? e.getMessage() : "closed (" + e.getClass().getSimpleName() + ")";
      throw new ControlException("connection to wsfleetd lost: " + c.transport.describe() + ": " + why, e);
    }
  }

  /** Writes {@code request} (encoded with {@code msgid}) and reads up to its response. */
  private static Reply exchange(Conn c, long msgid, byte[] request, long timeoutMs) throws IOException {
    c.deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs) | 1; // never 0
    try {
      c.out.write(request);
      while (true) {
        Rpc.Message m = Rpc.read(c.in);
        if (m == null) {
          throw new EOFException("closed by wsfleetd");
        }
        if (m.type != Rpc.RESPONSE) {
          continue; // this connection never subscribes; nothing else is sent unasked
        }
        if (m.msgid == msgid) {
          return new Reply(m.result, m.error);
        }
        if (m.msgid == 0 && m.error != null) {
          throw new ControlException("wsfleetd closed the control connection after "
              + m.error.get("code") + ": " + m.error.get("message"));
        }
      }
    } finally {
      c.deadline = 0;
    }
  }

  private void giveBack(Conn c) {
    synchronized (this) {
      if (!closed) {
        idle.addFirst(c);
        return;
      }
    }
    c.close();
  }

  private void discard(Conn c) {
    c.close();
    synchronized (this) {
      if (all.remove(c)) {
        made--;
      }
    }
  }

  /** Closes every connection whose call is past its deadline; ends when the pool closes. */
  private void watch() {
    List<Conn> snapshot = new ArrayList<>();
    while (true) {
      try {
        Thread.sleep(WATCHDOG_MS);
      } catch (InterruptedException e) {
        return;
      }
      synchronized (this) {
        if (closed) {
          return;
        }
        snapshot.clear();
        snapshot.addAll(all);
      }
      long now = System.nanoTime();
      for (Conn c : snapshot) {
        long d = c.deadline;
        if (d != 0 && now - d > 0) {
          c.timedOut = true;
          c.close(); // the blocked read fails with AsynchronousCloseException
        }
      }
    }
  }

  /** Closes every connection; calls in flight on them fail. */
  @Override
  public void close() {
    List<Conn> toClose;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      toClose = new ArrayList<>(all);
      all.clear();
      idle.clear();
      if (watchdog != null) {
        watchdog.interrupt();
      }
    }
    for (Conn c : toClose) {
      c.close();
    }
  }
}
