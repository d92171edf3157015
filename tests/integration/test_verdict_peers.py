"""`wsfleet report` names each server behaviour: the real daemon against python3-websockets servers
that each play one policy (tests/lib/servers/verdict_peers.py). The tests assert verdict codes and
the figures behind them, never wording."""

import shutil
import time

import pytest

from verdict_fixtures import VerdictPeer, groups_by_code as codes, report_json as report
from wsf_fixtures import Daemon, RpcError, wait_until


def open_quiet(ctl, name, url, **kw):
    kw.setdefault("keepalive", {"mode": "none"})
    return ctl.call("open", conn=name, url=url, **kw)


def finish(d, tmp_path):
    """Stops the daemon and keeps its log."""
    d.stop()
    path = tmp_path / "events.jsonl"
    shutil.copyfile(d.events_path, path)
    return str(path)


def closed_count(ctl, names):
    return sum(ctl.call("status", conn=n)["state"] == "closed" for n in names)


def test_idle_timeout_follows_silence_not_age(tmp_path):
    # Sessions opened together, each sending its last message at a different time: the drops come
    # at a constant silence (1.2 s) and at ages that differ by the send times.
    with Daemon() as d, VerdictPeer("idle", idle=1.2) as peer:
        ctl = d.client()
        names = ["s%d" % i for i in range(4)]
        for n in names:
            open_quiet(ctl, n, peer.url)
        for i, n in enumerate(names):
            time.sleep(0.15)
            ctl.call("send", conn=n, data="last words %d" % i)
        assert wait_until(lambda: closed_count(ctl, names) == 4, 5)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["idle_timeout"], s["groups"]
    assert g["idle_timeout"]["count"] == 4 and g["idle_timeout"]["side"] == "server"
    assert 1.15 <= g["idle_timeout"]["figures"]["silence_min_s"] < 1.6
    assert "0.0 s" not in g["idle_timeout"]["sentence"]


def test_max_age_whatever_the_silence(tmp_path):
    # Staggered opens with ping keepalive (silence stays short): each ends 1.2 s after its upgrade.
    with Daemon() as d, VerdictPeer("max_age", age=1.2) as peer:
        ctl = d.client()
        names = ["a%d" % i for i in range(4)]
        for n in names:
            open_quiet(ctl, n, peer.url, keepalive={"mode": "ping", "interval_ms": 150, "jitter_ms": 50})
            time.sleep(0.2)
        assert wait_until(lambda: closed_count(ctl, names) == 4, 5)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["max_age"], s["groups"]
    age = g["max_age"]["figures"]["age_s"]
    assert 1.15 <= age["min"] and age["max"] < 1.5
    assert "heartbeats will not help" in g["max_age"]["advice"] or "heartbeats will not help" in g["max_age"]["sentence"]


def test_max_age_of_silent_sessions_is_still_max_age(tmp_path):
    # Silence equals age here; the verdict says so and still names the age.
    with Daemon() as d, VerdictPeer("max_age", age=1.0) as peer:
        ctl = d.client()
        names = ["m%d" % i for i in range(5)]
        for n in names:
            open_quiet(ctl, n, peer.url)
            time.sleep(0.3)
        assert wait_until(lambda: closed_count(ctl, names) == 5, 5)
        s = report(finish(d, tmp_path))
    assert [g["code"] for g in s["groups"]] == ["max_age"], s["groups"]


def test_rate_limit_after_a_burst(tmp_path):
    with Daemon() as d, VerdictPeer("rate", burst=5, close_code=4029, close_reason="rate limited") as peer:
        ctl = d.client()
        for n in ("r1", "r2"):
            open_quiet(ctl, n, peer.url)
            for i in range(8):
                try:
                    ctl.call("send", conn=n, data="msg %d" % i)
                except RpcError:
                    break
        assert wait_until(lambda: closed_count(ctl, ["r1", "r2"]) == 2, 5)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["rate_limit"], s["groups"]
    assert g["rate_limit"]["count"] == 2
    assert g["rate_limit"]["figures"]["msgs_out"]["min"] >= 6
    assert g["rate_limit"]["figures"]["close_after_s"]["max"] <= 1.0


def test_session_cap_by_503(tmp_path):
    with Daemon() as d, VerdictPeer("cap_503", cap=2, retry_after=7) as peer:
        ctl = d.client()
        refused = 0
        for i in range(4):
            try:
                open_quiet(ctl, "c%d" % i, peer.url)
            except RpcError as e:
                assert e.details.get("http_status") == 503
                refused += 1
        assert refused == 2
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["session_cap"], s["groups"]
    assert g["session_cap"]["count"] == 2 and g["session_cap"]["figures"]["cap"] == 2


@pytest.mark.parametrize("code", [1008, 1013])
def test_session_cap_by_close_soon_after_open(tmp_path, code):
    with Daemon() as d, VerdictPeer("cap_close", cap=2, close_code=code) as peer:
        ctl = d.client()
        names = ["p%d" % i for i in range(4)]
        for n in names:
            open_quiet(ctl, n, peer.url)
        assert wait_until(lambda: closed_count(ctl, names) == 2, 5)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert "session_cap" in g and g["session_cap"]["count"] == 2, s["groups"]
    assert g["session_cap"]["figures"]["cap"] == 2


@pytest.mark.parametrize("code", [1001, 1012])
def test_server_restart_closes_many_at_once(tmp_path, code):
    with Daemon() as d, VerdictPeer("restart", after=1.2, close_code=code) as peer:
        ctl = d.client()
        names = ["g%d" % i for i in range(5)]
        for n in names:
            open_quiet(ctl, n, peer.url, keepalive={"mode": "ping", "interval_ms": 200, "jitter_ms": 50})
            time.sleep(0.15)
        assert wait_until(lambda: closed_count(ctl, names) == 5, 5)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["server_restart"], s["groups"]
    assert g["server_restart"]["count"] == 5


@pytest.mark.parametrize("keepalive,cause", [
    ({"mode": "ping", "interval_ms": 200, "jitter_ms": 20, "pong_timeout_ms": 400}, "pong_timeout"),
    # An application heartbeat the server echoes, with a reply deadline: no pings needed.
    ({"mode": "text", "payload": '{"action":"echo"}', "reply_contains": "echo", "interval_ms": 200,
      "jitter_ms": 20, "reply_timeout_ms": 400}, "reply_timeout"),
])
def test_unresponsive_server(tmp_path, keepalive, cause):
    with Daemon() as d, VerdictPeer("blackhole", after=0.5) as peer:
        ctl = d.client()
        for n in ("b1", "b2"):
            open_quiet(ctl, n, peer.url, keepalive=keepalive)
        assert wait_until(lambda: closed_count(ctl, ["b1", "b2"]) == 2, 6)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["unresponsive_server"], s["groups"]
    assert s["drops_by_code_cause"] == {"1006 %s" % cause: 2}


def test_network_resets_at_scattered_ages(tmp_path):
    with Daemon() as d, VerdictPeer("resets", reset_ages="0.2,1.6,0.6,2.3,1.1") as peer:
        ctl = d.client()
        names = ["n%d" % i for i in range(5)]
        for n in names:
            open_quiet(ctl, n, peer.url)
        assert wait_until(lambda: closed_count(ctl, names) == 5, 6)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["network_reset"], s["groups"]
    assert g["network_reset"]["side"] == "network"


def test_handshake_throttling_upgrades_slow_with_load(tmp_path):
    with Daemon() as d, VerdictPeer("slow_upgrade", delay_per_open=0.025) as peer:
        ctl = d.client()
        for i in range(16):
            open_quiet(ctl, "h%d" % i, peer.url)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert list(g) == ["handshake_throttling"], s["groups"]
    f = g["handshake_throttling"]["figures"]
    assert f["upgrade_high_s"] >= 3 * f["upgrade_low_s"]


def test_mixed_idle_timeout_and_session_cap_are_two_groups(tmp_path):
    # One server with an idle timeout (1.2 s) and a cap of 3 sessions (503 beyond it): three sessions
    # opened together send their last message at different times; two more are refused.
    with Daemon() as d, VerdictPeer("idle", idle=1.2, cap=3) as peer:
        ctl = d.client()
        names = ["x%d" % i for i in range(3)]
        for n in names:
            open_quiet(ctl, n, peer.url)
        for i in range(2):
            with pytest.raises(RpcError):
                open_quiet(ctl, "over%d" % i, peer.url)
        for n in names:
            time.sleep(0.2)
            ctl.call("send", conn=n, data="hello")
        assert wait_until(lambda: closed_count(ctl, names) == 3, 5)
        s = report(finish(d, tmp_path))
    g = codes(s)
    assert set(g) == {"idle_timeout", "session_cap"}, s["groups"]
    assert g["idle_timeout"]["count"] == 3 and g["session_cap"]["count"] == 2
    assert g["session_cap"]["from_s"] < g["idle_timeout"]["from_s"]
    assert all(g[c]["from_s"] is not None and g[c]["to_s"] >= g[c]["from_s"] for c in g)
