"""open's reconnect policy (PROTOCOL.md §5, reconnect) against peers that drop sessions: python3-websockets
closing every session it accepts (precise), and the mock gateway's drop behaviours. Every drop stays a drop
(close record, closes_by_*, close event); each reopen is counted and logged with the record it replaced;
the backoff and its jitter stay in their bounds; `max` is respected, then gave_up; the plan's own close, a
failed first open, reset and SIGTERM never reconnect; recv waits across a reopen."""

import os
import signal
import sys
import threading
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))

from mockgw_runner import MockGw  # noqa: E402
from wsf_fixtures import Daemon, PyServer, RpcError, closed_port, wait_until  # noqa: E402

QUIET = {"mode": "none"}


def policy(max_, backoff_ms=50, jitter_ms=0, backoff_max_ms=30000):
    return {"max": max_, "backoff_ms": backoff_ms, "jitter_ms": jitter_ms, "backoff_max_ms": backoff_max_ms}


def drops_each_session(greet="hi", code=1011, reason="bye"):
    """A server that greets and closes every session it accepts, at once."""
    return PyServer("close_after", after=0, close_code=code, close_reason=reason, greet=[greet])


def status(ctl, conn):
    return ctl.call("status", conn=conn)


def test_each_drop_is_recorded_then_reopened_until_max_then_gave_up(daemon, ctl):
    with drops_each_session() as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, reconnect=policy(3))
        st = wait_until(lambda: (lambda s: s if s["state"] == "closed" else None)(status(ctl, "r")), 10)
        assert st, status(ctl, "r")
        rc = st["reconnect"]
        assert (rc["count"], rc["attempts"], rc["gave_up"], rc["reconnecting"]) == (3, 3, True, False), rc
        assert rc["last_record"]["code"] == 1011 and rc["last_record"]["cause"] == "server_close"
        assert st["record"]["code"] == 1011 and st["record"]["reason"] == "bye"
        # Four sessions, each a fresh upgrade with its own key, all to the same path.
        connects = srv.wait_for("connect", count=4)
        keys = {{k.lower(): v for k, v in c["headers"].items()}["sec-websocket-key"] for c in connects}
        assert len(connects) == 4 and len(keys) == 4
        time.sleep(0.3)
        assert len(srv.records("connect")) == 4  # max respected: no fifth
        # The inbox is kept across reopens: one greeting per session.
        for _ in range(4):
            assert ctl.call("recv", conn="r", timeout_ms=0)["data"] == "hi"
    stats = ctl.call("stats")
    assert stats["reconnects_total"] == 3 and stats["reconnect_failures_total"] == 0
    assert stats["closed_total"] == 4 and stats["closes_by_cause"]["server_close"] == 4
    assert stats["opened_total"] == 4
    # The event log: every drop a close event, the first three saying a reopen follows.
    closes = daemon.events("close")
    assert [c["record"]["code"] for c in closes] == [1011] * 4
    assert [c.get("reconnect", {}).get("attempt") for c in closes] == [1, 2, 3, None]
    reopens = daemon.events("reconnect")
    assert [e["attempt"] for e in reopens] == [1, 2, 3]
    assert all(e["conn"] == "r" and e["record"]["cause"] == "server_close" for e in reopens)
    assert all(e["timings"]["total_us"] > 0 for e in reopens)
    assert len(daemon.events("open")) == 1  # a reopen is a reconnect event, not another open


def test_results_carry_reconnects_and_send_fails_while_reconnecting(ctl):
    with PyServer("close_after", after=1, close_code=1001, close_reason="restart", greet=["welcome"]) as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, reconnect=policy(5, backoff_ms=1500))
        assert "reconnects" not in ctl.call("recv", conn="r", contains="welcome")
        assert "reconnects" not in ctl.call("send", conn="r", data="x")  # the server closes after it
        wait_until(lambda: status(ctl, "r")["reconnect"]["reconnecting"], 5)
        assert status(ctl, "r")["state"] == "connecting"
        with pytest.raises(RpcError) as e:
            ctl.call("send", conn="r", data="during backoff")
        assert e.value.code == "conn_closed" and e.value.details["reconnecting"] is True
        assert e.value.details["record"]["code"] == 1001 and e.value.details["record"]["reason"] == "restart"
        got = ctl.call("recv", conn="r", contains="welcome", timeout_ms=5000)  # the next session's greeting
        assert got["reconnects"] == 1
        assert ctl.call("ping", conn="r")["reconnects"] == 1


def test_recv_waiting_across_a_reopen_gets_the_message(daemon, ctl):
    with PyServer("close_after", after=1, close_code=1012, greet=["welcome"]) as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, reconnect=policy(2, backoff_ms=300))
        ctl.call("recv", conn="r", contains="welcome")
        other = daemon.client()
        got = {}

        def wait():
            try:
                got["r"] = other.call("recv", conn="r", contains="welcome", timeout_ms=8000)
            except RpcError as e:
                got["r"] = e

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.2)  # the recv is waiting before the drop
        ctl.call("send", conn="r", data="drop me")
        t.join(10)
        assert isinstance(got.get("r"), dict), got
        assert got["r"]["data"] == "welcome" and got["r"]["reconnects"] == 1
        assert got["r"]["waited_us"] >= 300_000  # it waited through the backoff


def test_recv_waiting_fails_only_when_the_policy_gives_up(ctl):
    with PyServer("close_after", after=1, close_code=1011) as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, reconnect=policy(1, backoff_ms=100))
        ctl.call("send", conn="r", data="drop 1")
        wait_until(lambda: status(ctl, "r")["reconnect"]["count"] == 1 and status(ctl, "r")["state"] == "open", 5)
        t0 = time.monotonic()
        ctl.call("send", conn="r", data="drop 2")
        with pytest.raises(RpcError) as e:
            ctl.call("recv", conn="r", timeout_ms=5000)
        assert e.value.code == "conn_closed" and time.monotonic() - t0 < 3
        assert status(ctl, "r")["reconnect"]["gave_up"] is True


def test_backoff_doubles_per_failed_attempt_up_to_the_cap(daemon, ctl):
    # A server that answers once and then is gone: every attempt after its drop fails to connect.
    with PyServer("close_after", after=1, close_code=1011) as srv:
        ctl.call("open", conn="f", url=srv.url, keepalive=QUIET,
                 reconnect=policy(5, backoff_ms=100, backoff_max_ms=400))
        ctl.call("send", conn="f", data="drop")
        wait_until(lambda: status(ctl, "f")["reconnect"]["count"] == 1, 5)
    # The peer's exit ended the reopened session: the failing attempts start.
    st = wait_until(lambda: (lambda s: s if s["state"] == "closed" else None)(status(ctl, "f")), 15)
    assert st and st["reconnect"]["gave_up"] and st["reconnect"]["attempts"] == 5
    assert st["record"]["cause"] == "connect_error"
    failed = [e for e in daemon.events("handshake_failed") if e["conn"] == "f"]
    assert [e["reconnect_attempt"] for e in failed] == [2, 3, 4, 5]
    assert all(e["error"]["code"] == "connect_error" for e in failed)
    gaps = [b["at_ms"] - a["at_ms"] for a, b in zip(failed, failed[1:])]
    # Failed in a row 1, 2, 3 before each: 100 × 2, 100 × 4, then capped at 400. A refused connect takes ~0 ms.
    for gap, want in zip(gaps, [200, 400, 400]):
        assert want - 5 <= gap < want + 400, gaps
    stats = ctl.call("stats")
    assert stats["reconnect_failures_total"] == 4 and stats["reconnects_total"] == 1
    assert stats["closes_by_cause"]["connect_error"] == 4


def test_jitter_spreads_reopens_within_its_bound(daemon, ctl):
    with drops_each_session() as srv:
        n = 12
        for i in range(n):
            ctl.call("open", conn="j%d" % i, url=srv.url, keepalive=QUIET,
                     reconnect=policy(1, backoff_ms=200, jitter_ms=300))
        wait_until(lambda: len(daemon.events("reconnect")) == n, 10)
    closes = {}
    for e in daemon.events("close"):
        closes.setdefault(e["conn"], e["at_ms"])
    delays = [e["at_ms"] - closes[e["conn"]] for e in daemon.events("reconnect")]
    assert len(delays) == n
    assert all(200 <= d < 200 + 300 + 300 for d in delays), delays  # backoff + [0, jitter] + the handshake
    assert max(delays) - min(delays) > 50, delays  # drawn, not fixed


def test_the_plans_close_and_a_failed_first_open_never_reconnect(daemon, ctl, echo):
    ctl.call("open", conn="c", url=echo.url, keepalive=QUIET, reconnect=policy(3))
    ctl.call("close", conn="c")
    with pytest.raises(RpcError):
        ctl.call("open", conn="f", url="ws://127.0.0.1:%d/" % closed_port(), reconnect=policy(3))
    time.sleep(0.4)
    for name in ("c", "f"):
        st = status(ctl, name)
        assert st["state"] == "closed" and st["reconnect"]["attempts"] == 0, st
    assert daemon.events("reconnect") == []
    assert ctl.call("stats")["reconnects_total"] == 0


def test_close_during_the_backoff_keeps_it_closed_with_the_drop(ctl):
    with drops_each_session(code=1013, reason="later") as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, reconnect=policy(3, backoff_ms=800))
        wait_until(lambda: status(ctl, "r")["reconnect"]["reconnecting"], 5)
        res = ctl.call("close", conn="r")
        assert res["record"]["code"] == 1013
        time.sleep(1.2)
        st = status(ctl, "r")
        assert st["state"] == "closed" and st["reconnect"]["attempts"] == 0
        assert len(srv.records("connect")) == 1


def test_reset_during_the_backoff_forgets_it_and_no_reopen_follows(ctl):
    with drops_each_session() as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, reconnect=policy(3, backoff_ms=500))
        wait_until(lambda: status(ctl, "r")["reconnect"]["reconnecting"], 5)
        res = ctl.call("reset")
        assert res["forgotten"] == 1
        time.sleep(0.9)
        assert len(srv.records("connect")) == 1
        with pytest.raises(RpcError) as e:
            status(ctl, "r")
        assert e.value.code == "no_such_conn"


def test_reset_during_a_reopen_attempt(ctl):
    """The attempt's upgrade is in flight: the gateway reads it and never answers (a black hole)."""
    with MockGw("--max-age", "300ms", "--max-age-drop", "rst", "--black-hole-after", "500ms") as gw:
        ctl.call("open", conn="r", url=gw.url, keepalive=QUIET, connect_timeout_ms=20000,
                 reconnect=policy(3, backoff_ms=400))
        assert wait_until(lambda: status(ctl, "r")["reconnect"]["attempts"] == 1, 5)
        time.sleep(0.2)
        st = status(ctl, "r")
        assert st["state"] == "connecting" and st["reconnect"]["reconnecting"] and st["reconnect"]["count"] == 0
        assert ctl.call("reset")["forgotten"] == 1
        time.sleep(0.5)
        assert ctl.call("stats")["connecting"] == 0


@pytest.mark.parametrize("phase", ["backoff", "attempt"])
def test_sigterm_during_a_reconnect_exits_cleanly(daemon, ctl, phase):
    with drops_each_session() as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET,
                 reconnect=policy(50, backoff_ms=2000 if phase == "backoff" else 1))
        wait_until(lambda: status(ctl, "r")["reconnect"]["reconnecting"], 5)
        t0 = time.monotonic()
        assert daemon.stop(signal.SIGTERM, timeout=10) == 0
        assert time.monotonic() - t0 < 3


def test_mockgw_idle_drops_are_reopened_and_counted_in_metrics():
    port = closed_port()
    with Daemon("--metrics", "127.0.0.1:%d" % port) as d, MockGw("--idle-timeout", "400ms", "--drop", "rst") as gw:
        ctl = d.client()
        ctl.call("open", conn="m", url=gw.url, keepalive=QUIET, reconnect=policy(2, backoff_ms=50))
        st = wait_until(lambda: (lambda s: s if s["state"] == "closed" else None)(status(ctl, "m")), 10)
        assert st and st["reconnect"]["count"] == 2 and st["reconnect"]["gave_up"]
        assert st["record"]["cause"] == "reset" and st["reconnect"]["last_record"]["cause"] == "reset"
        assert gw.stats()["drops"]["idle"] == 3
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
        assert "\nwsfleet_reconnects_total 2\n" in text
        assert "\nwsfleet_reconnect_failures_total 0\n" in text
        assert 'wsfleet_closes_by_cause_total{cause="reset"} 3' in text
        assert d.stop(signal.SIGTERM) == 0
