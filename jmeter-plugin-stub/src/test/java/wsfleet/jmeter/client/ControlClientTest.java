package wsfleet.jmeter.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import wsfleet.jmeter.testing.TestDaemon;
import wsfleet.jmeter.testing.TestPeer;

/** The control client against the real wsfleetd and a python3-websockets echo peer. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ControlClientTest {
  static Map<String, Object> m(Object... kv) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      out.put((String) kv[i], kv[i + 1]);
    }
    return out;
  }

  static Reply ok(Reply r) {
    assertTrue(r.ok(), () -> "expected success, got " + r);
    return r;
  }

  /** What one request/response on conn echoed. */
  static Object echo(ControlClient c, String conn, String text) throws IOException {
    return ok(c.call("request", m("conn", conn, "data", text, "timeout_ms", 5000L), 5000)).result().get("data");
  }

  @Test
  void helloReportsProtocolOneAndTheDaemonsLimits() throws IOException {
    try (TestDaemon d = new TestDaemon("--max-request-bytes", "65536")) {
      Map<String, Object> h = d.client().hello();
      assertEquals("wsfleetd", h.get("server"));
      assertEquals(1L, h.get("protocol"));
      assertEquals(d.pid(), h.get("pid"));
      assertEquals(65536L, ((Map<?, ?>) h.get("limits")).get("max_request_bytes"));
    }
  }

  @Test
  void aQuickRequestIsAnsweredWhileAnEarlierRecvStillWaits() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      ok(c.call("open", m("conn", "a", "url", echo.url())));
      ExecutorService ex = Executors.newSingleThreadExecutor();
      try {
        long t0 = System.nanoTime();
        Future<Reply> waiting = ex.submit(() -> c.call("recv", m("conn", "a", "timeout_ms", 5000L,
            "contains", "late"), 5000));
        Thread.sleep(200); // the recv is outstanding on the shared connection now
        ok(c.call("ping", m("conn", "a")));
        ok(c.call("stats", null));
        long quickMs = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(!waiting.isDone(), "recv must still wait: nothing matched yet");
        ok(c.call("send", m("conn", "a", "data", "a late message")));
        Reply r = ok(waiting.get(10, TimeUnit.SECONDS));
        assertEquals("a late message", r.result().get("data"));
        assertTrue(quickMs < 2000, "ping+stats took " + quickMs + " ms behind a waiting recv");
      } finally {
        ex.shutdownNow();
      }
    }
  }

  /** 16 threads × 100 request+status pairs; returns the daemon's control_clients afterwards. */
  static long manyThreadsEachGetTheirOwnAnswers(ControlClient c, String url) throws Exception {
    int threads = 16;
    for (int i = 0; i < threads; i++) {
      ok(c.call("open", m("conn", "t" + i, "url", url)));
    }
    ExecutorService ex = Executors.newFixedThreadPool(threads);
    try {
      List<Future<Integer>> fs = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        final String name = "t" + i;
        fs.add(ex.submit(() -> {
          for (int k = 0; k < 100; k++) {
            Reply r = ok(c.call("request", m("conn", name, "data", name + "/" + k, "timeout_ms", 5000L), 5000));
            assertEquals(name + "/" + k, r.result().get("data"));
            assertEquals(name, ok(c.call("status", m("conn", name))).result().get("conn"));
          }
          return 100;
        }));
      }
      for (Future<Integer> f : fs) {
        assertEquals(100, f.get(50, TimeUnit.SECONDS));
      }
    } finally {
      ex.shutdownNow();
    }
    return (Long) ok(c.call("stats", null)).result().get("control_clients");
  }

  @Test
  void manyThreadsShareOneControlConnectionAndEachGetsItsOwnAnswers() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client(Map.of("wsfleet.control_connections", "0"));
      assertEquals(1L, manyThreadsEachGetTheirOwnAnswers(c, echo.url()));
    }
  }

  @Test
  void manyThreadsOnLentConnectionsEachGetTheirOwnAnswersWithinTheLimit() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client(Map.of("wsfleet.control_connections", "3"));
      long clients = manyThreadsEachGetTheirOwnAnswers(c, echo.url());
      // the shared connection and at most 3 lent; at least one was lent (the stats call's own)
      assertTrue(clients >= 2 && clients <= 4, "control_clients " + clients);
    }
  }

  @Test
  void lentConnectionsStayWithinAQuarterOfTheDaemonsMaxControlClients() throws Exception {
    try (TestDaemon d = new TestDaemon("--max-control-clients", "8"); TestPeer echo = TestPeer.py("echo")) {
      long clients = manyThreadsEachGetTheirOwnAnswers(d.client(), echo.url());
      assertTrue(clients >= 2 && clients <= 3, "control_clients " + clients + ": 1 shared + at most 8/4 lent");
    }
  }

  @Test
  void aDaemonWithNoRoomForALentConnectionIsUsedThroughTheSharedOne() throws Exception {
    try (TestDaemon d = new TestDaemon("--max-control-clients", "4"); TestPeer echo = TestPeer.py("echo")) {
      for (int i = 0; i < 3; i++) { // three other clients hold three of the four slots
        ok(d.client(Map.of("wsfleet.control_connections", "0")).call("stats", null));
      }
      ControlClient c = d.client(); // the fourth: its lent connection (8/4 -> 1) is refused
      ok(c.call("open", m("conn", "a", "url", echo.url())));
      for (int k = 0; k < 20; k++) {
        assertEquals("m" + k, echo(c, "a", "m" + k));
      }
      assertEquals(4L, ok(c.call("stats", null)).result().get("control_clients"));
    }
  }

  @Test
  void aCallWaitingOnALentConnectionIsInterruptedAndLaterCallsWork() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      ok(c.call("open", m("conn", "a", "url", echo.url())));
      ExecutorService ex = Executors.newSingleThreadExecutor();
      try {
        Future<Reply> waiting = ex.submit(() -> c.call("recv", m("conn", "a", "timeout_ms", 20_000L), 20_000));
        Thread.sleep(300);
        long t0 = System.nanoTime();
        waiting.cancel(true); // interrupts the thread blocked reading its lent connection
        ex.shutdown();
        assertTrue(ex.awaitTermination(5, TimeUnit.SECONDS), "the interrupted call returns");
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 5000);
      } finally {
        ex.shutdownNow();
      }
      assertEquals("after", echo(c, "a", "after"));
    }
  }

  @Test
  void aLentConnectionWhoseAnswerIsLateIsClosedByTheWatchdog() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      ok(c.call("open", m("conn", "a", "url", echo.url())));
      long t0 = System.nanoTime();
      // waitMs below zero shortens the client's patience to 500 ms; the daemon's recv waits 10 s
      ControlException e = assertThrows(ControlException.class, () -> c.call("recv",
          m("conn", "a", "timeout_ms", 10_000L), 500 - ControlClient.ANSWER_SLACK_MS));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertTrue(e.getMessage().contains("did not answer recv within 500 ms"), e.getMessage());
      assertTrue(ms < 500 + 2 * LentLinks.WATCHDOG_MS + 1000, "gave up after " + ms + " ms");
      assertEquals("later", echo(c, "a", "later"));
    }
  }

  @Test
  void callsInFlightFailAndLaterCallsReconnectWhenTheDaemonDiesAndRestarts() throws Exception {
    try (TestDaemon d = new TestDaemon(); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      ok(c.call("open", m("conn", "a", "url", echo.url())));
      long firstPid = (Long) c.hello().get("pid");
      ExecutorService ex = Executors.newSingleThreadExecutor();
      try {
        Future<Reply> waiting = ex.submit(() -> c.call("recv", m("conn", "a", "timeout_ms", 20_000L), 20_000));
        Thread.sleep(200);
        long t0 = System.nanoTime();
        d.kill();
        Exception e = assertThrows(Exception.class, () -> waiting.get(15, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof ControlException, () -> "got " + e);
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 12_000, "the waiting call learns of the loss");
      } finally {
        ex.shutdownNow();
      }
      assertThrows(ControlException.class, () -> c.call("stats", null), "no daemon: a clear error");
      d.start();
      Reply r = ok(c.call("stats", null));
      assertEquals(0L, r.result().get("open"), "a new daemon");
      assertNotEquals(firstPid, c.hello().get("pid"));
    }
  }

  @Test
  void startsTheConfiguredDaemonWhenNoneListens() throws Exception {
    TestDaemon.assumeBuilt();
    Path dir = Files.createTempDirectory("wsf-auto-");
    Files.delete(dir); // the daemon creates its directory itself
    Map<String, String> p = new HashMap<>();
    p.put("wsfleet.transport", "unix");
    p.put("wsfleet.socket", dir.resolve("wsfleetd.sock").toString());
    p.put("wsfleet.daemon", TestDaemon.binary().getPath());
    p.put("wsfleet.daemon.log", dir + ".log");
    ControlClient c = new ControlClient(ClientConfig.from(p::get));
    try {
      Map<String, Object> h = c.hello();
      assertEquals("wsfleetd", h.get("server"));
    } finally {
      c.close();
      c.stopLaunchedDaemon();
      Files.deleteIfExists(dir.resolve("wsfleetd.sock"));
      Files.deleteIfExists(dir);
      Files.deleteIfExists(Path.of(dir + ".log"));
    }
  }

  @Test
  void noDaemonAndNoAutoStartIsAClearError() {
    Map<String, String> p = new HashMap<>();
    p.put("wsfleet.transport", "unix");
    p.put("wsfleet.socket", "/nonexistent/wsfleet/wsfleetd.sock");
    ControlClient c = new ControlClient(ClientConfig.from(p::get));
    ControlException e = assertThrows(ControlException.class, () -> c.call("stats", null));
    assertTrue(e.getMessage().contains("/nonexistent/wsfleet/wsfleetd.sock"), e.getMessage());
    assertTrue(e.getMessage().contains("wsfleet.daemon"), e.getMessage());
  }

  @Test
  void aRequestOverTheDaemonsLimitIsRefusedLocallyAndTheSharedConnectionSurvives() throws IOException {
    try (TestDaemon d = new TestDaemon("--max-request-bytes", "1024"); TestPeer echo = TestPeer.py("echo")) {
      ControlClient c = d.client();
      ok(c.call("open", m("conn", "a", "url", echo.url())));
      Reply r = c.call("send", m("conn", "a", "data", "z".repeat(2000)));
      assertEquals("limit_exceeded", r.errorCode());
      assertTrue(c.connected());
      assertEquals(1L, ok(c.call("stats", null)).result().get("open"));
    }
  }

  @Test
  void tcpTransportSendsTheTokenInHelloAndAWrongTokenIsRefused() throws Exception {
    Path tok = Files.createTempFile("wsf-token-", "");
    Files.delete(tok); // created 0600 by the daemon
    int port = 0;
    TestDaemon started = null;
    for (int attempt = 0; started == null; attempt++) {
      // A port found free may be taken before the daemon binds it (a busy host's outgoing
      // connections share the range): the daemon then ends at start, before its socket is up.
      try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
        port = s.getLocalPort();
      }
      try {
        started = new TestDaemon("--control-tcp", "127.0.0.1:" + port, "--token-file", tok.toString());
      } catch (java.io.IOException e) {
        if (attempt >= 9 || !e.getMessage().contains("address already in use")) {
          throw e;
        }
      }
    }
    try (TestDaemon d = started) {
      Map<String, String> p = new HashMap<>();
      p.put("wsfleet.transport", "tcp");
      p.put("wsfleet.tcp", "127.0.0.1:" + port);
      p.put("wsfleet.token_file", tok.toString());
      ControlClient c = new ControlClient(ClientConfig.from(p::get));
      assertEquals(1L, c.hello().get("protocol"));
      c.close();
      Path wrong = Files.createTempFile("wsf-wrong-", "");
      Files.writeString(wrong, "00".repeat(32));
      p.put("wsfleet.token_file", wrong.toString());
      ControlClient bad = new ControlClient(ClientConfig.from(p::get));
      ControlException e = assertThrows(ControlException.class, bad::hello);
      assertTrue(e.getMessage().contains("unauthorized"), e.getMessage());
      Files.delete(wrong);
    } finally {
      Files.deleteIfExists(tok);
    }
  }
}
