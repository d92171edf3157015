package wsfleet.jmeter.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import wsfleet.jmeter.testing.TestDaemon;

/** The socket directory is checked with lstat semantics before the stub connects (issue 14). */
class SocketDirectoryTest {
  @TempDir
  Path tmp;

  static String refusal(String socket) {
    IOException e = assertThrows(SocketDirectory.Unsafe.class, () -> ControlTransport.unix(socket).close());
    assertTrue(e.getMessage().startsWith("refusing to connect to " + socket), e.getMessage());
    return e.getMessage();
  }

  @Test
  void aSymlinkedDirectoryIsRefusedEvenWhenItPointsAtARealDaemon() throws Exception {
    try (TestDaemon d = new TestDaemon()) {
      assertTrue(d.client().hello().containsKey("pid")); // the real one works
      Path link = tmp.resolve("link");
      Files.createSymbolicLink(link, d.dir);
      String msg = refusal(link.resolve("wsfleetd.sock").toString());
      assertTrue(msg.contains("is a symbolic link"), msg);
    }
  }

  @Test
  void aDirectoryOthersOrTheGroupCanWriteIsRefused() throws Exception {
    Path dir = Files.createDirectory(tmp.resolve("open"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    assertTrue(refusal(dir.resolve("s.sock").toString()).contains("writable by others"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwx---"));
    assertTrue(refusal(dir.resolve("s.sock").toString()).contains("writable by its group"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    IOException plain = assertThrows(IOException.class, () -> ControlTransport.unix(dir.resolve("s.sock").toString()));
    assertFalse(plain instanceof SocketDirectory.Unsafe, plain.getMessage()); // passes the check, nobody listens
  }

  @Test
  void aDirectoryOfAnotherUserIsRefused() throws Exception {
    assumeTrue("0".equals(String.valueOf(Files.getAttribute(java.nio.file.Paths.get("/proc/self"), "unix:uid"))),
        "needs root to give a directory away");
    Path dir = Files.createDirectory(tmp.resolve("theirs"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    Files.setAttribute(dir, "unix:uid", 65534, LinkOption.NOFOLLOW_LINKS);
    assertTrue(refusal(dir.resolve("s.sock").toString()).contains("is owned by"));
  }

  @Test
  void aMissingDirectoryPassesAndAnUnsafeOneNeverStartsADaemon() throws Exception {
    IOException missing = assertThrows(IOException.class,
        () -> ControlTransport.unix(tmp.resolve("nope/s.sock").toString()));
    assertFalse(missing instanceof SocketDirectory.Unsafe, missing.getMessage());

    Path dir = Files.createDirectory(tmp.resolve("open"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    Map<String, String> p = new HashMap<>();
    p.put("wsfleet.transport", "unix");
    p.put("wsfleet.socket", dir.resolve("wsfleetd.sock").toString());
    p.put("wsfleet.daemon", TestDaemon.binary().getAbsolutePath());
    try (ControlClient c = new ControlClient(ClientConfig.from(p::get))) {
      IOException e = assertThrows(SocketDirectory.Unsafe.class, c::hello);
      assertTrue(e.getMessage().contains("writable by others"), e.getMessage());
      assertEquals(0, Files.list(dir).count(), "no daemon was started into it");
    }
  }
}
