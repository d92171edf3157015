"""Opens through a real HTTP CONNECT proxy: tinyproxy (Debian), started here on 127.0.0.1 with a generated
config, for ws:// and wss:// (TLS to the gateway inside the tunnel, verified against the gateway's name),
with and without Basic authentication, and its refusals (407, 403 from ConnectPort, 500 when the gateway is
unreachable) as `handshake_failed` with phase `proxy`. Also which proxy an open uses: open's `proxy`, then
`--proxy`, then the environment, with NO_PROXY."""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from test_metrics import get, metrics_daemon, parse, value
from test_tls import certs, echo_round_trip, py_server  # noqa: F401 (certs: the module's fixture)
from wsf_fixtures import Daemon, PyServer, RawServer, RpcError, closed_port, free_port

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
pytestmark = pytest.mark.skipif(not os.access(TINYPROXY, os.X_OK),
                                reason="tinyproxy not installed (.ci/install-deps --test installs it)")


class TinyProxy:
    """tinyproxy in the foreground on a free 127.0.0.1 port. connect_ports limits CONNECT to those ports
    (tinyproxy's ConnectPort; others get 403); auth = (user, password) requires Basic authentication."""

    def __init__(self, connect_ports=(), auth=None):
        self.connect_ports = connect_ports
        self.auth = auth

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="wsf-tinyproxy-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "tinyproxy.log")
        lines = ["Port %d" % self.port, "Listen 127.0.0.1", "Timeout 30", "MaxClients 64", "LogLevel Connect",
                 'LogFile "%s"' % self.log_path, "Allow 127.0.0.1"]
        lines += ["ConnectPort %d" % p for p in self.connect_ports]
        if self.auth:
            lines.append("BasicAuth %s %s" % self.auth)
        conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tinyproxy did not start:\n" + self.log())
                time.sleep(0.05)
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def url_with(self, user, password):
        return "http://%s:%s@127.0.0.1:%d" % (user, password, self.port)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def connects(self):
        """The CONNECT targets tinyproxy logged, in order."""
        return [line.split("CONNECT ")[-1].split(" HTTP/")[0] for line in self.log().splitlines()
                if "Request (file descriptor" in line and "CONNECT " in line]

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def open_error(ctl, **params):
    with pytest.raises(RpcError) as e:
        ctl.call("open", **params)
    return e.value


def assert_proxied_timings(t):
    assert t["connect_us"] > 0 and t["proxy_us"] > 0 and t["upgrade_us"] > 0, t
    assert t["total_us"] >= t["connect_us"] + t["proxy_us"] + t["tls_us"] + t["upgrade_us"], t


def test_ws_through_a_proxy_without_authentication():
    d, metrics_port = metrics_daemon()
    with PyServer() as gw, TinyProxy() as proxy, d:
        ctl = d.client()
        res = ctl.call("open", conn="p", url=gw.url, proxy=proxy.url)
        assert res["status"] == 101 and res["tls"] is None
        assert_proxied_timings(res["timings"])
        assert res["timings"]["tls_us"] == 0
        echo_round_trip(ctl, "p", "through the tunnel")
        assert proxy.connects() == ["127.0.0.1:%d" % gw.port]
        # without a proxy the phase takes no time
        direct = ctl.call("open", conn="direct", url=gw.url)
        assert direct["timings"]["proxy_us"] == 0
        assert len(proxy.connects()) == 1
        # the proxy phase histogram holds the one proxied open, as its result reported it
        samples, _ = parse(get(metrics_port)[2].decode())
        assert value(samples, "wsfleet_handshake_phase_seconds_count", phase="proxy") == 1
        assert abs(value(samples, "wsfleet_handshake_phase_seconds_sum", phase="proxy")
                   - res["timings"]["proxy_us"] / 1e6) < 1e-9
        assert value(samples, "wsfleet_handshake_phase_seconds_count", phase="connect") == 2


def test_wss_through_a_proxy_with_basic_authentication(certs):
    with py_server(certs) as gw, TinyProxy(auth=("alice", "s3cret")) as proxy, \
            Daemon("--tls-ca-file", certs.ca) as d:
        ctl = d.client()
        res = ctl.call("open", conn="s", url=gw.url, proxy=proxy.url_with("alice", "s3cret"))
        # TLS to the gateway inside the tunnel, verified against the gateway's name (localhost)
        assert res["tls"]["verified"] is True and res["tls"]["version"] in ("TLSv1.3", "TLSv1.2")
        assert_proxied_timings(res["timings"])
        assert res["timings"]["tls_us"] > 0
        echo_round_trip(ctl, "s", "secure through the tunnel")
        assert proxy.connects() == ["localhost:%d" % gw.port]


def test_tls_inside_the_tunnel_checks_the_gateways_name(certs):
    # The gateway shows a certificate for other.example; the proxy in between changes nothing.
    with py_server(certs, cert="other") as gw, TinyProxy() as proxy, Daemon("--tls-ca-file", certs.ca) as d:
        ctl = d.client()
        err = open_error(ctl, conn="s", url=gw.url, proxy=proxy.url)
        assert err.code == "tls_error" and "hostname mismatch" in err.message.lower(), err
        res = ctl.call("open", conn="s2", url=gw.url, proxy=proxy.url, tls={"server_name": "other.example"})
        assert res["tls"]["verified"] is True


def test_missing_or_wrong_credentials_are_refused_in_the_proxy_phase():
    with PyServer() as gw, TinyProxy(auth=("alice", "s3cret")) as proxy, Daemon() as d:
        ctl = d.client()
        # tinyproxy 1.11.1 asks for credentials with 407 and answers wrong ones with 401 (measured here)
        for i, (url, status) in enumerate([(proxy.url, 407), (proxy.url_with("alice", "wrong"), 401)]):
            err = open_error(ctl, conn="p%d" % i, url=gw.url, proxy=url)
            assert err.code == "handshake_failed", err
            assert err.details["phase"] == "proxy" and err.details["http_status"] == status, err.details
            assert str(status) in err.message and "refused CONNECT 127.0.0.1:%d" % gw.port in err.message
            rec = ctl.call("status", conn="p%d" % i)["record"]
            assert rec["cause"] == "handshake_failed"
        # the gateway never saw a connection
        assert not gw.records("connect")


def test_connect_port_refusal_is_403_and_an_unreachable_gateway_is_the_proxys_500():
    with PyServer() as gw, TinyProxy(connect_ports=(gw.port + 1 if gw.port < 65535 else 1,)) as proxy, \
            Daemon() as d:
        ctl = d.client()
        err = open_error(ctl, conn="p", url=gw.url, proxy=proxy.url)
        assert err.code == "handshake_failed" and err.details["http_status"] == 403, err
        assert err.details["phase"] == "proxy"
    with TinyProxy() as proxy, Daemon() as d:
        ctl = d.client()
        err = open_error(ctl, conn="p", url="ws://127.0.0.1:%d/" % closed_port(), proxy=proxy.url)
        assert err.code == "handshake_failed" and err.details["http_status"] == 500, err
        assert err.details["phase"] == "proxy"
    # the upgrade's own refusals keep phase "upgrade"
    with RawServer("http_status", status=403) as gw, Daemon() as d:
        ctl = d.client()
        err = open_error(ctl, conn="p", url=gw.url)
        assert err.code == "handshake_failed" and err.details["phase"] == "upgrade", err


def test_an_unreachable_proxy_is_a_connect_error_naming_it():
    port = closed_port()
    with PyServer() as gw, Daemon() as d:
        err = open_error(d.client(), conn="p", url=gw.url, proxy="http://127.0.0.1:%d" % port)
        assert err.code == "connect_error" and "127.0.0.1:%d" % port in err.message, err


def test_bad_proxy_urls_are_bad_requests():
    with Daemon() as d:
        ctl = d.client()
        for bad, words in [("socks5://127.0.0.1:1080", "http://"), ("http://127.0.0.1", "port")]:
            err = open_error(ctl, conn="p", url="ws://127.0.0.1:1/", proxy=bad)
            assert err.code == "bad_request" and words in err.message, err
    out = subprocess.run([Daemon().binary, "--proxy", "ftp://x:1"], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "--proxy" in out.stderr


def test_open_proxy_then_daemon_proxy_then_environment_and_no_proxy(certs):
    with PyServer() as gw, TinyProxy() as by_flag, TinyProxy() as by_env:
        env = {"http_proxy": by_env.url, "HTTPS_PROXY": by_env.url, "no_proxy": "", "NO_PROXY": ""}
        with Daemon("--proxy", by_flag.url, env=env) as d:
            ctl = d.client()
            ctl.call("open", conn="flag", url=gw.url)
            assert len(by_flag.connects()) == 1 and not by_env.connects()
            ctl.call("open", conn="own", url=gw.url, proxy=by_env.url)
            assert len(by_env.connects()) == 1
            ctl.call("open", conn="none", url=gw.url, proxy="none")
            assert len(by_flag.connects()) == 1 and len(by_env.connects()) == 1
        with Daemon(env=env) as d:
            d.client().call("open", conn="env", url=gw.url)
            assert len(by_env.connects()) == 2 and len(by_flag.connects()) == 1
        # NO_PROXY exempts the host (curl's suffix rule), from the environment and from --proxy alike
        env["no_proxy"] = "example.invalid,127.0.0.1"
        with Daemon("--proxy", by_flag.url, env=env) as d:
            d.client().call("open", conn="exempt", url=gw.url)
        assert len(by_env.connects()) == 2 and len(by_flag.connects()) == 1
        assert len(gw.records("connect")) == 5


class FakeProxy:
    """A listener on 127.0.0.1 that answers each connection with `answer` (bytes, or None for nothing),
    then closes it after `hold` seconds: proxies that misbehave in ways tinyproxy does not."""

    def __init__(self, answer, hold=0.0):
        self.answer, self.hold = answer, hold

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.requests = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        return self

    def serve(self):
        deadline = time.monotonic() + 30
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                if self.answer is not None:
                    conn.sendall(self.answer)
                self.stop.wait(self.hold)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_a_silent_proxy_times_out_in_the_proxy_phase():
    with FakeProxy(None, hold=3) as proxy, Daemon() as d:
        err = open_error(d.client(), conn="p", url="ws://127.0.0.1:1/", proxy=proxy.url, connect_timeout_ms=300)
        assert err.code == "timeout" and err.details["phase"] == "proxy", err
        assert proxy.requests[0].startswith(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n")


def test_a_proxy_that_closes_or_does_not_speak_http_fails_in_the_proxy_phase():
    with FakeProxy(b"") as proxy, Daemon() as d:
        err = open_error(d.client(), conn="p", url="ws://127.0.0.1:1/", proxy=proxy.url)
        assert err.code == "handshake_failed" and err.details["phase"] == "proxy", err
        assert err.details["http_status"] == 0 and "proxy phase" in err.message
    with FakeProxy(b"SSH-2.0-OpenSSH_9.2\r\n") as proxy, Daemon() as d:
        err = open_error(d.client(), conn="p", url="ws://127.0.0.1:1/", proxy=proxy.url)
        assert err.code == "handshake_failed" and err.details["phase"] == "proxy", err
        assert "not HTTP" in err.message
    # bytes after the 200 before we spoke: neither TLS nor the upgrade lets the gateway speak first
    with FakeProxy(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 101 x\r\n\r\n", hold=1) as proxy, \
            Daemon() as d:
        err = open_error(d.client(), conn="p", url="ws://127.0.0.1:1/", proxy=proxy.url)
        assert err.code == "handshake_failed" and "after its CONNECT answer" in err.message, err
