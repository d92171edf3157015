"""The protocol layer with open's reconnect and rate_limit (PROTOCOL.md §5b): a reopen replays the
session steps, echo-heartbeat's rate_limit paces its beats, and auto-replies are paced with the rest."""

import time

from proto_fixtures import ProtoServer
from wsf_fixtures import wait_until


def test_a_reconnect_replays_the_session_steps(ctl):
    with ProtoServer("socketio", ping_interval_ms=150, ping_timeout_ms=300, drop_first_after_ms=500) as srv:
        ctl.call("open", conn="re", url=srv.url, preset="socketio4", reconnect={"max": 2, "backoff_ms": 100})
        assert wait_until(lambda: ctl.call("status", conn="re").get("reconnect", {}).get("count") == 1, 5)
        assert wait_until(lambda: ctl.call("status", conn="re")["state"] == "open", 3)
        connects = srv.wait_for("sio_connect", count=2, timeout=3)
        time.sleep(0.6)  # pongs go on after the reopen
        st = ctl.call("status", conn="re")
        assert not srv.records("ping_timeout")
    assert [c["id"] for c in connects] == [1, 2]  # `40` sent again on the new transport
    assert st["session"]["sid"] == "eio-2"  # captures of the replayed session
    assert st["timings"]["session_us"] > 0
    assert st["state"] == "open"
    ping = {r["name"]: r for r in st["auto_reply"]}["engineio-ping"]
    assert ping["replied"] >= 5  # counted over the name's life, both sessions


def test_echo_heartbeat_rate_limit_paces_the_beats(ctl):
    script = [{"on": "wsfleet-heartbeat", "send": ["wsfleet-heartbeat ok"]}]
    with ProtoServer("script", script=script) as srv:
        ctl.call("open", conn="paced", url=srv.url, preset="echo-heartbeat",
                 preset_options={"interval_ms": 50, "reply_timeout_ms": 2000,
                                 "rate_limit": {"messages": 2, "per_ms": 500}})
        time.sleep(1.6)
        st = ctl.call("status", conn="paced")
        beats = [m["t"] for m in srv.records("message")]
    assert st["rate_limit"]["messages"] == 2 and st["rate_limit"]["per_ms"] == 500
    assert 3 <= len(beats) <= 8  # 32 beats were due; the window lets 2 per 500 ms through
    for i in range(len(beats) - 2):
        assert beats[i + 2] - beats[i] >= 0.45  # never 3 in one window (timestamps at the peer)


def test_auto_replies_are_paced_by_the_rate_limit(ctl):
    with ProtoServer("script", script=[{"on": "^go$", "send": ["PING"] * 4}]) as srv:
        ctl.call("open", conn="ar", url=srv.url, rate_limit={"messages": 1, "per_ms": 250},
                 auto_reply=[{"name": "pong", "match": {"contains": "PING"}, "reply": "PONG"}])
        time.sleep(0.3)  # the window counts from the open: start in a fresh one
        ctl.call("send", conn="ar", data="go")
        pongs = srv.wait_for("message", count=4, timeout=5, data="PONG")
        st = ctl.call("status", conn="ar")
    assert len(pongs) == 4
    ts = [p["t"] for p in pongs]
    assert all(b - a >= 0.2 for a, b in zip(ts, ts[1:]))
    assert st["rate_limit"]["delayed"] >= 3
    assert {r["name"]: r for r in st["auto_reply"]}["pong"]["replied"] == 4
