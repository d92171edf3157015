#!/usr/bin/env python3
"""Connections held: wsfleetd opens N ws:// (and wss://) connections to the mock gateway, pipelined
over one control connection, holds them idle with ping heartbeats (keepalive in `open`), and we read:

  - daemon RSS per connection: (VmRSS after the hold - VmRSS with 0 connections) / N, from
    /proc/PID/status (also right after the opens, before any heartbeat); "0 connections" is after
    one warm-up connection was opened, closed and reset away;
  - idle CPU: utime+stime from /proc/PID/stat over the hold window, in % of one core, and per
    heartbeat sent in the window, split into user and kernel µs;
  - heartbeat lateness: p50/p99/max of the `stats` method's heartbeat_late_us (the whole run,
    opens included), and p50/p99 of the heartbeats sent inside the hold window only (the difference
    of two snapshots of the --metrics histogram, interpolated inside its power-of-two buckets);
  - what the machine does to any process meanwhile: the daemon's run-queue wait per wakeup in the
    hold window (/proc/PID/schedstat), and the wake-up lateness p99/max of sleep_probe.py, a
    process that only sleeps 5-45 ms at a time (other tenants' load shows there too);
  - connect rate achieved: N / seconds from the first open sent to the last response, with at most
    --window opens outstanding (default 100, like one JMeter JVM with 100 threads). An extra run per
    case sends all N opens at once ("burst"): its rate, and RSS right after it (the handshakes'
    transient memory stays in the heap as fragmentation).

With --floor, each ws:// size is run once more by floor_ws_client.c instead of wsfleetd: a bare
epoll client (one masked ping written and one read per heartbeat, no timers, no parsing, beats
batched into wake-ups as wsfleetd batches them) against a fresh gateway: the least any client pays
per heartbeat on this kernel, printed beside wsfleetd's (CPU from getrusage over the same hold, after
one interval of warm-up). It is built on demand with `cc -O2` (libc only).

The gateway runs as its own process (its own fd limit); both sides raise their soft fd limit to
the hard one (20,000 here). wss:// uses an ECDSA P-256 certificate made with the openssl CLI and
verified by the daemon (ca_file).

    bench_conns.py [--quick] [--ws 1000,10000,19000] [--wss 1000,10000] [--hold S]
                   [--interval-ms MS] [--window N] [--no-burst] [--deflate off|no-context|context]
                   [--source-addresses LIST|RANGE] [--floor]

With --deflate, every connection negotiates permessage-deflate with the gateway (without, or with,
context takeover both ways) and echoes one 1 KiB text message before the hold, so the figures are
for idle connections that have been active (zlib state allocated where context takeover keeps it).

Targets (issue 19, replacing the first ones of ARCHITECTURE.md, "Targets": 2.5 KiB, 24 KiB, 2 %,
10 ms): <= 1.0 KiB per idle ws:// connection at 19,000, <= 16 KiB per idle wss:// connection at
10,000, idle CPU < 1 % of a core at 19,000 with 25 s heartbeats, heartbeat lateness p99 <= 5 ms
(judged on the hold window, and on the whole run, opens included).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import benchlib as bl

TARGET_WS_KIB = 1.0
TARGET_WSS_KIB = 16
TARGET_IDLE_CPU_PCT = 1.0
TARGET_LATE_P99_MS = 5.0
HB_METRIC = "wsfleet_heartbeat_lateness_seconds"


def make_cert(dirname):
    cert, key = os.path.join(dirname, "cert.pem"), os.path.join(dirname, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def user_sys_seconds(pid):
    """(user, kernel) CPU seconds of a process: utime and stime of /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / bl.CLK_TCK, int(fields[12]) / bl.CLK_TCK


def build_floor(dirname):
    exe = os.path.join(dirname, "floor_ws_client")
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(bl.HERE, "floor_ws_client.c")], check=True,
                   capture_output=True, timeout=120)
    return exe


def run_floor(exe, n, args):
    """The bare epoll client at n connections (module docstring): its µs per heartbeat."""
    early_ms = min(args.interval_ms // 100, 50)  # as conn_keepalive.c lets beats ride along
    with bl.MockGw("--quiet") as gw:
        out = subprocess.run([exe, "127.0.0.1", str(gw.port), str(n), str(args.interval_ms), str(early_ms),
                              str(int(round(args.hold)))], capture_output=True,
                             timeout=300 + args.interval_ms / 1000 + args.hold)
    lines = [x for x in out.stdout.decode().splitlines() if x.startswith("FLOOR ")]
    if out.returncode != 0 or not lines:
        return {"floor_broken": "floor_ws_client exited %d: %s" % (out.returncode, out.stderr.decode()[-300:])}
    f = json.loads(lines[-1][len("FLOOR "):])
    return {"floor_cpu_pct": f["cpu_pct"], "floor_user_us_per_hb": f["user_us_per_hb"],
            "floor_sys_us_per_hb": f["sys_us_per_hb"], "floor_us_per_hb": f["user_us_per_hb"] + f["sys_us_per_hb"],
            "floor_wakeups_per_hb": f["wakeups"] / f["beats"] if f["beats"] else None}


def sizes(text):
    return [int(x) for x in text.split(",") if x.strip()] if text else []


def warm_up(ctl, url):
    """One connection opened, pinged, closed and forgotten before "RSS at 0": the library code and
    one-time state (OpenSSL's DRBG, TLS context, buffers that grow once) are then counted in the
    baseline, not spread over N."""
    ctl.call("open", conn="warmup", url=url, keepalive={"mode": "none"})
    ctl.call("ping", conn="warmup")
    ctl.call("close", conn="warmup")
    ctl.call("reset")
    time.sleep(0.3)


def run_burst(scheme, n, cert, key, max_handshakes=0):
    """All n opens sent at once: RSS right after (the handshakes' high-water mark stays in the heap)
    and the connect rate. No hold. Returns the figures, or {"burst_failed": ...} when opens failed."""
    gw_args = ["--quiet"] + (["--tls", cert, key] if scheme == "wss" else [])
    d_args = ["--max-connections", str(max(n, 19000)), "--max-handshakes", str(max_handshakes)]
    if scheme == "wss":
        d_args += ["--tls-ca-file", cert]
    with bl.MockGw(*gw_args) as gw, bl.Daemon(*d_args, start_timeout=20) as daemon:
        ctl = daemon.client(timeout=60)
        warm_up(ctl, gw.url)
        rss0 = bl.rss_kb(daemon.pid)
        reqs = [("open", {"conn": "b%05d" % i, "url": gw.url, "keepalive": {"mode": "ping", "interval_ms": 25000}})
                for i in range(n)]
        results, secs = bl.pipelined(ctl, reqs, window=n, timeout=max(120, n / 50))
        errors = [e for e, _ in results if e is not None]
        if errors:
            phases = {}
            for e in errors:
                k = "%s/%s" % (e.get("code"), e.get("phase", "-"))
                phases[k] = phases.get(k, 0) + 1
            return {"burst_failed": "%d of %d opens failed with --max-handshakes %d: %s"
                                    % (len(errors), n, max_handshakes, phases)}
        time.sleep(0.5)
        return {"burst_kib_per_conn": (bl.rss_kb(daemon.pid) - rss0) / n, "burst_rate": n / secs,
                "burst_max_handshakes": max_handshakes}


def deflate_params(mode):
    nc = mode == "no-context"
    return {"client_no_context_takeover": nc, "server_no_context_takeover": nc}


def run_case(scheme, n, args, cert, key):
    gw_args = ["--quiet"] + (["--tls", cert, key] if scheme == "wss" else [])
    gw_args += ["--echo", "--deflate"] if args.deflate != "off" else []
    metrics_port = bl.free_port()
    row = {"scheme": scheme if args.deflate == "off" else "%s+deflate(%s)" % (scheme, args.deflate), "n": n,
           "window": args.window}
    # The CA comes from the command line, not from open's `tls` map: with a `tls` map that leaves
    # fields out, rpc.c's get_cstr() reads an uninitialised pointer for them (reported).
    d_args = ["--metrics", "127.0.0.1:%d" % metrics_port, "--max-connections", str(max(n, 19000))]
    if args.source_addresses:
        d_args += ["--source-addresses", args.source_addresses]
    if scheme == "wss":
        d_args += ["--tls-ca-file", cert]
    with bl.MockGw(*gw_args) as gw, bl.Daemon(*d_args, start_timeout=20) as daemon:
        ctl = daemon.client(timeout=60)
        warm_up(ctl, gw.url)
        rss0 = bl.rss_kb(daemon.pid)
        gw_rss0 = bl.rss_kb(gw.proc.pid)
        params = {"keepalive": {"mode": "ping", "interval_ms": args.interval_ms}}
        if args.deflate != "off":
            params["deflate"] = deflate_params(args.deflate)
        names = ["c%05d" % i for i in range(n)]
        cpu_open0 = bl.cpu_seconds(daemon.pid)
        open_s = bl.open_many(ctl, names, gw.url, window=args.window, timeout=max(120, n / 50), **params)
        if args.deflate != "off":  # one compressed message each way on every connection
            text = ("wsfleet deflate bench %d " * 48)[:1024]
            results, _ = bl.pipelined(ctl, [("request", {"conn": c, "data": text, "timeout_ms": 30000})
                                            for c in names], window=args.window, timeout=max(120, n / 50))
            bad = [e for e, _ in results if e is not None]
            if bad:
                raise RuntimeError("%d echoes failed, first: %r" % (len(bad), bad[0]))
        row["open_cpu_us"] = 1e6 * (bl.cpu_seconds(daemon.pid) - cpu_open0) / n
        row["connect_rate"] = n / open_s
        rss_open = bl.rss_kb(daemon.pid)
        time.sleep(args.settle)

        # The hold window: nothing but heartbeats. Snapshots are taken outside the CPU sample.
        hist0 = bl.metrics_histogram(metrics_port, HB_METRIC)
        t0, cpu0 = time.monotonic(), bl.cpu_seconds(daemon.pid)
        us0 = user_sys_seconds(daemon.pid)
        gw_cpu0 = bl.cpu_seconds(gw.proc.pid)
        sched0 = bl.schedstat(daemon.pid)
        probe = subprocess.Popen([bl.PYTHON, os.path.join(bl.HERE, "sleep_probe.py"), str(args.hold)],
                                 stdout=subprocess.PIPE)
        time.sleep(args.hold)
        sched1 = bl.schedstat(daemon.pid)
        try:
            probe_out = json.loads(probe.communicate(timeout=30)[0].decode().strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            probe.kill()
            probe_out = {}
        row["probe_p99_ms"] = probe_out.get("p99_ms")
        row["probe_max_ms"] = probe_out.get("max_ms")
        cpu1, t1 = bl.cpu_seconds(daemon.pid), time.monotonic()
        us1 = user_sys_seconds(daemon.pid)
        row["load_end"] = bl.loadavg()
        gw_cpu1 = bl.cpu_seconds(gw.proc.pid)
        hist1 = bl.metrics_histogram(metrics_port, HB_METRIC)
        rss1 = bl.rss_kb(daemon.pid)
        gw_rss1 = bl.rss_kb(gw.proc.pid)
        st = ctl.call("stats")

        row["rss0_kib"] = rss0
        row["rss_kib"] = rss1
        row["kib_per_conn"] = (rss1 - rss0) / n
        row["kib_per_conn_open"] = (rss_open - rss0) / n
        row["gw_kib_per_conn"] = (gw_rss1 - gw_rss0) / n
        row["idle_cpu_pct"] = 100.0 * (cpu1 - cpu0) / (t1 - t0)
        row["gw_cpu_pct"] = 100.0 * (gw_cpu1 - gw_cpu0) / (t1 - t0)
        row["hold_s"] = t1 - t0
        # Run-queue wait per wakeup: lateness the daemon cannot help (other processes held the CPU).
        slices = sched1[2] - sched0[2]
        row["runq_wait_ms"] = (sched1[1] - sched0[1]) / 1e6 / slices if slices else None
        row["runq_wait_max_share"] = (sched1[1] - sched0[1]) / 1e9 / (t1 - t0)
        late = st["heartbeat_late_us"]
        row["late_p50_ms"], row["late_p99_ms"], row["late_max_ms"] = (late["p50"] / 1e3, late["p99"] / 1e3,
                                                                      late["max"] / 1e3)
        row["heartbeats"] = st["heartbeats_sent"]
        row["hb_window"] = hist1.get(float("inf"), 0) - hist0.get(float("inf"), 0)
        row["cpu_us_per_hb"] = (1e6 * (cpu1 - cpu0) / row["hb_window"]) if row["hb_window"] else None
        if row["hb_window"]:
            row["user_us_per_hb"] = 1e6 * (us1[0] - us0[0]) / row["hb_window"]
            row["sys_us_per_hb"] = 1e6 * (us1[1] - us0[1]) / row["hb_window"]
        for q, field in ((0.5, "win_p50_ms"), (0.99, "win_p99_ms")):
            v = bl.histogram_quantile(hist0, hist1, q)
            row[field] = None if v is None else v * 1e3
        row["open_at_end"] = st["open"]
        row["broken"] = None
        if st["open"] != n:
            row["broken"] = "%d of %d connections open at the end; closes: %r" % (st["open"], n,
                                                                                   st["closes_by_cause"])
        elif row["hb_window"] == 0:
            row["broken"] = "no heartbeat in the hold window"
    if args.burst and not row["broken"]:
        # A burst of every open at once can overrun the gateway's accept queue (listen backlog
        # 4096): then the daemon's own admission (--max-handshakes) is tried too, and both told.
        burst = run_burst(scheme, n, cert, key)
        if "burst_failed" in burst:
            row["burst_note"] = burst["burst_failed"]
            burst = run_burst(scheme, n, cert, key, max_handshakes=1000)
        row.update(burst)
    if args.floor and scheme == "ws" and args.deflate == "off" and not row["broken"]:
        row.update(run_floor(args.floor_exe, n, args))
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="200 ws + 100 wss, 1 s heartbeats, 3 s hold (CI smoke run)")
    ap.add_argument("--ws", help="ws:// sizes, comma-separated (default 1000,10000,19000)")
    ap.add_argument("--wss", help="wss:// sizes (default 1000,10000)")
    ap.add_argument("--hold", type=float, help="idle window in seconds (default 30)")
    ap.add_argument("--settle", type=float, help="pause after the opens (default 2)")
    ap.add_argument("--interval-ms", type=int, help="heartbeat interval (default 25000)")
    ap.add_argument("--window", type=int, default=100,
                    help="opens outstanding at once (default 100: one JMeter JVM with 100 threads)")
    ap.add_argument("--deflate", choices=["off", "no-context", "context"], default="off",
                    help="negotiate permessage-deflate and echo one message per connection before the hold")
    ap.add_argument("--source-addresses", metavar="LIST|RANGE",
                    help="the daemon's source-address pool (e.g. 127.0.0.1-127.0.0.4): connects spread over it")
    ap.add_argument("--no-burst", dest="burst", action="store_false",
                    help="skip the extra run that sends all N opens at once (RSS and rate after a burst)")
    ap.add_argument("--floor", action="store_true",
                    help="also run the bare epoll client floor_ws_client.c at each ws:// size: the floor of "
                         "CPU per heartbeat on this kernel, beside wsfleetd's")
    args = ap.parse_args()
    q = args.quick
    ws = sizes(args.ws) if args.ws is not None else ([200] if q else [1000, 10000, 19000])
    wss = sizes(args.wss) if args.wss is not None else ([100] if q else [1000, 10000])
    args.hold = args.hold if args.hold is not None else (3.0 if q else 30.0)
    args.settle = args.settle if args.settle is not None else (0.5 if q else 2.0)
    args.interval_ms = args.interval_ms or (1000 if q else 25000)
    args.burst = args.burst and not q and args.deflate == "off"
    bl.header("bench_conns: idle connections held by wsfleetd (ping heartbeats every %d ms)" % args.interval_ms,
              sys.argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="wsf-bench-") as tmp:
        cert, key = make_cert(tmp) if wss else (None, None)
        args.floor_exe = build_floor(tmp) if args.floor else None
        for scheme, ns in (("ws", ws), ("wss", wss)):
            for n in ns:
                try:
                    row = run_case(scheme, n, args, cert, key)
                except Exception as e:  # a benchmark that breaks is reported, and fails the run
                    row = {"scheme": scheme, "n": n, "broken": "%s: %s" % (type(e).__name__, e)}
                rows.append(row)
                print("%s %d: %s" % (scheme, n, "ok" if not row.get("broken") else "BROKEN " + row["broken"]))
                sys.stdout.flush()

    print()
    bl.table(rows, [("scheme", "scheme", None), ("n", "conns", "%d"), ("connect_rate", "opens/s", "%.0f"),
                    ("burst_rate", "opens/s@burst", "%.0f"), ("open_cpu_us", "µs cpu/open", "%.0f"),
                    ("kib_per_conn", "KiB/conn", "%.2f"), ("kib_per_conn_open", "KiB/conn@open", "%.2f"),
                    ("burst_kib_per_conn", "KiB/conn@burst", "%.2f"), ("cpu_us_per_hb", "µs cpu/hb", "%.1f"),
                    ("user_us_per_hb", "µs user/hb", "%.1f"), ("sys_us_per_hb", "µs kernel/hb", "%.1f"),
                    ("idle_cpu_pct", "idle %cpu", "%.2f"), ("late_p50_ms", "late p50 ms", "%.2f"),
                    ("late_p99_ms", "late p99 ms", "%.2f"), ("late_max_ms", "late max ms", "%.1f"),
                    ("win_p50_ms", "win p50 ms", "%.2f"), ("win_p99_ms", "win p99 ms", "%.2f"),
                    ("hb_window", "hb in win", "%d"), ("runq_wait_ms", "runq wait ms/wakeup", "%.3f"),
                    ("probe_p99_ms", "probe p99 ms", "%.2f"), ("probe_max_ms", "probe max ms", "%.1f"), ("gw_kib_per_conn", "gw KiB/conn", "%.2f"),
                    ("gw_cpu_pct", "gw %cpu", "%.2f"), ("floor_us_per_hb", "floor µs/hb", "%.1f"),
                    ("floor_user_us_per_hb", "floor µs user/hb", "%.2f"),
                    ("floor_sys_us_per_hb", "floor µs kernel/hb", "%.1f"), ("floor_cpu_pct", "floor %cpu", "%.2f"),
                    ("floor_wakeups_per_hb", "floor wakeups/hb", "%.3f")])
    if args.quick:
        print("(quick run: sizes and windows too small for the issue 19 targets; verdicts are indicative)")
    print()
    for r in rows:
        if r.get("broken"):
            continue
        target = TARGET_WS_KIB if r["scheme"].startswith("ws+") or r["scheme"] == "ws" else TARGET_WSS_KIB
        verdict = ["RSS %.2f KiB/conn vs <= %g: %s (x%.2f)" % (r["kib_per_conn"], target,
                                                               "met" if r["kib_per_conn"] <= target else "MISSED",
                                                               r["kib_per_conn"] / target)]
        if r["scheme"] == "ws" and r["n"] >= 19000:
            floor = "" if r.get("floor_cpu_pct") is None else " (bare epoll client: %.2f %%)" % r["floor_cpu_pct"]
            verdict.append("idle CPU %.2f %% vs < %g %%: %s%s" % (r["idle_cpu_pct"], TARGET_IDLE_CPU_PCT,
                                                                 "met" if r["idle_cpu_pct"] < TARGET_IDLE_CPU_PCT
                                                                 else "MISSED", floor))
            win = r["win_p99_ms"]
            verdict.append("lateness p99 in the hold window %s ms vs <= %g ms: %s"
                           % ("-" if win is None else "%.2f" % win, TARGET_LATE_P99_MS,
                              "-" if win is None else "met" if win <= TARGET_LATE_P99_MS else "MISSED"))
            verdict.append("over the whole run, opens included, %.2f ms: %s"
                           % (r["late_p99_ms"], "met" if r["late_p99_ms"] <= TARGET_LATE_P99_MS else "MISSED"))
        print("%s %d: %s" % (r["scheme"], r["n"], "; ".join(verdict)))
    for r in rows:
        if r.get("floor_broken"):
            print("%s %d floor: %s" % (r["scheme"], r["n"], r["floor_broken"]))
        if r.get("burst_note") or r.get("burst_failed"):
            print("%s %d burst: %s" % (r["scheme"], r["n"], "; then ".join(
                x for x in (r.get("burst_note"), r.get("burst_failed") or
                            "with --max-handshakes %s: all opened" % r.get("burst_max_handshakes")) if x)))
    broken = [r for r in rows if r.get("broken")]
    bl.result_line("bench_conns", {"interval_ms": args.interval_ms, "hold_s": args.hold, "cases": rows})
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
