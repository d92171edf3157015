"""Control-side limits (PROTOCOL.md §9, "Control-side limits"): before a TCP client authenticates it
may hold little (a few KiB, 5 s, 16 such clients); control clients, their unread output and their
waits are bounded; a `list` larger than a page is paged. Each limit is named in the error and
counted in `stats.control_limits`; beside each attacker a legitimate client and a WebSocket keep
working, and the daemon's memory is measured."""

import signal
import socket
import time

import msgpack
import pytest

from test_fault_control import read_messages
from test_fault_server import Bystander, fd_count
from wsf_fixtures import Client, Daemon, RawServer, closed_port, daemon_is_sanitized, wait_until


def limits_hit(ctl):
    return ctl.call("stats")["control_limits"]


@pytest.fixture
def tcp_daemon(tmp_path):
    port = closed_port()
    token_file = tmp_path / "token"
    with Daemon("--control-tcp", "127.0.0.1:%d" % port, "--token-file", str(token_file)) as d:
        assert wait_until(lambda: token_file.exists() and len(token_file.read_text()) == 64, 5)
        d.tcp_port, d.token = port, token_file.read_text()
        yield d
        assert d.alive(), d.log()[-4000:]
        assert d.stop(signal.SIGTERM, timeout=15) == 0, d.log()[-4000:]


def test_unauthenticated_tcp_clients_are_bounded_in_bytes_count_and_time(tcp_daemon, echo):
    """Before: 30 such clients each sending part of a 16 MiB request held +480 MB for as long as
    they liked, and their descriptors with it. Now each is refused at the request header (over
    4 KiB before the token), at most 16 wait at once (the oldest goes), and none stays past 5 s."""
    d = tcp_daemon
    ctl = d.client()
    by = Bystander(ctl, echo)
    fds0, rss0 = fd_count(d.pid), d.rss_kb()
    header = b"\x94\x00\x01\xa5hello\x91\x81\xa5token\xdb" + (16 << 20).to_bytes(4, "big")
    attackers = []
    for i in range(30):
        s = socket.create_connection(("127.0.0.1", d.tcp_port), timeout=5)
        if i == 0:
            s.sendall(header)  # a 16 MiB token
            try:
                s.sendall(b"x" * (1 << 20))
            except (BrokenPipeError, ConnectionResetError):
                pass
            # Its refusal before the others come: a daemon slowed down (ASan, a busy machine) could
            # otherwise see 16 idle ones behind it first and close it as the oldest waiting.
            msgs, closed = read_messages(s, 3)
            assert closed and msgs[0][2]["limit"] == "preauth_request_bytes", msgs
        else:
            s.sendall(b"\x94\x00\x01\xa5hello")  # and nothing more
        attackers.append(s)

    # The one with the token still gets in, and works, while they hold on.
    t0 = time.monotonic()
    legit = Client(tcp="127.0.0.1:%d" % d.tcp_port, token=d.token, timeout=5)
    legit.call("open", conn="legit", url=echo.url)
    assert legit.call("request", conn="legit", data="hi")["data"] == "hi"
    by.check()
    assert d.rss_kb() - rss0 < 8 * 1024, (rss0, d.rss_kb())
    assert fd_count(d.pid) - fds0 <= 16 + 3  # 16 waiting, the legit client, its WebSocket (+1 slack)
    hits = limits_hit(ctl)
    assert hits["preauth_request_bytes"] == 1
    # 29 idle + the legit client's connection went past 16 waiting: the oldest made room each time.
    assert hits["max_unauthenticated"] == 29 + 1 - 16, hits

    # The oldest idle ones were told why; the rest are closed at the deadline (5 s), also told why.
    msgs, closed = read_messages(attackers[1], 1)
    assert closed and msgs[0][2]["limit"] == "max_unauthenticated", msgs
    msgs, closed = read_messages(attackers[-1], 5 - (time.monotonic() - t0) + 3)
    assert closed and msgs[0][2]["code"] == "limit_exceeded" and msgs[0][2]["limit"] == "auth_timeout_ms", msgs
    assert wait_until(lambda: limits_hit(ctl)["auth_timeout_ms"] == 16 - 1, 3), limits_hit(ctl)
    for s in attackers:
        s.close()
    assert wait_until(lambda: fd_count(d.pid) <= fds0 + 2, 3), (fd_count(d.pid), fds0)
    # The authenticated client has no deadline.
    assert legit.call("request", conn="legit", data="still")["data"] == "still"
    legit.close()


@pytest.mark.parametrize("daemon_args", [("--max-control-clients", "4")])
def test_control_clients_beyond_the_limit_are_told_and_closed(daemon, ctl, echo):
    by = Bystander(ctl, echo)
    others = [daemon.client() for _ in range(3)]
    for c in others:
        c.call("hello")
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.socket)
    msgs, closed = read_messages(s, 3)
    s.close()
    assert closed and msgs[0][2]["code"] == "limit_exceeded" and msgs[0][2]["limit"] == "max_control_clients", msgs
    assert ctl.call("stats")["control_clients"] == 4 and limits_hit(ctl)["max_control_clients"] == 1
    assert ctl.call("hello")["limits"]["max_control_clients"] == 4
    others[0].close()
    assert wait_until(lambda: ctl.call("stats")["control_clients"] == 3, 3)
    again = daemon.client()
    assert again.call("hello")["server"] == "wsfleetd"
    by.check()


@pytest.mark.parametrize("daemon_args", [("--max-request-bytes", "65536", "--max-control-output-bytes", "1000000")])
def test_a_client_that_pipelines_without_reading_is_closed_at_its_output_limit(daemon, ctl, echo):
    """Before: each client could have 64 MiB unread, and one read batch of pipelined requests was
    packed whole before any of it was written."""
    by = Bystander(ctl, echo)
    rss0 = daemon.rss_kb()
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.socket)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    req = b"".join(msgpack.packb([0, i, "status", [{"conn": by.name}]]) for i in range(20000))
    s.settimeout(10)
    try:
        s.sendall(req)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert wait_until(lambda: limits_hit(ctl)["max_control_output_bytes"] == 1, 5), limits_hit(ctl)
    assert wait_until(lambda: ctl.call("stats")["control_clients"] == 1, 3)
    s.close()
    # ASan's quarantine keeps freed memory resident: there only the bound's order of magnitude holds.
    assert daemon.rss_kb() - rss0 < (64 if daemon_is_sanitized() else 8) * 1024
    assert "max_control_output_bytes" in daemon.log()
    by.check()


def test_waits_on_one_connection_are_bounded(daemon, ctl, echo):
    with RawServer("silent") as silent:
        ctl.call("open", conn="quiet", url=silent.url)
        ids = ctl.send_many([("recv", {"conn": "quiet", "timeout_ms": 30000})] * 65)
        err, res = ctl.wait_response(ids[-1], 5)
        assert err and err["code"] == "limit_exceeded" and err["limit"] == "max_waits_per_conn", err
        # The others still wait; a ping on another connection is not affected.
        ctl.call("open", conn="e", url=echo.url)
        assert ctl.call("request", conn="e", data="x")["data"] == "x"
        assert limits_hit(ctl)["max_waits_per_conn"] == 1
        assert ctl.call("hello")["limits"]["max_waits_per_conn"] == 64
        ctl.call("close", conn="quiet", timeout_ms=500)
        for msgid in ids[:-1]:
            err, _ = ctl.wait_response(msgid, 5)
            assert err["code"] == "conn_closed", err


@pytest.mark.parametrize("daemon_args", [("--max-request-bytes", "65536", "--max-control-output-bytes", "200000")])
def test_list_is_paged_by_bytes_and_by_limit(daemon, ctl):
    """Before: list packed every entry in one reply, and one over the client's output limit (64 MiB)
    dropped the client. A page is at most a quarter of max_control_output_bytes (here 50 kB)."""
    port = closed_port()
    names = ["n%03d-%s" % (i, "x" * 240) for i in range(400)]
    ids = ctl.send_many([("open", {"conn": n, "url": "ws://127.0.0.1:%d/" % port}) for n in names])
    for msgid in ids:
        ctl.wait_response(msgid, 10)
    seen, offset, pages = [], 0, 0
    while offset is not None:
        r = ctl.call("list", offset=offset)
        assert r["total"] == 400
        seen += [e["conn"] for e in r["conns"]]
        assert len(msgpack.packb(r["conns"])) < 50000 + 1000
        offset = r["next_offset"]
        pages += 1
    assert sorted(seen) == names and pages >= 2, pages
    r = ctl.call("list", limit=7, offset=395)
    assert len(r["conns"]) == 5 and r["next_offset"] is None
    r = ctl.call("list", limit=7)
    assert len(r["conns"]) == 7 and r["next_offset"] == 7
