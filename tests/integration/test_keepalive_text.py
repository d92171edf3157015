"""Application heartbeats (text/binary) and reply_contains (PROTOCOL.md 6)."""

import time

import pytest

from wsf_fixtures import PyServer, RpcError

SLACK = 0.150
EARLY = 0.015
PAYLOAD = '{"action":"echo","message":"keepalive ✓"}'


def test_text_heartbeat_arrives_verbatim_at_the_interval(ctl):
    with PyServer("sink") as srv:
        ctl.call("open", conn="txt", url=srv.url,
                 keepalive={"mode": "text", "interval_ms": 200, "jitter_ms": 20, "payload": PAYLOAD})
        time.sleep(1.5)
        msgs = srv.records("message")
        st = ctl.call("status", conn="txt")
    assert len(msgs) >= 5
    assert all((m["type"], m["data"]) == ("text", PAYLOAD) for m in msgs)
    ts = [m["t"] for m in msgs]
    late = st["keepalive"]["late_us_max"] / 1e6  # a late beat shortens the next gap: the schedule doesn't drift
    for a, b in zip(ts, ts[1:]):
        assert 0.180 - EARLY - late <= b - a <= 0.220 + SLACK
    assert st["keepalive"]["mode"] == "text"
    assert len(msgs) <= st["keepalive"]["sent"] <= len(msgs) + 1


def test_binary_heartbeat_arrives_as_a_binary_message(ctl):
    with PyServer("sink") as srv:
        ctl.call("open", conn="bin", url=srv.url,
                 keepalive={"mode": "binary", "interval_ms": 100, "payload": b"\x00\x01beat"})
        msgs = srv.wait_for("message", count=3, timeout=3)
    assert len(msgs) >= 3
    assert all((m["type"], m["data"]) == ("binary", b"\x00\x01beat".hex()) for m in msgs)


def test_reply_contains_keeps_heartbeat_replies_out_of_the_inbox_and_waiters(ctl):
    with PyServer("echo") as srv:
        ctl.call("open", conn="app", url=srv.url,
                 keepalive={"mode": "text", "interval_ms": 100, "jitter_ms": 0, "payload": "HB-ping",
                            "reply_contains": "HB-"})
        with pytest.raises(RpcError) as e:
            ctl.call("recv", conn="app", timeout_ms=700)
        assert e.value.code == "timeout"
        echoed = srv.records("message", data="HB-ping")
        assert len(echoed) >= 5  # the peer got heartbeats and echoed each one
        assert ctl.call("status", conn="app")["inbox"]["messages"] == 0
        assert ctl.call("request", conn="app", data="real message", timeout_ms=3000)["data"] == "real message"


def test_without_reply_contains_heartbeat_replies_are_ordinary_messages(ctl):
    with PyServer("echo") as srv:
        ctl.call("open", conn="plain", url=srv.url,
                 keepalive={"mode": "text", "interval_ms": 100, "jitter_ms": 0, "payload": "HB-ping"})
        r = ctl.call("recv", conn="plain", timeout_ms=2000)
    assert r["data"] == "HB-ping"


@pytest.mark.parametrize("keepalive", [{"mode": "text", "interval_ms": 100}, {"mode": "binary"},
                                       {"mode": "sometimes"}, {"mode": "ping", "interval_ms": "fast"}])
def test_bad_keepalive_settings_are_refused(ctl, echo, keepalive):
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="bad-ka", url=echo.url, keepalive=keepalive)
    assert e.value.code == "bad_request"


def test_heartbeats_keep_their_clock_while_the_client_sends(ctl):
    with PyServer("sink") as srv:
        ctl.call("open", conn="busy", url=srv.url,
                 keepalive={"mode": "text", "interval_ms": 200, "jitter_ms": 0, "payload": "beat"})
        t_end = time.monotonic() + 1.3
        while time.monotonic() < t_end:
            ctl.call("send", conn="busy", data="traffic")
            time.sleep(0.02)
        beats = [m["t"] for m in srv.records("message", data="beat")]
    assert len(beats) >= 5
    for a, b in zip(beats, beats[1:]):
        assert 0.200 - EARLY <= b - a <= 0.200 + SLACK
