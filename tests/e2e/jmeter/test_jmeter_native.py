"""What a JMeter user expects of the samplers (issue 15), in real JMeter 5.6.3 (non-GUI): error
messages that group by cause in the HTML dashboard, connection names that do not collide across
thread groups, the response codes of the README's table, and an auto-started daemon that dies with
JMeter."""

import json
import os
import re
import signal
import time

from jmeter_harness import EXAMPLES, HERE, MockGateway, generate_dashboard, run_plan, start_plan
from wsf_fixtures import Client, Daemon, PyServer, RawServer, daemon_binary, wait_until

TWO_GROUPS = os.path.join(HERE, "plans", "two-groups.jmx")
CODES = os.path.join(HERE, "plans", "codes.jmx")
FIN_WORDS = "1006 eof: dropped by peer (TCP FIN, no close frame)"
RST_WORDS = "1006 reset: reset by peer"


def wsfleet_props(daemon, **props):
    out = {"wsfleet.transport": "unix", "wsfleet.socket": daemon.socket}
    out.update(props)
    return out


def dashboard_errors(report):
    """The dashboard's "Errors" table: {"code/message": count}."""
    js = (report / "content" / "js" / "dashboard.js").read_text()
    m = re.search(r'createTable\(\$\("#errorsTable"\), (\{.*?\}), function', js, re.S)
    assert m, js[:2000]
    table = json.loads(m.group(1))
    return {item["data"][0]: item["data"][1] for item in table["items"]}


def test_drops_of_two_causes_make_two_error_rows_with_the_details_in_variables(jmeter, tmp_path):
    """12 sessions, 6 dropped by TCP FIN and 6 by TCP RST: every failed sample says code + cause in
    fixed words, so JMeter's dashboard shows exactly two error rows; the silence and the open count
    of each drop (its age, the open count) are JTL columns through wsfleet.record_variables and sample_variables."""
    with Daemon() as d, MockGateway("--idle-timeout", "1", "--drop", "fin") as fin, \
            MockGateway("--idle-timeout", "1", "--drop", "rst") as rst:
        run = run_plan(TWO_GROUPS, str(tmp_path), wsfleet_props(
            d, url_a=fin.url, url_b=rst.url, threads=6, duration=5, think_ms=1500,
            **{"wsfleet.record_variables": "ws_",
               "sample_variables": "ws_cause,ws_age_ms,ws_open_conns"}), home=jmeter)
        conns = sorted(c["conn"] for c in d.client().call("list")["conns"])
    assert run.returncode == 0, run.output
    failed = run.failures()
    assert failed, run.describe()
    assert {r["label"] for r in failed} == {"ping"}, run.describe()
    by_group = {"fin users": FIN_WORDS, "rst users": RST_WORDS}
    for r in failed:
        group = r["threadName"].rsplit(" ", 1)[0]
        assert r["responseCode"] == "1006" and r["responseMessage"] == by_group[group], r
        assert r["ws_cause"] == ("eof" if group == "fin users" else "reset"), r
        assert int(r["ws_age_ms"]) >= 900, r  # the gateway's 1 s idle timeout (no client frame was sent)
        assert int(r["ws_open_conns"]) >= 1, r
    for r in run.rows:
        if r["success"] == "true":
            assert r["ws_cause"] == "", r  # a sample without a close record clears the variables
    assert {r["threadName"].rsplit(" ", 1)[0] for r in failed} == set(by_group), run.describe()
    # The default connection name is the thread's name: 12 connections, none shared by the groups.
    assert conns == sorted("%s %d-%d" % (g, n, t) for n, g in ((1, "fin users"), (2, "rst users"))
                           for t in range(1, 7)), conns

    report = tmp_path / "report"
    stats = generate_dashboard(run.jtl, str(report), home=jmeter)
    assert stats["ping"]["errorCount"] == len(failed)
    errors = dashboard_errors(report)
    assert errors == {
        "1006/" + FIN_WORDS: len([r for r in failed if r["threadName"].startswith("fin")]),
        "1006/" + RST_WORDS: len([r for r in failed if r["threadName"].startswith("rst")]),
    }, errors


# The stub README's response-code table, row by row: label -> (success, code, message prefix).
CODE_TABLE = {
    "open refused": ("false", "403", "handshake_failed: HTTP 403"),
    "open": ("true", "101", "Switching Protocols"),
    "close": ("true", "1000", "1000 local_close: closed by the client"),
    "send after close": ("false", "closed_by_plan", "closed_by_plan: the plan closed this connection"),
    "receive after close": ("false", "closed_by_plan", "closed_by_plan: the plan closed this connection"),
    "request after close": ("false", "closed_by_plan", "closed_by_plan: the plan closed this connection"),
    "ping after close": ("false", "closed_by_plan", "closed_by_plan: the plan closed this connection"),
    "status after close": ("false", "closed_by_plan", "closed_by_plan: the plan closed this connection"),
    "close again": ("false", "closed_by_plan", "closed_by_plan: the plan closed this connection"),
    "open dropping": ("true", "101", "Switching Protocols"),
    "ping after drop": ("false", "1006", RST_WORDS),
    "close after drop": ("false", "1006", RST_WORDS),
    "open named": ("true", "101", "Switching Protocols"),
    "open named, other URL": ("false", "url_mismatch", "connection named is live on ws://"),
    "open named, other URL, reuse any": ("true", "101", "reused live connection named"),
}


def test_response_codes_follow_the_readme_table(jmeter, tmp_path):
    with Daemon() as d, RawServer("http_status", "--status", "403", "--body", "no entry") as refused, \
            PyServer("echo") as echo, RawServer("rst", "--delay-ms", "200") as rst:
        run = run_plan(CODES, str(tmp_path), wsfleet_props(d, url_refused=refused.url, url_echo=echo.url,
                                                           url_rst=rst.url), home=jmeter)
    assert run.returncode == 0, run.output
    for label, (success, code, message) in CODE_TABLE.items():
        [r] = run.by_label(label)
        assert (r["success"], r["responseCode"]) == (success, code), r
        assert r["responseMessage"].startswith(message), r
        if success == "false":
            assert r["Latency"] == r["elapsed"], r  # latency is set on failures too
    [mismatch] = run.by_label("open named, other URL")
    assert mismatch["responseMessage"] == "connection named is live on %s, not %sother (\"Reuse live connection\" any " \
        "would reuse it)" % (echo.url, echo.url), mismatch
    # Two threads share "shared": the first close closes it, the second finds it closed by the plan.
    closes = sorted((r["threadName"], r["success"], r["responseCode"]) for r in run.by_label("close shared"))
    assert closes == [("closers 2-1", "true", "1000"), ("closers 2-2", "false", "closed_by_plan")], closes


def test_the_drop_monitor_puts_every_drop_in_the_jtl_although_no_thread_touches_it(jmeter, tmp_path):
    """examples/drop-monitor.jmx: sessions open and then only think; the gateway drops each after
    1 s of silence. No sampler runs on those connections again, yet the JTL has one failed
    "wsfleet drops" sample per drop, and the monitor thread ends by itself with the sessions."""
    threads = 4
    with Daemon() as d, MockGateway("--idle-timeout", "1", "--drop", "fin") as gw:
        run = run_plan(os.path.join(EXAMPLES, "drop-monitor.jmx"), str(tmp_path), wsfleet_props(
            d, url=gw.url, threads=threads, rampup=0, duration=4, think_ms=500, keepalive="none"),
            timeout=120, home=jmeter)
        stats = d.client().call("stats")
    assert run.returncode == 0, run.output
    assert run.seconds < 60, run.seconds  # the monitor stopped once the sessions had ended
    assert len(run.by_label("open")) == threads and not run.failures("open"), run.describe()
    drops = run.by_label("wsfleet drops")
    assert stats["closes_by_cause"] == {"eof": threads}, stats
    assert len(drops) == threads, run.describe()
    for r in drops:
        assert (r["success"], r["responseCode"], r["responseMessage"]) == ("false", "1006", FIN_WORDS), r
    assert set(run.rows[i]["label"] for i in range(len(run.rows))) == {"open", "wsfleet drops"}, run.describe()
    report = tmp_path / "report"
    generate_dashboard(run.jtl, str(report), home=jmeter)
    assert dashboard_errors(report) == {"1006/" + FIN_WORDS: threads}


def test_a_symlinked_socket_directory_is_refused(jmeter, tmp_path):
    """The stub checks the socket's directory (not a symlink, ours, not group/other writable) before
    it connects: a daemon reached through a symlinked directory is not talked to."""
    link = tmp_path / "link"
    with Daemon() as d, PyServer("echo") as srv:
        os.symlink(os.path.dirname(d.socket), str(link))
        run = run_plan(os.path.join(EXAMPLES, "echo.jmx"), str(tmp_path), {
            "url": srv.url, "threads": 1, "loops": 1, "wsfleet.transport": "unix",
            "wsfleet.socket": str(link / "wsfleetd.sock")}, home=jmeter)
        assert d.client().call("stats")["opened_total"] == 0
    assert run.returncode == 0, run.output
    assert run.rows and len(run.failures()) == len(run.rows), run.describe()
    for r in run.rows:
        assert r["responseCode"] == "control_error", r
        assert "is a symbolic link" in r["responseMessage"], r


def alive(pid):
    """Whether pid runs (a zombie nobody reaped yet counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_daemon_jmeter_started_dies_with_jmeter_even_on_sigkill(jmeter, tmp_path):
    """-Jwsfleet.daemon: kill -9 of JMeter (a CI timeout) runs no shutdown hook; the daemon sees its
    lifeline pipe close, says 1001 to every server and exits, so no run inherits its connections."""
    sock = tmp_path / "private" / "wsfleetd.sock"
    threads = 3
    daemon_pid = None
    with PyServer("echo") as srv:
        jm = start_plan(os.path.join(EXAMPLES, "sessions-155.jmx"), str(tmp_path), {
            "url": srv.url, "threads": threads, "rampup": 0, "duration": 120, "think_ms": 30000,
            "think_jitter_ms": 0, "wsfleet.transport": "unix", "wsfleet.socket": str(sock),
            "wsfleet.daemon": daemon_binary(), "wsfleet.daemon.log": str(tmp_path / "daemon.log")}, home=jmeter)
        try:
            assert wait_until(lambda: len(srv.records("connect")) >= threads, 90), \
                (tmp_path / "run.out").read_text(errors="replace")
            daemon_pid = Client(str(sock)).call("hello")["pid"]
            assert alive(daemon_pid)
            os.kill(jm.pid, signal.SIGKILL)  # JMeter only: the daemon is in its process group
            jm.wait(timeout=30)
            gone = wait_until(lambda: not alive(daemon_pid), 15)
            assert gone, "wsfleetd %d outlived the JMeter that started it" % daemon_pid
            assert wait_until(lambda: len(srv.records("closed")) >= threads, 10), srv.records()
        finally:
            if jm.poll() is None:
                os.killpg(jm.pid, signal.SIGKILL)
                jm.wait()
            if daemon_pid is not None and alive(daemon_pid):
                os.kill(daemon_pid, signal.SIGKILL)
        closed = srv.records("closed")
    assert sorted(r["code"] for r in closed) == [1001] * threads, closed  # going away, not a silent FIN
    assert not sock.exists() or not _listening(str(sock))
    log = (tmp_path / "daemon.log").read_text(errors="replace")
    assert "lifeline" in log, log


def _listening(path):
    import socket as _socket
    s = _socket.socket(_socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()
