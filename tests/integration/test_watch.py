"""`wsfleet watch` against a running daemon: per-interval opens and drops by cause, and the verdict
so far by code (--json frames; the text view is the same map rendered)."""

import json
import subprocess
import time

from verdict_fixtures import WSFLEET, VerdictPeer
from wsf_fixtures import PYTHON, Daemon, RpcError, wait_until


def watch(daemon, *args):
    return subprocess.Popen([PYTHON, WSFLEET, "--socket", daemon.socket, "watch"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_watch_counts_drops_per_interval_and_names_them():
    with Daemon() as d, VerdictPeer("rate", burst=3, close_code=4029, close_reason="rate limited") as peer:
        ctl = d.client()
        ctl.call("open", conn="quiet", url=peer.url, keepalive={"mode": "none"})
        w = watch(d, "--json", "--interval", "0.5", "--count", "4")
        assert wait_until(lambda: ctl.call("stats")["control_clients"] >= 2, 5)
        time.sleep(0.1)
        for n in ("r1", "r2"):
            ctl.call("open", conn=n, url=peer.url, keepalive={"mode": "none"})
            for i in range(6):
                try:
                    ctl.call("send", conn=n, data="m%d" % i)
                except RpcError:
                    break
        out, err = w.communicate(timeout=20)
    assert w.returncode == 0, err
    frames = [json.loads(line) for line in out.splitlines()]
    assert len(frames) == 4
    assert sum(f["opens"] for f in frames) == 2
    assert sum(f["drops"].get("4029 server_close", 0) for f in frames) == 2
    assert frames[-1]["open"] == 1 and frames[-1]["drops_total"] == 2
    assert [v["code"] for v in frames[-1]["verdicts"]] == ["rate_limit"]
    assert "p99" in frames[-1]["heartbeat_late_us"]


def test_watch_once_text_and_unreachable(tmp_path):
    with Daemon() as d:
        w = watch(d, "--once", "--interval", "0.2")
        out, err = w.communicate(timeout=10)
    assert w.returncode == 0, err
    assert out.startswith("wsfleet watch") and "open 0" in out and "no drops" in out
    r = subprocess.run([PYTHON, WSFLEET, "--socket", str(tmp_path / "none.sock"), "watch", "--once"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 3 and "cannot reach" in r.stderr
    r = subprocess.run([PYTHON, WSFLEET, "watch", "--count", "0"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
