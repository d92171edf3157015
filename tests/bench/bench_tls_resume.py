#!/usr/bin/env python3
"""TLS session resumption (--tls-session-cache) against a full handshake per open: wsfleetd opens N
wss:// connections to the mock gateway with session tickets on (--tls-tickets) and holds them idle,
once without the option and once with it. Prints RSS per idle connection and the daemon's CPU per
open (utime+stime from /proc, the figure that holds on a loaded host) for both, and how many opens
resumed (stats tls_resumed_total). Same shape as bench_conns.py's wss:// case (its certificate,
ping heartbeats every 25 s, opens pipelined 100 at a time). --server python runs the peer of
tests/integration/test_tls.py instead (python3-websockets; OpenSSL's default two tickets).

    /usr/bin/python3 tests/bench/bench_tls_resume.py --n 2000 [--server python]
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import benchlib as bl  # noqa: E402
from bench_conns import make_cert, warm_up  # noqa: E402


class Certs:  # what test_tls.py_server reads
    def __init__(self, cert, key):
        self.cert, self.key = cert, key

    def path(self, name):
        return self.cert if name.endswith(".pem") else self.key


def server(kind, cert, key):
    if kind == "python":
        import test_tls
        srv = test_tls.py_server(Certs(cert, key), host="127.0.0.1")
        srv.ready_timeout = 30
        return srv
    return bl.MockGw("--quiet", "--tls", cert, key, "--tls-tickets")


def run(n, resume, cert, key, window, kind):
    d_args = ["--max-connections", str(max(n, 19000)), "--tls-ca-file", cert]
    if resume:
        d_args.append("--tls-session-cache")
    with server(kind, cert, key) as gw, bl.Daemon(*d_args, start_timeout=20) as daemon:
        ctl = daemon.client(timeout=60)
        warm_up(ctl, gw.url)  # also the session the first measured open resumes
        rss0, cpu0 = bl.rss_kb(daemon.pid), bl.cpu_seconds(daemon.pid)
        names = ["c%05d" % i for i in range(n)]
        bl.open_many(ctl, names, gw.url, window=window, timeout=max(120, n / 50),
                     keepalive={"mode": "ping", "interval_ms": 25000})
        cpu1 = bl.cpu_seconds(daemon.pid)
        time.sleep(2)
        rss1 = bl.rss_kb(daemon.pid)
        st = ctl.call("stats")
        return {"server": kind, "resume": resume, "n": n, "kib_per_conn": (rss1 - rss0) / n, "open_cpu_us": 1e6 * (cpu1 - cpu0) / n,
                "resumed": st["tls_resumed_total"], "open": st["open"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="200 connections (the bench suite's size)")
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--server", choices=("mockgw", "python"), default="mockgw")
    args = ap.parse_args()
    if args.quick:
        args.n = 200
    bl.header("bench_tls_resume: idle wss:// connections, full handshakes vs resumed sessions", sys.argv)
    with tempfile.TemporaryDirectory(prefix="wsf-bench-tls-") as tmp:
        cert, key = make_cert(tmp)
        rows = [run(args.n, resume, cert, key, args.window, args.server) for resume in (False, True)]
    bl.table(rows, [("server", "server", "%s"), ("resume", "--tls-session-cache", "%s"), ("n", "conns", "%d"),
                          ("open", "open", "%d"), ("resumed", "resumed", "%d"),
                          ("kib_per_conn", "KiB/conn", "%.2f"), ("open_cpu_us", "µs cpu/open", "%.0f")])
    print("load average at end: %s" % bl.loadavg())
    bl.result_line("bench_tls_resume", {"cases": rows})


if __name__ == "__main__":
    main()
