package wsfleet.jmeter.testing;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import wsfleet.jmeter.client.ClientConfig;
import wsfleet.jmeter.client.ControlClient;

/** The real wsfleetd (build/daemon/wsfleetd) in a private directory; killed on close. */
public final class TestDaemon implements AutoCloseable {
  public final Path dir;
  public final Path socket;
  public final Path log;
  private final List<String> extra;
  private Process proc;
  private final List<ControlClient> clients = new ArrayList<>();

  public static File binary() {
    return new File(System.getProperty("wsfleet.wsfleetd", "../build/daemon/wsfleetd")).getAbsoluteFile();
  }

  /** Skips the calling test when the daemon is not built, unless -Dwsfleet.require_daemon=true. */
  public static void assumeBuilt() {
    boolean present = binary().canExecute();
    if (!present && Boolean.getBoolean("wsfleet.require_daemon")) {
      fail("wsfleetd not built at " + binary() + " (ninja -C build)");
    }
    assumeTrue(present, "wsfleetd not built at " + binary());
  }

  public TestDaemon(String... extraArgs) throws IOException {
    assumeBuilt();
    this.dir = Files.createTempDirectory("wsf-java-",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    this.socket = dir.resolve("wsfleetd.sock");
    this.log = dir.resolve("daemon.log");
    this.extra = Arrays.asList(extraArgs);
    start();
  }

  public void start() throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(binary().getPath());
    cmd.add("--socket");
    cmd.add(socket.toString());
    cmd.add("--events");
    cmd.add(dir.resolve("events.jsonl").toString());
    cmd.addAll(extra);
    proc = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      if (!proc.isAlive()) {
        throw new IOException("wsfleetd exited with " + proc.exitValue() + " at start: " + log());
      }
      try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        ch.connect(UnixDomainSocketAddress.of(socket));
        return;
      } catch (IOException e) {
        sleep(20);
      }
    }
    stop();
    throw new IOException("wsfleetd did not listen on " + socket + " within 10 s: " + log());
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  public void stop() {
    if (proc == null) {
      return;
    }
    proc.destroy();
    try {
      if (!proc.waitFor(10, TimeUnit.SECONDS)) {
        proc.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      proc.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    proc = null;
  }

  /** SIGKILL: the daemon vanishes without answering anything. */
  public void kill() throws InterruptedException {
    proc.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    proc = null;
  }

  public long pid() {
    return proc.pid();
  }

  /** A fresh client of this daemon over its Unix socket (closed with the daemon). */
  public ControlClient client() {
    return client(new HashMap<>());
  }

  public ControlClient client(Map<String, String> props) {
    Map<String, String> p = new HashMap<>(props);
    p.putIfAbsent("wsfleet.transport", "unix");
    p.putIfAbsent("wsfleet.socket", socket.toString());
    ControlClient c = new ControlClient(ClientConfig.from(p::get));
    clients.add(c);
    return c;
  }

  public String log() {
    try {
      return new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() {
    for (ControlClient c : clients) {
      c.close();
    }
    stop();
    deleteTree(dir.toFile());
  }

  static void deleteTree(File f) {
    File[] kids = f.listFiles();
    if (kids != null) {
      for (File k : kids) {
        deleteTree(k);
      }
    }
    f.delete();
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
