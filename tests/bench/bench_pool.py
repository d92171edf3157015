#!/usr/bin/env python3
"""Past one source address's ports: two wsfleetd processes hold 2 x N connections to ONE gateway
address:port (issue 17's "Done when": 30,000 on this machine, whose fd limit is 20,000 per process).

One source address reaches one gateway address:port through at most the ephemeral range (Linux's
default 32768-60999: 28,232 ports), so 30,000 connections need several source addresses. The gateway
is the mock gateway run as --workers processes sharing the port (SO_REUSEPORT, --reuse-port), since
one process holds at most ~19,900 sockets too.

  - pool: both daemons run with --source-addresses RANGE (default 127.0.0.2-127.0.0.5) and open N each,
    pipelined (--window outstanding per daemon, as bench_conns.py), with ping heartbeats; we read the
    opens that failed (by error and message), the spread over the source addresses (stats.sources),
    each daemon's CPU per open, and after --hold seconds how many are still open;
  - control (skipped with --no-control, and at --quick sizes where ports never run out): the same
    without a pool, so every connection comes from 127.0.0.1: the opens past the range fail with the
    connect_error that names the limit and what to add.

    bench_pool.py [--quick] [--per-daemon N] [--sources RANGE] [--workers W] [--hold S] [--no-control]

Exit status 1 when a pool open failed or a connection was lost in the hold (the figure the issue asks
for); the control's failures are expected and only reported.
"""

import argparse
import os
import sys
import threading
import time

import benchlib as bl

RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def ephemeral_ports():
    lo, hi = (int(x) for x in open(RANGE).read().split())
    return hi - lo + 1


def open_all(daemon, prefix, url, n, window, timeout, out):
    """Opens n connections through one daemon; out[prefix] gets the figures."""
    ctl = daemon.client(timeout=120)
    cpu0 = bl.cpu_seconds(daemon.pid)
    reqs = [("open", {"conn": "%s%05d" % (prefix, i), "url": url,
                      "keepalive": {"mode": "ping", "interval_ms": 25000}}) for i in range(n)]
    results, secs = bl.pipelined(ctl, reqs, window=window, timeout=timeout)
    errors = {}
    for err, _ in results:
        if err is not None:
            key = "%s: %s" % (err.get("code"), err.get("message"))
            errors[key] = errors.get(key, 0) + 1
    out[prefix] = {"opened": sum(1 for e, _ in results if e is None), "errors": errors, "secs": secs,
                   "cpu_us_per_open": 1e6 * (bl.cpu_seconds(daemon.pid) - cpu0) / n, "ctl": ctl}


def run_case(name, args, gw_url, daemon_args):
    d_args = ["--max-connections", str(args.per_daemon + 100), "--max-handshakes", "64"] + daemon_args
    with bl.Daemon(*d_args, start_timeout=20) as a, bl.Daemon(*d_args, start_timeout=20) as b:
        out = {}
        timeout = max(120, args.per_daemon / 50)
        threads = [threading.Thread(target=open_all, args=(d, p, gw_url, args.per_daemon, args.window, timeout, out))
                   for d, p in ((a, "a"), (b, "b"))]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 30)
        ramp_s = time.monotonic() - t0
        if set(out) != {"a", "b"}:
            raise RuntimeError("%s: a daemon's opens did not finish in %.0f s" % (name, timeout + 30))
        time.sleep(args.hold)
        row = {"case": name, "ramp_s": ramp_s, "opened": 0, "open_after_hold": 0, "errors": {}, "sources": {}}
        for p in ("a", "b"):
            st = out[p]["ctl"].call("stats")
            row["opened"] += out[p]["opened"]
            row["open_after_hold"] += st["open"]
            for k, v in out[p]["errors"].items():
                row["errors"][k] = row["errors"].get(k, 0) + v
            for s, v in st["sources"]["opens"].items():
                row["sources"][s] = row["sources"].get(s, 0) + v
            row["cpu_us_per_open_" + p] = out[p]["cpu_us_per_open"]
        row["failed"] = sum(row["errors"].values())
        return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 x 500 connections, pool only (CI smoke run)")
    ap.add_argument("--per-daemon", type=int, help="connections per daemon (default 15000: 30,000 in all)")
    ap.add_argument("--sources", default="127.0.0.2-127.0.0.5", help="the pool (--source-addresses)")
    ap.add_argument("--workers", type=int, default=2, help="gateway processes sharing the port")
    ap.add_argument("--window", type=int, default=2000, help="opens outstanding per daemon")
    ap.add_argument("--hold", type=float, help="seconds held after the opens (default 10)")
    ap.add_argument("--no-control", dest="control", action="store_false", help="skip the run without a pool")
    args = ap.parse_args()
    args.per_daemon = args.per_daemon or (500 if args.quick else 15000)
    args.hold = args.hold if args.hold is not None else (1.0 if args.quick else 10.0)
    control = args.control and not args.quick and 2 * args.per_daemon > ephemeral_ports()
    bl.header("bench_pool: 2 daemons x %d connections to one gateway address:port (%d gateway processes, "
              "%d ephemeral ports per source address)" % (args.per_daemon, args.workers, ephemeral_ports()),
              sys.argv)

    port = bl.free_port()
    gws = [bl.MockGw("--port", port, "--reuse-port", "--quiet", start_timeout=20) for _ in range(args.workers)]
    rows = []
    try:
        for gw in gws:
            gw.__enter__()
        url = "ws://127.0.0.1:%d/" % port
        rows.append(run_case("pool " + args.sources, args, url, ["--source-addresses", args.sources]))
        if control:
            rows.append(run_case("no pool (127.0.0.1)", args, url, []))
        gw_open = [gw.stats()["max_open"] for gw in gws]
    finally:
        for gw in reversed(gws):
            gw.__exit__(*sys.exc_info())

    print()
    bl.table(rows, [("case", "case", None), ("opened", "opened", "%d"), ("failed", "failed", "%d"),
                    ("open_after_hold", "open after hold", "%d"), ("ramp_s", "ramp s", "%.1f"),
                    ("cpu_us_per_open_a", "µs cpu/open a", "%.0f"), ("cpu_us_per_open_b", "µs cpu/open b", "%.0f")])
    print("gateway processes' peak sessions: %s" % gw_open)
    for r in rows:
        print("%s: per source %s" % (r["case"], dict(sorted(r["sources"].items()))))
        for k, v in sorted(r["errors"].items()):
            print("  %d x %s" % (v, k))
    bl.result_line("bench_pool", [{k: v for k, v in r.items()} for r in rows])
    pool = rows[0]
    ok = pool["failed"] == 0 and pool["open_after_hold"] == 2 * args.per_daemon
    print("pool: %d of %d held, %s" % (pool["open_after_hold"], 2 * args.per_daemon, "ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
