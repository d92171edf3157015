#!/usr/bin/env python3
"""Messages: echo round trips per second and CPU per message over 100 and 1,000 connections to the
mock gateway in echo mode (--echo), side by side on the same gateway process:

  wsfleet   wsfleetd holds the connections; bench_echo (C, msgpack-c) keeps one `request` per
            connection outstanding, all pipelined over one control connection
  node-ws   one node process with the `ws` package (pinned in tests/node/package.json)
  k6        k6 with its k6/websockets module (several sockets per VU, --per-vu)

Every client keeps exactly one SIZE-byte text message in flight per connection (send, wait for the
echo, send again) and counts the echoes that arrive inside the same wall-clock window; the CPU of
each process (utime+stime from /proc/PID/stat) is sampled at the window's edges. "Per core" is
round trips per CPU-second of the client side: for wsfleet the daemon plus its driver (and the
daemon alone), for the peers their whole process. User and system µs per message are shown apart
(utime and stime): both sides make one write and one read per message, and the system part is
what those cost. The gateway's CPU is shown too: it is shared.

    bench_messages.py [--quick] [--conns 100,1000] [--seconds S] [--size B] [--per-vu V]
                      [--clients wsfleet,node,k6] [--repeat R] [--large 1048576,16777216]

Large messages: after those rows, one connection each echoes a single --large-sized text message at a
time (1 MiB and 16 MiB by default, 1 MiB in --quick), wsfleet and node `ws` side by side: round trips
per second and CPU per message (the daemon's limits are raised to fit; 16 MiB is the mock gateway's).

k6 is looked for in $K6, on PATH, then in $(go env GOPATH)/bin (install: go install
go.k6.io/k6@v1.8.1); without it the k6 rows say so and the run does not fail.
Target (ARCHITECTURE.md, "Targets"): messages/s per core >= the best peer.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

import benchlib as bl
from wsf_fixtures import ensure_node_modules

K6_VERSION = "v1.8.1"


def find_k6():
    for cand in (os.environ.get("K6"), shutil.which("k6")):
        if cand and os.access(cand, os.X_OK):
            return cand
    gopath = os.environ.get("GOPATH")
    if not gopath and shutil.which("go"):
        try:
            gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            gopath = None
    for base in filter(None, [gopath, os.path.expanduser("~/go")]):
        cand = os.path.join(base, "bin", "k6")
        if os.access(cand, os.X_OK):
            return cand
    return None


def measure(proc, pids, w_start_ms, w_end_ms, timeout):
    """Samples the CPU of pids at the window's edges, then waits for proc; returns
    ({pid: cpu seconds in the window}, stdout, stderr, exit status)."""
    def sleep_until(ms):
        while True:
            left = ms / 1000.0 - time.time()
            if left <= 0 or proc.poll() is not None:
                return
            time.sleep(min(left, 0.05))

    sleep_until(w_start_ms)
    c0 = {p: tree_user_sys(p) for p in pids}
    sleep_until(w_end_ms)
    c1 = {p: tree_user_sys(p) for p in pids}
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    split = {p: (c1[p][0] - c0[p][0], c1[p][1] - c0[p][1]) for p in pids}
    return {p: sum(split[p]) for p in pids}, split, out.decode(), err.decode(), proc.returncode


def tree_user_sys(pid):
    """(utime, stime) seconds of pid and its descendants: the kernel's share of a client's CPU is
    mostly its system calls (one write and one read per echoed message on each side)."""
    user = sys_ = 0
    for p in bl.tree_pids(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        user += int(fields[11])
        sys_ += int(fields[12])
    return user / bl.CLK_TCK, sys_ / bl.CLK_TCK


def last_json(text):
    import json
    lines = [l for l in text.splitlines() if l.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_wsfleet(daemon, ctl, gw, n, args, tag):
    prefix = "e%s_" % tag
    names = ["%s%05d" % (prefix, i) for i in range(n)]
    bl.open_many(ctl, names, gw.url, window=1000, keepalive={"mode": "none"})
    w_start = int(time.time() * 1000) + int(args.startup * 1000)
    w_end = w_start + int(args.seconds * 1000)
    cmd = [bl.bench_binary("bench_echo"), "--socket", daemon.socket, "--prefix", prefix, "--n", str(n),
           "--size", str(args.size), "--window-start-ms", str(w_start), "--window-end-ms", str(w_end)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cpu, split, out, err, rc = measure(proc, [daemon.pid, proc.pid, gw.proc.pid], w_start, w_end,
                                       args.seconds + 60)
    data = last_json(out) or {}
    data.update(client="wsfleet", exit=rc, stderr=err.strip()[-300:], window_start_ms=w_start,
                daemon_cpu_s=cpu[daemon.pid], driver_cpu_s=cpu[proc.pid], gw_cpu_s=cpu[gw.proc.pid],
                client_cpu_s=cpu[daemon.pid] + cpu[proc.pid],
                client_sys_s=split[daemon.pid][1] + split[proc.pid][1],
                daemon_sys_s=split[daemon.pid][1], driver_sys_s=split[proc.pid][1])
    ctl.call("reset")
    return data


def run_node(gw, n, args):
    ensure_node_modules()
    node = shutil.which("node") or "/usr/bin/node"
    w_start = int(time.time() * 1000) + int(args.startup * 1000) + 1000
    w_end = w_start + int(args.seconds * 1000)
    cmd = [node, os.path.join(bl.HERE, "node_echo.js"), gw.url, str(n), str(args.size), str(w_start), str(w_end)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cpu, split, out, err, rc = measure(proc, [proc.pid, gw.proc.pid], w_start, w_end, args.seconds + 60)
    data = last_json(out) or {}
    data.update(client="node-ws", exit=rc, stderr=err.strip()[-300:], window_start_ms=w_start,
                client_cpu_s=cpu[proc.pid], gw_cpu_s=cpu[gw.proc.pid], client_sys_s=split[proc.pid][1])
    return data


def run_k6(k6, gw, n, args):
    per_vu = min(args.per_vu, n)
    # k6 compiles the script once per VU before it starts: give it time in proportion.
    w_start = int(time.time() * 1000) + int(args.startup * 1000) + 3000 + 20 * ((n + per_vu - 1) // per_vu)
    w_end = w_start + int(args.seconds * 1000)
    cmd = [k6, "run", "--quiet", "--no-usage-report", "--no-color", "--log-output=none",
           "-e", "URL=" + gw.url, "-e", "CONNS=%d" % n, "-e", "PER_VU=%d" % per_vu, "-e", "SIZE=%d" % args.size,
           "-e", "WINDOW_START=%d" % w_start, "-e", "WINDOW_END=%d" % w_end, os.path.join(bl.HERE, "k6_echo.js")]
    env = dict(os.environ, K6_NO_USAGE_REPORT="true")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=os.path.join(bl.SOURCE_DIR, "tests", "bench"))
    cpu, split, out, err, rc = measure(proc, [proc.pid, gw.proc.pid], w_start, w_end, args.seconds + 120)
    data = last_json(out) or {}
    data.update(client="k6", exit=rc, stderr=err.strip()[-300:], window_start_ms=w_start,
                client_cpu_s=cpu[proc.pid], gw_cpu_s=cpu[gw.proc.pid], client_sys_s=split[proc.pid][1])
    return data


def check(row, n):
    """Why a run broke (a failure of the benchmark, not a figure), or None."""
    if row.get("exit") not in (0, None):
        return "exit %s: %s" % (row.get("exit"), row.get("stderr"))
    if not row.get("round_trips"):
        return "no round trip in the window: %s" % row.get("stderr")
    if row.get("wrong_echo"):
        return "%d wrong echoes" % row["wrong_echo"]
    if row.get("errors"):
        return "%d errors (%s)" % (row["errors"], row.get("first_error", ""))
    if not row.get("ready_at_ms") or row.get("ready_vus", row.get("vus")) != row.get("vus"):
        return "not every one of the %d connections got an echo back" % n
    return None


def late_start(row, n):
    """A timing caveat, not a failure: the client was still opening when the window began."""
    if row["ready_at_ms"] > row["window_start_ms"]:
        return "not all %d connections were echoing when the window opened (%d ms late): figure low" % (
            n, row["ready_at_ms"] - row["window_start_ms"])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 connections, 1.5 s windows (CI)")
    ap.add_argument("--conns", help="connection counts (default 100,1000; quick 100)")
    ap.add_argument("--seconds", type=float, help="measured window (default 8, quick 1.5)")
    ap.add_argument("--startup", type=float, default=1.0, help="seconds before the window opens")
    ap.add_argument("--size", type=int, default=32, help="message bytes (text)")
    ap.add_argument("--per-vu", type=int, default=10, help="k6: WebSockets per VU")
    ap.add_argument("--clients", default="wsfleet,node,k6")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of all clients (rows are listed each)")
    ap.add_argument("--large", help="message sizes for the one-connection large-message rows "
                                    "(default 1048576,16777216; quick 1048576; '' for none)")
    args = ap.parse_args()
    large = [int(x) for x in (args.large if args.large is not None else
                              ("1048576" if args.quick else "1048576,16777216")).split(",") if x.strip()]
    conns = [int(x) for x in (args.conns or ("100" if args.quick else "100,1000")).split(",")]
    args.seconds = args.seconds or (1.5 if args.quick else 8.0)
    clients = args.clients.split(",")
    bl.header("bench_messages: echo round trips through wsfleetd vs peer clients", sys.argv)
    k6 = find_k6() if "k6" in clients else None
    if "k6" in clients:
        print("# k6: %s" % (subprocess.run([k6, "version"], capture_output=True, text=True).stdout.strip()
                            if k6 else "not found (go install go.k6.io/k6@%s) - k6 rows skipped" % K6_VERSION))
    print("# node: %s" % subprocess.run([shutil.which("node") or "/usr/bin/node", "--version"], capture_output=True,
                                        text=True).stdout.strip())

    rows, broken = [], []
    plan = [(n, args.size) for n in conns] + [(1, size) for size in large]
    max_msg = max([args.size] + large)
    with bl.MockGw("--echo", "--quiet") as gw, \
            bl.Daemon("--max-message-bytes", str(max(max_msg, 16 << 20))) as daemon:
        ctl = daemon.client(timeout=60)
        for rnd in range(args.repeat):
            for n, size in plan:
                a = argparse.Namespace(**dict(vars(args), size=size))
                for client in clients:
                    if size != args.size and client == "k6":
                        continue  # the large rows: wsfleet and node `ws`
                    if client == "wsfleet":
                        row = run_wsfleet(daemon, ctl, gw, n, a, "%d_%d_%d" % (rnd, n, size))
                    elif client == "node":
                        row = run_node(gw, n, a)
                    elif client == "k6":
                        if not k6:
                            continue
                        row = run_k6(k6, gw, n, a)
                    else:
                        raise SystemExit("unknown client %r" % client)
                    row["n"] = n
                    row["size"] = size
                    why = check(row, n)
                    if why:
                        broken.append("%s n=%d: %s" % (client, n, why))
                        print("%s %d: BROKEN %s" % (client, n, why))
                        continue
                    row["note"] = late_start(row, n)
                    if row["note"]:
                        print("%s %d: NOTE %s" % (client, n, row["note"]))
                    secs = row["seconds"]
                    row["client_cpu_pct"] = 100 * row["client_cpu_s"] / secs
                    row["gw_cpu_pct"] = 100 * row["gw_cpu_s"] / secs
                    row["us_per_msg"] = 1e6 * row["client_cpu_s"] / row["round_trips"]
                    row["sys_us_per_msg"] = 1e6 * row["client_sys_s"] / row["round_trips"]
                    row["user_us_per_msg"] = row["us_per_msg"] - row["sys_us_per_msg"]
                    row["per_core"] = row["round_trips"] / row["client_cpu_s"] if row["client_cpu_s"] else None
                    if client == "wsfleet":
                        row["daemon_us_per_msg"] = 1e6 * row["daemon_cpu_s"] / row["round_trips"]
                        row["daemon_sys_us_per_msg"] = 1e6 * row["daemon_sys_s"] / row["round_trips"]
                        row["daemon_per_core"] = (row["round_trips"] / row["daemon_cpu_s"]
                                                  if row["daemon_cpu_s"] else None)
                    rows.append(row)
                    print("%s %d x %d B: %.1f round trips/s" % (client, n, size, row["rps"]))
                    sys.stdout.flush()
        if not daemon.alive():
            broken.append("the daemon died:\n" + daemon.log())

    print()
    bl.table(rows, [("client", "client", None), ("n", "conns", "%d"), ("size", "bytes", "%d"),
                    ("rps", "round trips/s", "%.1f"),
                    ("client_cpu_pct", "client %cpu", "%.0f"), ("us_per_msg", "µs cpu/msg", "%.2f"),
                    ("user_us_per_msg", "user µs", "%.2f"), ("sys_us_per_msg", "sys µs", "%.2f"),
                    ("per_core", "msgs/s per core", "%.0f"), ("daemon_us_per_msg", "daemon µs/msg", "%.2f"),
                    ("daemon_sys_us_per_msg", "daemon sys µs", "%.2f"),
                    ("daemon_per_core", "daemon msgs/s/core", "%.0f"), ("gw_cpu_pct", "gw %cpu", "%.0f")])
    if args.quick:
        print("(quick run: sizes and windows too small for the ARCHITECTURE.md targets; verdicts are indicative)")
    print()
    summary = []
    for n, size in plan:
        ours = [r for r in rows if r["n"] == n and r["size"] == size and r["client"] == "wsfleet"]
        peers = [r for r in rows if r["n"] == n and r["size"] == size and r["client"] != "wsfleet"
                 and r.get("per_core")]
        if not ours:
            continue
        o = max(ours, key=lambda r: r["per_core"] or 0)
        line = {"n": n, "size": size, "wsfleet_rps": o["rps"], "wsfleet_per_core": o["per_core"],
                "daemon_per_core": o.get("daemon_per_core")}
        for p in peers:
            line["%s_rps" % p["client"]] = p["rps"]
            line["%s_per_core" % p["client"]] = p["per_core"]
        if peers:
            best = max(peers, key=lambda r: r["per_core"])
            ratio = o["per_core"] / best["per_core"]
            dratio = (o["daemon_per_core"] or 0) / best["per_core"]
            line.update(best_peer=best["client"], ratio=ratio, daemon_ratio=dratio)
            print("%d conns x %d B: wsfleet (daemon+driver) %.0f msgs/s per core vs best peer %s %.0f: x%.2f (%s); "
                  "daemon alone x%.2f; throughput %.0f vs %.0f round trips/s (x%.2f)"
                  % (n, size, o["per_core"], best["client"], best["per_core"], ratio, "met" if ratio >= 1 else "MISSED",
                     dratio, o["rps"], best["rps"], o["rps"] / best["rps"]))
        summary.append(line)
    if broken:
        print("BROKEN:\n  " + "\n  ".join(broken))
    bl.result_line("bench_messages", {"size": args.size, "seconds": args.seconds, "per_vu": args.per_vu,
                                      "summary": summary,
                                      "runs": [{k: v for k, v in r.items() if k != "stderr"} for r in rows]})
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
