"""open's rate_limit (PROTOCOL.md §5, rate_limit): the daemon holds data messages (sends and text heartbeats
alike) in order so that no window of per_ms carries more than `messages`, counted at the peer by arrival
time; against the mock gateway's per-session limit a paced burst never gets a 429 while the same burst
unpaced does; held messages count toward --max-output-bytes."""

import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))

from mockgw_runner import MockGw  # noqa: E402
from wsf_fixtures import PyServer, RpcError, wait_until  # noqa: E402

QUIET = {"mode": "none"}


def echo_action(text):
    return '{"action":"echo","message":"%s"}' % text


def heartbeat(interval_ms):
    return {"mode": "text", "payload": echo_action("hb"), "interval_ms": interval_ms, "jitter_ms": 0}


def burst(ctl, conn, n, prefix="m"):
    return [ctl.call("send", conn=conn, data=echo_action("%s%d" % (prefix, i))) for i in range(n)]


def most_in_any_window(times, window_s):
    """The most arrival times that fall in any interval [t, t + window_s)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_no_window_at_the_peer_carries_more_than_messages(ctl):
    with PyServer("sink") as srv:
        ctl.call("open", conn="p", url=srv.url, keepalive=heartbeat(250),
                 rate_limit={"messages": 5, "per_ms": 1000})
        results = burst(ctl, "p", 20)
        paced = [r["paced_us"] for r in results]
        assert paced[0] == 0 and all(p > 0 for p in paced[5:]), paced  # five per window at most
        assert paced[-1] > 2_000_000, paced  # the last waits ~ 20/5 windows of 1 s, heartbeats aside
        srv.wait_for("message", count=20 + 4, timeout=20)
        msgs = srv.records("message")
        sent = [m["data"] for m in msgs if '"hb"' not in m["data"]]
        assert sent == [echo_action("m%d" % i) for i in range(20)]  # in order
        hb = [m for m in msgs if '"hb"' in m["data"]]
        assert hb, "heartbeats are paced too, not starved"
        # Counted where they arrived (the peer's clock): never more than 5 in any 1 s.
        assert most_in_any_window([m["t"] for m in msgs], 1.0) <= 5
        st = ctl.call("status", conn="p")
        rl = st["rate_limit"]
        assert rl["messages"] == 5 and rl["per_ms"] == 1000 and rl["delayed"] >= 15
        assert rl["margin_ms"] == 100  # the default: a tenth of per_ms, at most 100 ms
        assert rl["max_delay_us"] > 2_000_000
        assert ctl.call("stats")["output"]["paced"] >= 15


def test_paced_burst_and_heartbeats_never_break_the_gateways_limit(ctl):
    with MockGw("--rate-limit", "5", "--rate-window", "500ms") as gw:
        ctl.call("open", conn="p", url=gw.url, keepalive=heartbeat(100),
                 rate_limit={"messages": 5, "per_ms": 500})
        burst(ctl, "p", 20)
        for i in range(20):
            got = ctl.call("recv", conn="p", contains='"m%d"' % i, timeout_ms=10000)
            assert '"code":200' in got["data"]
        # The heartbeats queued behind the burst go out after it, still under the limit.
        assert wait_until(lambda: ctl.call("status", conn="p")["keepalive"]["sent"] >= 3, 5)
        time.sleep(0.3)
        assert gw.stats()["rate_limited"] == 0
        with pytest.raises(RpcError) as e:
            ctl.call("recv", conn="p", contains="429", timeout_ms=0)
        assert e.value.code == "timeout"


def test_the_same_burst_unpaced_gets_429(ctl):
    with MockGw("--rate-limit", "5", "--rate-window", "500ms") as gw:
        ctl.call("open", conn="u", url=gw.url, keepalive=heartbeat(100))
        results = burst(ctl, "u", 20)
        assert all("paced_us" not in r for r in results)
        got = ctl.call("recv", conn="u", contains="429", timeout_ms=5000)
        assert "Message rate limit exceeded" in got["data"]
        assert gw.stats()["rate_limited"] >= 10


@pytest.mark.parametrize("daemon_args", [("--max-output-bytes", "4096")])
def test_held_bytes_over_the_output_cap_are_refused(ctl, daemon_args):
    with PyServer("sink") as srv:
        ctl.call("open", conn="p", url=srv.url, keepalive=QUIET, rate_limit={"messages": 1, "per_ms": 60000})
        data = "x" * 1000
        for _ in range(5):  # one written, four held: 4,000 bytes
            ctl.call("send", conn="p", data=data)
        ctl.call("send", conn="p", data=data)  # 4,000 ≤ 4,096 still: held (5,000 now)
        with pytest.raises(RpcError) as e:
            ctl.call("send", conn="p", data=data)
        assert e.value.code == "limit_exceeded" and e.value.details["limit"] == "max_output_bytes"
        st = ctl.call("status", conn="p")["rate_limit"]
        assert st["held"] == 5 and st["held_bytes"] == 5000
        ctl.call("close", conn="p")
        assert ctl.call("status", conn="p")["rate_limit"]["dropped"] == 5


def test_bad_rate_limits_are_refused(ctl, echo):
    for bad in ({"messages": 0, "per_ms": 100}, {"messages": 5, "per_ms": 0}, {"messages": 10001, "per_ms": 1},
                {"messages": "x", "per_ms": 1}, {"messages": 5, "per_ms": 100, "margin_ms": 101}):
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="b", url=echo.url, rate_limit=bad)
        assert e.value.code == "bad_request", bad


def test_a_reconnect_starts_its_session_without_the_old_ones_held_messages(ctl):
    with MockGw("--max-age", "600ms", "--max-age-drop", "rst") as gw:
        ctl.call("open", conn="r", url=gw.url, keepalive=QUIET, rate_limit={"messages": 1, "per_ms": 5000},
                 reconnect={"max": 1, "backoff_ms": 50, "jitter_ms": 0})
        for i in range(3):  # the first is written; two are held when the gateway ends the session
            ctl.call("send", conn="r", data=echo_action("m%d" % i))
        assert ctl.call("status", conn="r")["rate_limit"]["held"] == 2
        assert wait_until(lambda: ctl.call("status", conn="r")["reconnect"]["count"] == 1, 5)
        st = ctl.call("status", conn="r")
        assert st["rate_limit"]["dropped"] == 2 and st["rate_limit"]["held"] == 0
        assert gw.stats()["msgs_in"] == 1


def test_a_heartbeat_due_while_one_is_held_is_skipped(ctl):
    with PyServer("sink") as srv:
        ctl.call("open", conn="h", url=srv.url, keepalive=heartbeat(150), rate_limit={"messages": 1, "per_ms": 60000})
        time.sleep(1.5)
        st = ctl.call("status", conn="h")
        # One beat written, one held; the eight or so due meanwhile skipped instead of piling up.
        assert st["keepalive"]["sent"] == 1 and st["rate_limit"]["held"] == 1
        assert st["keepalive"]["skipped"] >= 5
        assert len(srv.records("message")) == 1


def test_a_margin_given_is_the_one_applied(ctl, echo):
    ctl.call("open", conn="m0", url=echo.url, keepalive=QUIET, rate_limit={"messages": 1, "per_ms": 300, "margin_ms": 0})
    ctl.call("open", conn="m1", url=echo.url, keepalive=QUIET, rate_limit={"messages": 1, "per_ms": 300})
    assert ctl.call("status", conn="m0")["rate_limit"]["margin_ms"] == 0
    assert ctl.call("status", conn="m1")["rate_limit"]["margin_ms"] == 30
    for conn, window in (("m0", 300_000), ("m1", 330_000)):
        ctl.call("send", conn=conn, data="a")
        second = ctl.call("send", conn=conn, data="b")
        assert window - 60_000 < second["paced_us"] <= window, (conn, second)


def test_a_paced_request_says_how_long_it_was_held(ctl, echo):
    ctl.call("open", conn="q", url=echo.url, keepalive=QUIET, rate_limit={"messages": 1, "per_ms": 400})
    t0 = time.monotonic()
    first = ctl.call("request", conn="q", data="one", timeout_ms=3000)
    t1 = time.monotonic()
    second = ctl.call("request", conn="q", data="two", timeout_ms=3000)
    assert first["paced_us"] == 0 and first["data"] == "one"
    # The second waits for the window (400 ms + the default 40 ms margin) that the first one's write opened.
    expected = 440_000 - (t1 - t0) * 1e6
    assert abs(second["paced_us"] - expected) < 50_000, (second["paced_us"], expected)
    assert second["data"] == "two" and second["rtt_us"] >= second["paced_us"] - 50_000
