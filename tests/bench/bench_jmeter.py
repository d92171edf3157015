#!/usr/bin/env python3
"""JMeter: the same sessions scenario through real JMeter 5.6.3 (Maven Central), with the wsfleet
stub and, side by side, the luminis plugin (net.luminis.jmeter:jmeter-websocket-samplers 1.3.1):

  stub:TxS      T JMeter threads drive S sessions held by wsfleetd: thread t opens vu-t-0 ..
                vu-t-(S/T-1) once, then cycles over them (plan jmeter/wsfleet-sessions.jmx); the
                daemon pings every session every 25 s on its own clock
  luminis:SxS   the plugin keeps one socket per thread, so S threads for S sessions
                (plan jmeter/luminis-sessions.jmx)

The scenario is the same for both: every session opens once (threads started over --rampup s), then
does one text echo request/response every --period s (a Constant Throughput Timer per thread, so
each session's think time is the period), held for --hold s, against the mock gateway in echo mode;
each echo is checked by a Response Assertion (equals the text sent, numbered per thread). Measured in
a window inside the hold (from --rampup + a settle time to a few seconds before the end), sampled
from /proc every second: JVM RSS (median and max) and thread count, the daemon's RSS, the CPU of
both, and the achieved echo rate from the JTL. After the window, `jcmd GC.run` + `GC.heap_info`
give the heap still live. With --baseline (default in full runs) each plugin also runs with one
thread and one session, so per-session figures can be given net of the JVM's fixed cost.

JVM: java -Xms128m -Xmx1g plus the G1 settings of JMeter's own launcher (--xms, --xmx); fd limits:
the gateway, the daemon and the JVM are separate processes, each holds at most S sockets.

    bench_jmeter.py [--quick] [--cases stub:100x10000,stub:50x2000,luminis:2000x2000]
                    [--period 5] [--rampup 20] [--hold 60] [--no-baseline] [--keep DIR]
                    [-J KEY=VALUE ...]   (JMeter properties for the stub cases)

Exit status: 0 when every case ran clean (every open and echo succeeded, every session held at the
gateway), 1 otherwise, 77 (skip) without java. Figures never fail a run.
Target (ARCHITECTURE.md, "Targets"): one JVM with 100 threads drives 10,000 sessions through the daemon; the
luminis plugin needs one thread per session for the same.
"""

import argparse
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as bl

sys.path.insert(0, os.path.join(bl.SOURCE_DIR, "tests", "e2e", "jmeter"))
import jmeter_harness as jh  # noqa: E402  (JMeter home from Maven Central, JTL reader)

PLANS = os.path.join(bl.HERE, "jmeter")
FULL_CASES = "stub:100x10000,stub:50x2000,luminis:2000x2000"
QUICK_CASES = "stub:4x100,luminis:20x20"
# JMeter's launcher (bin/jmeter) sets these; the heap is sized by --xms/--xmx instead of its 1g/1g
# so that RSS follows what the run needs rather than a pre-sized heap.
JVM_FLAGS = ["-XX:MaxMetaspaceSize=256m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=100",
             "-XX:G1ReservePercent=20", "-Djava.security.egd=file:/dev/urandom"]


class Case:
    def __init__(self, spec):
        kind, _, size = spec.partition(":")
        threads, _, sessions = size.partition("x")
        if kind not in ("stub", "luminis") or not threads.isdigit() or not sessions.isdigit():
            raise SystemExit("bad case %r: stub:THREADSxSESSIONS or luminis:NxN" % spec)
        self.kind, self.threads, self.sessions = kind, int(threads), int(sessions)
        if self.threads < 1 or self.sessions % self.threads:
            raise SystemExit("case %s: sessions must be a multiple of threads" % spec)
        if kind == "luminis" and self.threads != self.sessions:
            raise SystemExit("case %s: the luminis plugin holds one session per thread" % spec)
        self.per_thread = self.sessions // self.threads
        self.name = "%s %d thr x %d" % (kind, self.threads, self.sessions)


# ---- /proc ----------------------------------------------------------------------------------------

def proc_sample(pid):
    """(RSS KiB, threads, CPU ticks) of a live process, or None once it is gone."""
    try:
        rss = threads = None
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        return rss, threads, bl.cpu_ticks(pid)
    except (OSError, ValueError, IndexError):
        return None


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit("fd limit %d (hard) is below the %d one process needs here" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def jcmd(pid, *command, timeout=60):
    exe = shutil.which("jcmd")
    if not exe:
        return None
    try:
        p = subprocess.run([exe, str(pid)] + list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return p.stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return None


def heap_kib(text):
    """(used, committed) KiB from `jcmd PID GC.heap_info` (G1: 'garbage-first heap total NK, used NK')."""
    m = re.search(r"heap\s+total (\d+)K, used (\d+)K", text or "")
    return (int(m.group(2)), int(m.group(1))) if m else (None, None)


# ---- one case -------------------------------------------------------------------------------------

def run_case(args, home, case, workdir):
    tag = "%s-%dx%d" % (case.kind, case.threads, case.sessions)
    jtl, log = os.path.join(workdir, tag + ".jtl"), os.path.join(workdir, tag + ".log")
    duration = args.rampup + args.hold
    props = {"threads": case.threads, "rampup": args.rampup, "duration": duration,
             "sessions_per_thread": case.per_thread, "read_timeout_ms": 10000,
             "per_thread_per_min": "%.6g" % (case.per_thread * 60.0 / args.period)}
    out = {"case": case.name, "kind": case.kind, "threads": case.threads, "sessions": case.sessions,
           "sessions_per_thread": case.per_thread, "target_echo_per_s": case.sessions / args.period}
    with bl.MockGw("--echo", "--quiet") as gw:
        daemon = bl.Daemon() if case.kind == "stub" else None
        try:
            if daemon:
                daemon.start()
                props.update({"url": gw.url, "keepalive_ms": args.keepalive_ms, "wsfleet.socket": daemon.socket})
                props.update(kv.partition("=")[::2] for kv in args.stub_props)
                plan = os.path.join(PLANS, "wsfleet-sessions.jmx")
            else:
                props.update({"host": "127.0.0.1", "port": gw.port, "path": "/"})
                plan = os.path.join(PLANS, "luminis-sessions.jmx")
            cmd = (["java", "-Xms" + args.xms, "-Xmx" + args.xmx] + JVM_FLAGS +
                   ["-jar", os.path.join(home, "bin", "ApacheJMeter.jar"), "-n", "-t", plan, "-l", jtl, "-j", log] +
                   ["-J%s=%s" % kv for kv in sorted(props.items())])
            out["command"] = " ".join(cmd)
            samples, extra, run = measure_jmeter(cmd, workdir, gw, daemon, args, duration)
            out.update(extra)
            if daemon:
                try:
                    st = daemon.client().call("stats")
                    out["daemon_open_after"] = st.get("open")
                    out["daemon_closes"] = st.get("closes_by_code")
                    out["daemon_heartbeats"] = st.get("heartbeats_sent")
                except Exception as e:  # noqa: BLE001 (a dead daemon is a finding, not a crash)
                    out["daemon_error"] = repr(e)
        finally:
            if daemon:
                daemon.close()
    out.update(run)
    summarise(out, samples, jh.read_jtl(jtl) if os.path.exists(jtl) else [], args)
    return out


def measure_jmeter(cmd, workdir, gw, daemon, args, duration):
    """Runs JMeter, sampling /proc every second; returns (samples, mid-run figures, exit info)."""
    t_launch = time.time()
    proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    lines, start = [], {}

    def read():
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            m = re.search(r"Starting .*\((\d{13})\)", line)
            if m and "t0" not in start:
                start["t0"] = int(m.group(1)) / 1000.0
    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    pids = {"jvm": proc.pid, "gw": gw.proc.pid}
    if daemon:
        pids["daemon"] = daemon.pid
    samples, extra = [], {}
    deadline = t_launch + duration + 180
    snapshot_done = False
    try:
        while proc.poll() is None and time.time() < deadline:
            now = time.time()
            row = {"t": now}
            for k, pid in pids.items():
                row[k] = proc_sample(pid)
            samples.append(row)
            t0 = start.get("t0")
            # after the measured window, before the scheduler ends: live heap and gateway counts
            if t0 and not snapshot_done and now >= t0 + duration - window_margin(args):
                snapshot_done = True
                st = gw.stats()
                extra["gw_open_in_hold"], extra["gw_max_open"] = st.get("open"), st.get("max_open")
                extra["gw_drops"] = st.get("drops")
                extra["heap_used_kib"], extra["heap_committed_kib"] = heap_kib(jcmd(proc.pid, "GC.heap_info"))
                jcmd(proc.pid, "GC.run")
                extra["heap_live_kib"], _ = heap_kib(jcmd(proc.pid, "GC.heap_info"))
            time.sleep(max(0.0, 1.0 - (time.time() - now)))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            extra["killed"] = "JMeter ran past %d s" % (deadline - t_launch)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=5)
    extra["t0"] = start.get("t0", t_launch)
    return samples, extra, {"returncode": proc.returncode, "seconds": time.time() - t_launch,
                            "output_tail": "\n".join(lines[-15:])}


def window_margin(args):
    return min(5.0, args.hold * 0.2)


def quantile(sorted_vals, q):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def summarise(out, samples, rows, args):
    """The window's figures from the /proc samples and the JTL rows."""
    t0 = out.pop("t0")
    w0, w1 = t0 + args.rampup + window_margin(args), t0 + args.rampup + args.hold - window_margin(args)
    win = [s for s in samples if w0 <= s["t"] <= w1 and s["jvm"]]
    out["window_s"] = round(w1 - w0, 1)
    opens = [r for r in rows if r["label"] == "open"]
    echoes = [r for r in rows if r["label"] == "echo"]
    out["opens"] = len(opens)
    out["opens_ok"] = sum(r["success"] == "true" for r in opens)
    out["samples"] = len(rows)
    failed = [r for r in rows if r["success"] != "true"]
    out["failed"] = len(failed)
    out["failures"] = {}
    for r in failed:
        key = "%s %s %s" % (r["label"], r["responseCode"], (r.get("failureMessage") or r["responseMessage"])[:80])
        out["failures"][key] = out["failures"].get(key, 0) + 1
    if len(win) < 2:
        out["broken"] = "fewer than 2 samples inside the window (JMeter start not seen?)"
        return
    ws, we = win[0]["t"], win[-1]["t"]
    in_win = [r for r in echoes if ws * 1000 <= int(r["timeStamp"]) < we * 1000]
    span = we - ws
    out["echo_per_s"] = len(in_win) / span
    out["achieved"] = out["echo_per_s"] / out["target_echo_per_s"]
    el = sorted(int(r["elapsed"]) for r in in_win)
    out["echo_p50_ms"], out["echo_p99_ms"] = quantile(el, 0.5), quantile(el, 0.99)
    for k in ("jvm", "daemon", "gw"):
        vals = [s[k] for s in win if s.get(k)]
        if len(vals) < 2:
            continue
        rss = [v[0] for v in vals]
        out[k + "_rss_kib"] = int(statistics.median(rss))
        out[k + "_rss_max_kib"] = max(rss)
        out[k + "_threads"] = max(v[1] for v in vals)
        cpu = (vals[-1][2] - vals[0][2]) / bl.CLK_TCK
        out[k + "_cpu_pct"] = 100.0 * cpu / span
        out[k + "_us_per_echo"] = 1e6 * cpu / len(in_win) if in_win else None


def broken(r):
    """Why a case did not run clean, or None."""
    if r.get("broken") or r.get("killed"):
        return r.get("broken") or r.get("killed")
    if r["returncode"] != 0:
        return "JMeter exited with %s" % r["returncode"]
    if r["opens_ok"] != r["sessions"]:
        return "%d of %d opens succeeded" % (r["opens_ok"], r["sessions"])
    if r["failed"]:
        return "%d failed samples" % r["failed"]
    if r.get("gw_open_in_hold") != r["sessions"]:
        return "gateway held %s sessions in the hold, not %d" % (r.get("gw_open_in_hold"), r["sessions"])
    if r["kind"] == "stub" and r.get("daemon_open_after") != r["sessions"]:
        return "daemon held %s sessions after the run" % r.get("daemon_open_after")
    if not r.get("echo_per_s"):
        return "no echoes in the window"
    return None


# ---- output ---------------------------------------------------------------------------------------

def mib(kib):
    return None if kib is None else kib / 1024.0


def report(results, baselines, args):
    rows = []
    for r in results:
        row = dict(r)
        row["rss"] = mib(r.get("jvm_rss_kib"))
        row["rss_max"] = mib(r.get("jvm_rss_max_kib"))
        row["heap_live"] = mib(r.get("heap_live_kib"))
        row["drss"] = mib(r.get("daemon_rss_kib"))
        row["tot"] = mib((r.get("jvm_rss_kib") or 0) + (r.get("daemon_rss_kib") or 0))
        row["pct"] = 100.0 * r["achieved"] if r.get("achieved") is not None else None
        row["thr_per_sess"] = r["jvm_threads"] / r["sessions"] if r.get("jvm_threads") else None
        rows.append(row)
    print("\n## Cases (window inside the hold; RSS median over it, threads max; CPU % of one core)")
    bl.table(rows, [("case", "case", None), ("sessions_per_thread", "sess/thr", "%d"),
                    ("target_echo_per_s", "target/s", "%.1f"), ("echo_per_s", "echo/s", "%.1f"),
                    ("pct", "achieved %", "%.1f"), ("failed", "failed", "%d"),
                    ("echo_p50_ms", "p50 ms", "%d"), ("echo_p99_ms", "p99 ms", "%d"),
                    ("jvm_threads", "JVM thr", "%d"), ("thr_per_sess", "thr/sess", "%.3f"),
                    ("rss", "JVM RSS MiB", "%.0f"), ("rss_max", "max", "%.0f"), ("heap_live", "heap live MiB", "%.1f"),
                    ("jvm_cpu_pct", "JVM CPU %", "%.1f"), ("jvm_us_per_echo", "JVM us/echo", "%.0f"),
                    ("drss", "daemon RSS MiB", "%.1f"), ("daemon_cpu_pct", "daemon CPU %", "%.1f"),
                    ("daemon_us_per_echo", "daemon us/echo", "%.0f"), ("tot", "JVM+daemon MiB", "%.0f")])

    print("\n## Per session (net = minus the same plugin's 1-thread 1-session run)")
    per = []
    for r in results:
        if r["sessions"] <= 1 or not r.get("jvm_rss_kib"):
            continue
        b = baselines.get(r["kind"])
        net = None
        if b and b.get("jvm_rss_kib"):
            net = (r["jvm_rss_kib"] - b["jvm_rss_kib"]) / r["sessions"]
        live_net = None
        if b and b.get("heap_live_kib") is not None and r.get("heap_live_kib") is not None:
            live_net = (r["heap_live_kib"] - b["heap_live_kib"]) / r["sessions"]
        per.append({"case": r["case"], "thr": r["jvm_threads"] / r["sessions"],
                    "rss": r["jvm_rss_kib"] / r["sessions"], "net": net, "live": live_net,
                    "tot": ((r["jvm_rss_kib"] + (r.get("daemon_rss_kib") or 0)) / r["sessions"]),
                    "cpu": (r.get("jvm_us_per_echo") or 0) + (r.get("daemon_us_per_echo") or 0)})
    bl.table(per, [("case", "case", None), ("thr", "JVM threads/session", "%.3f"),
                   ("rss", "JVM RSS KiB/session", "%.1f"), ("net", "net KiB/session", "%.1f"),
                   ("live", "net live heap KiB/session", "%.2f"),
                   ("tot", "JVM+daemon KiB/session", "%.1f"), ("cpu", "JVM+daemon us/echo", "%.0f")])

    ratios = []
    for lum in (r for r in results if r["kind"] == "luminis" and r["sessions"] > 1):
        for stub in (r for r in results if r["kind"] == "stub" and r["sessions"] == lum["sessions"]):
            if not (lum.get("jvm_rss_kib") and stub.get("jvm_rss_kib")):
                continue
            tot = stub["jvm_rss_kib"] + (stub.get("daemon_rss_kib") or 0)
            stub_cpu = (stub.get("jvm_us_per_echo") or 0) + (stub.get("daemon_us_per_echo") or 0)
            ratios.append({"pair": "%s / %s" % (lum["case"], stub["case"]),
                           "thr": lum["jvm_threads"] / stub["jvm_threads"],
                           "rss": lum["jvm_rss_kib"] / stub["jvm_rss_kib"],
                           "tot": lum["jvm_rss_kib"] / tot,
                           "cpu": (lum.get("jvm_us_per_echo") or 0) / stub_cpu if stub_cpu else None,
                           "cpu_jvm": ((lum.get("jvm_us_per_echo") or 0) / stub["jvm_us_per_echo"]
                                       if stub.get("jvm_us_per_echo") else None)})
    if ratios:
        print("\n## luminis / wsfleet at the same sessions and echo rate")
        bl.table(ratios, [("pair", "pair", None), ("thr", "JVM threads", "x%.1f"), ("rss", "JVM RSS", "x%.2f"),
                          ("tot", "JVM RSS vs JVM+daemon", "x%.2f"), ("cpu_jvm", "JVM CPU/echo", "x%.2f"),
                          ("cpu", "CPU/echo vs JVM+daemon", "x%.2f")])

    print("\n## Verdicts (indicative: one run each on a shared machine)")
    big = [r for r in results if r["kind"] == "stub" and r["threads"] <= 100 and r["sessions"] >= 10000]
    for r in big:
        why = broken(r)
        ok = why is None and r["achieved"] >= 0.95
        print("  target 'one JVM with %d threads drives %d sessions': %s (%s, %.1f%% of the echo rate, %d JVM threads)"
              % (r["threads"], r["sessions"], "met" if ok else "MISSED", why or "all opens and echoes succeeded",
                 100 * (r.get("achieved") or 0), r.get("jvm_threads") or 0))
    for r in results:
        if r["kind"] == "luminis" and r["sessions"] > 1 and r.get("jvm_threads"):
            print("  luminis: %d sessions took %d JVM threads (%.2f per session)"
                  % (r["sessions"], r["jvm_threads"], r["jvm_threads"] / r["sessions"]))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small cases for CI (%s, 8 s hold)" % QUICK_CASES)
    ap.add_argument("--cases", help="comma-separated stub:TxS / luminis:NxN (default %s)" % FULL_CASES)
    ap.add_argument("--period", type=float, help="seconds between one session's echoes (5)")
    ap.add_argument("--rampup", type=int, help="seconds over which threads start (20)")
    ap.add_argument("--hold", type=int, help="seconds held after the ramp-up (60)")
    ap.add_argument("--keepalive-ms", type=int, default=25000, help="daemon ping interval (stub)")
    ap.add_argument("--xms", default="128m")
    ap.add_argument("--xmx", default="1g")
    ap.add_argument("--no-baseline", action="store_true", help="skip the 1-thread 1-session runs")
    ap.add_argument("-J", dest="stub_props", action="append", default=[], metavar="KEY=VALUE",
                    help="a JMeter property for the stub cases, e.g. -J wsfleet.control_connections=0 (repeatable)")
    ap.add_argument("--keep", help="keep JTLs and JMeter logs in this directory")
    args = ap.parse_args()
    q = args.quick
    args.cases = args.cases or (QUICK_CASES if q else FULL_CASES)
    args.period = args.period or (2.0 if q else 5.0)
    args.rampup = args.rampup if args.rampup is not None else (2 if q else 20)
    args.hold = args.hold or (8 if q else 60)
    cases = [Case(s) for s in args.cases.split(",") if s]
    if not (q or args.no_baseline):
        kinds = [c.kind for c in cases]
        cases = [Case(k + ":1x1") for k in ("stub", "luminis") if k in kinds] + cases

    if not shutil.which("java"):
        print("SKIP: no java on PATH (JMeter needs Java 8+)")
        return 77
    bl.header("JMeter sessions: wsfleet stub vs luminis plugin", sys.argv)
    print("# cases: %s; echo every %g s per session; ramp-up %d s; hold %d s; JVM -Xms%s -Xmx%s %s"
          % (", ".join(c.name for c in cases), args.period, args.rampup, args.hold, args.xms, args.xmx,
             " ".join(JVM_FLAGS)))
    print("# fd limit per process: %d" % raise_fd_limit(max(c.sessions for c in cases) + 1024))
    sys.stdout.flush()
    home = jh.jmeter_home()
    print("# JMeter home: %s" % home)
    workdir = args.keep or tempfile.mkdtemp(prefix="wsf-bench-jmeter-")
    os.makedirs(workdir, exist_ok=True)
    results = []
    try:
        for c in cases:
            print("# running %s (load %s) ..." % (c.name, bl.loadavg()))
            sys.stdout.flush()
            r = run_case(args, home, c, workdir)
            why = broken(r)
            print("#   %s; %d samples, %d failed; %.0f s%s" % ("clean" if why is None else "BROKEN: " + why,
                                                            r["samples"], r["failed"], r["seconds"],
                                                            "" if why is None else "\n" + r["output_tail"]))
            for k, n in sorted(r["failures"].items(), key=lambda kv: -kv[1])[:5]:
                print("#     x%d %s" % (n, k))
            print("#   command: %s" % r["command"])
            sys.stdout.flush()
            results.append(r)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    baselines = {r["kind"]: r for r in results if r["sessions"] == 1}
    report(results, baselines, args)
    bl.result_line("jmeter", [{k: v for k, v in r.items() if k not in ("output_tail", "command")} for r in results])
    return 1 if any(broken(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
