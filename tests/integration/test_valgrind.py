"""The daemon's fault paths under valgrind memcheck, with definite AND indirect leaks as errors:
the ordinary verbs, then every way a connection can end or fail to start (server close, RST in the
middle of a message, 1009, an unanswered upgrade, DNS, refusal, TLS verification), a control client
that leaves with requests outstanding, broken control frames, `reset`, and SIGTERM with connections
connecting, open and closing. test_core_valgrind.py runs the happy mixed workload; this one the
error paths, where frees are easiest to get wrong. Skipped for sanitizer builds."""

import os
import re
import shutil
import signal
import sys
import tempfile
import time

import pytest

from certs import make_certs
from test_fault_server import PARTIAL, ScriptedServer, read_request, response_101, rst_close, upgrade
from wsf_fixtures import Daemon, PyServer, RawServer, RpcError, closed_port, daemon_binary, wait_state

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mockgw"))
from mockgw_runner import MockGw  # noqa: E402

VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--track-fds=no", "--num-callers=30"]


def _instrumented(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


pytestmark = pytest.mark.skipif(not shutil.which("valgrind") or _instrumented(daemon_binary()),
                                reason="needs valgrind and a build without sanitizers")


def _rst_mid_message(sock, srv):
    upgrade(sock)
    sock.sendall(PARTIAL["inside_a_frame"])
    time.sleep(0.5)
    rst_close(sock)


def _mute(sock, srv):
    read_request(sock)
    srv.go.wait(60)


def _deaf(sock, srv):
    _, headers, _ = read_request(sock)
    sock.sendall(response_101(headers))
    srv.go.wait(60)


def _big_fragments(sock, srv):
    upgrade(sock)
    chunk = b"\x02\x7f" + (256 << 10).to_bytes(8, "big") + b"\0" * (256 << 10)  # 256 KiB first fragment
    more = b"\x00\x7f" + (256 << 10).to_bytes(8, "big") + b"\0" * (256 << 10)
    try:
        sock.sendall(chunk)
        for _ in range(10):  # past the 1 MiB limit set below
            sock.sendall(more)
        sock.settimeout(10)
        while sock.recv(65536):
            pass
    except OSError:
        pass


def expect_error(ctl, method, **params):
    with pytest.raises(RpcError) as e:
        ctl.call(method, **params)
    return e.value


def test_fault_paths_and_shutdown_are_clean_under_memcheck():
    tmp = tempfile.mkdtemp(prefix="wsf-vg-certs-")
    try:
        certs = make_certs(tmp)
        with Daemon("--max-message-bytes", "1048576", "--shutdown-timeout-ms", "3000", "--tls-ca-file", certs.ca,
                    wrapper=VALGRIND, start_timeout=60) as d, \
                PyServer("echo") as echo, \
                PyServer("close_after", after=1, close_code=4002, close_reason="server bye") as closer, \
                RawServer("http_status", status=403, body="go away") as forbidden, \
                RawServer("silent") as silent, \
                ScriptedServer(_rst_mid_message) as rst, ScriptedServer(_mute) as mute, \
                ScriptedServer(_deaf) as deaf, ScriptedServer(_big_fragments) as big:
            tls_srv = _tls_echo(certs)
            with tls_srv:
                _scenario(d, certs, echo, closer, forbidden, silent, rst, mute, deaf, big, tls_srv)
                status = d.stop(signal.SIGTERM, timeout=90)
                log = d.log()
            for s in (mute, deaf):
                s.go.set()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = re.findall(r"ERROR SUMMARY: (\d+) errors", log)
    print("\n" + "\n".join(line for line in log.splitlines() if re.search(r"==\d+== +(ERROR SUMMARY|in use at exit|"
                                                                         r"definitely|indirectly)", line)))
    assert status == 0, log[-8000:]
    assert summary == ["0"], log[-8000:]
    for kind in ("definitely", "indirectly"):
        m = re.search(r"%s lost: ([\d,]+) bytes" % kind, log)
        assert m is None or m.group(1) == "0", log[-8000:]


def _tls_echo(certs):
    return MockGw("--tls", certs.server, certs.server_key, "--echo")


def _scenario(d, certs, echo, closer, forbidden, silent, rst, mute, deaf, big, tls_srv):
    ctl = d.client(timeout=60)
    # The ordinary verbs.
    ctl.call("open", conn="e", url=echo.url, keepalive={"mode": "ping", "interval_ms": 200})
    ctl.call("send", conn="e", data="one")
    assert ctl.call("recv", conn="e", timeout_ms=20000)["data"] == "one"
    assert ctl.call("request", conn="e", data=b"\x00\x01", timeout_ms=20000)["data"] == b"\x00\x01"
    ctl.call("ping", conn="e", timeout_ms=20000)
    assert ctl.call("close", conn="e", timeout_ms=20000)["clean"] is True

    # A server close frame.
    ctl.call("open", conn="sc", url=closer.url)
    ctl.call("send", conn="sc", data="close please")
    assert wait_state(ctl, "sc", "closed", 30)["record"]["cause"] == "server_close"

    # RST in the middle of a frame, with a recv waiting.
    ctl.call("open", conn="rst", url=rst.url)
    e = expect_error(ctl, "recv", conn="rst", timeout_ms=30000)
    assert e.code == "conn_closed" and e.details["record"]["cause"] == "reset"

    # Fragments past max_message_bytes: 1009.
    try:
        ctl.call("open", conn="big", url=big.url)
    except RpcError as e:
        assert e.code == "conn_closed"
    assert wait_state(ctl, "big", "closed", 30)["record"]["code"] == 1009

    # Failed opens: HTTP 403, refused, DNS, upgrade timeout, TLS verification.
    assert expect_error(ctl, "open", conn="f403", url=forbidden.url).code == "handshake_failed"
    assert expect_error(ctl, "open", conn="fref", url="ws://127.0.0.1:%d/" % closed_port()).code == "connect_error"
    assert expect_error(ctl, "open", conn="fdns", url="ws://wsfleet-vg.invalid/", connect_timeout_ms=30000
                        ).code == "dns_error"
    e = expect_error(ctl, "open", conn="fto", url=mute.url, connect_timeout_ms=1500)
    assert e.code == "timeout" and e.details["phase"] == "upgrade"
    assert ctl.call("open", conn="tls", url=tls_srv.url, connect_timeout_ms=30000)["tls"]["verified"] is True
    assert ctl.call("request", conn="tls", data="over tls", timeout_ms=20000)["data"] == "over tls"
    e = expect_error(ctl, "open", conn="ftls", url=tls_srv.url, tls={"ca_file": certs.untrusted_ca},
                     connect_timeout_ms=30000)
    assert e.code == "tls_error"

    # A control client that leaves with a recv, a ping and a close outstanding, and an open pending.
    leaving = d.client(timeout=60)
    leaving.call("open", conn="s1", url=silent.url)
    leaving.call("open", conn="s2", url=silent.url)
    leaving.call("open", conn="e2", url=echo.url)
    leaving.send("recv", {"conn": "e2", "timeout_ms": 500})
    leaving.send("ping", {"conn": "s1", "timeout_ms": 500})
    leaving.send("close", {"conn": "s2", "timeout_ms": 500})
    leaving.send("open", {"conn": "fto2", "url": mute.url, "connect_timeout_ms": 1000})
    time.sleep(0.3)
    leaving.close()
    time.sleep(1.5)  # their timers fire with the client gone
    assert ctl.call("request", conn="e2", data="still", timeout_ms=20000)["data"] == "still"

    # Broken control frames: garbage, a request cut short by EOF, an oversized declared length.
    for junk in (b"\xc1\xc1", b"\x94\x00\x01\xa5sta", b"\x94\x00\x01\xa4send\x91\x81\xa4data\xdb\xff\xff\xff\xff"):
        c = d.client(timeout=60)
        c.send_raw(junk)
        c.close()

    # reset with live connections, then new ones left for the shutdown: open, closing, connecting.
    ctl.call("reset")
    ctl.call("open", conn="left-open", url=echo.url, keepalive={"mode": "text", "payload": "hb", "interval_ms": 300})
    ctl.call("open", conn="left-tls", url=tls_srv.url, connect_timeout_ms=30000)
    ctl.call("open", conn="left-closing", url=deaf.url)
    ctl.send("close", {"conn": "left-closing", "timeout_ms": 30000})
    ctl.send("open", {"conn": "left-connecting", "url": mute.url, "connect_timeout_ms": 30000})
    ctl.send("recv", {"conn": "left-open", "contains": "never", "timeout_ms": 30000})
    d.client(timeout=60).send_raw(b"\x94\x00\x63\xa5stats\x91\x81\xa1")  # truncated: pending at exit
    assert wait_state(ctl, "left-closing", "closing", 30)
