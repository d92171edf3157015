"""Issue 18 in real JMeter 5.6.3 (non-GUI): the example plans jmeter-plugin-stub/examples/{socketio,stomp,
signalr,echo-heartbeat}.jmx (built from the Add-menu elements: wsfleet Defaults, Open with a preset, the
message helpers, a think timer longer than the server's heartbeat timeout, Close, a Drop Monitor group)
against the real servers of tests/lib/proto_servers.py and the mock gateway, each with its heartbeat
timeout set short (Socket.IO pingInterval 1 s + pingTimeout 1 s, RabbitMQ heart-beat 1 s (dropped after
~3 s of silence), SignalR ClientTimeoutInterval 2 s, mockgw --require-heartbeat 2s) and the plans' threads
thinking 4 s between messages: the preset alone keeps the sessions alive, the helpers' messages are matched,
and the Drop Monitor records nothing. And reconnects in the JTL: a peer closes each session after a
message, the daemon reopens it, and the thread's next sample carries a failed `wsfleet reconnect`
sub-result row.

A preset test is skipped, saying so, when the daemon under test does not know presets (an `open` with an
unknown preset is not refused), and the STOMP test when rabbitmq-server is not installed."""

import os

import pytest

from jmeter_harness import EXAMPLES, SOURCE_DIR, MockGateway, generate_dashboard, run_plan
from proto_servers import RabbitMQ, SignalRServer, SocketIOServer
from wsf_fixtures import Daemon, PyServer, RpcError, closed_port

THINK_MS = 4000  # longer than every server's heartbeat timeout below (2-3 s)
THREADS, LOOPS = 3, 2


def props(daemon, **more):
    out = {"wsfleet.transport": "unix", "wsfleet.socket": daemon.socket, "threads": THREADS, "rampup": 0,
           "loops": LOOPS, "think_ms": THINK_MS, "read_timeout_ms": 10000}
    out.update(more)
    return out


def require_presets(daemon):
    """Skips unless the daemon refuses an unknown preset (a daemon without presets ignores the field)."""
    try:
        daemon.client().call("open", conn="preset-probe", url="ws://127.0.0.1:%d/" % closed_port(),
                             preset="no-such-preset", connect_timeout_ms=1000)
    except RpcError as e:
        if e.code in ("bad_request", "bad_params") and "preset" in (e.message + repr(e.details)):
            return
        pytest.skip("wsfleetd under test has no presets (open with an unknown preset failed %s: %s, not "
                    "refused): h18-session's open fields are not in this build" % (e.code, e.message))
    pytest.skip("wsfleetd under test has no presets (an unknown preset was accepted): h18-session's open "
                "fields are not in this build")


def check_clean_run(run, labels):
    """Every sample succeeded, each label ran as often as the plan says, the Drop Monitor saw nothing."""
    assert run.returncode == 0, run.output
    assert not run.failures(), run.describe() + "\n" + repr(run.failures()[:3])
    for label, count in labels.items():
        assert len(run.by_label(label)) == count, "%s: %s" % (label, run.describe())
    assert not run.by_label("wsfleet drops"), run.describe()
    assert not run.by_label("wsfleet reconnect"), run.describe()


def test_socketio_plan_keeps_sessions_past_the_ping_timeout(jmeter, tmp_path):
    with Daemon() as d, SocketIOServer(ping_interval=1000, ping_timeout=1000) as srv:
        require_presets(d)
        run = run_plan(os.path.join(EXAMPLES, "socketio.jmx"), str(tmp_path),
                       props(d, url=srv.url, namespace="/chat"), home=jmeter)
        n = THREADS * LOOPS
        check_clean_run(run, {"open (socketio4)": THREADS, "echo with ack": n, "emit echo": n, "echo event": n,
                              "close": THREADS})
        for r in run.by_label("open (socketio4)"):
            assert r["responseCode"] == "101", r
        stats = srv.stats()
        assert stats["connects"] == THREADS and stats["acks"] == n, stats
        assert "ping timeout" not in stats["disconnect_reasons"], stats
        replies = d.client().call("stats").get("auto_replies", {})
        # 2 loops x 4 s of thinking at one ping a second, per session
        assert replies.get("engineio-ping", 0) >= THREADS * LOOPS * (THINK_MS // 1000 - 1), replies


@pytest.mark.skipif(not RabbitMQ.available(), reason="rabbitmq-server (with rabbitmq_web_stomp) is not installed")
def test_stomp_plan_keeps_sessions_past_the_broker_heart_beat(jmeter, tmp_path):
    with Daemon() as d:
        require_presets(d)
        with RabbitMQ() as mq:
            run = run_plan(os.path.join(EXAMPLES, "stomp.jmx"), str(tmp_path),
                           props(d, url=mq.url, heartbeat_ms=1000), home=jmeter)
            n = THREADS * LOOPS
            check_clean_run(run, {"open (stomp12)": THREADS, "subscribe (receipt)": THREADS, "send and receive": n,
                                  "unsubscribe": THREADS, "close": THREADS})
            for r in run.by_label("subscribe (receipt)"):
                assert r["responseMessage"].startswith("text message"), r
            # A session the broker dropped for missed heart-beats (RabbitMQ 3.10 logs nothing then; the
            # client gets close 1000 "STOMP died") fails the thread's next sample and is a Drop Monitor
            # row: check_clean_run above refuses both.


def test_signalr_plan_negotiates_in_http_and_keeps_sessions_past_the_client_timeout(jmeter, tmp_path):
    with Daemon() as d, SignalRServer(keep_alive_ms=300, client_timeout_ms=2000) as srv:
        require_presets(d)
        run = run_plan(os.path.join(EXAMPLES, "signalr.jmx"), str(tmp_path),
                       props(d, host="127.0.0.1", port=srv.port, path=srv.path, keepalive_ms=500), home=jmeter)
        n = THREADS * LOOPS
        check_clean_run(run, {"negotiate": THREADS, "open (signalr-json)": THREADS, "Echo (with completion)": n,
                              "Broadcast": n, "broadcast invocation": n, "close": THREADS})
        stats = srv.stats()
        assert "client timeout" not in stats.get("disconnect_reasons", {}), stats


def test_echo_heartbeat_plan_keeps_sessions_under_the_gateway_heartbeat_and_rate_limit(jmeter, tmp_path):
    with Daemon() as d, MockGateway("--require-heartbeat", "2s", "--rate-limit", "5", "--rate-window", "1",
                                    "--agent-delay", "200ms") as gw:
        require_presets(d)
        run = run_plan(os.path.join(EXAMPLES, "echo-heartbeat.jmx"), str(tmp_path),
                       props(d, url=gw.url, heartbeat_ms=1000, reply_timeout_ms=1500, rate_messages=5, rate_per_ms=1000),
                       home=jmeter)
        stats = gw.stop()
    n = THREADS * LOOPS
    check_clean_run(run, {"open (echo-heartbeat)": THREADS, "configureSession": THREADS, "send message": n,
                          "agent reply": n, "close": THREADS})
    assert stats["drops"]["heartbeat"] == 0 and stats["rate_limited"] == 0, stats


def test_a_reconnect_is_a_failed_sub_result_row_and_a_drop_monitor_sample(jmeter, tmp_path):
    plan = os.path.join(SOURCE_DIR, "tests", "e2e", "jmeter", "plans", "reconnect.jmx")
    with Daemon() as d, PyServer("close_after", after=1, close_code=1001, close_reason="restart") as srv:
        run = run_plan(plan, str(tmp_path), {"wsfleet.transport": "unix", "wsfleet.socket": d.socket, "url": srv.url,
                                             "threads": 2, "think_ms": 1500, "reconnect_max": 2}, home=jmeter)
        stats = d.client().call("stats")
    assert run.returncode == 0, run.output
    # The samplers' own outcomes: all succeeded (the session came back)
    for label in ("open", "send", "ping", "ping again", "close"):
        rows = run.by_label(label)
        assert len(rows) == 2 and all(r["success"] == "true" for r in rows), run.describe()
    for r in run.by_label("ping"):
        assert r["responseMessage"].endswith("(reconnected once since this thread's last sample: 1 in all)"), r
    for r in run.by_label("ping again"):
        assert "reconnected" not in r["responseMessage"], r
    # ... and the drop each reconnect replaced, as its own failed row under one label
    subs = run.by_label("wsfleet reconnect")
    assert len(subs) == 2, run.describe()
    for r in subs:
        assert r["success"] == "false" and r["responseCode"] == "1001", r
        assert r["responseMessage"] == "1001 server_close: closed by the server", r
    # The Drop Monitor: each drop under its close code, each reopen as "reconnect"
    drops = run.by_label("wsfleet drops")
    assert sorted(r["responseCode"] for r in drops) == ["1001", "1001", "reconnect", "reconnect"], run.describe()
    assert stats["reconnects_total"] == 2, stats
    # JMeter's HTML report: the reconnects are a row of their own, counted as errors under their code
    dashboard = generate_dashboard(run.jtl, str(tmp_path / "report"), home=jmeter)
    assert dashboard["wsfleet reconnect"]["errorCount"] == 2, dashboard.keys()
    assert dashboard["ping"]["errorCount"] == 0
    errors_js = (tmp_path / "report" / "content" / "js" / "dashboard.js").read_text()
    assert "1001/1001 server_close: closed by the server" in errors_js
