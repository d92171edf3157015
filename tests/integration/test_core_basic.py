"""open / send / recv / request / ping / close / status / list against real peers (PROTOCOL.md 5)."""

import os
import time

import pytest

from wsf_fixtures import RpcError, wait_state, wait_until

METHODS = {"hello", "open", "send", "recv", "request", "ping", "close", "status", "list", "stats", "reset",
           "subscribe"}


def test_hello_describes_protocol_version_limits_and_methods(daemon, ctl):
    r = ctl.call("hello", client="pytest")
    assert r["server"] == "wsfleetd"
    assert r["protocol"] == 1
    assert r["pid"] == daemon.pid
    assert isinstance(r["version"], str) and r["version"]
    for k in ("max_request_bytes", "max_connections", "max_name_bytes", "max_message_bytes",
              "inbox_max_messages", "inbox_max_bytes"):
        assert isinstance(r["limits"][k], int) and r["limits"][k] > 0, k
    assert r["limits"]["max_request_bytes"] == r["limits"]["max_message_bytes"] + 64 * 1024
    assert r["limits"]["max_name_bytes"] == 256
    assert METHODS <= set(r["methods"])
    assert {"open", "close", "handshake_failed", "drop"} <= set(r["events"])


def test_open_returns_handshake_timings_and_response_headers(ctl, echo):
    r = ctl.call("open", conn="basic-open", url=echo.url + "basic-open")
    assert r["conn"] == "basic-open"
    assert r["reused"] is False
    assert r["status"] == 101
    assert r["subprotocol"] is None
    assert r["tls"] is None
    assert r["headers"]["upgrade"].lower() == "websocket"
    assert all(k == k.lower() for k in r["headers"])
    t = r["timings"]
    for k in ("queued_us", "dns_us", "connect_us", "tls_us", "upgrade_us", "total_us"):
        assert isinstance(t[k], int) and t[k] >= 0, k
    assert t["tls_us"] == 0
    assert t["total_us"] >= t["connect_us"] + t["upgrade_us"]
    assert t["total_us"] < 5_000_000
    echo.conn_id("/basic-open")


def test_text_and_binary_messages_round_trip_with_their_type(ctl, echo):
    ctl.call("open", conn="rt", url=echo.url + "rt")
    text = "héllo ✓ wsfleet"
    assert ctl.call("send", conn="rt", data=text)["bytes"] == len(text.encode())
    r = ctl.call("recv", conn="rt", timeout_ms=3000)
    assert (r["type"], r["data"]) == ("text", text)
    assert r["inbox"] == 0 and r["discarded"] == 0

    blob = bytes(range(256)) + os.urandom(1000)
    assert ctl.call("send", conn="rt", data=blob)["bytes"] == len(blob)
    r = ctl.call("recv", conn="rt", timeout_ms=3000)
    assert (r["type"], r["data"]) == ("binary", blob)

    # `type` overrides the msgpack type: a str sent as a binary frame, bin sent as text.
    ctl.call("send", conn="rt", data="as-binary", type="binary")
    assert ctl.call("recv", conn="rt", timeout_ms=3000)["data"] == b"as-binary"
    ctl.call("send", conn="rt", data=b"as-text", type="text")
    assert ctl.call("recv", conn="rt", timeout_ms=3000)["data"] == "as-text"

    pid = echo.conn_id("/rt")
    got = [(m["type"], m["data"]) for m in echo.wait_for("message", count=4, id=pid)]
    assert got == [("text", text), ("binary", blob.hex()), ("binary", b"as-binary".hex()), ("text", "as-text")]
    # Client frames are masked (RFC 6455 5.3): the peer would have refused unmasked ones.
    st = ctl.call("status", conn="rt")
    assert st["msgs_out"] == 4 and st["msgs_in"] == 4
    assert st["bytes_out"] == len(text.encode()) + len(blob) + len("as-binary") + len("as-text")


def test_recv_reports_age_of_a_message_that_waited_in_the_inbox(ctl, echo):
    ctl.call("open", conn="age", url=echo.url + "age")
    ctl.call("send", conn="age", data="kept")
    assert wait_until(lambda: ctl.call("status", conn="age")["inbox"]["messages"] == 1, 3)
    time.sleep(0.3)
    r = ctl.call("recv", conn="age", timeout_ms=0)
    assert r["data"] == "kept"
    assert r["age_us"] >= 250_000
    assert r["waited_us"] < 250_000


def test_request_matches_only_replies_that_arrive_after_its_send(ctl, echo):
    ctl.call("open", conn="req", url=echo.url + "req")
    ctl.call("send", conn="req", data="old reply")
    assert wait_until(lambda: ctl.call("status", conn="req")["inbox"]["messages"] == 1, 3)
    r = ctl.call("request", conn="req", data="reply", contains="reply", timeout_ms=3000)
    assert r["data"] == "reply"
    assert r["bytes"] == len("reply")
    assert r["rtt_us"] > 0
    # The older message is still there, untouched.
    assert ctl.call("recv", conn="req", timeout_ms=0)["data"] == "old reply"


def test_ping_waits_for_the_pong_with_the_same_payload(ctl, echo):
    ctl.call("open", conn="ping", url=echo.url + "ping")
    r = ctl.call("ping", conn="ping", data=b"p-123", timeout_ms=3000)
    assert r["rtt_us"] > 0
    r2 = ctl.call("ping", conn="ping")
    assert r2["rtt_us"] > 0
    pid = echo.conn_id("/ping")
    pings = echo.wait_for("frame", count=2, id=pid, op="ping")
    assert pings[0]["data"] == "p-123"
    assert pings[1]["len"] == 8  # 8 unique bytes when no data is given
    st = ctl.call("status", conn="ping")
    assert st["ping_rtt_us"] is not None and st["since_pong_us"] is not None


def test_ping_payload_over_125_bytes_is_refused(ctl, echo):
    ctl.call("open", conn="bigping", url=echo.url + "bigping")
    with pytest.raises(RpcError) as e:
        ctl.call("ping", conn="bigping", data=b"x" * 126)
    assert e.value.code == "bad_request"
    assert ctl.call("status", conn="bigping")["state"] == "open"


def test_client_close_is_clean_and_leaves_a_local_close_record(ctl, echo):
    ctl.call("open", conn="bye", url=echo.url + "bye")
    r = ctl.call("close", conn="bye", code=4000, reason="done here")
    assert (r["code"], r["reason"], r["initiator"], r["clean"]) == (4000, "done here", "client", True)
    rec = r["record"]
    assert rec["cause"] == "local_close"
    assert (rec["code"], rec["initiator"], rec["clean"]) == (4000, "client", True)
    pid = echo.conn_id("/bye")
    closed = echo.wait_for("closed", id=pid)
    assert closed and closed[0]["code"] == 4000 and closed[0]["reason"] == "done here"

    st = ctl.call("status", conn="bye")
    assert st["state"] == "closed"
    assert st["record"]["cause"] == "local_close"
    # Closing again returns the same record.
    again = ctl.call("close", conn="bye")
    assert again["initiator"] == "client" and again["record"]["closed_at_ms"] == rec["closed_at_ms"]
    # Using a closed connection says so, with its record.
    for method, extra in (("send", {"data": "x"}), ("ping", {}), ("recv", {"timeout_ms": 0})):
        with pytest.raises(RpcError) as e:
            ctl.call(method, conn="bye", **extra)
        assert e.value.code == "conn_closed", method
        assert e.value.details["record"]["cause"] == "local_close"


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_close_refuses_codes_a_client_may_not_send(ctl, echo, code):
    ctl.call("open", conn="badcode", url=echo.url + "badcode")
    with pytest.raises(RpcError) as e:
        ctl.call("close", conn="badcode", code=code)
    assert e.value.code == "bad_request"
    assert ctl.call("status", conn="badcode")["state"] == "open"


def test_unknown_names_and_methods_get_their_error_codes(ctl):
    for method, extra in (("send", {"data": "x"}), ("recv", {"timeout_ms": 0}), ("ping", {}), ("close", {}),
                          ("status", {}), ("request", {"data": "x", "timeout_ms": 0})):
        with pytest.raises(RpcError) as e:
            ctl.call(method, conn="nobody", **extra)
        assert e.value.code == "no_such_conn", method
        assert e.value.details.get("conn") == "nobody", method
    with pytest.raises(RpcError) as e:
        ctl.call("no_such_method")
    assert e.value.code == "unknown_method"
    assert e.value.details.get("method") == "no_such_method"


def test_open_refuses_bad_names_and_urls(ctl, echo):
    # A name over max_name_bytes is a limit (PROTOCOL.md 8 names it); bad_request would do too.
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="x" * 257, url=echo.url)
    assert e.value.code == "bad_request" or (e.value.code, e.value.details.get("limit")) == \
        ("limit_exceeded", "max_name_bytes"), e.value.as_dict()
    for params in ({"conn": "", "url": echo.url},
                   {"conn": "u", "url": "http://127.0.0.1:1/"}, {"conn": "u", "url": "not a url"},
                   {"conn": "u"}, {"url": echo.url}, {"conn": "u", "url": 5}):
        with pytest.raises(RpcError) as e:
            ctl.call("open", params)
        assert e.value.code == "bad_request", params
    assert ctl.call("open", conn="x" * 256, url=echo.url)["reused"] is False


def test_list_and_status_describe_live_and_closed_connections(ctl, echo):
    ctl.call("open", conn="l1", url=echo.url + "l1")
    ctl.call("open", conn="l2", url=echo.url + "l2")
    ctl.call("close", conn="l2")
    r = ctl.call("list")
    assert r["total"] == 2
    by_name = {c["conn"]: c for c in r["conns"]}
    assert by_name["l1"]["state"] == "open" and by_name["l2"]["state"] == "closed"
    assert by_name["l1"]["url"] == echo.url + "l1"
    assert [c["conn"] for c in ctl.call("list", state="open")["conns"]] == ["l1"]
    assert len(ctl.call("list", limit=1)["conns"]) == 1

    ctl.call("send", conn="l1", data="abc")
    ctl.call("recv", conn="l1", timeout_ms=3000)
    st = ctl.call("status", conn="l1")
    assert st["conn"] == "l1" and st["state"] == "open" and st["url"] == echo.url + "l1"
    assert st["record"] is None and st["reused_count"] == 0
    assert (st["msgs_in"], st["msgs_out"], st["bytes_in"], st["bytes_out"]) == (1, 1, 3, 3)
    assert st["since_sent_us"] is not None and st["since_recv_us"] is not None
    assert st["since_ping_us"] is None and st["since_pong_us"] is None
    assert st["keepalive"]["mode"] == "none"
    assert st["inbox"] == {"messages": 0, "bytes": 0, "dropped": 0}
    assert abs(st["opened_at_ms"] / 1000.0 - time.time()) < 60


def test_node_ws_peer_echoes_in_order(ctl, node_echo):
    ctl.call("open", conn="node", url=node_echo.url + "node")
    ids = ctl.send_many([("send", {"conn": "node", "data": "m%d" % i}) for i in range(100)])
    for _ in ids:
        msgid, err, res = ctl.recv_response()
        assert err is None and res["bytes"] > 0
    got = [ctl.call("recv", conn="node", timeout_ms=3000)["data"] for _ in range(100)]
    assert got == ["m%d" % i for i in range(100)]
    wait_state(ctl, "node", "open", 1)
