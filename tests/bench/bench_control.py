#!/usr/bin/env python3
"""Control protocol: requests/s and round trips on 1 and 8 control connections at pipeline depths
1, 16 and 256, driven by the C client bench_control (msgpack-c) against a fresh wsfleetd.

`status` of an open connection (to the mock gateway) is the request: small request, ~570-byte
response, the call a sampler makes most. `stats` (a larger result built from all counters) is run
too on one connection, and `hello` at depth 256. The client reads each reply's envelope (msgid,
error or not) without building its objects, and decodes errors whole; --decode full builds every
reply with msgpack-c as a real client would (that decoding cost the client more than the daemon
spent packing, so the client set the rate). Each configuration runs --repeat times; the run with the median requests/s
is shown. Targets (ARCHITECTURE.md, "Targets"): >= 200,000 pipelined requests/s on one connection, median round
trip <= 30 µs.

    bench_control.py [--quick] [--seconds S] [--repeat R] [--decode envelope|full]
"""

import argparse
import sys

import benchlib as bl

TARGET_RPS = 200_000
TARGET_RTT_US = 30


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short windows, one run each (CI)")
    ap.add_argument("--seconds", type=float, help="measured window per run (default 3, quick 0.3)")
    ap.add_argument("--repeat", type=int, help="runs per configuration (default 3, quick 1)")
    ap.add_argument("--decode", choices=("envelope", "full"), default="envelope",
                    help="how the client reads replies (default envelope: msgid and error only)")
    args = ap.parse_args()
    seconds = args.seconds or (0.3 if args.quick else 3.0)
    repeat = args.repeat or (1 if args.quick else 3)
    warmup = 0.1 if args.quick else 0.5
    bl.header("bench_control: control protocol throughput and round trip", sys.argv)
    binary = bl.bench_binary("bench_control")

    configs = [("status", k, d) for k in (1, 8) for d in (1, 16, 256)]
    configs += [("stats", 1, d) for d in (1, 16, 256)]
    configs += [("hello", 1, 256)]
    rows, broken = [], []
    with bl.MockGw("--quiet") as gw, bl.Daemon() as daemon:
        ctl = daemon.client()
        ctl.call("open", conn="bench", url=gw.url, keepalive={"mode": "none"})
        for method, k, depth in configs:
            runs = []
            for _ in range(repeat):
                cmd = [binary, "--socket", daemon.socket, "--method", method, "--conn", "bench",
                       "--connections", str(k), "--depth", str(depth), "--seconds", str(seconds),
                       "--warmup", str(warmup), "--daemon-pid", str(daemon.pid), "--decode", args.decode]
                data, rc, err = bl.run_json(cmd, timeout=seconds + warmup + 60)
                if rc != 0 or data is None:
                    broken.append("%s k=%d d=%d: exit %s %s %s" % (method, k, depth, rc, data, err.strip()))
                    break
                runs.append(data)
            if not runs:
                continue
            med = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
            med["rps_all"] = "/".join("%.0fk" % (r["rps"] / 1e3) for r in runs)
            med["daemon_cpu_pct"] = 100.0 * med["daemon_cpu_s"] / med["seconds"]
            med["client_cpu_pct"] = 100.0 * med["client_cpu_s"] / med["seconds"]
            med["daemon_us_per_req"] = 1e6 * med["daemon_cpu_s"] / med["requests"] if med["requests"] else None
            rows.append(med)
        if not daemon.alive():
            broken.append("the daemon died:\n" + daemon.log())

    print()
    bl.table(rows, [("method", "method", None), ("connections", "conns", "%d"), ("depth", "depth", "%d"),
                    ("rps", "req/s", "%.0f"), ("rps_all", "runs", None), ("rtt_p50_us", "rtt p50 µs", "%.1f"),
                    ("rtt_p99_us", "rtt p99 µs", "%.1f"), ("daemon_cpu_pct", "daemon %cpu", "%.0f"),
                    ("daemon_us_per_req", "daemon µs/req", "%.2f"), ("client_cpu_pct", "client %cpu", "%.0f")])

    def pick(method, k, d):
        return next((r for r in rows if (r["method"], r["connections"], r["depth"]) == (method, k, d)), None)

    if args.quick:
        print("(quick run: sizes and windows too small for the ARCHITECTURE.md targets; verdicts are indicative)")
    best1 = max((r["rps"] for r in rows if r["method"] == "status" and r["connections"] == 1), default=0)
    d1 = pick("status", 1, 1)
    summary = {
        "pipelined_rps_one_conn": round(best1),
        "rtt_p50_us_depth1": d1 and d1["rtt_p50_us"],
        "rtt_p99_us_depth1": d1 and d1["rtt_p99_us"],
        "runs": [{k: r[k] for k in ("method", "connections", "depth", "rps", "rtt_p50_us", "rtt_p99_us",
                                    "daemon_cpu_s", "client_cpu_s", "seconds", "requests")} for r in rows],
        "seconds": seconds, "repeat": repeat,
    }
    print()
    print("pipelined requests/s on one control connection (best depth): %.0f  (target >= %d: %s, x%.2f)"
          % (best1, TARGET_RPS, "met" if best1 >= TARGET_RPS else "MISSED", best1 / TARGET_RPS))
    if d1:
        print("round trip at depth 1: p50 %.1f µs, p99 %.1f µs  (target p50 <= %d µs: %s)"
              % (d1["rtt_p50_us"], d1["rtt_p99_us"], TARGET_RTT_US,
                 "met" if d1["rtt_p50_us"] <= TARGET_RTT_US else "MISSED"))
    if broken:
        print("BROKEN:\n  " + "\n  ".join(broken))
    bl.result_line("bench_control", summary)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
