package wsfleet.jmeter.messages;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import wsfleet.jmeter.client.JsonText;

/**
 * The protocol helpers' bytes, pinned as each protocol writes them; what the regexes match in the
 * daemon's own regcomp is ProtocolHelpersTest's (through the real daemon).
 */
class MessagesTest {
  static List<Object> args(String json) {
    return JsonText.array(json, "args");
  }

  @Test
  void socketIoEventsAreWrittenAsJsonStringifyWritesThem() {
    assertEquals("42[\"chat\",\"hi\",{\"n\":1}]", SocketIo.event("/", "chat", args("[\"hi\", {\"n\": 1}]"), null).text);
    assertEquals("42[\"ping\"]", SocketIo.event("", "ping", null, null).text);
    assertEquals("42/admin,[\"x\",1.5,null,true]", SocketIo.event("/admin", "x", args("[1.5,null,true]"), null).text);
    assertEquals("42/admin,[\"x\"]", SocketIo.event("admin", "x", args("[]"), null).text, "leading / added");
    // A name with quotes, a backslash and a newline is escaped as JSON.stringify does.
    assertEquals("42[\"a\\\"b\\\\c\\nd\"]", SocketIo.event("/", "a\"b\\c\nd", null, null).text);
    Outgoing ack = SocketIo.event("/chat", "join", args("[\"room\"]"), 17L);
    assertEquals("42/chat,17[\"join\",\"room\"]", ack.text);
    assertEquals("17", ack.replyId);
    assertEquals("^43/chat,17[[]", ack.reply.regex);
    assertNull(SocketIo.event("/", "x", null, null).reply);
    assertThrows(IllegalArgumentException.class, () -> SocketIo.event("/", "", null, null));
    assertThrows(IllegalArgumentException.class, () -> SocketIo.event("/a,b", "x", null, null));
  }

  @Test
  void socketIoEventMatchingAnchorsTheNamespaceAndTheWholeName() {
    assertEquals("^42[0-9]*[[]\"chat\"[],]", SocketIo.onEvent("/", "chat").regex);
    assertEquals("^42/chat,[0-9]*[[]\"new message\"[],]", SocketIo.onEvent("/chat", "new message").regex);
    // POSIX specials in a name are literal, one bracket each.
    assertEquals("^42[0-9]*[[]\"a[.]b[*][$]\\^[\\][\\][(]\"[],]", SocketIo.onEvent("", "a.b*$^\\(").regex);
    assertEquals("^435[[]", SocketIo.onAck("/", 5).regex);
  }

  @Test
  void stompHeadersAreEscapedAsStomp12Says() {
    assertEquals("a\\\\b\\nc\\cd\\re", Stomp.escape("a\\b\nc:d\re"));
    List<String[]> h = new ArrayList<>();
    h.add(new String[] {"content-type", "application/json"});
    h.add(new String[] {"x:key", "line1\nline2"});
    Outgoing send = Stomp.frame("send", "/queue/a:b", null, h, "{\"é\":1}", null);
    assertEquals("SEND\ndestination:/queue/a\\cb\ncontent-type:application/json\nx\\ckey:line1\\nline2\n"
        + "content-length:8\n\n{\"é\":1}\0", send.text, "content-length counts UTF-8 bytes");
    assertNull(send.reply);
    Outgoing sub = Stomp.frame("SUBSCRIBE", "/topic/chat", "sub-1", null, "", "r-9");
    assertEquals("SUBSCRIBE\ndestination:/topic/chat\nid:sub-1\nreceipt:r-9\n\n\0", sub.text);
    assertEquals("r-9", sub.replyId);
    assertEquals("^[\r\n]*RECEIPT\r?\n([^\r\n][^\n]*\n)*receipt-id:r-9\r?\n", sub.reply.regex);
    assertEquals("UNSUBSCRIBE\nid:sub-1\n\n\0", Stomp.frame("UNSUBSCRIBE", null, "sub-1", null, null, null).text);
    assertEquals("DISCONNECT\nreceipt:bye\n\n\0", Stomp.frame("DISCONNECT", null, null, null, "", "bye").text);
    List<String[]> len = Collections.singletonList(new String[] {"content-length", "2"});
    assertEquals("SEND\ndestination:/q\ncontent-length:2\n\nhi\0", Stomp.frame("SEND", "/q", null, len, "hi", null).text);
  }

  @Test
  void stompFramesMissingWhatTheirCommandNeedsAreRefusedByName() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Stomp.frame("SEND", "", null, null, "x", null))
        .getMessage().contains("destination"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Stomp.frame("SUBSCRIBE", "/q", null, null, "", null))
        .getMessage().contains("id"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Stomp.frame("CONNECT", null, null, null, "", null))
        .getMessage().contains("SEND, SUBSCRIBE"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Stomp.frame("BEGIN", null, null, null, "x", null))
        .getMessage().contains("no body"));
  }

  @Test
  void stompMessageMatchingReadsOnlyTheHeaderBlockAndTheEscapedValue() {
    assertEquals("^[\r\n]*MESSAGE\r?\n([^\r\n][^\n]*\n)*destination:/topic/a[\\]cb[.]c\r?\n",
        Stomp.onMessage("/topic/a:b.c").regex);
  }

  @Test
  void signalRInvocationsAreRecordsWithTheirSeparator() {
    Outgoing fire = SignalR.invocation("Send", args("[\"bob\",\"hi\"]"), null);
    assertEquals("{\"type\":1,\"target\":\"Send\",\"arguments\":[\"bob\",\"hi\"]}\u001e", fire.text);
    assertNull(fire.reply);
    Outgoing call = SignalR.invocation("Add", args("[1,2]"), "42");
    assertEquals("{\"type\":1,\"invocationId\":\"42\",\"target\":\"Add\",\"arguments\":[1,2]}\u001e", call.text);
    assertEquals("42", call.replyId);
    assertEquals("\"type\"[ ]*:[ ]*3[ ]*[,}]", call.reply.regex);
    assertEquals("invocationId", call.reply.jsonField);
    assertEquals("42", call.reply.jsonValue);
    Criteria on = SignalR.onInvocation("ReceiveMessage");
    assertEquals("\"type\"[ ]*:[ ]*1[ ]*[,}]", on.regex);
    assertEquals("target", on.jsonField);
    assertEquals("ReceiveMessage", on.jsonValue);
    assertEquals("{\"type\":1,\"target\":\"X\",\"arguments\":[]}\u001e", SignalR.invocation("X", null, null).text);
  }

  @Test
  void criteriaRefuseToReplaceWhatThePlanSet() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("contains", "x");
    SocketIo.onEvent("/", "a").putInto(m, "Match event");
    assertEquals(Arrays.asList("contains", "regex"), new ArrayList<>(m.keySet()));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SignalR.onInvocation("T").putInto(m, "Match event"));
    assertTrue(e.getMessage().startsWith("Match event sets the regex criterion"), e.getMessage());
  }

  @Test
  void idsAreNeverReused() {
    long a = MessageIds.next();
    long b = MessageIds.next();
    assertTrue(b > a);
  }
}
