"""Client-side verdicts reproduced for real with the daemon: descriptors exhausted under a small
RLIMIT_NOFILE (prlimit), and a daemon that stalls (SIGSTOP) while an idle-timeout server waits for
its heartbeats, so the snapshots' loop lag and heartbeat lateness explain the drops. (Ephemeral-port
exhaustion and connect bursts need tens of thousands of sockets: test_verdicts.py covers them on
synthetic logs.)"""

import os
import shutil
import signal
import time

from verdict_fixtures import VerdictPeer, report_json
from wsf_fixtures import Daemon, PyServer, RpcError, wait_until


def report(d, tmp_path):
    """Stops the daemon; its log's summary, which --fail-on client must flag (exit 4)."""
    d.stop()
    path = tmp_path / "events.jsonl"
    shutil.copyfile(d.events_path, path)
    return report_json(path, "--fail-on", "client", rc=(4,))


def test_fd_exhaustion_under_a_small_descriptor_limit(tmp_path):
    with PyServer("echo") as srv, Daemon(wrapper=["prlimit", "--nofile=40:40", "--"]) as d:
        ctl = d.client()
        failed = 0
        for i in range(60):
            try:
                ctl.call("open", conn="f%d" % i, url=srv.url, keepalive={"mode": "none"})
            except RpcError as e:
                assert "EMFILE" in e.message, e
                failed += 1
        assert failed >= 20
        s = report(d, tmp_path)
    assert [g["code"] for g in s["groups"]] == ["fd_exhaustion"], s["groups"]
    assert s["groups"][0]["count"] == failed and s["groups"][0]["side"] == "client"


def test_a_stalled_client_is_client_overloaded_not_an_idle_timeout(tmp_path):
    # Heartbeats every 0.2 s keep sessions alive under a 1 s idle timeout, until the daemon is
    # stopped for 1.6 s: the server drops them, and the next snapshot shows the loop 1.6 s late.
    with VerdictPeer("idle", idle=1.0) as peer, Daemon("--snapshot-interval-ms", "200") as d:
        ctl = d.client()
        names = ["o%d" % i for i in range(4)]
        for n in names:
            ctl.call("open", conn=n, url=peer.url, keepalive={"mode": "ping", "interval_ms": 200, "jitter_ms": 20})
        time.sleep(1.5)
        assert all(ctl.call("status", conn=n)["state"] == "open" for n in names)
        os.kill(d.pid, signal.SIGSTOP)
        try:
            time.sleep(1.6)
        finally:
            os.kill(d.pid, signal.SIGCONT)
        assert wait_until(lambda: all(ctl.call("status", conn=n)["state"] == "closed" for n in names), 5)
        time.sleep(0.5)  # a snapshot after the stall
        s = report(d, tmp_path)
    assert [g["code"] for g in s["groups"]] == ["client_overloaded"], s["groups"]
    g = s["groups"][0]
    assert g["count"] == 4 and g["figures"]["loop_lag_max_s"] >= 1.0
