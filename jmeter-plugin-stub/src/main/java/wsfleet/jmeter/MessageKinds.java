package wsfleet.jmeter;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.threads.JMeterContextService;
import org.apache.jmeter.threads.JMeterVariables;

import wsfleet.jmeter.client.JsonText;
import wsfleet.jmeter.messages.Criteria;
import wsfleet.jmeter.messages.MessageIds;
import wsfleet.jmeter.messages.Outgoing;
import wsfleet.jmeter.messages.SignalR;
import wsfleet.jmeter.messages.SocketIo;
import wsfleet.jmeter.messages.Stomp;

/**
 * The message helpers of Send and Request-Response (a Socket.IO event, a STOMP frame, a SignalR
 * invocation built from fields; the daemon does not build protocol messages) and the "match event"
 * of Receive and Request-Response (translated to recv's regex / JSON criteria). The shapes are in
 * the wsfleet.jmeter.messages builders; this class reads the parameters.
 */
final class MessageKinds {
  static final String RAW = "raw";
  static final String SOCKETIO = "socketio";
  static final String STOMP = "stomp";
  static final String SIGNALR = "signalr";

  /** JMeter variable holding the ack / receipt / invocation id the last helper message asked for. */
  static final String REPLY_ID_VARIABLE = "wsfleet_reply_id";

  private MessageKinds() {}

  static void addMessageKindArguments(Arguments a) {
    a.addArgument(WsfleetSampler.MESSAGE_KIND, RAW, null,
        "raw: Message as written; socketio, stomp, signalr: built from the fields below (STOMP body: Message)");
    a.addArgument(WsfleetSampler.SIO_NAMESPACE, "");
    a.addArgument(WsfleetSampler.SIO_EVENT, "");
    a.addArgument(WsfleetSampler.SIO_ARGS, "");
    a.addArgument(WsfleetSampler.SIO_ACK, "false");
    a.addArgument(WsfleetSampler.STOMP_COMMAND, "SEND");
    a.addArgument(WsfleetSampler.STOMP_DESTINATION, "");
    a.addArgument(WsfleetSampler.STOMP_ID, "");
    a.addArgument(WsfleetSampler.STOMP_HEADERS, "");
    a.addArgument(WsfleetSampler.STOMP_RECEIPT, "false");
    a.addArgument(WsfleetSampler.SIGNALR_TARGET, "");
    a.addArgument(WsfleetSampler.SIGNALR_ARGUMENTS, "");
    a.addArgument(WsfleetSampler.SIGNALR_COMPLETION, "false");
  }

  static void addMatchEventArguments(Arguments a) {
    a.addArgument(WsfleetSampler.MATCH_EVENT_KIND, "", null, "socketio, stomp or signalr; blank: none");
    a.addArgument(WsfleetSampler.MATCH_EVENT, "");
    a.addArgument(WsfleetSampler.MATCH_REPLY_ID, "");
  }

  private static String kind(Params p, String key, boolean rawAllowed) {
    String k = p.str(key);
    if (k == null) {
      return rawAllowed ? RAW : null;
    }
    k = k.toLowerCase(Locale.ROOT);
    if ((rawAllowed && k.equals(RAW)) || k.equals(SOCKETIO) || k.equals(STOMP) || k.equals(SIGNALR)) {
      return k;
    }
    throw new IllegalArgumentException("\"" + key + "\" must be " + (rawAllowed ? "raw, " : "")
        + "socketio, stomp or signalr, got \"" + k + "\"");
  }

  /**
   * Puts send's data and type. For a helper kind returns what it built (its reply criteria when it
   * asked for an ack, a receipt or a completion) and sets {@link #REPLY_ID_VARIABLE}; null for raw.
   */
  static Outgoing putMessage(Map<String, Object> m, Params p) {
    String kind = kind(p, WsfleetSampler.MESSAGE_KIND, true);
    if (kind.equals(RAW)) {
      WsfleetSampler.putMessage(m, p);
      return null;
    }
    Outgoing out = build(kind, p);
    m.put("data", out.text);
    m.put("type", "text");
    exportReplyId(out.replyId);
    return out;
  }

  private static Outgoing build(String kind, Params p) {
    switch (kind) {
      case SOCKETIO:
        return SocketIo.event(p.raw(WsfleetSampler.SIO_NAMESPACE).trim(), p.raw(WsfleetSampler.SIO_EVENT),
            jsonArray(p, WsfleetSampler.SIO_ARGS), p.bool(WsfleetSampler.SIO_ACK, false) ? MessageIds.next() : null);
      case STOMP:
        List<String[]> headers = new ArrayList<>();
        for (Map.Entry<String, Object> h : OpenConnection.parseHeaders(p.raw(WsfleetSampler.STOMP_HEADERS)).entrySet()) {
          headers.add(new String[] {h.getKey(), String.valueOf(h.getValue())});
        }
        return Stomp.frame(p.str(WsfleetSampler.STOMP_COMMAND), p.str(WsfleetSampler.STOMP_DESTINATION),
            p.str(WsfleetSampler.STOMP_ID), headers, p.raw(WsfleetSampler.MESSAGE),
            p.bool(WsfleetSampler.STOMP_RECEIPT, false) ? "wsfleet-" + MessageIds.next() : null);
      default:
        return SignalR.invocation(p.str(WsfleetSampler.SIGNALR_TARGET), jsonArray(p, WsfleetSampler.SIGNALR_ARGUMENTS),
            p.bool(WsfleetSampler.SIGNALR_COMPLETION, false) ? String.valueOf(MessageIds.next()) : null);
    }
  }

  private static List<Object> jsonArray(Params p, String key) {
    String text = p.str(key);
    return text == null ? null : JsonText.array(text, key);
  }

  /**
   * Adds the match-event criteria (an event name / destination / target, or a reply id) to recv's
   * params; nothing when no match event kind is given.
   */
  static void putMatchEvent(Map<String, Object> m, Params p) {
    String kind = kind(p, WsfleetSampler.MATCH_EVENT_KIND, false);
    String event = p.str(WsfleetSampler.MATCH_EVENT);
    String id = p.str(WsfleetSampler.MATCH_REPLY_ID);
    if (kind == null) {
      if (event != null || id != null) {
        throw new IllegalArgumentException("\"" + (event != null ? WsfleetSampler.MATCH_EVENT : WsfleetSampler.MATCH_REPLY_ID)
            + "\" needs \"" + WsfleetSampler.MATCH_EVENT_KIND + "\" (socketio, stomp or signalr)");
      }
      return;
    }
    if ((event == null) == (id == null)) {
      throw new IllegalArgumentException("\"" + WsfleetSampler.MATCH_EVENT_KIND + "\" " + kind + " needs either \""
          + WsfleetSampler.MATCH_EVENT + "\" or \"" + WsfleetSampler.MATCH_REPLY_ID + "\"");
    }
    criteria(kind, event, id, p).putInto(m, "\"" + WsfleetSampler.MATCH_EVENT_KIND + "\" " + kind);
  }

  private static Criteria criteria(String kind, String event, String id, Params p) {
    switch (kind) {
      case SOCKETIO:
        String ns = p.raw(WsfleetSampler.SIO_NAMESPACE).trim();
        if (event != null) {
          return SocketIo.onEvent(ns, event);
        }
        try {
          return SocketIo.onAck(ns, Long.parseLong(id));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("a Socket.IO ack id is a whole number, got \"" + id + "\"");
        }
      case STOMP:
        return event != null ? Stomp.onMessage(event) : Stomp.onReceipt(id);
      default:
        return event != null ? SignalR.onInvocation(event) : SignalR.onCompletion(id);
    }
  }

  private static void exportReplyId(String id) {
    JMeterVariables vars = JMeterContextService.getContext().getVariables();
    if (vars != null) {
      vars.put(REPLY_ID_VARIABLE, id == null ? "" : id);
    }
  }
}
