package wsfleet.jmeter.messages;

/**
 * A protocol message a helper built: its text, and when it asks the server for an answer (a
 * Socket.IO ack, a STOMP receipt, a SignalR completion) that answer's id and the criteria that
 * find it.
 */
public final class Outgoing {
  public final String text;
  /** The ack / receipt / invocation id, or null when the message asks for no answer. */
  public final String replyId;
  /** Finds the answer; null when the message asks for none. */
  public final Criteria reply;

  Outgoing(String text, String replyId, Criteria reply) {
    this.text = text;
    this.replyId = replyId;
    this.reply = reply;
  }
}
