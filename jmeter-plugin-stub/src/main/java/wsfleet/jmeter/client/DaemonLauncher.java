package wsfleet.jmeter.client;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts wsfleetd from a configured binary when no daemon is listening, and stops it when the JVM
 * exits. The daemon owns the WebSockets, so it is started once per JVM, never per thread.
 *
 * <p>Its stdin is a pipe whose write end only this JVM holds, and {@code --lifeline-fd 0} makes
 * the daemon shut down (close frames with 1001, as on SIGTERM) when that pipe reaches EOF. The
 * shutdown hook covers a normal exit; the lifeline covers every other way the JVM goes away,
 * {@code kill -9} (a CI timeout) included, where no hook runs and the daemon used to live on with
 * its connections for the next run to reuse silently.
 */
final class DaemonLauncher {
  private Process process;
  /** The pipe's write end: held (never written) for the daemon's lifetime, closed by the kernel at our death. */
  private OutputStream lifeline;

  /** Starts the daemon once; later calls do nothing while it runs. */
  synchronized void ensureStarted(ClientConfig cfg) throws IOException {
    if (process != null && isAlive(process)) {
      return;
    }
    List<String> cmd = new ArrayList<>();
    cmd.add(cfg.daemonPath);
    cmd.add("--lifeline-fd");
    cmd.add("0");
    if (cfg.effectiveTransport() == ClientConfig.Transport.UNIX) {
      cmd.add("--socket");
      cmd.add(cfg.socketPath);
    } else {
      cmd.add("--control-tcp");
      cmd.add(cfg.tcpHost.contains(":") ? "[" + cfg.tcpHost + "]:" + cfg.tcpPort
          : cfg.tcpHost + ":" + cfg.tcpPort);
      cmd.add("--token-file");
      cmd.add(cfg.tokenFile);
    }
    for (String a : cfg.daemonArgs.split("\\s+")) {
      if (!a.isEmpty()) {
        cmd.add(a);
      }
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    if (cfg.daemonLog.isEmpty()) {
      pb.redirectOutput(ProcessBuilder.Redirect.INHERIT);
    } else {
      pb.redirectOutput(ProcessBuilder.Redirect.appendTo(new File(cfg.daemonLog)));
    }
    pb.redirectInput(ProcessBuilder.Redirect.PIPE);
    final Process p = pb.start();
    process = p;
    lifeline = p.getOutputStream();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      p.destroy(); // SIGTERM: the daemon closes its connections and flushes its event log
    }, "wsfleetd-stop"));
  }

  synchronized void stop() {
    if (process != null) {
      process.destroy();
      try {
        if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
      process = null;
      lifeline = null;
    }
  }

  synchronized String exitStatus() {
    if (process == null || isAlive(process)) {
      return null;
    }
    return "wsfleetd exited with status " + process.exitValue();
  }

  private static boolean isAlive(Process p) {
    return p.isAlive();
  }
}
