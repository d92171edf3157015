"""Keepalive with protocol pings on the daemon's clock; pong timeouts; server pings (PROTOCOL.md 6).

Timing assertions are on what the peer recorded (its CLOCK_MONOTONIC timestamps), with slack for a
busy 2-core machine (other builds and tests running): late by up to SLACK, early by up to EARLY.
"""

import time

import pytest

from wsf_fixtures import PyServer, RawServer, wait_state

SLACK = 0.150
EARLY = 0.015


def gaps(ts):
    return [b - a for a, b in zip(ts, ts[1:])]


def test_pings_arrive_at_the_interval_within_jitter(ctl):
    with PyServer("sink") as srv:
        t_open = time.monotonic()
        ctl.call("open", conn="hb", url=srv.url, keepalive={"mode": "ping", "interval_ms": 200, "jitter_ms": 20,
                                                            "payload": "hb"})
        time.sleep(1.7)
        pings = srv.frames("ping")
        st = ctl.call("status", conn="hb")
    ts = [p["t"] for p in pings]
    assert 6 <= len(ts) <= 10, ts
    assert all(p["data"] == "hb" for p in pings)
    assert ts[0] - t_open <= 0.200 + SLACK  # the first is drawn from [0, interval]
    late = st["keepalive"]["late_us_max"] / 1e6  # a late beat shortens the next gap: the schedule doesn't drift
    for g in gaps(ts):
        assert 0.180 - EARLY - late <= g <= 0.220 + SLACK, gaps(ts)
    ka = st["keepalive"]
    assert (ka["mode"], ka["interval_ms"], ka["jitter_ms"]) == ("ping", 200, 20)
    assert len(ts) <= ka["sent"] <= len(ts) + 1
    assert ka["late_us_max"] < 150_000
    assert st["since_ping_us"] is not None and st["since_pong_us"] is not None and st["ping_rtt_us"] > 0
    s = ctl.call("stats")
    assert s["heartbeats_sent"] >= len(ts)
    assert s["heartbeat_late_us"]["max"] < 150_000


def test_jitter_spreads_intervals_and_defaults_to_a_tenth(ctl):
    with PyServer("sink") as srv:
        ctl.call("open", conn="jit", url=srv.url + "jit",
                 keepalive={"mode": "ping", "interval_ms": 150, "jitter_ms": 75, "payload": "j"})
        ctl.call("open", conn="dflt", url=srv.url + "dflt", keepalive={"mode": "ping", "interval_ms": 300})
        time.sleep(2.0)
        jid = srv.conn_id("/jit")
        ts = [p["t"] for p in srv.frames("ping", id=jid)]
        assert ctl.call("status", conn="dflt")["keepalive"]["jitter_ms"] == 30
    g = gaps(ts)
    assert len(g) >= 8, g
    assert all(0.075 - EARLY <= x <= 0.225 + SLACK for x in g), g
    assert max(g) - min(g) > 0.030, g  # not a fixed period


def test_pong_timeout_ends_the_connection_with_that_cause(ctl):
    with RawServer("silent") as srv:
        t0 = time.monotonic()
        ctl.call("open", conn="dead", url=srv.url, keepalive={"mode": "ping", "interval_ms": 100, "jitter_ms": 0,
                                                              "pong_timeout_ms": 250})
        waiting = ctl.send("recv", {"conn": "dead", "timeout_ms": 5000})
        st = wait_state(ctl, "dead", "closed", 3)
        took = time.monotonic() - t0
        assert srv.frames("ping"), "the daemon never pinged"
    rec = st["record"]
    assert rec["cause"] == "pong_timeout"
    assert rec["since_pong_us"] is None and rec["since_ping_us"] is not None
    assert 0.25 <= took <= 0.35 + 0.5, took
    err, _ = ctl.wait_response(waiting, 3)
    assert err["code"] == "conn_closed" and err["record"]["cause"] == "pong_timeout"


def test_pong_timeout_zero_never_declares_the_connection_dead(ctl):
    with RawServer("silent") as srv:
        ctl.call("open", conn="patient", url=srv.url,
                 keepalive={"mode": "ping", "interval_ms": 100, "jitter_ms": 0, "pong_timeout_ms": 0})
        time.sleep(0.8)
        assert ctl.call("status", conn="patient")["state"] == "open"
        assert len(srv.frames("ping")) >= 5


def test_server_pings_are_answered_while_no_control_client_is_connected(daemon):
    with PyServer("ping", ping_interval_ms=100) as srv:
        c = daemon.client()
        c.call("open", conn="lonely", url=srv.url)
        c.close()
        t_gone = time.monotonic()
        time.sleep(1.0)
        answered = [r for r in srv.records("pong_rtt") if r["t"] > t_gone]
        sent = [r for r in srv.records("ping_sent") if t_gone < r["t"] < t_gone + 0.9]
        assert len(sent) >= 7
        assert len(answered) >= len(sent)
        assert max(r["rtt_ms"] for r in answered) < 100
        c2 = daemon.client()
        st = c2.call("status", conn="lonely")
        assert st["state"] == "open"
        assert c2.call("stats")["control_clients"] == 1


@pytest.mark.parametrize("daemon_args", [("--keepalive-mode", "ping", "--keepalive-interval-ms", "150",
                                          "--keepalive-jitter-ms", "0", "--keepalive-payload", "dflt")])
def test_daemon_command_line_sets_the_keepalive_default(ctl):
    with PyServer("sink") as srv:
        ctl.call("open", conn="d", url=srv.url)
        time.sleep(0.8)
        pings = srv.frames("ping")
        ka = ctl.call("status", conn="d")["keepalive"]
        # A connection can still opt out.
        ctl.call("open", conn="quiet", url=srv.url + "quiet", keepalive={"mode": "none"})
        time.sleep(0.4)
        qid = srv.conn_id("/quiet")
        assert not srv.frames("ping", id=qid)
    assert (ka["mode"], ka["interval_ms"], ka["jitter_ms"]) == ("ping", 150, 0)
    assert len(pings) >= 4 and all(p["data"] == "dflt" for p in pings)
    for g in gaps([p["t"] for p in pings]):
        assert 0.150 - EARLY <= g <= 0.150 + SLACK
