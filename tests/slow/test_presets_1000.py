"""Issue 18's "done when": each preset keeps 1,000 sessions alive against its real server for longer than
that server's heartbeat timeout while nobody sends anything from the plan, with zero drops.

Per preset: 1,000 opens pipelined on one control connection (in chunks of 100), then HOLD_S seconds
of silence from the test — several times the server's heartbeat timeout, set short:
  socketio4       socket.io 4.8.4, pingInterval 1 s + pingTimeout 1 s (a silent client is dropped after 2 s)
  echo-heartbeat  mock gateway --require-heartbeat 2s (drops a session without an echo for 2 s)
  stomp12         RabbitMQ 3.10 Web-STOMP, heart-beat 1000,1000 (it ends a silent client after ~3 s)
  signalr-json    our SignalR hub server, ClientTimeoutInterval 2 s, KeepAliveInterval 1 s
then zero drops on both sides: the daemon's `stats` (no close, no failed open) and the server's own
counters (no disconnect). Printed figures (run with -s): sessions, open time, the auto-replies or
heartbeats per second during the hold, and the daemon's CPU over the hold from /proc/<pid>/stat
(utime + stime), in % of one core.

test_all_presets_at_their_defaults_1000_each_at_once then runs the four at once (4,000 sessions in one
daemon) with the presets' default intervals against the servers' default timeouts, for 55 s (longer than
the longest, Socket.IO's 25 s + 20 s).
"""

import os
import time

import pytest

from mockgw_runner import MockGw
from proto_servers import RabbitMQ, SignalRServer, SocketIOServer, daemon_has_presets
from wsf_fixtures import Daemon

N = 1000
HOLD_S = 10.0
CHUNK = 100
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat(5))


def open_all(ctl, params_for, prefix="s"):
    """Opens N sessions named PREFIX0000..., CHUNK pipelined requests at a time; every open must succeed."""
    names = ["%s%04d" % (prefix, i) for i in range(N)]
    t0 = time.monotonic()
    for i in range(0, N, CHUNK):
        ids = ctl.send_many([("open", dict(params_for(n), conn=n)) for n in names[i:i + CHUNK]])
        for msgid in ids:
            err, _ = ctl.wait_response(msgid, timeout=60)
            assert err is None, err
    return names, time.monotonic() - t0


def hold(daemon, counters):
    """Sleeps HOLD_S with nothing sent by the test; returns ({name: per-second rate of counters[name]()},
    the daemon's CPU in % of one core over the hold)."""
    t0, c0, n0 = time.monotonic(), cpu_s(daemon.pid), {k: f() for k, f in counters.items()}
    time.sleep(HOLD_S)
    t1, c1, n1 = time.monotonic(), cpu_s(daemon.pid), {k: f() for k, f in counters.items()}
    return {k: (n1[k] - n0[k]) / (t1 - t0) for k in counters}, 100.0 * (c1 - c0) / (t1 - t0)


def assert_no_drops(ctl):
    s = ctl.call("stats")
    assert (s["open"], s["opened_total"], s["closed_total"], s["failed_total"]) == (N, N, 0, 0), s
    assert not s["closes_by_cause"], s["closes_by_cause"]
    return s


def report(preset, opened_s, rates, cpu):
    print("\n%s: %d sessions opened in %.1f s, held %.0f s with zero drops; %s; daemon CPU %.1f %% of a core"
          % (preset, N, opened_s, HOLD_S, ", ".join("%.0f %s/s" % (v, k) for k, v in rates.items()), cpu))


@pytest.fixture(scope="module", autouse=True)
def presets_in_daemon():
    with Daemon() as d:
        if not daemon_has_presets(d.client()):
            pytest.skip("this wsfleetd has no protocol layer (open's framing, session, auto_reply, preset)")


@pytest.fixture
def daemon():
    with Daemon() as d:
        yield d


def test_socketio4_1000_sessions(daemon):
    ctl = daemon.client()
    with SocketIOServer(ping_interval=1000, ping_timeout=1000, quiet=True) as srv:
        _, opened_s = open_all(ctl, lambda n: {"url": srv.url, "preset": "socketio4",
                                               "preset_options": {"namespace": "/chat"}})
        rates, cpu = hold(daemon, {"Engine.IO pongs (auto-replies)":
                                   lambda: ctl.call("stats")["auto_replies"].get("engineio-ping", 0)})
        assert_no_drops(ctl)
        st = srv.stats()
        assert (st["connects"], st["open"], st["disconnects"]) == (N, N, 0), st
    assert min(rates.values()) >= 0.8 * N  # one ping a second per session, each answered
    report("socketio4", opened_s, rates, cpu)


def test_echo_heartbeat_1000_sessions(daemon):
    ctl = daemon.client()
    opts = {"interval_ms": 1000, "reply_timeout_ms": 2000}
    with MockGw("--require-heartbeat", "2s", "--drop", "fin", "--quiet") as gw:
        _, opened_s = open_all(ctl, lambda n: {"url": gw.url, "preset": "echo-heartbeat", "preset_options": opts})
        rates, cpu = hold(daemon, {"echo heartbeats sent": lambda: ctl.call("stats")["heartbeats_sent"],
                                   "echo answers from the gateway": lambda: gw.stats()["msgs_out"]})
        assert_no_drops(ctl)
        st = gw.stats()
        assert sum(st["drops"].values()) == 0 and st["accepted"] == N, st
    assert min(rates.values()) >= 0.8 * N
    report("echo-heartbeat", opened_s, rates, cpu)


def test_stomp12_1000_sessions():
    if not RabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed (.ci/install-deps --test)")
    opts = {"host": "/", "login": "guest", "passcode": "guest", "heart_beat": [1000, 1000]}
    with RabbitMQ() as mq, Daemon() as daemon:
        ctl = daemon.client()
        _, opened_s = open_all(ctl, lambda n: {"url": mq.url, "preset": "stomp12", "preset_options": opts})
        rates, cpu = hold(daemon, {"STOMP heart-beats sent": lambda: ctl.call("stats")["heartbeats_sent"],
                                   "RabbitMQ heart-beats received (s0000 x N)":
                                   lambda: N * ctl.call("status", conn="s0000")["keepalive"]["replies"]})
        assert_no_drops(ctl)
        assert len(mq.channels()) == N
    assert min(rates.values()) >= 0.8 * N
    report("stomp12 (RabbitMQ startup %.1f s)" % mq.startup_s, opened_s, rates, cpu)


def test_signalr_json_1000_sessions(daemon):
    ctl = daemon.client()
    with SignalRServer(keep_alive_ms=1000, client_timeout_ms=2000, quiet=True) as srv:
        urls = {}

        def params(n):
            urls[n], _ = srv.negotiate()  # one negotiate per session, as JMeter's HTTP sampler would
            return {"url": urls[n], "preset": "signalr-json", "preset_options": {"interval_ms": 1000}}

        _, opened_s = open_all(ctl, params)
        rates, cpu = hold(daemon, {"SignalR pings received by the server": lambda: srv.stats()["pings_received"],
                                   "server pings swallowed (signalr-ping; s0000 x N)": lambda: sum(
                                       r["matched"] for r in ctl.call("status", conn="s0000")["auto_reply"]) * N})
        assert_no_drops(ctl)
        st = srv.stats()
        assert (st["handshakes_ok"], st["open"], st["disconnects"]) == (N, N, 0), st
    assert rates["SignalR pings received by the server"] >= 0.8 * N
    report("signalr-json", opened_s, rates, cpu)


DEFAULTS_HOLD_S = 55.0


def test_all_presets_at_their_defaults_1000_each_at_once():
    """The presets' default intervals against the servers' default timeouts, 4 x 1,000 sessions in one
    daemon for 55 s: Socket.IO pingInterval 25 s + pingTimeout 20 s (drops at 45 s without a pong);
    RabbitMQ with the preset's heart-beat 10000,10000 (drops after ~30 s of client silence); SignalR
    KeepAliveInterval 15 s / ClientTimeoutInterval 30 s with the preset's 15 s pings; the mock gateway
    requiring a heartbeat every 30 s with the preset's 25 s echo."""
    if not RabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed (.ci/install-deps --test)")
    with RabbitMQ() as mq, SocketIOServer(quiet=True) as sio, SignalRServer(quiet=True) as hub, \
            MockGw("--require-heartbeat", "30s", "--drop", "fin", "--quiet") as gw, Daemon() as daemon:
        ctl = daemon.client()
        # Only what a server needs beyond the defaults: RabbitMQ's virtual host and login.
        presets = {
            "sio": {"url": sio.url, "preset": "socketio4"},
            "stomp": {"url": mq.url, "preset": "stomp12",
                      "preset_options": {"host": "/", "login": "guest", "passcode": "guest"}},
            "hub": {"url": hub.url, "preset": "signalr-json"},
            "echo": {"url": gw.url, "preset": "echo-heartbeat"},
        }
        opened = {}
        for prefix, params in presets.items():
            _, opened[prefix] = open_all(ctl, lambda n, p=params: p, prefix)
        names = lambda: ctl.call("list", state="open", limit=5000)["total"]  # noqa: E731
        assert names() == 4 * N
        t0, c0 = time.monotonic(), cpu_s(daemon.pid)
        time.sleep(DEFAULTS_HOLD_S)
        held, cpu = time.monotonic() - t0, 100.0 * (cpu_s(daemon.pid) - c0) / (time.monotonic() - t0)
        s = ctl.call("stats")
        assert (s["open"], s["closed_total"], s["failed_total"]) == (4 * N, 0, 0), s
        assert not s["closes_by_cause"], s["closes_by_cause"]
        st = sio.stats()
        assert (st["open"], st["disconnects"]) == (N, 0), st
        st = hub.stats()
        assert (st["open"], st["disconnects"]) == (N, 0), st
        assert sum(gw.stats()["drops"].values()) == 0
        assert len(mq.channels()) == N
        pongs = s["auto_replies"].get("engineio-ping", 0)
        assert pongs >= 2 * N  # pings at 25 s and 50 s, every one answered
    print("\nall presets at their defaults: %s sessions opened in %s s; held %.0f s with zero drops; %d Engine.IO "
          "pongs, %d heartbeats sent; daemon CPU %.2f %% of a core" % (
              4 * N, "/".join("%.1f" % v for v in opened.values()), held, pongs, s["heartbeats_sent"], cpu))
