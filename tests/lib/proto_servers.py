"""Real chat-protocol servers for the tests of wsfleetd's presets (issue 18): Socket.IO v4, SignalR
JSON, STOMP 1.2 on RabbitMQ. Each is a context manager that starts the server on private loopback
ports, waits (bounded) until it is ready, and always stops it by its PID on exit.

    from proto_servers import SocketIOServer, PySocketIOServer, SignalRServer, RabbitMQ

SocketIOServer(ping_interval=25000, ping_timeout=20000, namespace="/chat", quiet=False)
    The `socket.io` npm package (tests/node/socketio_server.js: echo with ack, broadcast, counters).
    url: ws://127.0.0.1:PORT/socket.io/ (the daemon's preset adds EIO=4&transport=websocket);
    http_url: http://127.0.0.1:PORT (for socket.io-client). Methods as the other node peers
    (records, wait_for) plus command(line), stats() -> the counters now, disconnect(nsp="/")
    (disconnectSockets(true): every socket of the namespace and its connection closed),
    emit(nsp, event, args).
PySocketIOServer(ping_interval=25000, ping_timeout=20000)
    python-socketio 5.7 (Debian) on aiohttp (tests/lib/servers/socketio_py.py): a second implementation;
    PySocketIOServer.available() says whether python3-socketio and python3-aiohttp are installed.
SignalRServer(keep_alive_ms=15000, client_timeout_ms=30000, path="/hub", quiet=False, handshake_error=None)
    A JSON hub protocol server on node `ws` (tests/node/signalr_server.js; why not a real ASP.NET
    Core: no .NET here; its fidelity is checked with Microsoft's `@microsoft/signalr`).
    http_url: http://127.0.0.1:PORT/hub; url: ws://127.0.0.1:PORT/hub (skipNegotiation shape);
    negotiate() -> (ws url with ?id=<connectionToken>, the negotiate answer). stats(), close(error=None)
    (a type-7 close message to every connection), kick() (every TCP connection destroyed),
    send(target, args), sendmany(count, target, args) (several records in one WebSocket message).
RabbitMQ(heartbeat_ms=None)
    Debian's rabbitmq-server with the rabbitmq_web_stomp plugin, as a private node: its own epmd
    port, node/dist/Web-STOMP ports, mnesia/log/config/plugin dirs under a temporary directory, no
    AMQP or STOMP TCP listeners. url: ws://127.0.0.1:PORT/ws. startup_s: seconds from start to the
    Web-STOMP port accepting. ctl(*args) runs rabbitmqctl against it; close_all_connections(reason)
    (Web-STOMP sessions too); channels() -> one dict per STOMP session; stop(). RabbitMQ.available() says whether it is installed.

By hand: `python3 tests/lib/proto_servers.py socketio|signalr|rabbitmq` runs one and prints its URL.
daemon_has_presets(client) says whether the daemon has the protocol layer (tests skip without it).
Ports for the servers come from wsf_fixtures.free_port() (below the ephemeral range).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from wsf_fixtures import NODE_DIR, PYTHON, SERVERS_DIR, RpcError, _Peer, closed_port, ensure_node_modules, free_port, \
    wait_until


def daemon_has_presets(client):
    """Whether the daemon behind client has issue 18's protocol layer (framing, session, auto_reply,
    presets): its `status` always carries `framing` then, even for a connection that never opened."""
    name = "wsf-probe-presets"
    try:
        client.call("open", conn=name, url="ws://127.0.0.1:%d/" % closed_port(), connect_timeout_ms=2000)
    except RpcError:
        pass
    has = "framing" in client.call("status", conn=name)
    client.call("reset")
    return has


class _ProtoPeer(_Peer):
    """A server peer that takes commands on stdin and prints {"ev":"stats"} on `stats`."""

    def command(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def stats(self, timeout=5):
        before = len(self.records("stats"))
        self.command("stats")
        recs = self.wait_for("stats", timeout, count=before + 1)
        if len(recs) <= before:
            raise AssertionError("%s printed no stats:\n%s" % (self.cmd, self.stderr()))
        return recs[-1]

    def _done(self, line, timeout=5):
        """Sends a command and waits for its {"ev":"done","cmd":<first word>} record."""
        cmd = line.split()[0]
        before = len(self.records("done", cmd=cmd))
        self.command(line)
        if len(self.wait_for("done", timeout, count=before + 1, cmd=cmd)) <= before:
            raise AssertionError("%s did not do %r:\n%s" % (self.cmd, line, self.stderr()))


class _NodeProtoServer(_ProtoPeer):
    script = None

    def __init__(self, args):
        node = shutil.which("node") or "/usr/bin/node"
        super().__init__([node, os.path.join(NODE_DIR, self.script)] + args, cwd=NODE_DIR)

    def __enter__(self):
        ensure_node_modules()
        return super().__enter__()


class SocketIOServer(_NodeProtoServer):
    script = "socketio_server.js"

    def __init__(self, ping_interval=25000, ping_timeout=20000, namespace="/chat", quiet=False):
        args = ["--ping-interval", str(ping_interval), "--ping-timeout", str(ping_timeout), "--namespace", namespace]
        super().__init__(args + (["--quiet"] if quiet else []))
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout

    def __enter__(self):
        super().__enter__()
        self.http_url = "http://127.0.0.1:%d" % self.port
        self.url = "ws://127.0.0.1:%d/socket.io/" % self.port
        return self

    def disconnect(self, nsp="/"):
        self._done("disconnect " + nsp)

    def emit(self, nsp, event, args):
        self._done("emit %s %s %s" % (nsp, event, json.dumps(args)))


class PySocketIOServer(_ProtoPeer):
    """python-socketio (tests/lib/servers/socketio_py.py): a second Socket.IO v4 implementation."""

    def __init__(self, ping_interval=25000, ping_timeout=20000):
        super().__init__([PYTHON, os.path.join(SERVERS_DIR, "socketio_py.py"), "--ping-interval", str(ping_interval),
                          "--ping-timeout", str(ping_timeout)])

    @staticmethod
    def available():
        try:
            import aiohttp  # noqa: F401
            import socketio  # noqa: F401
        except ImportError:
            return False
        return True

    def __enter__(self):
        super().__enter__()
        self.url = "ws://127.0.0.1:%d/socket.io/" % self.port
        return self


class SignalRServer(_NodeProtoServer):
    script = "signalr_server.js"

    def __init__(self, keep_alive_ms=15000, client_timeout_ms=30000, path="/hub", quiet=False, handshake_timeout_ms=15000,
                 handshake_error=None):
        args = ["--keep-alive-ms", str(keep_alive_ms), "--client-timeout-ms", str(client_timeout_ms),
                "--handshake-timeout-ms", str(handshake_timeout_ms), "--path", path]
        if handshake_error is not None:
            args += ["--handshake-error", handshake_error]
        super().__init__(args + (["--quiet"] if quiet else []))
        self.path = path
        self.keep_alive_ms, self.client_timeout_ms = keep_alive_ms, client_timeout_ms

    def __enter__(self):
        super().__enter__()
        self.http_url = "http://127.0.0.1:%d%s" % (self.port, self.path)
        self.url = "ws://127.0.0.1:%d%s" % (self.port, self.path)
        return self

    def negotiate(self):
        """The HTTP step JMeter's HTTP sampler does: POST …/negotiate?negotiateVersion=1."""
        req = urllib.request.Request(self.http_url + "/negotiate?negotiateVersion=1", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = json.loads(resp.read())
        return "%s?id=%s" % (self.url, body["connectionToken"]), body

    def close(self, error=None):
        self._done("close" + (" " + error if error else ""))

    def kick(self):
        self._done("kick")

    def send(self, target, args):
        """An invocation (type 1) of TARGET with ARGS to every connection."""
        self._done("send %s %s" % (target, json.dumps(args)))

    def sendmany(self, count, target, args):
        """COUNT invocations (arguments ARGS + [i]) in one WebSocket message to every connection."""
        self._done("sendmany %d %s %s" % (count, target, json.dumps(args)))


RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"


class RabbitMQ:
    """A private RabbitMQ node with Web-STOMP; see the module docstring."""

    start_timeout = 60

    @staticmethod
    def available():
        return os.access(os.path.join(RABBITMQ_BIN, "rabbitmq-server"), os.X_OK) and shutil.which("epmd") is not None

    def __init__(self, extra_conf=""):
        self.extra_conf = extra_conf
        self.dir = None
        self.epmd = self.proc = None
        self.pid = None

    def _env(self):
        env = dict(os.environ)
        d = self.dir
        env.update({
            "HOME": d,  # the Erlang cookie lives there
            "ERL_EPMD_PORT": str(self.epmd_port), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.nodename, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.node_port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"), "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(d, "plugins"),
            "RABBITMQ_PID_FILE": os.path.join(d, "rabbitmq.pid"),
        })
        return env

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="wsf-rabbitmq-")
        self.epmd_port, self.node_port, self.dist_port, self.port = (free_port() for _ in range(4))
        self.nodename = "wsft%d@localhost" % self.node_port
        with open(os.path.join(self.dir, "rabbitmq-env.conf"), "w"):
            pass
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_web_stomp].\n")
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            # No AMQP and no plain STOMP listener: only Web-STOMP, on loopback, on a private port.
            f.write("listeners.tcp = none\nstomp.listeners.tcp = none\n"
                    "web_stomp.tcp.port = %d\nweb_stomp.tcp.ip = 127.0.0.1\n"
                    "loopback_users = none\nlog.console = false\nlog.file.level = info\n%s"
                    % (self.port, self.extra_conf))
        self.url = "ws://127.0.0.1:%d/ws" % self.port
        env = self._env()
        started = time.monotonic()
        # epmd in the foreground as our child (rabbitmq-server would start a detached one we could not stop by PID).
        self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.dir)
        self._out = open(os.path.join(self.dir, "server.out"), "wb")
        self.proc = subprocess.Popen([os.path.join(RABBITMQ_BIN, "rabbitmq-server")], env=env, cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT)

        def accepting():
            if self.proc.poll() is not None:
                raise RuntimeError("rabbitmq-server exited with %s:\n%s" % (self.proc.returncode, self.log()[-3000:]))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        if not wait_until(accepting, self.start_timeout, interval=0.1):
            self.__exit__()
            raise RuntimeError("RabbitMQ did not open Web-STOMP within %d s:\n%s" % (self.start_timeout, self.log()[-3000:]))
        self.startup_s = time.monotonic() - started
        with open(os.path.join(self.dir, "rabbitmq.pid")) as f:
            self.pid = int(f.read().strip())  # the beam.smp process (rabbitmq-server is its shell parent)
        return self

    def log(self):
        """The node's stdout and its log file (log/<node>.log). Note: RabbitMQ 3.10 logs nothing when it
        ends a Web-STOMP session for missed heart-beats; the client sees close 1000 "STOMP died"."""
        out = []
        for path in (os.path.join(self.dir, "server.out"), os.path.join(self.dir, "log", self.nodename + ".log")):
            try:
                with open(path, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)

    def ctl(self, *args, timeout=30):
        r = subprocess.run([os.path.join(RABBITMQ_BIN, "rabbitmqctl"), "-q"] + [str(a) for a in args], env=self._env(),
                           cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("rabbitmqctl %s: %s%s" % (" ".join(map(str, args)), r.stdout.decode(), r.stderr.decode()))
        return r.stdout.decode()

    def channels(self):
        """The broker's AMQP channels: one per Web-STOMP session (rabbitmqctl list_connections does not
        list Web-STOMP sessions in 3.10, nor is list_stomp_connections there without rabbitmq_stomp enabled)."""
        out = self.ctl("list_channels", "pid", "user", "--formatter", "json")
        return json.loads(out) if out.strip() else []

    def close_all_connections(self, reason="wsfleet test kick"):
        self.ctl("close_all_connections", reason)

    def stop(self, timeout=30):
        """SIGTERM to the node (a clean shutdown), then to epmd; SIGKILL when either outlives timeout."""
        for pid in ([self.pid] if self.pid else []):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in (self.proc, self.epmd):
            if p is None:
                continue
            if p is self.epmd:
                p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self.pid:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.path.exists("/proc/%d" % self.pid):
                time.sleep(0.05)
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = self.epmd = None

    def __exit__(self, *exc):
        if self.proc is not None or self.epmd is not None:
            self.stop()
        if getattr(self, "_out", None):
            self._out.close()
        if self.dir and not os.environ.get("WSF_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    """Runs one server by hand (e.g. for a JMeter example plan): prints its URL, stops on Enter or Ctrl-C.
        python3 tests/lib/proto_servers.py socketio|signalr|rabbitmq"""
    kinds = {"socketio": SocketIOServer, "signalr": SignalRServer, "rabbitmq": RabbitMQ}
    if len(argv) != 2 or argv[1] not in kinds:
        print(main.__doc__)
        return 2
    with kinds[argv[1]]() as srv:
        print(srv.url, getattr(srv, "http_url", ""), flush=True)
        try:
            input()
        except (EOFError, KeyboardInterrupt):
            pass
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
