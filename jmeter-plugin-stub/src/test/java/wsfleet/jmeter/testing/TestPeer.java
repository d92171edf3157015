package wsfleet.jmeter.testing;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An independent WebSocket peer from tests/lib/servers: py_peer.py (python3-websockets) or
 * raw_peer.py (misbehaving on purpose). Prints READY PORT, then JSON lines we keep.
 */
public final class TestPeer implements AutoCloseable {
  static final File SERVERS = new File(System.getProperty("wsfleet.source", "..") + "/tests/lib/servers");

  public final int port;
  private final Process proc;
  private final List<String> lines = Collections.synchronizedList(new ArrayList<>());

  public static TestPeer py(String mode, String... args) throws IOException {
    return new TestPeer("py_peer.py", mode, args);
  }

  public static TestPeer raw(String mode, String... args) throws IOException {
    return new TestPeer("raw_peer.py", mode, args);
  }

  private TestPeer(String script, String mode, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(Arrays.asList("/usr/bin/python3",
        new File(SERVERS, script).getAbsolutePath(), "--mode", mode, "--max-seconds", "120"));
    cmd.addAll(Arrays.asList(args));
    proc = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    BufferedReader r = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8));
    String first = r.readLine();
    if (first == null || !first.startsWith("READY ")) {
      proc.destroyForcibly();
      throw new IOException(script + " did not start: " + first);
    }
    port = Integer.parseInt(first.substring(6).trim());
    Thread t = new Thread(() -> {
      try {
        for (String l; (l = r.readLine()) != null; ) {
          lines.add(l);
        }
      } catch (IOException e) {
        // peer gone
      }
    }, "peer-reader");
    t.setDaemon(true);
    t.start();
  }

  public String url() {
    return "ws://127.0.0.1:" + port + "/";
  }

  public List<String> records() {
    synchronized (lines) {
      return new ArrayList<>(lines);
    }
  }

  @Override
  public void close() {
    proc.destroy();
    try {
      if (!proc.waitFor(5, TimeUnit.SECONDS)) {
        proc.destroyForcibly();
      }
    } catch (InterruptedException e) {
      proc.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
