"""The report's scenario side by side in real JMeter: 155 threads that open once, then think and
ping from the thread every loop, against the mock gateway's overload profile (above 150 sessions
the idle timeout drops to 45 s), time-scaled by SCALE so each run takes ~25 s.

  luminis plugin, 150 threads   below the threshold: no drops (the control)
  luminis plugin, 155 threads   overload: the thread-driven pings come too late, sessions drop,
                                JMeter shows the plugin's I/O errors ("end of stream") and no cause
  wsfleet, 155, keepalive ping  the daemon pings every 25 s on its own clock: no drops
  wsfleet, 155, keepalive none  the same drops as luminis, reported as 1006 with the cause

The gateway model (tests/mockgw) is a hypothesis about the real platform, not the platform.
"""

import os

from jmeter_harness import EXAMPLES, HERE, MockGateway, run_plan
from wsf_fixtures import Daemon

SCALE = 0.1
GATEWAY = ["--time-scale", SCALE, "--idle-timeout", "300", "--overload-above", "150",
           "--overload-idle-timeout", "45", "--activity", "any", "--drop", "fin", "--quiet"]


def ms(seconds):
    return int(seconds * 1000 * SCALE)


def plan_props(threads):
    # think 30-60 s between pings, as a plan whose users read and type; all scaled
    return {"threads": threads, "rampup": round(30 * SCALE), "duration": round(200 * SCALE),
            "think_ms": ms(30), "think_jitter_ms": ms(30), "read_timeout_ms": 5000}


def failed_threads(run):
    return sorted({r["threadName"] for r in run.failures()})


def report(name, run, stats):
    first = {}
    for r in run.failures():
        first.setdefault(r["threadName"], r)
    lines = ["%s: %d samples, %d failed in %d threads; gateway: %d sessions max, drops %s, pings in %d (%.0f s)"
             % (name, len(run.rows), len(run.failures()), len(first), stats["max_open"], stats["drops"],
                stats["pings_in"], run.seconds)]
    for r in list(first.values())[:3]:
        lines.append("    %s %s: %s %s" % (r["threadName"], r["label"], r["responseCode"], r["responseMessage"]))
    print("\n".join(lines))


def luminis(jmeter, tmp_path, threads):
    with MockGateway(*GATEWAY) as gw:
        run = run_plan(os.path.join(HERE, "luminis-155.jmx"), str(tmp_path),
                       dict(plan_props(threads), host="127.0.0.1", port=gw.port, path="/"),
                       name="luminis-%d" % threads, home=jmeter)
        stats = gw.stop()
    assert run.returncode == 0, run.output
    assert len(run.by_label("open")) == threads, run.describe()
    report("luminis %d" % threads, run, stats)
    return run, stats


def wsfleet(jmeter, tmp_path, keepalive):
    with Daemon() as d, MockGateway(*GATEWAY) as gw:
        run = run_plan(os.path.join(EXAMPLES, "sessions-155.jmx"), str(tmp_path),
                       dict(plan_props(155), url=gw.url, keepalive=keepalive, keepalive_ms=ms(25),
                            pong_timeout_ms=ms(10), **{"wsfleet.socket": d.socket,
                                                       "wsfleet.record_variables": "ws_",
                                                       "sample_variables": "ws_since_sent_ms,ws_open_conns"}),
                       name="wsfleet-" + keepalive, home=jmeter)
        daemon_stats = d.client().call("stats")  # before the gateway's exit closes everything
        stats = gw.stop()
    assert run.returncode == 0, run.output
    assert len(run.by_label("open")) == 155 and not run.failures("open"), run.describe()
    report("wsfleet 155 keepalive=%s" % keepalive, run, stats)
    return run, stats, daemon_stats


def test_luminis_below_the_overload_threshold_keeps_every_session(jmeter, tmp_path):
    run, stats = luminis(jmeter, tmp_path, 150)
    assert stats["max_open"] == 150 and stats["overload_engaged"] == 0
    assert stats["drops"]["idle_overload"] == 0 and not run.failures(), run.describe()


def test_luminis_at_155_loses_sessions_and_cannot_say_why(jmeter, tmp_path):
    run, stats = luminis(jmeter, tmp_path, 155)
    drops = stats["drops"]["idle_overload"]
    assert drops >= 1 and stats["overload_engaged"] >= 1, stats
    # each dropped session is one thread whose pings fail from then on
    assert len(failed_threads(run)) == drops, run.describe()
    first_errors = {}
    for r in run.failures():
        first_errors.setdefault(r["threadName"], r)
    for r in first_errors.values():
        assert r["label"] == "ping"
        # an I/O error from the plugin: no close code, no cause, no timing
        assert "end of stream" in r["responseMessage"] or "I/O" in r["responseMessage"], r
        assert "1006" not in r["responseCode"]


def test_wsfleet_at_155_with_daemon_keepalive_drops_nothing(jmeter, tmp_path):
    run, stats, daemon_stats = wsfleet(jmeter, tmp_path, "ping")
    assert stats["max_open"] == 155 and stats["overload_engaged"] >= 1, stats
    assert {"idle", "idle_overload", "heartbeat"} <= set(stats["drops"]) and not any(stats["drops"].values()), stats
    assert not run.failures(), run.describe()
    # the daemon's own pings, beside the threads' ping samplers
    assert daemon_stats["heartbeats_sent"] >= 155 * 3, daemon_stats
    assert daemon_stats["open"] == 155


def test_wsfleet_at_155_without_keepalive_reports_1006_with_the_cause(jmeter, tmp_path):
    run, stats, daemon_stats = wsfleet(jmeter, tmp_path, "none")
    drops = stats["drops"]["idle_overload"]
    assert drops >= 1, stats
    assert len(failed_threads(run)) == drops, run.describe()
    assert daemon_stats["closes_by_code"] == {"1006": drops}, daemon_stats
    for r in run.failures():
        assert r["label"] == "ping" and r["responseCode"] == "1006", r
        # code and cause in fixed words (one dashboard row); the time since the last client frame
        # and the sessions open at the drop are JTL columns (wsfleet.record_variables)
        assert r["responseMessage"] == "1006 eof: dropped by peer (TCP FIN, no close frame)", r
        assert int(r["ws_since_sent_ms"]) >= ms(45) - 50, r  # the overload idle timeout (scaled)
        assert int(r["ws_open_conns"]) >= 150, r
