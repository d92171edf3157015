"""Named connections and explicit reuse (PROTOCOL.md 5 open; README "Using it from JMeter")."""

import base64
import hashlib

import pytest

from wsf_fixtures import RpcError


def test_open_by_the_same_name_reuses_the_live_connection(daemon, ctl, echo):
    first = ctl.call("open", conn="vu-1", url=echo.url + "reuse-1")
    again = ctl.call("open", conn="vu-1", url=echo.url + "reuse-1")
    assert first["reused"] is False and again["reused"] is True
    # A reused result describes the original handshake.
    assert again["timings"] == first["timings"]
    assert again["headers"] == first["headers"]
    # Headers are kept once for all connections that got the same ones, without the per-connection
    # Sec-WebSocket-Accept, which comes back from this connection's key: the value the server sent.
    key = echo.wait_for("connect", path="/reuse-1")[0]["headers"]["sec-websocket-key"]
    sent = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    assert first["headers"]["sec-websocket-accept"] == sent == again["headers"]["sec-websocket-accept"]
    assert ctl.call("status", conn="vu-1")["reused_count"] == 1
    # The peer saw one connection only, and messages still flow on it.
    pid = echo.conn_id("/reuse-1")
    assert len(echo.records("connect", path="/reuse-1")) == 1
    assert ctl.call("request", conn="vu-1", data="same socket", timeout_ms=3000)["data"] == "same socket"
    assert [m["data"] for m in echo.wait_for("message", id=pid)] == ["same socket"]
    s = ctl.call("stats")
    assert s["reused_total"] == 1 and s["opened_total"] == 1 and s["open"] == 1


def test_names_are_global_across_control_connections(daemon, ctl, echo):
    ctl.call("open", conn="shared", url=echo.url + "shared")
    other = daemon.client()
    r = other.call("open", conn="shared", url=echo.url + "shared")
    assert r["reused"] is True
    other.call("send", conn="shared", data="from the other client")
    assert ctl.call("recv", conn="shared", timeout_ms=3000)["data"] == "from the other client"


def test_reuse_false_on_a_live_name_is_conn_exists(ctl, echo):
    ctl.call("open", conn="once", url=echo.url + "once")
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="once", url=echo.url + "once", reuse=False)
    assert e.value.code == "conn_exists"
    assert e.value.details.get("conn") == "once"
    echo.conn_id("/once")
    assert len(echo.records("connect", path="/once")) == 1
    assert ctl.call("status", conn="once")["state"] == "open"


def test_reopening_a_closed_name_makes_a_new_connection_and_drops_the_old_record(ctl, echo):
    ctl.call("open", conn="again", url=echo.url + "again")
    ctl.call("close", conn="again")
    assert ctl.call("status", conn="again")["record"]["cause"] == "local_close"
    r = ctl.call("open", conn="again", url=echo.url + "again")
    assert r["reused"] is False
    st = ctl.call("status", conn="again")
    assert st["state"] == "open" and st["record"] is None and st["msgs_in"] == 0
    assert len(echo.wait_for("connect", count=2, path="/again")) == 2
    # reuse false on a closed name is no conflict either.
    ctl.call("close", conn="again")
    assert ctl.call("open", conn="again", url=echo.url + "again", reuse=False)["reused"] is False
