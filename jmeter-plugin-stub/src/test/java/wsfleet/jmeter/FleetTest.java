package wsfleet.jmeter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import wsfleet.jmeter.client.ClientConfig;
import wsfleet.jmeter.client.ControlClient;
import wsfleet.jmeter.testing.TestDaemon;

/**
 * The JVM's control client follows the daemon location between runs (a GUI session where wsfleet
 * Defaults or a property names another daemon), never within one.
 */
class FleetTest {
  @AfterEach
  void clear() {
    System.clearProperty(ClientConfig.TRANSPORT);
    System.clearProperty(ClientConfig.SOCKET);
    Fleet.replace(null);
  }

  @Test
  void aChangedDaemonLocationTakesEffectAtTheNextRunOnly() throws Exception {
    try (TestDaemon a = new TestDaemon(); TestDaemon b = new TestDaemon()) {
      Fleet.replace(null);
      System.setProperty(ClientConfig.TRANSPORT, "unix");
      System.setProperty(ClientConfig.SOCKET, a.socket.toString());
      Fleet.beginRun(1000);
      ControlClient first = Fleet.client();
      first.hello();
      assertEquals(a.socket.toString(), first.config().socketPath);

      // changed while run 1000 goes on: its threads keep the client they started with
      System.setProperty(ClientConfig.SOCKET, b.socket.toString());
      Fleet.beginRun(1000);
      assertSame(first, Fleet.client());

      // the next run starts on the daemon now named, and only that one is needed
      a.close();
      Fleet.beginRun(2000);
      ControlClient second = Fleet.client();
      assertNotSame(first, second);
      assertEquals(b.socket.toString(), second.config().socketPath);
      second.hello(); // B answers (A is gone)

      // the same location in the run after: the same client (and its connection) is kept
      Fleet.beginRun(3000);
      assertSame(second, Fleet.client());
    }
  }
}
