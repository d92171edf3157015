"""The emulated link's model (netdelay.LinkDirection) without sockets or clocks: times are passed in,
so each rule (delay, jitter bounds, order kept, loss fraction, queue limits, rate) is pinned exactly.
Also the option parsing of `wsfleet repro --rtt/--jitter/--loss` and the distance figures it reads
from a phase's events, and its refusal without root. No root needed (test_distance.py runs the real
link)."""

import os
import shutil
import subprocess

import pytest

from wsfleet_tools import netdelay, repro_distance
from wsfleet_tools.netdelay import LinkDirection


def feed(d, times, size=100):
    return [d.admit(b"x" * size, t) for t in times]


def test_every_packet_is_held_for_the_one_way_delay():
    d = LinkDirection("c2g", delay_s=0.09)
    rel = feed(d, [0.0, 0.001, 0.5])
    assert rel == pytest.approx([0.09, 0.091, 0.59])
    assert d.due(0.0899) == []
    assert [r for r, _ in d.due(0.0915)] == pytest.approx([0.09, 0.091])
    assert d.next_release() == pytest.approx(0.59)


def test_jitter_stays_in_bounds_and_order_is_kept_unless_reordering_is_asked():
    kept = LinkDirection("c2g", delay_s=0.09, jitter_s=0.005, seed=3)
    times = [i * 0.0005 for i in range(4000)]
    rel = feed(kept, times)
    assert rel == sorted(rel)  # never before the packet ahead
    delays = [r - t for r, t in zip(rel, times)]
    assert min(delays) >= 0.085 - 1e-9 and max(delays) <= 0.095 + 1e-9
    # Packets 0.5 ms apart under ±5 ms of jitter mostly wait for a predecessor's larger draw.
    assert sum(delays) / len(delays) > 0.092
    free = LinkDirection("c2g", delay_s=0.09, jitter_s=0.005, seed=3, reorder=True)
    rel = feed(free, times)
    assert rel != sorted(rel)
    delays = [r - t for r, t in zip(rel, times)]
    assert abs(sum(delays) / len(delays) - 0.09) < 0.0005  # uniform around the delay
    out = [r for r, _ in free.due(10.0)]
    assert out == sorted(out)  # released in time order even when reordered


def test_loss_is_drawn_per_packet_with_the_seed():
    a = LinkDirection("c2g", delay_s=0.0, loss=0.05, seed=7, limit_packets=20000)
    b = LinkDirection("c2g", delay_s=0.0, loss=0.05, seed=7, limit_packets=20000)
    ra, rb = feed(a, [0.0] * 20000), feed(b, [0.0] * 20000)
    assert ra == rb  # same seed, same packets lost
    assert 0.045 < a.c["lost"] / 20000 < 0.055
    assert a.counters()["forwarded"] == 0 and len(a.due(1.0)) == 20000 - a.c["lost"]


def test_the_queue_is_bounded_in_packets_and_bytes_and_drops_are_counted():
    d = LinkDirection("c2g", delay_s=1.0, limit_packets=10, limit_bytes=1 << 20)
    feed(d, [0.0] * 15)
    assert d.c["queue_full"] == 5 and len(d.heap) == 10
    d = LinkDirection("c2g", delay_s=1.0, limit_packets=100, limit_bytes=1000)
    feed(d, [0.0] * 15, size=300)
    assert d.c["queue_full"] == 12 and d.queued_bytes == 900 and d.c["max_queued_bytes"] == 900
    d.due(2.0)
    assert d.queued_bytes == 0 and feed(d, [2.0], size=300) == [3.0]


def test_a_rate_serialises_packets_before_the_delay():
    d = LinkDirection("c2g", delay_s=0.01, rate_bps=8000)  # 1,000 bytes per second
    assert feed(d, [0.0, 0.0], size=100) == pytest.approx([0.11, 0.21])
    assert feed(d, [1.0], size=100) == pytest.approx([1.11])


def test_counters_report_lateness_and_mean_delay():
    d = LinkDirection("c2g", delay_s=0.05)
    feed(d, [0.0, 0.0])
    for release, packet in d.due(0.06):
        d.sent(release, 0.0502, True, len(packet))
    c = d.counters()
    assert c["forwarded"] == 2 and c["mean_delay_ms"] == 50.0 and c["late_us"]["max"] == pytest.approx(200.0)


def test_option_values():
    assert netdelay.parse_duration_ms("180ms") == 180
    assert netdelay.parse_duration_ms("0.18s") == 180
    assert netdelay.parse_duration_ms("500us") == 0.5
    assert netdelay.parse_duration_ms("90") == 90
    assert netdelay.parse_fraction("1%") == 0.01 and netdelay.parse_fraction("0.05") == 0.05
    assert netdelay.parse_rate_bps("10mbit") == 10e6
    for bad in ("fast", "-3ms", "1h"):
        with pytest.raises(ValueError):
            netdelay.parse_duration_ms(bad)
    with pytest.raises(ValueError):
        netdelay.parse_fraction("100%")


def test_repro_link_settings():
    assert repro_distance.link_settings(None, None, None, 1) is None
    s = repro_distance.link_settings("180ms", "10ms", "1%", 4)
    assert s == {"rtt_ms": 180.0, "jitter_ms": 10.0, "loss": 0.01, "seed": 4}
    assert repro_distance.link_settings(None, None, "2%", 1)["rtt_ms"] == 0.0  # loss alone
    with pytest.raises(ValueError, match="jitter"):
        repro_distance.link_settings("5ms", "10ms", None, 1)
    assert repro_distance.link_words(s) == "RTT 180 ms ± 10 ms, loss 1 % per packet each way"


def test_phase_figures_read_the_handshake_phases_pings_and_pong_timeouts():
    events = [{"event": "open", "timings": {"connect_us": 180000 + i * 1000, "upgrade_us": 185000,
                                            "total_us": 366000}} for i in range(10)]
    events.append({"event": "close", "record": {"cause": "pong_timeout"}})
    events.append({"event": "close", "record": {"cause": "eof"}})
    f = repro_distance.phase_figures(events, [181000, 183000], {"ping_rtt_us": {"count": 2, "p50": 185000,
                                                                               "p99": 190000, "max": 183000}})
    assert f["connect_ms"] == {"count": 10, "min": 180.0, "p50": 185.0, "p90": 189.0, "max": 189.0}
    assert f["upgrade_ms"]["p50"] == 185.0 and f["total_ms"]["max"] == 366.0
    assert f["sampler_ping_rtt_ms"]["min"] == 181.0 and f["daemon_ping_rtt_ms"]["p50"] == 185.0
    assert f["pong_timeouts"] == 1
    assert repro_distance.phase_figures([], [], {})["connect_ms"] is None


def test_repro_at_a_distance_refuses_without_root_and_says_why():
    """As an unprivileged user (nobody, via setpriv, when the tests run as root)."""
    wsfleet = os.path.join(os.environ.get("WSF_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", ".."),
                           "daemon", "cli", "wsfleet")
    drop = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to become unprivileged")
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    r = subprocess.run(drop + ["/usr/bin/python3", wsfleet, "repro", "--rtt", "180ms", "--phases", "A"],
                       capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "needs root" in r.stderr and "--rtt" in r.stderr, r.stderr
