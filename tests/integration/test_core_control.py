"""The control channel under bad input and concurrency (PROTOCOL.md 1, 2)."""

import os
import re
import socket
import stat
import time

import msgpack
import pytest

from wsf_fixtures import Client, Daemon, RpcError, closed_port, wait_until


def raw_reply(c, timeout=3):
    """The next message as the daemon sent it (list), or None if it closed the connection."""
    try:
        return c.read_message(timeout)
    except EOFError:
        return None


def assert_closed_by_daemon(c, timeout=3):
    with pytest.raises(EOFError):
        c.read_message(timeout)


def test_bytes_that_are_not_msgpack_get_bad_request_then_the_connection_closes(daemon, ctl, echo):
    ctl.call("open", conn="survivor", url=echo.url + "survivor")
    bad = daemon.client()
    bad.send_raw(b"\xc1\xc1\xc1 this is not msgpack")
    msg = raw_reply(bad)
    assert msg is not None and msg[0] == 1 and msg[1] == 0 and msg[2]["code"] == "bad_request" and msg[3] is None
    assert_closed_by_daemon(bad)
    # Others are unaffected: the old client and its WebSocket both still work.
    assert ctl.call("request", conn="survivor", data="still here", timeout_ms=3000)["data"] == "still here"


@pytest.mark.parametrize("daemon_args", [("--max-request-bytes", "65536")])
def test_request_over_max_request_bytes_gets_limit_exceeded_then_the_connection_closes(daemon, ctl, echo):
    assert ctl.call("hello")["limits"]["max_request_bytes"] == 65536
    ctl.call("open", conn="survivor", url=echo.url + "survivor2")
    big = daemon.client()
    try:
        big.send("send", {"conn": "survivor", "data": b"x" * 200_000})
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may close before it has read all of it
    msg = raw_reply(big)
    assert msg is not None, "no limit_exceeded response before the close"
    assert msg[:2] == [1, 0] and msg[2]["code"] == "limit_exceeded"
    assert_closed_by_daemon(big)
    # Nothing of it was sent, and everyone else carries on.
    assert ctl.call("status", conn="survivor")["msgs_out"] == 0
    assert ctl.call("request", conn="survivor", data="fine", timeout_ms=3000)["data"] == "fine"
    # A request just under the limit is accepted.
    assert ctl.call("send", conn="survivor", data=b"y" * 60_000)["bytes"] == 60_000


@pytest.mark.parametrize("obj, msgid", [
    ([0, 7, "stats"], 7),                       # wrong array length
    ([0, 8, "stats", [{}], "extra"], 8),
    ([0, 9, 42, []], 9),                        # method not a str
    ([0, 10, "stats", {"not": "an array"}], 10),
    ([0, 11, "stats", ["not a map"]], 11),
    ([0, 12, "stats", [{}, {}]], 12),           # params of two elements
    ([0, 13, "status", [{1: "int key"}]], 13),
    ([0, "x", "stats", []], 0),                 # msgid not an int: answered as 0
    ([0, -1, "stats", []], 0),
    ([0, 2 ** 32, "stats", []], 0),
    ({"a": 1}, 0),                              # not an array
    ("just a string", 0),
    ([], 0),
])
def test_well_formed_but_invalid_requests_get_bad_request_and_the_connection_stays(ctl, obj, msgid):
    ctl.send_raw(msgpack.packb(obj, use_bin_type=True))
    msg = raw_reply(ctl)
    assert msg is not None, "the daemon closed the connection"
    assert msg[0] == 1 and msg[1] == msgid and msg[2]["code"] == "bad_request" and msg[3] is None, msg
    assert ctl.call("stats")["control_clients"] >= 1


@pytest.mark.parametrize("obj", [[1, 5, None, {}], [2, "event", [{}]]])
def test_responses_and_notifications_from_a_client_are_bad_request(ctl, obj):
    ctl.send_raw(msgpack.packb(obj))
    msg = raw_reply(ctl)
    assert msg is not None and msg[0] == 1 and msg[2]["code"] == "bad_request"
    assert "uptime_us" in ctl.call("stats")


def test_missing_and_mistyped_fields_are_bad_request_with_words(ctl, echo):
    ctl.call("open", conn="m", url=echo.url + "mistyped")  # so that only the field is wrong
    cases = [("open", {"conn": "new"}), ("open", {"conn": 5, "url": echo.url}), ("send", {"conn": "m"}),
             ("send", {"conn": "m", "data": 5}), ("send", {"conn": "m", "data": "x", "type": "morse"}),
             ("recv", {"conn": "m", "timeout_ms": "soon"}), ("recv", {"conn": "m", "timeout_ms": -1}),
             ("open", {"conn": "new", "url": echo.url, "reuse": "yes"}),
             ("open", {"conn": "new", "url": echo.url, "headers": ["Origin"]}),
             ("subscribe", {"events": "close"}), ("list", {"limit": "ten"})]
    for method, params in cases:
        with pytest.raises(RpcError) as e:
            ctl.call(method, params)
        assert e.value.code == "bad_request", (method, params)
        assert e.value.message, (method, params)


def test_unknown_fields_are_ignored(ctl, echo):
    r = ctl.call("open", conn="fwd", url=echo.url + "fwd", some_future_field={"x": 1})
    assert r["reused"] is False
    assert "uptime_us" in ctl.call("stats", verbose=True)


def test_two_control_clients_work_at_once_and_are_counted(daemon, ctl, echo):
    other = daemon.client()
    assert ctl.call("stats")["control_clients"] == 2
    ctl.call("open", conn="a", url=echo.url + "two-a")
    other.call("open", conn="b", url=echo.url + "two-b")
    # Interleaved pipelined traffic on both, replies never crossed.
    ids_a = ctl.send_many([("request", {"conn": "a", "data": "a%d" % i, "contains": "a%d" % i,
                                        "timeout_ms": 3000}) for i in range(20)])
    ids_b = other.send_many([("request", {"conn": "b", "data": "b%d" % i, "contains": "b%d" % i,
                                          "timeout_ms": 3000}) for i in range(20)])
    for i, msgid in enumerate(ids_a):
        err, res = ctl.wait_response(msgid, 5)
        assert err is None and res["data"] == "a%d" % i
    for i, msgid in enumerate(ids_b):
        err, res = other.wait_response(msgid, 5)
        assert err is None and res["data"] == "b%d" % i
    other.close()
    assert wait_until(lambda: ctl.call("stats")["control_clients"] == 1, 3)


def test_websockets_outlive_the_control_client_that_opened_them(daemon, echo):
    first = daemon.client()
    first.call("open", conn="kept", url=echo.url + "kept")
    first.send("recv", {"conn": "kept", "timeout_ms": 5000})  # left waiting when the client goes
    first.close()
    time.sleep(0.2)
    second = daemon.client()
    assert second.call("status", conn="kept")["state"] == "open"
    assert second.call("request", conn="kept", data="later", timeout_ms=3000)["data"] == "later"
    assert not echo.records("closed", id=echo.conn_id("/kept"))


def test_garbage_on_many_connections_does_not_hurt_the_daemon(daemon, ctl, echo):
    ctl.call("open", conn="steady", url=echo.url + "steady")
    for i in range(30):
        c = daemon.client(timeout=3)
        c.send_raw(os.urandom(64) if i % 2 else b"\x93\x00" + os.urandom(40))
        c.close()
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.socket)
    s.close()  # connect and leave at once
    assert ctl.call("request", conn="steady", data="ok", timeout_ms=3000)["data"] == "ok"
    assert daemon.alive()


def _tcp_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_tcp_control_needs_hello_with_the_right_token_first(tmp_path):
    port = closed_port()
    token_file = tmp_path / "token"
    with Daemon("--control-tcp", "127.0.0.1:%d" % port, "--token-file", str(token_file)) as d:
        assert wait_until(lambda: _tcp_open(port), 5)
        token = token_file.read_text().strip()
        assert re.fullmatch("[0-9a-f]{64}", token)
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600

        good = Client(tcp="127.0.0.1:%d" % port, token=token, timeout=5)
        assert good.hello_result["protocol"] == 1
        assert "uptime_us" in good.call("stats")

        for first in ([0, 1, "hello", [{"token": "0" * 64}]], [0, 1, "hello", [{}]], [0, 1, "stats", []]):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(msgpack.packb(first))
            u = msgpack.Unpacker(raw=False)
            got = None
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                u.feed(chunk)
                for m in u:
                    got = m
            s.close()
            assert got is not None and got[0] == 1 and got[2]["code"] == "unauthorized", (first, got)
        # The authorised client was not disturbed.
        assert "uptime_us" in good.call("stats")
        good.close()
        assert d.alive()


def test_tcp_control_refuses_a_non_loopback_address(tmp_path):
    with pytest.raises(RuntimeError):
        with Daemon("--control-tcp", "0.0.0.0:%d" % closed_port(), "--token-file", str(tmp_path / "t"),
                    start_timeout=3):
            pass
