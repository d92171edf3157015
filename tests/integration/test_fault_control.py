"""Faults on the control side: clients that leave or die with requests outstanding, broken
control frames, a thousand clients at once. Each test pins what the daemon does AND that a healthy
WebSocket beside the fault keeps working (PROTOCOL.md 1: "a control client that disconnects or dies
leaves every WebSocket open"; 2: limits and malformed input)."""

import os
import selectors
import signal
import socket
import subprocess
import time

import msgpack
import pytest

from test_fault_server import Bystander, ScriptedServer, fd_count, read_request, response_101
from wsf_fixtures import PYTHON, SOURCE_DIR, RawServer, RpcError, wait_until


def control_clients(ctl):
    return ctl.call("stats")["control_clients"]


def raw_connect(daemon):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(daemon.socket)
    return s


def read_messages(sock, timeout=3):
    """Everything the daemon sends until it closes the connection or `timeout` passes:
    (messages, closed)."""
    u = msgpack.Unpacker(raw=False)
    out, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return out, False
        except ConnectionResetError:
            return out, True
        if not chunk:
            return out, True
        u.feed(chunk)
        out.extend(u)


# ---- a client leaves with requests outstanding ------------------------------------------------------

def _delayed_101(sock, srv):
    request, headers, rest = read_request(sock)
    time.sleep(0.4)  # the opening client is gone by now
    sock.sendall(response_101(headers))
    sock.settimeout(20)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


OUTSTANDING = {
    # kind: (connection the leaving client had, request it leaves behind)
    "recv_expiring": ("echo", ("recv", {"timeout_ms": 300})),
    "recv_waiting": ("echo", ("recv", {"timeout_ms": 8000})),
    "request_waiting": ("sink", ("request", {"data": "never answered", "timeout_ms": 8000})),
    "ping_expiring": ("silent", ("ping", {"timeout_ms": 300})),
    "close_expiring": ("silent", ("close", {"timeout_ms": 300})),
    "open_completing": ("delayed", ("open", {})),
}


@pytest.mark.parametrize("kind", sorted(OUTSTANDING))
def test_client_leaving_with_a_request_outstanding_leaves_the_connection_usable(daemon, ctl, echo, kind):
    by = Bystander(ctl, echo)
    peer_kind, (method, params) = OUTSTANDING[kind]
    with RawServer("silent") as silent, RawServer("silent") as sink, ScriptedServer(_delayed_101) as delayed:
        url = {"echo": echo.url + "left-" + kind, "silent": silent.url, "sink": sink.url, "delayed": delayed.url}
        leaving = daemon.client()
        if method != "open":
            leaving.call("open", conn="x", url=url[peer_kind])
        params = dict(params, conn="x")
        if method == "open":
            params["url"] = url[peer_kind]
        leaving.send(method, params)
        time.sleep(0.05)  # the daemon has started the request
        leaving.close()
        assert wait_until(lambda: control_clients(ctl) == 1, 3)
        time.sleep(0.6)  # every short timeout of the dead client's request has fired
        assert daemon.alive()
        by.check()

        st = ctl.call("status", conn="x")
        if kind == "close_expiring":
            # The close went on without its client and ended by its own timeout.
            assert st["state"] == "closed" and st["record"]["cause"] == "timeout", st
            return
        assert st["state"] == "open", st
        # Another client takes the connection over by name, and it works.
        r = ctl.call("open", conn="x", url=url[peer_kind])
        assert r["reused"] is True
        if peer_kind == "echo":
            # A message the server sends now goes to the new client, not to the dead one's waiter.
            got = ctl.call("request", conn="x", data="for the new client", timeout_ms=3000)
            assert got["data"] == "for the new client"
        else:
            ctl.call("send", conn="x", data="from the new client")
            peer = {"silent": silent, "sink": sink, "delayed": None}[peer_kind]
            if peer is not None:
                assert peer.wait_for(lambda f: f.get("ev") == "frame" and f.get("data") == "from the new client", 3)
    by.check()


# ---- a client killed with SIGKILL ---------------------------------------------------------------

KILLED_CLIENT = r"""
import sys, time
sys.path[:0] = [sys.argv[1]]
from wsfleet_tools.client import Client
c = Client(sys.argv[2])
for i in range(10):
    c.call("open", conn="k-%d" % i, url=sys.argv[3] + "k-%d" % i)
# Left in flight: recvs that expire after the kill, a burst whose answers cannot be delivered,
# and half of one more request.
for i in range(10):
    c.send("recv", {"conn": "k-%d" % i, "timeout_ms": 300})
c.send_many([("status", {"conn": "k-%d" % (i % 10)}) for i in range(2000)])
half = c._packer.pack([0, 99999, "status", [{"conn": "k-0"}]])
c.send_raw(half[:len(half) // 2])
print("READY", flush=True)
time.sleep(60)
"""


def test_sigkilled_client_leaves_its_connections_for_the_next_client_to_reuse(daemon, ctl, echo):
    by = Bystander(ctl, echo)
    proc = subprocess.Popen([PYTHON, "-c", KILLED_CLIENT, os.path.join(SOURCE_DIR, "daemon", "cli"), daemon.socket,
                             echo.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()
        assert line.strip() == b"READY", (line, proc.stderr.read() if proc.poll() is not None else b"")
        peer_ids = [echo.conn_id("/k-%d" % i) for i in range(10)]
        assert control_clients(ctl) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert wait_until(lambda: control_clients(ctl) == 1, 3)
    time.sleep(0.5)  # the dead client's recvs have expired
    assert daemon.alive()
    by.check()
    for i in range(10):
        name = "k-%d" % i
        assert ctl.call("status", conn=name)["state"] == "open"
        r = ctl.call("open", conn=name, url=echo.url + name)
        assert r["reused"] is True and r["status"] == 101
        assert ctl.call("request", conn=name, data="again %d" % i, timeout_ms=3000)["data"] == "again %d" % i
    assert not [r for r in echo.records("closed") if r["id"] in peer_ids]
    s = ctl.call("stats")
    assert (s["open"], s["opened_total"], s["reused_total"]) == (11, 11, 10)


# ---- broken control frames ---------------------------------------------------------------------

def test_request_cut_short_by_the_client_closing_is_dropped_quietly(daemon, ctl, echo):
    by = Bystander(ctl, echo)
    fds = fd_count(daemon.pid)
    whole = msgpack.packb([0, 1, "open", [{"conn": "never", "url": echo.url + "never"}]])
    for cut in (1, 5, len(whole) // 2, len(whole) - 1):
        s = raw_connect(daemon)
        s.sendall(whole[:cut])
        s.shutdown(socket.SHUT_WR)  # EOF in the middle of a request
        msgs, closed = read_messages(s, 3)
        s.close()
        assert closed and msgs == [], (cut, msgs)
    with pytest.raises(RpcError) as e:
        ctl.call("status", conn="never")
    assert e.value.code == "no_such_conn"
    assert wait_until(lambda: fd_count(daemon.pid) == fds, 3)
    by.check()


def test_pipelined_requests_split_at_every_byte_are_all_answered_in_order(daemon, ctl, echo):
    by = Bystander(ctl, echo)
    reqs = [[0, 100 + i, "status", [{"conn": "bystander"}]] for i in range(20)]
    data = b"".join(msgpack.packb(r) for r in reqs)
    s = raw_connect(daemon)
    for i in range(len(data)):
        s.sendall(data[i:i + 1])
        if i % 50 == 0:
            time.sleep(0.001)  # let some single bytes arrive as reads of their own
    msgs, closed = read_messages(s, 1)
    s.close()
    assert not closed
    assert [m[1] for m in msgs] == [100 + i for i in range(20)]
    assert all(m[0] == 1 and m[2] is None and m[3]["state"] == "open" for m in msgs)
    by.check()


# Headers declaring far more than max_request_bytes, sent without the bytes they announce.
HUGE = {
    "str32_4GiB": b"\xdb\xff\xff\xff\xff",
    "bin32_4GiB": b"\xc6\xff\xff\xff\xff",
    "ext32_4GiB": b"\xc9\xff\xff\xff\xff\x01",
    "array32_4G": b"\xdd\xff\xff\xff\xff",
    "map32_4G": b"\xdf\xff\xff\xff\xff",
}


@pytest.mark.parametrize("header", sorted(HUGE))
def test_declared_size_over_the_limit_is_refused_on_its_header(daemon, ctl, echo, header):
    by = Bystander(ctl, echo)
    rss0 = daemon.rss_kb()
    s = raw_connect(daemon)
    # A request whose data field announces the huge object: only its header is ever sent.
    s.sendall(b"\x94\x00\x07\xa4send\x91\x82\xa4conn\xa9bystander\xa4data" + HUGE[header])
    t0 = time.monotonic()
    msgs, closed = read_messages(s, 3)
    took = time.monotonic() - t0
    s.close()
    assert closed and len(msgs) == 1, msgs
    assert msgs[0][:2] == [1, 0] and msgs[0][2]["code"] == "limit_exceeded" and msgs[0][3] is None, msgs
    assert took < 1.0
    assert daemon.rss_kb() - rss0 < 4096
    assert ctl.call("status", conn="bystander")["msgs_out"] == 1  # nothing was sent for it
    by.check()


def test_nesting_deeper_than_the_parser_allows_is_refused_not_crashed(daemon, ctl, echo):
    by = Bystander(ctl, echo)
    depth = 60_000  # below max_request_objects (65,536): refused for its depth, the stream goes on
    s = raw_connect(daemon)
    s.sendall(b"\x94\x00\x07\xa5stats\x91" + b"\x91" * depth + b"\xc0")
    msgs, closed = read_messages(s, 3)
    s.close()
    assert msgs, "no answer to a deeply nested request"
    assert msgs[0][0] == 1 and msgs[0][2]["code"] == "bad_request" and msgs[0][3] is None, msgs
    assert daemon.alive()
    by.check()


def test_a_request_of_too_many_objects_is_refused_before_msgpack_c_builds_them(daemon, ctl, echo):
    """One 16 MiB request of one-byte nils made msgpack-c allocate a 24-byte object each: peak RSS
    +410 MB (VmHWM 4 MB -> 414 MB measured). Now refused by count as soon as the array header
    announces more than max_request_objects."""
    by = Bystander(ctl, echo)
    hwm0 = vm_hwm_kb(daemon.pid)
    n = 16 * 1024 * 1024 - 64
    s = raw_connect(daemon)
    head = b"\x94\x00\x01\xa5hello\x91\x81\xa1x\xdd" + n.to_bytes(4, "big")
    s.sendall(head)
    try:
        s.sendall(b"\xc0" * n)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused at the header: the daemon closed while the nils were still going out
    msgs, closed = read_messages(s, 5)
    s.close()
    assert closed and msgs[0][2]["code"] == "limit_exceeded" and msgs[0][2]["limit"] == "max_request_objects", msgs
    assert vm_hwm_kb(daemon.pid) - hwm0 < 8 * 1024
    assert ctl.call("stats")["control_limits"]["max_request_objects"] == 1
    assert ctl.call("hello")["limits"]["max_request_objects"] == 65536
    by.check()


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


# ---- a thousand control clients at once ----------------------------------------------------------

@pytest.mark.parametrize("daemon_args", [("--max-control-clients", "1001")])
def test_thousand_control_clients_connecting_at_once_all_get_hello_answered(daemon, ctl, echo):
    by = Bystander(ctl, echo)
    fds = fd_count(daemon.pid)
    n = 1000
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for i in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)  # the backlog is 1024: connects never wait long
            s.connect(daemon.socket)
            socks.append(s)
        hello = {i: msgpack.packb([0, i, "hello", [{"client": "crowd-%d" % i}]]) for i in range(n)}
        for i, s in enumerate(socks):
            s.sendall(hello[i])
        t0 = time.monotonic()
        answers = {}
        unpackers = {}
        for i, s in enumerate(socks):
            s.setblocking(False)
            unpackers[s] = (i, msgpack.Unpacker(raw=False))
            sel.register(s, selectors.EVENT_READ)
        while len(answers) < n and time.monotonic() - t0 < 20:
            for key, _ in sel.select(1):
                i, u = unpackers[key.fileobj]
                chunk = key.fileobj.recv(65536)
                assert chunk, "client %d closed by the daemon" % i
                u.feed(chunk)
                for m in u:
                    answers[i] = m
        took = time.monotonic() - t0
        assert len(answers) == n, "%d of %d hellos answered" % (len(answers), n)
        for i, m in answers.items():
            assert m[0] == 1 and m[1] == i and m[2] is None, m
            assert m[3]["server"] == "wsfleetd" and m[3]["pid"] == daemon.pid
        assert control_clients(ctl) == n + 1
        by.check()  # with a thousand clients connected
        print("\n%d hellos answered in %.3f s" % (n, took))
    finally:
        sel.close()
        for s in socks:
            s.close()
    assert wait_until(lambda: control_clients(ctl) == 1, 5)
    assert wait_until(lambda: fd_count(daemon.pid) == fds, 3), (fd_count(daemon.pid), fds)
    by.check()
