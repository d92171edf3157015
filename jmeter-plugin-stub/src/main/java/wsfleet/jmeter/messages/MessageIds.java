package wsfleet.jmeter.messages;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Ids of acks, receipts and invocations the helpers ask for: one counter for the JVM, so no two
 * threads (sharing a connection or not) ever wait for the same answer.
 */
public final class MessageIds {
  private static final AtomicLong NEXT = new AtomicLong(1);

  private MessageIds() {}

  public static long next() {
    return NEXT.getAndIncrement();
  }
}
