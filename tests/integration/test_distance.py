"""Distance (README "Distance"): python3-websockets in a network namespace of its own, behind the
emulated link of wsfleet_tools/netdelay.py (this kernel has no tc netem), and wsfleetd in another
namespace on the far side of it. What a far region changes must show in the daemon's own figures:
`open`'s timings (connect = one round trip for SYN/SYN-ACK, upgrade = one for the HTTP upgrade), the
`ping` method's rtt_us, stats.ping_rtt_us and the Prometheus handshake histograms; and with packet
loss, TCP retransmits so every message still arrives while the link counts what it dropped.

Every bound is checked both ways: not below the emulated round trip (so the delay is really on the
path), not far above it (so the emulator adds little of its own; its measured lateness is p99 under
1 ms at these rates, see tests/bench/RESULTS.md). About 20 s."""

import subprocess
import sys

import pytest

from wsf_fixtures import Daemon, PyServer
from wsfleet_tools import distance

WHY_NOT = distance.unavailable()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")

RTT_MS = 100.0
JITTER_MS = 10.0
# Above the largest emulated round trip (RTT + jitter): the python peer's and the daemon's own
# work and the forwarder's lateness. Generous for a 2-core machine shared by other jobs, yet a
# second round trip in a step (e.g. a lost SYN-ACK or an extra exchange) would still exceed it.
SLACK_MS = 40.0
LOW_US = (RTT_MS - JITTER_MS) * 1000
HIGH_US = (RTT_MS + JITTER_MS + SLACK_MS) * 1000


def at_one_round_trip(samples_us):
    """Every sample at least the link's shortest round trip (the delay is really on the path);
    their median within one round trip plus slack, and none near two round trips (no step takes a
    second exchange). One sample may be late by a scheduling stall of the python peer on the shared
    machine (seen once: 169 ms of 100), which is not the link's; the median is."""
    s = sorted(samples_us)
    return s[0] >= LOW_US and s[len(s) // 2] <= HIGH_US and s[-1] < 2 * (RTT_MS - JITTER_MS) * 1000


def far_peer(link, **opts):
    """A python3-websockets peer in the gateway's namespace, listening on the link's far address."""
    peer = PyServer("echo", host=opts.pop("host", link.gateway_addr), **opts)
    peer.cmd = link.gateway_ns + peer.cmd
    return peer


@pytest.fixture
def link():
    with distance.FarLink(rtt_ms=RTT_MS, jitter_ms=JITTER_MS, seed=17) as lk:
        yield lk


def test_the_handshake_phases_and_ping_round_trips_show_the_distance(link):
    with far_peer(link) as peer, Daemon(wrapper=link.client_ns) as d:
        c = d.client()
        url = "ws://%s:%d/" % (link.gateway_addr, peer.port)
        opens = [c.call("open", conn="far%d" % i, url=url) for i in range(5)]
        timings = [r["timings"] for r in opens]
        assert at_one_round_trip([t["connect_us"] for t in timings]), timings
        assert at_one_round_trip([t["upgrade_us"] for t in timings]), timings
        assert at_one_round_trip([t["total_us"] / 2 for t in timings]), timings
        assert all(r["address"].startswith(link.gateway_addr) for r in opens), opens
        rtts = [c.call("ping", conn="far%d" % (i % 5))["rtt_us"] for i in range(10)]
        assert at_one_round_trip(rtts), rtts
        reqs = [c.call("request", conn="far0", data="hello%d" % i, timeout_ms=5000) for i in range(5)]
        assert [r["data"] for r in reqs] == ["hello%d" % i for i in range(5)]
        assert at_one_round_trip([r["rtt_us"] for r in reqs]), reqs
        # The status of a connection and the daemon-wide histogram carry the same round trips.
        assert LOW_US <= c.call("status", conn="far4")["ping_rtt_us"] <= max(rtts)
        h = c.call("stats")["ping_rtt_us"]
        # Quantiles are bucket upper bounds, at most 19 % above the true value (PROTOCOL.md stats).
        assert h["count"] == 10 and LOW_US <= h["p50"] <= HIGH_US * 1.19 and h["max"] == max(rtts), h
    counters = link.stop_forwarder()
    for direction in ("client_to_gateway", "gateway_to_client"):
        dc = counters[direction]
        assert dc["forwarded"] > 20 and dc["lost"] == 0 and dc["queue_full"] == 0, dc
        assert RTT_MS / 2 - JITTER_MS / 2 <= dc["mean_delay_ms"] <= RTT_MS / 2 + JITTER_MS / 2, dc


def test_ipv6_crosses_the_same_link(link):
    with far_peer(link, host=link.gateway_addr6) as peer, Daemon(wrapper=link.client_ns) as d:
        c = d.client()
        opens = [c.call("open", conn="v6-%d" % i, url="ws://[%s]:%d/" % (link.gateway_addr6, peer.port))
                 for i in range(3)]
        assert all(r["address"].startswith("[" + link.gateway_addr6) or r["address"].startswith(link.gateway_addr6)
                   for r in opens), opens
        assert at_one_round_trip([r["timings"]["connect_us"] for r in opens]), opens
        assert at_one_round_trip([r["timings"]["upgrade_us"] for r in opens]), opens


def scrape_in(ns_prefix, port):
    """GET /metrics from inside the daemon's namespace (its 127.0.0.1 is not the test's)."""
    code = "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(%r, timeout=10).read().decode())" % (
        "http://127.0.0.1:%d/metrics" % port)
    return subprocess.run(ns_prefix + [sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, check=True).stdout


def bucket_counts(text, phase):
    """{le (float): cumulative count} of wsfleet_handshake_phase_seconds for `phase`."""
    out = {}
    for line in text.splitlines():
        if line.startswith("wsfleet_handshake_phase_seconds_bucket{") and 'phase="%s"' % phase in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def test_the_prometheus_handshake_histograms_show_the_distance(link):
    port = 19317  # any port: it is on the loopback of the daemon's own namespace
    with far_peer(link) as peer, Daemon("--metrics", "127.0.0.1:%d" % port, wrapper=link.client_ns) as d:
        c = d.client()
        for i in range(4):
            c.call("open", conn="m%d" % i, url="ws://%s:%d/" % (link.gateway_addr, peer.port))
        text = scrape_in(link.client_ns, port)
    for phase in ("connect", "upgrade"):
        b = bucket_counts(text, phase)
        assert b[float("inf")] == 4, b
        # None below the round trip; the median (2 of 4) within it plus slack, all below two round
        # trips (the bucket bounds are powers of 2^(1/4), so up to 19 % above a value).
        assert max(n for le, n in b.items() if le < LOW_US / 1e6) == 0, b
        assert min(n for le, n in b.items() if le >= HIGH_US * 1.19 / 1e6) >= 2, b
        assert min(n for le, n in b.items() if le >= 2 * (RTT_MS - JITTER_MS) / 1e3 * 1.19) == 4, b


def test_with_packet_loss_tcp_retransmits_and_every_message_arrives():
    with distance.FarLink(rtt_ms=40, loss=0.05, seed=5) as link:
        with far_peer(link) as peer, Daemon(wrapper=link.client_ns) as d:
            c = d.client()
            c.call("open", conn="lossy", url="ws://%s:%d/" % (link.gateway_addr, peer.port), connect_timeout_ms=20000)
            replies = [c.call("request", conn="lossy", data="m%d" % i, timeout_ms=20000) for i in range(150)]
            assert [r["data"] for r in replies] == ["m%d" % i for i in range(150)]
            rtts = sorted(r["rtt_us"] for r in replies)
            assert rtts[0] >= 40000, rtts[:5]
            # Some requests waited for a retransmission: at least one minimum RTO (200 ms) above the RTT.
            assert rtts[-1] >= 40000 + 200000, rtts[-5:]
            st = c.call("status", conn="lossy")
            assert st["state"] == "open" and st["msgs_in"] == 150, st
            assert len(peer.records("message")) == 150
        counters = link.stop_forwarder()
    lost = counters["client_to_gateway"]["lost"] + counters["gateway_to_client"]["lost"]
    sent = counters["client_to_gateway"]["packets"] + counters["gateway_to_client"]["packets"]
    assert counters["client_to_gateway"]["lost"] > 0 and counters["gateway_to_client"]["lost"] > 0, counters
    assert 0.02 <= lost / sent <= 0.10, counters  # 5 % drawn per packet, seeded
