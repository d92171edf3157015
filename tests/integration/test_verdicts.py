"""Verdict rules on synthetic event logs, for what a real reproduction cannot show cheaply here:
client-side causes (a loop late by seconds, EMFILE, EADDRNOTAVAIL, a burst of thousands of opens),
close codes the daemon does not yet pass through (1012, 1013: see PROTOCOL.md §7), the `reply_timeout`
cause, and the snapshot lines (`snapshot` events) the timeline evidence comes from. Each log is
written as the daemon writes it (PROTOCOL.md §10) and read back by `wsfleet report`, which the tests
judge by verdict codes only. Real servers for each server behaviour: test_verdict_peers.py."""

import json
import os
import subprocess

import pytest

from wsf_fixtures import PYTHON, SOURCE_DIR

WSFLEET = os.path.join(SOURCE_DIR, "daemon", "cli", "wsfleet")
T0 = 1_800_000_000_000


class Log:
    """Builds an event log; times in seconds from the start."""

    def __init__(self):
        self.lines = [{"event": "start", "at_ms": T0, "pid": 1, "version": "test", "config": {}}]
        self.open = set()

    def opened(self, t, conn, upgrade_s=0.001):
        self.open.add(conn)
        self.lines.append({"event": "open", "at_ms": T0 + t * 1000, "conn": conn, "url": "ws://x/",
                           "timings": {"connect_us": 300, "upgrade_us": int(upgrade_s * 1e6)},
                           "open_conns": len(self.open)})

    def closed(self, t, conn, code=1006, cause="eof", age=None, since_sent=None, msgs_out=0, reason="",
               initiator=None, since_ping=None, detail=None):
        n = len(self.open)
        self.open.discard(conn)
        rec = {"code": code, "reason": reason, "initiator": initiator or ("server" if cause == "server_close" else "none"),
               "cause": cause, "detail": detail, "age_us": int(age * 1e6) if age is not None else None,
               "since_sent_us": int(since_sent * 1e6) if since_sent is not None else None,
               "since_ping_us": int(since_ping * 1e6) if since_ping is not None else None,
               "open_conns": n, "msgs_out": msgs_out}
        self.lines.append({"event": "close", "at_ms": T0 + t * 1000, "conn": conn, "url": "ws://x/", "record": rec})

    def failed(self, t, conn, code="connect_error", message="", http_status=None, cause="connect_error"):
        err = {"code": code, "message": message}
        if http_status is not None:
            err["http_status"] = http_status
        self.lines.append({"event": "handshake_failed", "at_ms": T0 + t * 1000, "conn": conn, "url": "ws://x/",
                           "error": err, "record": {"code": 1006, "cause": cause, "detail": message,
                                                    "open_conns": len(self.open)}})

    def snapshot(self, t, max_silence=None, lag_s=0.001, late_s=0.0, open_=None):
        self.lines.append({"event": "snapshot", "at_ms": T0 + t * 1000, "open": len(self.open) if open_ is None else open_,
                           "connecting": 0, "closing": 0,
                           "max_silence_us": None if max_silence is None else int(max_silence * 1e6),
                           "opens": 0, "closes": 0, "loop_lag_us": {"p99": int(lag_s * 1e6), "max": int(lag_s * 1e6)},
                           "heartbeat_late_us": {"p99": int(late_s * 1e6), "max": int(late_s * 1e6)}})

    def stop(self, t):
        self.lines.append({"event": "stop", "at_ms": T0 + t * 1000, "stats": {}})

    def write(self, path, upto=None):
        lines = self.lines if upto is None else [ln for ln in self.lines if ln["at_ms"] < T0 + upto * 1000]
        path.write_text("".join(json.dumps(ln) + "\n" for ln in lines))
        return path


def report(path, *args, rc=0):
    r = subprocess.run([PYTHON, WSFLEET, "report", str(path), "--json"] + list(args), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == rc, (r.returncode, r.stderr)
    return json.loads(r.stdout)


def codes(s):
    return [g["code"] for g in s["groups"]]


def group(s, code):
    return next(g for g in s["groups"] if g["code"] == code)


def overload_log():
    """Ten sessions open at 0..0.9 s and stay silent; at 20 s and 40 s three more arrive (13 open)
    and three quiet ones drop with FIN after ≥ 19 s of silence; snapshots every second say how quiet
    the survivors were. Before 20 s, with 10 open, sessions quiet for 19 s were not dropped."""
    log = Log()
    for i in range(10):
        log.opened(i * 0.1, "q%d" % i)
    for sec in range(1, 20):
        log.snapshot(sec, max_silence=sec)
    t = 20.0
    for wave in range(2):
        for j in range(3):
            log.opened(t + j * 0.01, "late%d-%d" % (wave, j))
        for j in range(3):
            victim = "q%d" % (wave * 3 + j)
            age = t + 0.5 + j * 0.1 - (wave * 3 + j) * 0.1
            log.closed(t + 0.5 + j * 0.1, victim, age=age, since_sent=None)
        t += 20
    return log


def test_idle_timeout_under_load_is_read_from_snapshots_alike_running_or_stopped(tmp_path):
    log = overload_log()
    log.snapshot(59, max_silence=59)
    running = report(log.write(tmp_path / "running.jsonl"))
    for name in sorted(log.open):
        log.closed(60, name, code=1001, cause="shutdown", age=60, initiator="client")
    log.stop(60)
    stopped = report(log.write(tmp_path / "stopped.jsonl"))
    assert codes(running) == codes(stopped) == ["idle_timeout_under_load"]
    g = group(running, "idle_timeout_under_load")
    assert g["count"] == 6 and g["figures"]["threshold_open"] == 10
    assert g["from_s"] == pytest.approx(20.5) and g["to_s"] == pytest.approx(40.7)


def test_under_load_needs_quiet_spells_at_lower_concurrency_not_how_survivors_ended(tmp_path):
    # The same drops, but the snapshots show no session quiet as long at lower concurrency (they had
    # heartbeats then): an idle timeout, threshold unproven, although the survivors ended by
    # shutdown after a long silence (what the report once took as evidence).
    log = Log()
    for i in range(10):
        log.opened(i * 0.1, "q%d" % i)
    for sec in range(1, 20):
        log.snapshot(sec, max_silence=2)
    for j in range(3):
        log.opened(20 + j * 0.01, "late%d" % j)
    for j in range(3):
        log.closed(36 + j * 2, "q%d" % j, age=36 + j * 2, since_sent=16 + j * 2)
    for q in range(3, 10):
        log.closed(50, "q%d" % q, code=1001, cause="shutdown", age=50, since_sent=30, initiator="client")
    log.stop(50)
    s = report(log.write(tmp_path / "events.jsonl"))
    assert codes(s) == ["idle_timeout"]


def test_client_overloaded_when_the_loop_was_late_at_the_drops(tmp_path):
    log = Log()
    for i in range(6):
        log.opened(0.1 * i, "c%d" % i)
    for sec in range(1, 30):
        log.snapshot(sec, max_silence=5, lag_s=2.5 if 20 <= sec <= 23 else 0.002,
                     late_s=4.0 if 20 <= sec <= 23 else 0.0)
    for i in range(4):
        log.closed(21 + i * 0.7, "c%d" % i, age=21 + i, since_sent=5 + i * 3)
    s = report(log.write(tmp_path / "events.jsonl"))
    assert codes(s) == ["client_overloaded"]
    g = group(s, "client_overloaded")
    assert g["side"] == "client" and g["count"] == 4 and g["figures"]["loop_lag_max_s"] == pytest.approx(2.5)


@pytest.mark.parametrize("name,code", [("EMFILE", "fd_exhaustion"), ("ENFILE", "fd_exhaustion"),
                                       ("EADDRNOTAVAIL", "port_exhaustion")])
def test_exhaustion_of_this_machine(tmp_path, name, code):
    log = Log()
    for i in range(5):
        log.opened(0.01 * i, "ok%d" % i)
    for i in range(3):
        log.failed(1 + i * 0.01, "f%d" % i, message="connect to 127.0.0.1:8080 failed: %s" % name)
    s = report(log.write(tmp_path / "events.jsonl"))
    assert codes(s) == [code] and group(s, code)["side"] == "client"


def test_connect_burst_versus_steady_connect_failures(tmp_path):
    log = Log()
    for i in range(400):
        log.opened(1 + i * 0.002, "b%d" % i)
    for i in range(5):
        log.failed(1.7 + i * 0.01, "x%d" % i, message="connect to 127.0.0.1:8080 failed: ECONNRESET")
    log.failed(30, "later", message="connect to 127.0.0.1:8080 failed: ECONNREFUSED")
    s = report(log.write(tmp_path / "events.jsonl"))
    assert sorted(codes(s)) == ["connect_burst", "connect_failed"]
    assert group(s, "connect_burst")["count"] == 5 and group(s, "connect_failed")["count"] == 1


def test_close_codes_1012_1013_reply_timeout_and_output_stalled(tmp_path):
    log = Log()
    for i in range(8):
        log.opened(i * 0.3, "s%d" % i)
    log.opened(3, "capped")
    log.closed(3.2, "capped", code=1013, cause="server_close", reason="try again later", age=0.2, since_sent=0.2)
    log.closed(5, "s0", cause="reply_timeout", code=1006, age=5, since_sent=1, initiator="client")
    log.closed(5.5, "s1", cause="reply_timeout", code=1006, age=5.2, since_sent=1.1, initiator="client")
    log.opened(5.6, "stalled")
    log.closed(7.0, "stalled", cause="output_stalled", code=1006, age=1.4, since_sent=0.01, initiator="client")
    for i in range(2, 8):
        log.closed(10 + i * 0.01, "s%d" % i, code=1012, cause="server_close", reason="service restart",
                   age=10 - i * 0.3, since_sent=(i % 3) * 2.0)
    s = report(log.write(tmp_path / "events.jsonl"))
    assert sorted(codes(s)) == ["server_restart", "session_cap", "unresponsive_server"]
    assert group(s, "server_restart")["count"] == 6
    assert group(s, "unresponsive_server")["count"] == 3


def test_rate_limit_by_1008_without_words(tmp_path):
    log = Log()
    for i in range(3):
        log.opened(i, "r%d" % i)
        log.closed(i + 2, "r%d" % i, code=1008, cause="server_close", age=2, since_sent=0.01, msgs_out=60)
    s = report(log.write(tmp_path / "events.jsonl"))
    assert codes(s) == ["rate_limit"]
    assert group(s, "rate_limit")["figures"]["rate_per_s"]["min"] == pytest.approx(30)


def test_no_advice_from_a_zero_silence(tmp_path):
    # Server closes right after client messages, with no code that names a policy: no idle-timeout
    # verdict and no "heartbeats every 0.0 s".
    log = Log()
    for i in range(4):
        log.opened(i, "z%d" % i)
        log.closed(i + 3 + i * 0.4, "z%d" % i, code=1000, cause="server_close", age=3 + i * 0.4, since_sent=0.0,
                   msgs_out=2)
    r = subprocess.run([PYTHON, WSFLEET, "report", str(log.write(tmp_path / "events.jsonl"))], capture_output=True,
                       text=True, timeout=60)
    assert "0.0 s avoid" not in r.stdout and "every 0" not in r.stdout
    s = report(tmp_path / "events.jsonl")
    assert codes(s) == ["unexplained_drops"]


def test_max_age_ruled_out_when_a_session_lived_longer(tmp_path):
    # Silent sessions dropped at ~5 s of age (silence = age), but a snapshot saw a session quiet for
    # 9 s: so 5 s is no maximum age, and the drops follow silence at a higher load.
    log = Log()
    for i in range(3):
        log.opened(i * 0.01, "old%d" % i)
    for sec in range(1, 10):
        log.snapshot(sec, max_silence=sec)
    for i in range(3):
        log.opened(10 + i * 0.01, "new%d" % i)
    for i in range(3):
        log.closed(15 + i * 0.05, "new%d" % i, age=5 + 0.04 * i)
    s = report(log.write(tmp_path / "events.jsonl"))
    assert codes(s) == ["idle_timeout_under_load"], s["groups"]


def test_mixed_max_age_and_idle_timeout_split_by_signature(tmp_path):
    log = Log()
    for i in range(4):
        log.opened(i * 0.5, "a%d" % i)
        log.closed(i * 0.5 + 30, "a%d" % i, cause="reset", age=30.0 + 0.01 * i, since_sent=i * 4 + 1.0)
    for i in range(4):
        log.opened(40 + i, "b%d" % i)
        log.closed(40 + i + 10 + i * 3, "b%d" % i, cause="eof", age=10 + i * 3, since_sent=10.0 + 0.1 * i)
    s = report(log.write(tmp_path / "events.jsonl"))
    assert sorted(codes(s)) == ["idle_timeout", "max_age"]
    assert group(s, "max_age")["to_s"] < group(s, "idle_timeout")["from_s"]


def test_fail_on_codes_and_sides(tmp_path):
    log = Log()
    for i in range(3):
        log.opened(i, "r%d" % i)
        log.closed(i + 2, "r%d" % i, code=4029, cause="server_close", reason="rate limited", age=2, since_sent=0.01,
                   msgs_out=60)
    path = log.write(tmp_path / "events.jsonl")
    report(path, "--fail-on", "rate_limit", rc=4)
    report(path, "--fail-on", "server", rc=4)
    report(path, "--fail-on", "any", rc=4)
    report(path, "--fail-on", "client,idle_timeout", rc=0)
    r = subprocess.run([PYTHON, WSFLEET, "report", str(path), "--fail-on", "no_such_code"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "no_such_code" in r.stderr


def test_pings_that_do_not_count_versus_pings_that_do(tmp_path):
    # Both: the client's last frame before each drop was a ping. Silences spread over the ping
    # interval (the pings did not count) versus all at the timeout (they counted, but came too seldom).
    spread, tight = Log(), Log()
    for i, sil in enumerate([4.0, 9.0, 14.0, 19.0, 7.0]):
        spread.opened(i * 3, "p%d" % i)
        spread.closed(i * 3 + 45 + i * 5, "p%d" % i, age=45 + i * 5, since_sent=sil, since_ping=sil, msgs_out=3)
    for i in range(5):
        tight.opened(i * 3, "t%d" % i)
        tight.closed(i * 3 + 60 + i * 7, "t%d" % i, age=60 + i * 7, since_sent=45.0 + 0.02 * i,
                     since_ping=45.0 + 0.02 * i)
    assert codes(report(spread.write(tmp_path / "spread.jsonl"))) == ["idle_timeout_data_only"]
    g = group(report(tight.write(tmp_path / "tight.jsonl")), "idle_timeout")
    assert g["advice"] == "heartbeats every 25 s"


def test_resets_of_pinging_sessions_are_not_a_data_only_timer(tmp_path):
    # Both: sessions that only ping, each drop right after a ping. A data-only idle timer (45 s)
    # never ends a session younger than its timeout (ages 45–120 s, as the repro's phase D1); RSTs
    # from the network strike at any age (0.4–9.6 s here).
    data_only, resets = Log(), Log()
    for i, age in enumerate([45.0, 52.0, 70.0, 88.0, 101.0, 110.0, 120.0]):
        data_only.opened(i, "d%d" % i)
        data_only.closed(i + age, "d%d" % i, age=age, since_sent=(i * 7) % 25 + 0.2, since_ping=(i * 7) % 25 + 0.2)
    for i, age in enumerate([0.4, 2.1, 3.3, 5.0, 6.2, 8.8, 9.6]):
        resets.opened(i * 0.05, "r%d" % i)
        resets.closed(i * 0.05 + age, "r%d" % i, cause="reset", age=age, since_sent=0.05 + 0.02 * i,
                      since_ping=0.05 + 0.02 * i)
    assert codes(report(data_only.write(tmp_path / "d.jsonl"))) == ["idle_timeout_data_only"]
    assert codes(report(resets.write(tmp_path / "r.jsonl"))) == ["network_reset"]


def test_one_late_straggler_does_not_hide_a_maximum_age(tmp_path):
    # Timers fire late, never early: five drops at 30.0 s of age and one at 34 s (a busy server).
    log = Log()
    for i, age in enumerate([30.0, 30.1, 30.05, 34.0, 30.2, 30.0]):
        log.opened(i * 2, "m%d" % i)
        log.closed(i * 2 + age, "m%d" % i, cause="reset", age=age, since_sent=1.0 + i * 2.5)
    assert codes(report(log.write(tmp_path / "events.jsonl"))) == ["max_age"]


def test_a_stray_fin_among_resets_joins_their_verdict(tmp_path):
    # Five sessions reset at 20 s of age and one that ended with a FIN at the same age: one group.
    # A FIN at another age stays apart.
    log = Log()
    for i in range(5):
        log.opened(i, "r%d" % i)
        log.closed(i + 20.0 + 0.01 * i, "r%d" % i, cause="reset", age=20.0 + 0.01 * i, since_sent=1.0 + i * 3)
    log.opened(6, "fin")
    log.closed(26.02, "fin", cause="eof", age=20.02, since_sent=7.0)
    s = report(log.write(tmp_path / "one.jsonl"))
    assert codes(s) == ["max_age"] and group(s, "max_age")["count"] == 6
    log.opened(30, "odd")
    log.closed(33, "odd", cause="eof", age=3.0, since_sent=0.01)
    s = report(log.write(tmp_path / "two.jsonl"))
    assert sorted(codes(s)) == ["max_age", "unexplained_drops"] and group(s, "max_age")["count"] == 6


def test_a_restart_of_pinging_sessions_whose_silences_happen_to_agree(tmp_path):
    # Five sessions pinging every 200 ms, closed with 1001 within 10 ms: their silences (0.10–0.24 s)
    # happen to lie close together, as a CI run saw once. Silences under TIMER_MIN_S are no idle timer
    # firing, so the cluster is a restart, not idle drops that came back to back.
    log = Log()
    for i in range(5):
        log.opened(i * 0.15, "g%d" % i)
    for i, sil in enumerate([0.10, 0.12, 0.13, 0.14, 0.24]):
        log.closed(1.2 + 0.002 * i, "g%d" % i, code=1001, cause="server_close", age=1.2 - i * 0.15,
                   since_sent=sil, since_ping=sil, msgs_out=0)
    assert codes(report(log.write(tmp_path / "events.jsonl"))) == ["server_restart"]
