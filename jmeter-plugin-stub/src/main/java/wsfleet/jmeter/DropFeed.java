package wsfleet.jmeter;

import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.client.Reply;
import wsfleet.jmeter.client.Rpc;

/**
 * The daemon's {@code close}, {@code handshake_failed} and {@code reconnect} events (PROTOCOL.md §5 subscribe) for
 * one control client, in one queue. Every Drop Monitor thread of the JVM takes from the same queue,
 * so each ending becomes exactly one sample however many monitor threads a plan runs.
 *
 * <p>The subscription belongs to a control connection: when the client has reconnected (the
 * daemon restarted) the next {@link #poll} subscribes again; endings in between are not seen.
 */
final class DropFeed {
  /** Events queued and not yet taken; beyond it the oldest are counted in {@link #lost} and dropped. */
  static final int MAX_QUEUED = 100_000;

  private static DropFeed shared;

  private final ControlClient client;
  private final LinkedBlockingQueue<Map<String, Object>> queue = new LinkedBlockingQueue<>(MAX_QUEUED);
  private final AtomicLong lost = new AtomicLong();
  /** The hello result of the connection we subscribed on: a new one means a new connection. */
  private Map<String, Object> subscribedOn;

  DropFeed(ControlClient client) {
    this.client = client;
    client.onNotification(this::accept);
  }

  /** The feed of the JVM's shared client. */
  static synchronized DropFeed shared() {
    ControlClient c = Fleet.client();
    if (shared == null || shared.client != c) {
      shared = new DropFeed(c);
    }
    return shared;
  }

  /** Subscribes on the current control connection unless done already. */
  synchronized void ensureSubscribed() throws IOException {
    Map<String, Object> hello = client.hello(); // connects (and starts the daemon) if needed
    if (hello == subscribedOn) {
      return;
    }
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("events", Arrays.asList("close", "handshake_failed", "reconnect"));
    Reply r = client.call("subscribe", p);
    if (!r.ok() && "bad_request".equals(r.errorCode())) {
      // A daemon before the reconnect policy knows no reconnect event: it has no reconnects either.
      p.put("events", Arrays.asList("close", "handshake_failed"));
      r = client.call("subscribe", p);
    }
    if (!r.ok()) {
      throw new IOException("subscribe refused: " + r.errorCode() + ": " + r.errorMessage());
    }
    subscribedOn = hello;
  }

  /** The next event, waiting up to waitMs; null when none came. */
  Map<String, Object> poll(long waitMs) throws IOException, InterruptedException {
    ensureSubscribed();
    return queue.poll(waitMs, TimeUnit.MILLISECONDS);
  }

  /** Events dropped because nobody took them (no monitor thread, or far too many endings). */
  long lost() {
    return lost.get();
  }

  /** On the control client's reader thread: queue and return at once. */
  private void accept(Rpc.Message m) {
    if (!"event".equals(m.method)) {
      return;
    }
    while (!queue.offer(m.params)) {
      if (queue.poll() != null) {
        lost.incrementAndGet();
      }
    }
  }
}
