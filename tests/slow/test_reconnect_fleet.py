"""A fleet on the reconnect policy and the rate limit at once (issue 18): 1,000 connections to the mock
gateway, which ends every session after --max-age and allows 5 messages per second per session. Each
connection sends a burst of 10 at once and a text heartbeat every 300 ms; the daemon reopens every dropped
session (max 2) and paces every message under the gateway's limit. Expected: every drop reopened (2,000
reconnects, none failed), every drop still a drop in the counters and the event log, not one 429. Prints
the daemon's CPU time and RSS (the figures for the issue)."""

import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))

from mockgw_runner import MockGw  # noqa: E402
from wsf_fixtures import Daemon, wait_until  # noqa: E402

N = int(os.environ.get("WSF_RECONNECT_FLEET", "1000"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def test_a_fleet_reconnects_every_drop_and_never_breaks_the_rate_limit():
    with Daemon("--max-handshakes", "200") as d, \
            MockGw("--max-age", "4s", "--max-age-drop", "rst", "--rate-limit", "5", "--rate-window", "1s") as gw:
        ctl = d.client(timeout=120)
        hb = {"mode": "text", "payload": '{"action":"echo","message":"hb"}', "interval_ms": 300, "jitter_ms": 30}
        t0 = time.monotonic()
        cpu0 = cpu_s(d.pid)
        for i in range(N):
            ctl.send("open", {"conn": "f%d" % i, "url": gw.url, "keepalive": hb,
                              "reconnect": {"max": 2, "backoff_ms": 500, "jitter_ms": 500},
                              "rate_limit": {"messages": 5, "per_ms": 1000}})
        for _ in range(N):
            _, error, _ = ctl.recv_response(timeout=60)
            assert error is None, error
        opened_s = time.monotonic() - t0
        for i in range(N):
            for _ in range(10):
                ctl.send("send", {"conn": "f%d" % i, "data": '{"action":"echo","message":"burst"}'})
        for _ in range(N * 10):
            _, error, _ = ctl.recv_response(timeout=60)
            assert error is None, error
        # Two drops per connection at ~4 s and ~8.5 s (4 s of session + 0.5-1 s of backoff), each reopened.
        assert wait_until(lambda: ctl.call("stats")["reconnects_total"] >= 2 * N, 40), ctl.call("stats")
        elapsed = time.monotonic() - t0
        cpu = cpu_s(d.pid) - cpu0
        rss = d.rss_kb()
        stats = ctl.call("stats")
        gws = gw.stats()
        print("\n%d connections, %d reconnects in %.1f s (opens took %.1f s): daemon CPU %.2f s (%.1f %% of a core), "
              "RSS %d KiB, %d messages paced, gateway rate_limited %d, heartbeats %d"
              % (N, stats["reconnects_total"], elapsed, opened_s, cpu, 100 * cpu / elapsed, rss,
                 stats["output"]["paced"], gws["rate_limited"], stats["heartbeats_sent"]))
        assert stats["reconnects_total"] == 2 * N and stats["reconnect_failures_total"] == 0
        assert stats["closes_by_cause"].get("reset", 0) >= 2 * N  # every drop counted as one
        assert stats["output"]["paced"] >= N * 5  # the bursts waited
        assert gws["rate_limited"] == 0
        assert d.stop(signal.SIGTERM, timeout=60) == 0
        closes = [e for e in d.events("close") if e.get("reconnect")]
        assert len(closes) == 2 * N and len(d.events("reconnect")) == 2 * N
