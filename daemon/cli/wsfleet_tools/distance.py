"""A gateway at a far region's distance, on one machine: two network namespaces joined by the
emulated link of netdelay.py (a TUN device in each, packets delayed, jittered and lost in user
space, because this kernel has no tc netem; netdelay.py says why and how).

    with FarLink(rtt_ms=180, jitter_ms=10, loss=0.01) as link:
        gw = link.popen_in_gateway([mockgw, "--host", link.gateway_addr, "--port", "0"], ...)
        daemon = subprocess.Popen(link.client_ns + [wsfleetd, ...])   # or Daemon(wrapper=link.client_ns)
        ... ws://10.77.0.2:PORT/ from the daemon crosses the link ...
    link.counters   # netdelay's JSON: packets, lost, queue_full, lateness, per direction

Nothing on the host's own network changes: both ends live in namespaces made here (held by a
`sleep` each), so the addresses (10.77.0.1 <-> 10.77.0.2, fd77::1 <-> fd77::2) are private to
this link and several links can run at once. Every process started here is ended by its PID on
exit, failure included, and is also told by the kernel to die with its parent
(PR_SET_PDEATHSIG), so a killed test leaves no namespace holder behind. The TUN devices die with
the forwarder's fds. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), unshare, nsenter, ip and
/dev/net/tun: unavailable() words what is missing.
"""

import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import netdelay

PR_SET_PDEATHSIG = 1
_libc = None


def _die_with_parent():
    """preexec_fn: SIGKILL this child when the process that started it dies."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def unavailable():
    """None when a FarLink can be made here, else the reason in words."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and TUN devices; CAP_NET_ADMIN and CAP_SYS_ADMIN)"
    for tool in ("unshare", "nsenter", "ip"):
        if not shutil.which(tool):
            return "needs %s (util-linux / iproute2) on PATH" % tool
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun (kernel CONFIG_TUN; modprobe tun)"
    try:
        fd, _ = netdelay.open_tun("wsfprobe%d")
        os.close(fd)
    except OSError as e:
        return "cannot create a TUN device: %s" % e
    r = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return "cannot make a network namespace (unshare -n): %s" % r.stderr.strip()
    return None


def _read_line(proc, deadline, buf):
    """The next line of proc's stdout (bytes, without the newline), or None at EOF or deadline.
    `buf` keeps what was read past the line."""
    fd = proc.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buf.extend(chunk)
    i = buf.index(b"\n")
    line = bytes(buf[:i])
    del buf[:i + 1]
    return line


class FarLink:
    """The two namespaces and the link between them (a context manager; see the module docstring).
    rtt_ms is added to every round trip, physical time: no time scale applies to it."""

    def __init__(self, rtt_ms, jitter_ms=0.0, loss=0.0, rate_bps=0.0, seed=1, reorder=False, start_timeout=20):
        self.settings = {"rtt_ms": rtt_ms, "jitter_ms": jitter_ms, "loss": loss, "rate_bps": rate_bps,
                         "seed": seed, "reorder": reorder}
        self.start_timeout = start_timeout
        self.procs = []          # every process started here, ended by PID in close()
        self.counters = None     # netdelay's counters, after close()
        self.forwarder = None
        self._dir = None

    # -- the namespaces ------------------------------------------------------------------------

    def _holder(self):
        """A process whose network namespace is new (lo up); it only sleeps."""
        p = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && echo ready && exec sleep 2147483647"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=_die_with_parent)
        self.procs.append(p)
        line = _read_line(p, time.monotonic() + self.start_timeout, bytearray())
        if line != b"ready":
            raise RuntimeError("could not make a network namespace: %s" % p.stderr.read1(4096).decode(errors="replace"))
        return p

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        why = unavailable()
        if why:
            raise RuntimeError("cannot emulate a far gateway: " + why)
        self.client_holder = self._holder()
        self.gateway_holder = self._holder()
        self.client_ns = ["nsenter", "-t", str(self.client_holder.pid), "-n"]
        self.gateway_ns = ["nsenter", "-t", str(self.gateway_holder.pid), "-n"]
        self._dir = tempfile.mkdtemp(prefix="wsfleet-farlink-")
        self._err_path = os.path.join(self._dir, "netdelay.err")
        s = self.settings
        cmd = [sys.executable, os.path.abspath(netdelay.__file__),
               "--client-ns", str(self.client_holder.pid), "--gateway-ns", str(self.gateway_holder.pid),
               "--rtt", "%rms" % float(s["rtt_ms"]), "--jitter", "%rms" % float(s["jitter_ms"]),
               "--loss", repr(float(s["loss"])), "--rate", repr(float(s["rate_bps"])), "--seed", str(s["seed"])]
        if s["reorder"]:
            cmd.append("--reorder")
        with open(self._err_path, "wb") as err:
            self.forwarder = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                              preexec_fn=_die_with_parent)
        self._out = bytearray()
        line = _read_line(self.forwarder, time.monotonic() + self.start_timeout, self._out)
        if not line:
            raise RuntimeError("the link emulator did not start: %s" % self._stderr())
        self.info = json.loads(line)
        self.client_addr, self.gateway_addr = self.info["client_addr"], self.info["gateway_addr"]
        self.client_addr6, self.gateway_addr6 = self.info["client_addr6"], self.info["gateway_addr6"]
        return self

    def _stderr(self):
        try:
            with open(self._err_path, "rb") as f:
                return f.read().decode("utf-8", "replace").strip()[-2000:]
        except OSError:
            return ""

    # -- processes at either end -----------------------------------------------------------------

    def popen_in_gateway(self, cmd, **kw):
        """Starts `cmd` in the gateway's namespace (nsenter execs it: the PID is cmd's own);
        ended by close() if still running."""
        return self._popen(self.gateway_ns + list(cmd), kw)

    def popen_in_client(self, cmd, **kw):
        """Starts `cmd` (e.g. wsfleetd) in the client's namespace; ended by close() if still running."""
        return self._popen(self.client_ns + list(cmd), kw)

    def _popen(self, cmd, kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("preexec_fn", _die_with_parent)
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    # -- the end ---------------------------------------------------------------------------------

    def stop_forwarder(self):
        """Stops the link and returns its counters (netdelay's JSON); the namespaces stay."""
        f = self.forwarder
        if f is None:
            return self.counters
        self.forwarder = None
        if f.poll() is None:
            f.send_signal(signal.SIGTERM)
        line, last = True, None
        deadline = time.monotonic() + 10
        while line:
            line = _read_line(f, deadline, self._out)
            if line and line.startswith(b"{"):
                last = line
        try:
            f.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            f.kill()
            f.wait(5)
        f.stdout.close()
        if last:
            self.counters = json.loads(last)
        elif f.returncode:
            raise RuntimeError("the link emulator failed (exit %s): %s" % (f.returncode, self._stderr()))
        return self.counters

    def close(self):
        """Ends every process started here by its PID (SIGTERM, then SIGKILL after 5 s), the
        link first so its counters are kept; removes the scratch directory."""
        try:
            self.stop_forwarder()
        except (RuntimeError, OSError, ValueError):
            pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            for f in (p.stdout, p.stderr):
                if f is not None and not f.closed:
                    f.close()
        self.procs = []
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
