"""Shared test fixtures for wsfleet: the daemon under test and real peers to point it at.

Every helper is a context manager that starts a process, waits until it is ready, and always kills
it on exit (even when the test fails). Import with tests/lib and daemon/cli on sys.path (meson's
test_env does this; tests/integration/conftest.py does it for a plain `pytest` run).

    from wsf_fixtures import Daemon, PyServer, NodeServer, RawServer

    with Daemon("--inbox-max-messages", "5") as d, PyServer("echo") as srv:
        c = d.client()                         # wsfleet_tools.client.Client on d.socket
        c.call("open", conn="a", url=srv.url)
        ...
        d.events()                             # parsed lines of the --events file
        d.rss_kb()                             # VmRSS of the daemon
        d.stop()                               # SIGTERM, bounded wait, returns the exit status

Daemon(*extra_args, env=None, binary=None, wrapper=None, start_timeout=10)
    Runs $WSFLEETD (set by meson), else $WSF_BUILD_DIR/daemon/wsfleetd, else build/daemon/wsfleetd
    in the source tree, with a fresh private directory holding `--socket` and `--events`.
    `wrapper` is a command prefix, e.g. ["valgrind", "--error-exitcode=99"]. Attributes: proc, pid,
    socket, events_path, dir. Methods: client(**kw), events(kind=None), wait_event(pred, timeout),
    rss_kb(), log() (its stdout+stderr so far), stop(sig=SIGTERM, timeout=10) -> exit status,
    alive().

PyServer(mode="echo", *args, **opts)   python3-websockets peer (tests/lib/servers/py_peer.py)
NodeServer(mode="echo", *args, **opts) node `ws` peer (tests/node/echo_server.js; runs `npm ci`
                                       into tests/node when node_modules is missing)
RawServer(mode, *args, **opts)         hand-written misbehaving peer (tests/lib/servers/raw_peer.py):
    silent, fin, rst, invalid_utf8, oversized, fragmented, bad_opcode, close_no_code,
    bad_accept, http_status, bad_subprotocol (see that file's docstring for each).
    Keyword options become command-line flags: close_code=4001 -> --close-code 4001; a list value
    repeats the flag. Each peer listens on a free 127.0.0.1 port and prints `READY <port>`.
    Attributes: url (ws://127.0.0.1:PORT/), port, proc. Methods: records(ev=None, **match) (the
    JSON lines it printed so far), wait_for(pred_or_ev, timeout=5, count=1, **match) -> records,
    frames(op=None, **match) (shortcut for ev="frame"), conn_id(path) (the peer's id of the connection
    that asked for that path: open url=peer.url + "name", then match records with id=...). Record timestamps `t` are CLOCK_MONOTONIC seconds,
    comparable with time.monotonic() in the test.

wait_until(pred, timeout, interval=0.02) polls a predicate with a deadline and returns its last
value (truthy on success). wait_state(client, conn, state="closed", timeout=5) polls `status` until
the connection reaches `state` and returns that status (AssertionError on timeout).
closed_port() returns a loopback port nothing listens on (for connect_error).

Chat-protocol servers (Socket.IO, SignalR, RabbitMQ's Web-STOMP) are in proto_servers.py; the mock
gateway in tests/mockgw/mockgw_runner.py.
"""

import json
import os
import shutil
import signal
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
SERVERS_DIR = os.path.join(HERE, "servers")
NODE_DIR = os.path.join(SOURCE_DIR, "tests", "node")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

_cli_dir = os.path.join(SOURCE_DIR, "daemon", "cli")
if _cli_dir not in sys.path:
    sys.path.insert(0, _cli_dir)

from wsfleet_tools.client import Client, RpcError  # noqa: E402,F401


def wait_until(pred, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_state(client, conn, state="closed", timeout=5):
    last = {}

    def reached():
        last["s"] = client.call("status", conn=conn)
        return last["s"]["state"] == state

    if not wait_until(reached, timeout, 0.02):
        raise AssertionError("%s did not reach %s within %ss: %r" % (conn, state, timeout, last.get("s")))
    return last["s"]


def free_port(low=20000, high=32767, tries=200):
    """A TCP port nobody holds on any address, picked below the ephemeral range (32768-60999 on
    Linux): an outgoing connection or a port-0 listener of a test running beside this one cannot take
    it between this call and its use (CI under load saw both). Nothing listens on it, so a connect to
    it is refused until someone binds it."""
    for _ in range(tries):
        port = random.randint(low, high)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("0.0.0.0", port))  # fails when any address holds the port, 127.0.0.1 included
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free TCP port in %d-%d after %d tries" % (low, high, tries))


closed_port = free_port  # read as "a port where connects are refused"


def daemon_binary():
    if os.environ.get("WSFLEETD"):
        return os.environ["WSFLEETD"]
    build = os.environ.get("WSF_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
    return os.path.join(build, "daemon", "wsfleetd")


def daemon_is_sanitized():
    """True when the daemon under test is an ASan build (valgrind cannot run those)."""
    with open(daemon_binary(), "rb") as f:
        return b"__asan_init" in f.read()


def _kill(proc, sig=signal.SIGKILL, timeout=5):
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Daemon:
    def __init__(self, *extra_args, env=None, binary=None, wrapper=None, start_timeout=10):
        self.extra_args = [str(a) for a in extra_args]
        self.env = env
        self.binary = binary or daemon_binary()
        self.wrapper = list(wrapper or [])
        self.start_timeout = start_timeout
        self.proc = None
        self.stopped = False  # stop() was called: the test meant the daemon to exit
        self._clients = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("wsfleetd not found at %s (build it: ninja -C build)" % self.binary)
        # mkdtemp is 0700 and ours, as the daemon requires for its socket directory.
        self.dir = tempfile.mkdtemp(prefix="wsf-")
        self.socket = os.path.join(self.dir, "wsfleetd.sock")
        self.events_path = os.path.join(self.dir, "events.jsonl")
        self.log_path = os.path.join(self.dir, "daemon.log")
        env = dict(os.environ)
        env.update(self.env or {})
        self._log = open(self.log_path, "wb")
        cmd = self.wrapper + [self.binary, "--socket", self.socket, "--events", self.events_path] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env)
        self.pid = self.proc.pid
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("wsfleetd exited with %s at start:\n%s" % (self.proc.returncode, self.log()))
            try:
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                probe.settimeout(1)
                probe.connect(self.socket)
                probe.close()
                return self
            except OSError:
                probe.close()
            if time.monotonic() >= deadline:
                self.close()
                raise RuntimeError("wsfleetd did not listen on %s within %ss:\n%s"
                                   % (self.socket, self.start_timeout, self.log()))
            time.sleep(0.02)

    def client(self, **kw):
        c = Client(self.socket, **kw)
        self._clients.append(c)
        return c

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def events(self, kind=None):
        """The event log's complete lines, parsed (a line being written is left out)."""
        out = []
        try:
            with open(self.events_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return out
        lines = data.split(b"\n")
        if not data.endswith(b"\n"):
            lines = lines[:-1]  # still being written
        for line in lines:
            if line.strip():
                ev = json.loads(line)
                if kind is None or ev.get("event") == kind:
                    out.append(ev)
        return out

    def wait_event(self, pred, timeout=5):
        """Waits for an event line for which pred(ev) holds; returns it or None."""
        found = wait_until(lambda: [e for e in self.events() if pred(e)], timeout)
        return found[0] if found else None

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig and waits up to timeout s; kills it if it is still there. Returns the exit status
        (negative: the signal that ended it)."""
        self.stopped = True
        for c in self._clients:
            c.close()
        self._clients = []
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise RuntimeError("wsfleetd did not exit within %ss of signal %d" % (timeout, sig))
        return self.proc.returncode

    def close(self):
        for c in self._clients:
            c.close()
        self._clients = []
        if self.proc is not None:
            _kill(self.proc)
        if getattr(self, "_log", None):
            self._log.close()
        if getattr(self, "dir", None) and not os.environ.get("WSF_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)


class _Peer:
    """A server process that prints `READY <port>` and then JSON lines."""

    ready_timeout = 15

    def __init__(self, cmd, cwd=None):
        self.cmd = cmd
        self.cwd = cwd
        self.proc = None
        self._records = []
        self._lock = threading.Lock()
        self._stderr = []

    @staticmethod
    def flags(args, opts):
        out = [str(a) for a in args]
        for k, v in opts.items():
            flag = "--" + k.replace("_", "-")
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                if item is True:
                    out.append(flag)
                elif item is not False and item is not None:
                    out += [flag, str(item)]
        return out

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        ready = []
        got = threading.Event()

        def read_stdout():
            for line in self.proc.stdout:
                line = line.decode("utf-8", "replace").strip()
                if not got.is_set():
                    if line.startswith("READY "):
                        ready.append(int(line.split()[1]))
                        got.set()
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                with self._lock:
                    self._records.append(rec)
            got.set()

        def read_stderr():
            for line in self.proc.stderr:
                self._stderr.append(line.decode("utf-8", "replace"))

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not got.wait(self.ready_timeout) or not ready:
            self.__exit__()
            raise RuntimeError("peer %s did not become ready:\n%s" % (self.cmd, "".join(self._stderr)))
        self.port = ready[0]
        self.url = "ws://127.0.0.1:%d/" % self.port
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            try:
                self.proc.stdin.close()  # the peer exits on stdin EOF
            except OSError:
                pass
            try:
                self.proc.wait(1)
            except subprocess.TimeoutExpired:
                _kill(self.proc)

    def stderr(self):
        return "".join(self._stderr)

    def records(self, ev=None, **match):
        with self._lock:
            recs = list(self._records)
        return [r for r in recs if (ev is None or r.get("ev") == ev)
                and all(r.get(k) == v for k, v in match.items())]

    def frames(self, op=None, **match):
        if op is not None:
            match["op"] = op
        return self.records("frame", **match)

    def conn_id(self, path, timeout=5):
        """The peer's id for the connection that requested `path` (open with url=peer.url + "x")."""
        recs = self.wait_for("connect", timeout, path=path)
        if not recs:
            raise AssertionError("no connection to %s reached the peer; it saw %r" % (path, self.records("connect")))
        return recs[-1]["id"]

    def wait_for(self, ev, timeout=5, count=1, **match):
        """Waits until `count` records match (ev is an event name or a predicate); returns them
        (possibly fewer on timeout)."""
        if callable(ev):
            pred = ev
            wait_until(lambda: len([r for r in self.records(**match) if pred(r)]) >= count, timeout)
            return [r for r in self.records(**match) if pred(r)]
        wait_until(lambda: len(self.records(ev, **match)) >= count, timeout)
        return self.records(ev, **match)


class PyServer(_Peer):
    def __init__(self, mode="echo", *args, **opts):
        super().__init__([PYTHON, os.path.join(SERVERS_DIR, "py_peer.py"), "--mode", mode]
                         + self.flags(args, opts))


class RawServer(_Peer):
    def __init__(self, mode, *args, **opts):
        super().__init__([PYTHON, os.path.join(SERVERS_DIR, "raw_peer.py"), "--mode", mode]
                         + self.flags(args, opts))


_npm_lock = threading.Lock()


def _node_packages_missing():
    try:
        with open(os.path.join(NODE_DIR, "package-lock.json")) as f:
            names = [p for p in json.load(f).get("packages", {}) if p]
    except OSError:
        names = ["node_modules/ws"]
    return [p for p in names if not os.path.exists(os.path.join(NODE_DIR, p, "package.json"))]


def ensure_node_modules():
    """Installs tests/node's pinned packages once (npm ci with the lock file, else npm install) when any
    package the lock file names is missing (as .ci/install-deps --test does)."""
    with _npm_lock:
        if not _node_packages_missing():
            return
        npm = shutil.which("npm") or "/usr/bin/npm"
        verb = "ci" if os.path.exists(os.path.join(NODE_DIR, "package-lock.json")) else "install"
        subprocess.run([npm, verb, "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True,
                       timeout=300, stdin=subprocess.DEVNULL)


class NodeServer(_Peer):
    def __init__(self, mode="echo", *args, **opts):
        node = shutil.which("node") or "/usr/bin/node"
        super().__init__([node, os.path.join(NODE_DIR, "echo_server.js"), "--mode", mode]
                         + self.flags(args, opts), cwd=NODE_DIR)

    def __enter__(self):
        ensure_node_modules()
        return super().__enter__()
