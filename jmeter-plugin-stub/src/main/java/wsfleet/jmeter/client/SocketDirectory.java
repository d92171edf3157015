package wsfleet.jmeter.client;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;

/**
 * Checks the directory of the daemon's Unix socket before we connect to it, as the daemon checks it
 * before it listens (PROTOCOL.md §1). A directory another user controls lets that user plant a
 * socket of their own and read every request we send, the {@code Authorization} and {@code Cookie}
 * headers of opens included. So, with lstat semantics (links not followed): the directory must not
 * be a symbolic link, must be owned by the user running JMeter, and must not be writable by group
 * or others. A directory that does not exist yet passes: the connect then fails, and an
 * auto-started daemon creates it 0700.
 */
public final class SocketDirectory {
  private SocketDirectory() {}

  /** The directory failed the check: never retried, and no daemon is started into it. */
  public static final class Unsafe extends ControlException {
    private static final long serialVersionUID = 1L;

    Unsafe(String message) {
      super(message);
    }
  }

  /** @throws Unsafe naming the directory and what is wrong with it */
  public static void check(String socketPath) throws IOException {
    Path dir = Paths.get(socketPath).toAbsolutePath().getParent();
    if (dir == null) {
      return;
    }
    PosixFileAttributes a;
    try {
      a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return;
    } catch (UnsupportedOperationException e) {
      return; // no POSIX permissions on this file system: nothing to compare
    }
    String problem = null;
    if (a.isSymbolicLink()) {
      problem = "is a symbolic link";
    } else if (!a.isDirectory()) {
      problem = "is not a directory";
    } else {
      Object owner = ownerUid(dir);
      Object me = myUid();
      if (owner != null && me != null ? !owner.equals(me)
          : !a.owner().getName().equals(System.getProperty("user.name"))) {
        problem = "is owned by " + a.owner().getName() + ", not by this user (" + System.getProperty("user.name") + ")";
      } else {
        Set<PosixFilePermission> perms = a.permissions();
        if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
          problem = "is writable by " + (perms.contains(PosixFilePermission.OTHERS_WRITE) ? "others" : "its group");
        }
      }
    }
    if (problem != null) {
      throw new Unsafe("refusing to connect to " + socketPath + ": its directory " + dir + " " + problem
          + "; another user could put their own socket there and read what JMeter sends (headers of"
          + " opens included). Use a directory you own that only you can write to (wsfleetd makes"
          + " its default one 0700), via wsfleet.socket");
    }
  }

  private static Object ownerUid(Path p) {
    try {
      return Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return null;
    }
  }

  private static Object myUid() {
    // /proc/<pid> is owned by the process's effective uid (Linux). Not /proc/self itself: without
    // following links that is the symbolic link, which root owns, so every other user would fail.
    return ownerUid(Paths.get("/proc/self/."));
  }
}
