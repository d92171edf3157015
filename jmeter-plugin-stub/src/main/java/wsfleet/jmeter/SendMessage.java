package wsfleet.jmeter;

import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.jmeter.config.Arguments;
import org.apache.jmeter.samplers.SampleResult;

import wsfleet.jmeter.client.Reply;
import wsfleet.jmeter.messages.Outgoing;

/**
 * Queues one text or binary message on a connection, as written (raw) or built by a protocol helper
 * (a Socket.IO event, a STOMP frame, a SignalR invocation).
 */
public class SendMessage extends WsfleetSampler {
  /** The ack / receipt / invocation id this thread's sample in progress asked for (JMeter gives each thread its own instance). */
  private String replyId;

  @Override
  protected boolean reportsReconnects() {
    return true;
  }

  @Override
  protected String method() {
    return "send";
  }

  @Override
  protected void addParameters(Arguments a) {
    addMessageArguments(a);
    MessageKinds.addMessageKindArguments(a);
  }

  @Override
  protected Map<String, Object> params(Params p, String conn) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("conn", conn);
    Outgoing out = MessageKinds.putMessage(m, p);
    replyId = out != null ? out.replyId : null;
    return m;
  }

  @Override
  protected void onSuccess(SampleResult res, Reply r, Map<String, Object> params) {
    Object b = r.result().get("bytes");
    long n = b instanceof Long ? (Long) b : 0;
    res.setSentBytes(n);
    res.setResponseData(new byte[0]);
    StringBuilder msg = new StringBuilder("sent ").append(n).append(" bytes");
    if (replyId != null) {
      msg.append(", reply id ").append(replyId);
    }
    long paced = ms(r.result().get("paced_us"));
    if (paced > 0) {
      // The open's rate limit held it back: the daemon writes it when the window opens.
      msg.append(", paced ").append(paced).append(" ms by the rate limit");
    }
    res.setResponseMessage(msg.toString());
  }
}
