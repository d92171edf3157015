"""open's reconnect policy (PROTOCOL.md §5, reconnect) against peers that drop sessions: python3-websockets
closing every session it accepts (precise), and the mock gateway's drop behaviours. Every drop stays a drop
(close record, closes_by_*, close event); each reopen is counted and logged with the record it replaced;
the backoff and its jitter stay in their bounds; `max` is respected, then gave_up; the plan's own close, a
failed first open, reset and SIGTERM never reconnect; recv waits across a reopen."""

import os
import shutil
import signal
import sys
import threading
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))

from mockgw_runner import MockGw  # noqa: E402
from wsf_fixtures import Daemon, PyServer, RpcError, closed_port, daemon_binary, wait_until  # noqa: E402

QUIET = {"mode": "none"}


def policy(max_, backoff_ms=50, jitter_ms=0, backoff_max_ms=None):
    p = {"max": max_, "backoff_ms": backoff_ms, "jitter_ms": jitter_ms}
    if backoff_max_ms is not None:
        p["backoff_max_ms"] = backoff_max_ms
    return p


def drops_each_session(greet="hi", code=1011, reason="bye"):
    """A server that greets and closes every session it accepts, at once."""
    return PyServer("close_after", after=0, close_code=code, close_reason=reason, greet=[greet])


def answers_once_then_swallows_upgrades():
    """A server whose first session gets its 101 and is then ended (FIN) after 0.2 s; every later upgrade
    request is read and never answered, so a reopen attempt stays in its handshake until the test ends.
    `srv.notes["accepted"]` counts the connections."""
    from test_fault_server import ScriptedServer, read_request, upgrade

    def script(sock, srv):
        n = srv.notes["accepted"] = srv.notes.get("accepted", 0) + 1
        if n == 1:
            upgrade(sock)
            time.sleep(0.2)
            sock.close()
        else:
            read_request(sock)
            srv.go.wait(60)

    return ScriptedServer(script)


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
        # The limit is named in the record of the ending that found it spent.
        assert st["record"]["detail"] == "reconnect gave up: 3 of max 3 attempts spent (3 reopened)"
        assert "reconnect gave up" in st["record"]["summary"]
        assert rc["last_record"]["detail"] is None
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


def test_a_reopen_dials_with_the_same_inputs(ctl):
    """URL path and query, headers, subprotocols, the deflate offer and the source address, again."""
    with PyServer("close_after", "--deflate", after=1, close_code=1012, subprotocol=["chat.v2"]) as srv:
        url = srv.url + "room/7?token=abc"
        ctl.call("open", conn="s", url=url, keepalive=QUIET, headers={"X-Tenant": "acme", "Origin": "http://x"},
                 subprotocols=["chat.v2", "chat.v1"], deflate={}, source="127.0.0.1",
                 reconnect=policy(1, backoff_ms=50))
        ctl.call("send", conn="s", data="drop")
        assert wait_until(lambda: status(ctl, "s")["reconnect"]["count"] == 1 and status(ctl, "s")["state"] == "open", 5)
        first, second = srv.wait_for("connect", count=2)
        for k in ("path", "subprotocol", "peer"):
            assert first[k] == second[k], (k, first, second)
        low = lambda c: {k.lower(): v for k, v in c["headers"].items()}  # noqa: E731
        for h in ("x-tenant", "origin", "sec-websocket-protocol", "sec-websocket-extensions", "host"):
            assert low(first)[h] == low(second)[h], h
        assert low(first)["sec-websocket-key"] != low(second)["sec-websocket-key"]
        st = status(ctl, "s")
        assert st["subprotocol"] == "chat.v2" and st["deflate"]["agreed"] is not None
        assert st["source"] == "127.0.0.1" and st["url"] == url


def test_a_wss_reopen_verifies_the_certificate_again(ctl, tmp_path):
    from certs import make_certs
    c = make_certs(str(tmp_path))
    with MockGw("--tls", c.server, c.server_key, "--echo", "--max-age", "400ms", "--max-age-drop", "fin") as gw:
        ctl.call("open", conn="t", url=gw.url, tls={"ca_file": c.ca}, keepalive=QUIET,
                 reconnect=policy(1, backoff_ms=50))
        assert wait_until(lambda: status(ctl, "t")["reconnect"]["count"] == 1, 5)
        assert wait_until(lambda: status(ctl, "t")["state"] == "open", 5)
        assert ctl.call("request", conn="t", data="over tls again", timeout_ms=2000)["data"] == "over tls again"
        assert status(ctl, "t")["timings"]["tls_us"] > 0


def test_subscribers_get_close_reconnect_and_failed_attempt_notifications(daemon, ctl):
    watcher = daemon.client()
    assert "reconnect" in watcher.call("hello")["events"]
    watcher.call("subscribe", events=["open", "close", "reconnect", "handshake_failed"])
    with PyServer("close_after", after=1, close_code=4000, close_reason="kick") as srv:
        ctl.call("open", conn="n", url=srv.url, keepalive=QUIET, reconnect=policy(2, backoff_ms=100))
        ctl.call("send", conn="n", data="drop")
        assert wait_until(lambda: status(ctl, "n")["reconnect"]["count"] == 1, 5)
    # the peer is gone: the reopened session ends and the next attempt is refused
    assert wait_until(lambda: status(ctl, "n")["state"] == "closed", 5)
    got = [watcher.next_notification(timeout=3) for _ in range(5)]
    assert [n["event"] for n in got] == ["open", "close", "reconnect", "close", "handshake_failed"], got
    assert got[1]["record"]["code"] == 4000 and got[1]["reconnect"] == {"attempt": 1}
    assert got[2]["attempt"] == 1 and got[2]["record"] == got[1]["record"] and got[2]["timings"]["total_us"] > 0
    assert got[3]["reconnect"] == {"attempt": 2}
    assert got[4]["reconnect_attempt"] == 2 and got[4]["error"]["code"] == "connect_error"
    assert "reconnect" not in got[4]


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


def test_an_open_of_the_name_during_the_backoff_joins_the_reopen(daemon, ctl):
    with PyServer("close_after", after=1, close_code=1011) as srv:
        ctl.call("open", conn="j", url=srv.url, keepalive=QUIET, reconnect=policy(1, backoff_ms=600))
        ctl.call("send", conn="j", data="drop")
        assert wait_until(lambda: status(ctl, "j")["reconnect"]["reconnecting"], 5)
        t0 = time.monotonic()
        res = daemon.client().call("open", conn="j", url=srv.url)
        assert res["reused"] is True and 0.3 < time.monotonic() - t0 < 3
        st = status(ctl, "j")
        assert st["state"] == "open" and st["reconnect"]["count"] == 1


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
    assert st["record"]["detail"].endswith("; reconnect gave up: 5 of max 5 attempts spent (1 reopened)")
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
    """The attempt's upgrade is in flight: the server read it and never answers."""
    with answers_once_then_swallows_upgrades() as srv:
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, connect_timeout_ms=20000,
                 reconnect=policy(3, backoff_ms=100))
        assert wait_until(lambda: srv.notes.get("accepted") == 2, 5)
        time.sleep(0.1)
        st = status(ctl, "r")
        assert st["state"] == "connecting" and st["reconnect"]["reconnecting"] and st["reconnect"]["count"] == 0
        assert st["reconnect"]["attempts"] == 1 and st["record"] is None
        assert ctl.call("reset")["forgotten"] == 1
        time.sleep(0.3)
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


VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--track-fds=no", "--num-callers=30"]


def _instrumented(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


@pytest.mark.skipif(not shutil.which("valgrind") or _instrumented(daemon_binary()),
                    reason="needs valgrind and a build without sanitizers")
def test_reconnect_and_pacing_paths_are_clean_under_memcheck():
    """Reopens, failed attempts, held messages dropped at a drop, close and reset in the backoff, and
    SIGTERM with one connection in its backoff and one in an attempt's handshake: no leak, no error."""
    with Daemon(wrapper=VALGRIND, start_timeout=60) as d, drops_each_session() as srv, \
            MockGw("--max-age", "1500ms", "--max-age-drop", "rst") as gw, answers_once_then_swallows_upgrades() as hang:
        ctl = d.client(timeout=60)
        ctl.call("open", conn="gaveup", url=srv.url, keepalive=QUIET, reconnect=policy(2))
        ctl.call("open", conn="closed", url=srv.url, keepalive=QUIET, reconnect=policy(3, backoff_ms=60000))
        ctl.call("open", conn="paced", url=gw.url, keepalive=heartbeat_text(), reconnect=policy(5, backoff_ms=100),
                 rate_limit={"messages": 1, "per_ms": 10000}, connect_timeout_ms=60000)
        for i in range(3):
            ctl.call("send", conn="paced", data='{"action":"echo","message":"m%d"}' % i)
        assert wait_until(lambda: status(ctl, "gaveup")["state"] == "closed", 30)
        assert wait_until(lambda: status(ctl, "closed")["reconnect"]["reconnecting"], 30)
        ctl.call("close", conn="closed")
        ctl.call("open", conn="reset", url=srv.url, keepalive=QUIET, reconnect=policy(3, backoff_ms=60000))
        assert wait_until(lambda: status(ctl, "reset")["reconnect"]["reconnecting"], 30)
        ctl.call("reset")
        ctl.call("open", conn="backoff", url=srv.url, keepalive=QUIET, reconnect=policy(3, backoff_ms=60000))
        ctl.call("open", conn="attempt", url=hang.url, keepalive=QUIET, reconnect=policy(3, backoff_ms=100),
                 connect_timeout_ms=60000, rate_limit={"messages": 1, "per_ms": 10000})
        for data in ("a", "held"):
            try:
                ctl.call("send", conn="attempt", data=data)
            except RpcError as e:
                assert e.code == "conn_closed"  # the 0.2 s session may be over already
        # The first session ends after 0.2 s; the reopen's upgrade is never answered.
        assert wait_until(lambda: hang.notes.get("accepted") == 2 and status(ctl, "attempt")["reconnect"]["reconnecting"], 30)
        assert wait_until(lambda: status(ctl, "backoff")["reconnect"]["reconnecting"], 30)
        assert d.stop(signal.SIGTERM, timeout=90) == 0, d.log()[-4000:]
        assert "ERROR SUMMARY: 0 errors" in d.log(), d.log()[-4000:]


def heartbeat_text():
    return {"mode": "text", "payload": '{"action":"echo","message":"hb"}', "interval_ms": 300, "jitter_ms": 0}


def test_wsfleet_report_counts_each_reconnected_ending_as_a_drop():
    import json
    import subprocess
    source = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
    with Daemon() as d, drops_each_session(code=1001, reason="going away") as srv:
        ctl = d.client()
        ctl.call("open", conn="r", url=srv.url, keepalive=QUIET, reconnect=policy(2))
        assert wait_until(lambda: status(ctl, "r")["state"] == "closed", 10)
        d.stop()
        run = lambda *a: subprocess.run([sys.executable, os.path.join(source, "daemon", "cli", "wsfleet"), "report",
                                         d.events_path] + list(a), capture_output=True, text=True, timeout=60)
        html = os.path.join(d.dir, "report.html")
        js, text = run("--json"), run("--html", html)
        with open(html) as f:
            page = f.read()
    assert js.returncode == 0, js.stderr
    s = json.loads(js.stdout)
    assert s["drops"] == 3 and s["closes"] == 3 and s["drops_by_code_cause"] == {"1001 server_close": 3}
    assert s["reconnects"] == 2 and s["drops_reconnected"] == 2 and s["reconnect_failures"] == 0
    assert s["opened"] == 1
    assert "reconnects: 2 reopens of 1 connections" in text.stdout
    assert "drops (not asked for by the client): 3" in text.stdout
    assert 'reopened by the reconnect policy: <b id="reconnects">2</b> (after 2 of the drops' in page


def test_wsfleet_watch_shows_reopens_beside_the_drops():
    import json
    import subprocess
    source = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
    with Daemon() as d, drops_each_session(code=1001) as srv:
        ctl = d.client()
        w = subprocess.Popen([sys.executable, os.path.join(source, "daemon", "cli", "wsfleet"), "--socket", d.socket,
                              "watch", "--json", "--interval", "0.5", "--count", "4"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_until(lambda: ctl.call("stats")["control_clients"] >= 2, 5)
        time.sleep(0.1)
        ctl.call("open", conn="w", url=srv.url, keepalive=QUIET, reconnect=policy(2, backoff_ms=100))
        out, err = w.communicate(timeout=20)
    assert w.returncode == 0, err
    frames = [json.loads(line) for line in out.splitlines()]
    assert sum(f["opens"] for f in frames) == 1 and sum(f["reopens"] for f in frames) == 2
    assert sum(f["drops"].get("1001 server_close", 0) for f in frames) == 3
    assert frames[-1]["drops_total"] == 3
