package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Reply;
import wsfleet.jmeter.messages.Outgoing;

/**
 * Sends a message and waits for the first matching reply that arrives after it, in one round
 * trip. Elapsed and latency are the daemon's send-to-reply time. A helper message that asks for
 * an answer (Socket.IO ack, STOMP receipt, SignalR completion) waits for that answer by its id.
 */
public class RequestResponse extends WsfleetSampler {
  @Override
  protected boolean reportsReconnects() {
    return true;
  }

  @Override
  protected String method() {
    return "request";
  }

  @Override
  protected void addParameters(Arguments a) {
    addMessageArguments(a);
    MessageKinds.addMessageKindArguments(a);
    addMatchArguments(a);
    MessageKinds.addMatchEventArguments(a);
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    Outgoing out = MessageKinds.putMessage(m, p);
    putMatch(m, p);
    if (out != null && out.reply != null) {
      // The answer the message asked for: its ack / receipt / completion, by id.
      out.reply.putInto(m, "the " + p.str(MESSAGE_KIND) + " message's reply id " + out.replyId);
    }
    MessageKinds.putMatchEvent(m, p);
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    applyReceived(res, r.result(), "rtt_us");
    Object b = r.result().get("bytes");
    if (b instanceof Long) {
      res.setSentBytes((Long) b);
    }
  }
}
