"""The daemon lives and dies with its parent (README, `--lifeline-fd`), and a hangup is a shutdown,
not a death: in both cases every connection gets a 1001 close frame, the event log ends with one
complete `stop` line, and the daemon exits 0."""

import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time

from wsf_fixtures import Client, PyServer, RawServer, daemon_binary, wait_until

# A parent that starts the daemon with its stdin as a pipe whose write end only the parent holds,
# prints the daemon's pid and then sleeps: what the JMeter stub does with `--lifeline-fd 0`.
PARENT = textwrap.dedent("""
    import os, subprocess, sys, time
    r, w = os.pipe()
    log = open(sys.argv[2], "wb")
    p = subprocess.Popen(sys.argv[3:], stdin=r, stdout=log, stderr=subprocess.STDOUT, close_fds=True)
    os.close(r)
    print(p.pid, flush=True)
    time.sleep(600)
""")


def _start_under_parent(tmp, *extra):
    sock = os.path.join(tmp, "wsfleetd.sock")
    events = os.path.join(tmp, "events.jsonl")
    log = os.path.join(tmp, "daemon.log")
    cmd = [daemon_binary(), "--socket", sock, "--events", events, "--lifeline-fd", "0"] + list(extra)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, "x", log] + cmd, stdout=subprocess.PIPE)
    daemon_pid = int(parent.stdout.readline())
    assert wait_until(lambda: os.path.exists(sock), 10), open(log).read()
    return parent, daemon_pid, sock, events, log


def _pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (its parent was killed, init reaps it) counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _stop_event(events_path):
    with open(events_path, "rb") as f:
        raw = f.read()
    assert raw.endswith(b"\n"), raw[-200:]
    lines = [json.loads(x) for x in raw.splitlines()]
    return lines


def test_sigkilled_parent_takes_the_daemon_down_with_1001_close_frames():
    with tempfile.TemporaryDirectory(prefix="wsf-") as tmp, RawServer("silent") as recorder, \
            PyServer("echo") as echo:
        parent, pid, sock, events, log = _start_under_parent(tmp, "--shutdown-timeout-ms", "1000")
        try:
            c = Client(sock)
            c.call("open", conn="rec", url=recorder.url)
            c.call("open", conn="echo", url=echo.url)
            assert c.call("request", conn="echo", data="hi")["data"] == "hi"
            t0 = time.monotonic()
            parent.send_signal(signal.SIGKILL)  # what a CI timeout does to JMeter
            parent.wait(5)
            assert wait_until(lambda: _pid_gone(pid), 10), open(log).read()
            took = time.monotonic() - t0
            c.close()
        finally:
            if not _pid_gone(pid):
                os.kill(pid, signal.SIGKILL)
        # The silent recorder never answers: the daemon waited at most its shutdown timeout.
        assert took < 1.0 + 2, took
        close = recorder.wait_for("frame", op="close")
        assert close and struct.unpack("!H", bytes.fromhex(close[0]["hex"])[:2])[0] == 1001
        assert "lifeline" in open(log).read()
        evs = _stop_event(events)
        assert evs[-1]["event"] == "stop"
        closes = {e["conn"]: e["record"] for e in evs if e["event"] == "close"}
        assert {k: (r["cause"], r["code"]) for k, r in closes.items()} == {
            "rec": ("shutdown", 1001), "echo": ("shutdown", 1001)}, closes
        assert not os.path.exists(sock)


def test_lifeline_must_be_a_pipe_or_socket():
    with tempfile.TemporaryDirectory(prefix="wsf-") as tmp:
        sock = os.path.join(tmp, "s.sock")
        with open(os.path.join(tmp, "plain"), "w") as f:
            p = subprocess.run([daemon_binary(), "--socket", sock, "--lifeline-fd", "0"], stdin=f,
                               capture_output=True, timeout=10)
        assert p.returncode == 1 and b"not an open pipe or socket" in p.stderr + p.stdout
        p = subprocess.run([daemon_binary(), "--socket", sock, "--lifeline-fd", "x"], capture_output=True,
                           timeout=10)
        assert p.returncode == 2 and b"--lifeline-fd" in p.stderr


def test_data_on_the_lifeline_is_ignored_and_its_eof_is_a_shutdown():
    with tempfile.TemporaryDirectory(prefix="wsf-") as tmp, PyServer("echo") as echo:
        sock = os.path.join(tmp, "wsfleetd.sock")
        events = os.path.join(tmp, "events.jsonl")
        p = subprocess.Popen([daemon_binary(), "--socket", sock, "--events", events, "--lifeline-fd", "0"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda: os.path.exists(sock), 10)
            c = Client(sock)
            c.call("open", conn="e", url=echo.url)
            p.stdin.write(b"still here\n" * 1000)
            p.stdin.flush()
            time.sleep(0.2)
            assert p.poll() is None and c.call("request", conn="e", data="x")["data"] == "x"
            p.stdin.close()
            assert p.wait(10) == 0
            c.close()
        finally:
            if p.poll() is None:
                p.kill()
        evs = _stop_event(events)
        assert evs[-1]["event"] == "stop"
        assert [(e["conn"], e["record"]["code"]) for e in evs if e["event"] == "close"] == [("e", 1001)]


def test_sighup_is_a_shutdown_with_close_frames_not_a_death():
    with tempfile.TemporaryDirectory(prefix="wsf-") as tmp, RawServer("silent") as recorder:
        sock = os.path.join(tmp, "wsfleetd.sock")
        events = os.path.join(tmp, "events.jsonl")
        p = subprocess.Popen([daemon_binary(), "--socket", sock, "--events", events, "--shutdown-timeout-ms",
                              "500"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             # as from a terminal: a runner under nohup would pass SIGHUP on ignored
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
        try:
            assert wait_until(lambda: os.path.exists(sock), 10)
            c = Client(sock)
            c.call("open", conn="rec", url=recorder.url)
            p.send_signal(signal.SIGHUP)
            assert p.wait(10) == 0  # before: killed by SIGHUP (-1), no close frame
            c.close()
        finally:
            if p.poll() is None:
                p.kill()
        close = recorder.wait_for("frame", op="close")
        assert close and struct.unpack("!H", bytes.fromhex(close[0]["hex"])[:2])[0] == 1001
        assert _stop_event(events)[-1]["event"] == "stop"
