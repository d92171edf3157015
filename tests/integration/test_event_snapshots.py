"""Snapshots in the event log and the daemon's own loop lateness (PROTOCOL.md stats and section 10):
what `wsfleet report` reads to tell "the server dropped quiet sessions at high concurrency" from
"the client was late", while the daemon runs and after it stops."""

import os
import signal
import statistics
import time

from wsf_fixtures import Daemon, PyServer, wait_until

PING_100MS = {"mode": "ping", "interval_ms": 100, "jitter_ms": 0, "pong_timeout_ms": 5000}
QUIET = {"mode": "none"}


def expected_open(events, at_ms):
    """Connections open or closing at at_ms according to the open and close events (a close event is
    written when the connection has ended, after its close handshake)."""
    opened = sum(1 for e in events if e["event"] == "open" and e["at_ms"] <= at_ms)
    closed = sum(1 for e in events if e["event"] == "close" and e["at_ms"] <= at_ms)
    return opened - closed


def near_an_event(events, at_ms, margin_ms=5):
    return any(abs(e["at_ms"] - at_ms) <= margin_ms for e in events if e["event"] in ("open", "close"))


def test_snapshots_come_at_the_interval_with_the_open_count_and_the_longest_client_silence():
    with Daemon("--snapshot-interval-ms", "200") as d, PyServer("echo") as echo:
        ctl = d.client()
        assert wait_until(lambda: d.events("snapshot"), 3)
        first = d.events("snapshot")[0]
        assert first["open"] == 0 and first["max_silence_us"] is None and first["opens"] == 0

        # Phase 1: one session that pings every 100 ms: the longest silence stays near 100 ms.
        ctl.call("open", conn="pinger", url=echo.url, keepalive=PING_100MS)
        time.sleep(1.0)
        pinger_open = d.events("open")[0]["at_ms"]
        phase1 = [s for s in d.events("snapshot") if s["at_ms"] > pinger_open + 300]
        assert len(phase1) >= 2
        for s in phase1:
            # A ping goes every 100 ms; a late heartbeat (reported alongside) makes a longer silence.
            assert s["open"] == 1 and s["max_silence_us"] <= 100_000 + s["heartbeat_late_us"]["max"] + 50_000, s

        # Phase 2: two sessions that never send; the longest silence is the older one's age.
        ctl.call("open", conn="q1", url=echo.url, keepalive=QUIET)
        ctl.call("open", conn="q2", url=echo.url, keepalive=QUIET)
        time.sleep(1.0)
        ctl.call("close", conn="q2")
        time.sleep(0.6)
        events = d.events()
        q1_open = next(e for e in events if e["event"] == "open" and e["conn"] == "q1")["at_ms"]
        q2_close = next(e for e in events if e["event"] == "close" and e["conn"] == "q2")["at_ms"]
        snaps = [e for e in events if e["event"] == "snapshot"]

        gaps = [b["at_ms"] - a["at_ms"] for a, b in zip(snaps, snaps[1:])]
        assert min(gaps) >= 199, gaps  # a repeating timer never fires early (wall ms may round down 1)
        assert 199 <= statistics.median(gaps) <= 300, gaps

        for s in snaps:
            for key in ("open", "connecting", "closing", "opens", "closes"):
                assert isinstance(s[key], int) and s[key] >= 0, (key, s)
            for key in ("loop_lag_us", "heartbeat_late_us"):
                assert set(s[key]) == {"p99", "max"} and 0 <= s[key]["p99"] <= s[key]["max"], (key, s)
            if not near_an_event(events, s["at_ms"]):
                assert s["open"] + s["closing"] == expected_open(events, s["at_ms"]), s
            if q1_open + 5 < s["at_ms"]:
                # q1 has been silent since its open: the longest silence is its age (the pinger's is shorter).
                assert abs(s["max_silence_us"] / 1000 - (s["at_ms"] - q1_open)) <= 50, (s, q1_open)
        assert [s["open"] for s in snaps if s["at_ms"] > q2_close + 5][:2] == [2, 2]
        assert sum(s["opens"] for s in snaps) == 3
        assert sum(s["closes"] for s in snaps) == 1
        # A heartbeat every 100 ms for ~2.6 s shows up as lateness samples (zeros where no beat was due).
        assert d.stop() == 0


def test_a_stalled_loop_shows_as_loop_lag_and_late_heartbeats_in_the_next_snapshot():
    with Daemon("--snapshot-interval-ms", "200") as d, PyServer("echo") as echo:
        ctl = d.client()
        ctl.call("open", conn="beat", url=echo.url, keepalive=PING_100MS)
        time.sleep(0.6)
        before = d.events("snapshot")
        assert before and all(s["loop_lag_us"]["max"] < 400_000 for s in before)
        # Freeze the whole daemon for 500 ms, as a saturated host or a swapped-out process would.
        os.kill(d.pid, signal.SIGSTOP)
        time.sleep(0.5)
        os.kill(d.pid, signal.SIGCONT)
        time.sleep(0.6)
        after = d.events("snapshot")[len(before):]
        lag = max(s["loop_lag_us"]["max"] for s in after)
        late = max(s["heartbeat_late_us"]["max"] for s in after)
        # The 50 ms sampler was due within 50 ms of the stall's start, a 100 ms heartbeat within 100 ms.
        assert 450_000 <= lag < 2_000_000, after
        assert 350_000 <= late < 2_000_000, after
        stats = ctl.call("stats")
        due = (stats["uptime_us"] - 500_000) // 50_000  # firings due while the daemon ran unstalled
        stats = stats["loop_lag_us"]
        assert stats["max"] >= lag and stats["count"] >= due // 2, (stats, due)
        assert stats["p50"] <= stats["p99"] <= stats["max"]
        assert ctl.call("status", conn="beat")["state"] == "open"
        assert d.stop() == 0


def test_interval_zero_writes_no_snapshot_but_the_loop_lag_is_still_measured():
    with Daemon("--snapshot-interval-ms", "0") as d:
        ctl = d.client()
        time.sleep(1.0)
        lag = ctl.call("stats")["loop_lag_us"]
        # One sample per 50 ms timer (20 in 1 s); a busy shared host delays some, none are skipped.
        assert set(lag) == {"count", "p50", "p99", "max"} and lag["count"] >= 10
        start = d.events("start")[0]
        assert start["config"]["snapshot_interval_ms"] == 0
        assert d.stop() == 0
        assert not d.events("snapshot")


def test_a_reset_starts_the_interval_counts_again_from_zero():
    with Daemon("--snapshot-interval-ms", "100") as d, PyServer("echo") as echo:
        ctl = d.client()
        for i in range(3):
            ctl.call("open", conn="r%d" % i, url=echo.url, keepalive=QUIET)
        time.sleep(0.4)
        assert ctl.call("reset")["closed"] == 3
        reset_at = time.time() * 1000
        time.sleep(0.2)
        ctl.call("open", conn="again", url=echo.url, keepalive=QUIET)
        time.sleep(0.4)
        snaps = d.events("snapshot")
        assert sum(s["opens"] for s in snaps) == 4
        assert all(s["opens"] <= 3 and s["closes"] <= 3 for s in snaps), snaps
        after = [s for s in snaps if s["at_ms"] > reset_at + 150]
        assert after and after[-1]["open"] == 1 and after[-1]["opens"] == 0
        assert d.stop() == 0
