"""Shared helpers for the wsfleet benchmarks: where the binaries are, /proc sampling (RSS, CPU ticks),
the daemon's Prometheus histograms, windowed pipelined opens, and the way figures are printed.

Processes are started through tests/lib/wsf_fixtures.py (Daemon) and tests/mockgw/mockgw_runner.py
(MockGw), so every one of them is killed on exit, also when a benchmark fails.
"""

import json
import os
import platform
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("WSF_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
for p in (os.path.join(SOURCE_DIR, "tests", "lib"), os.path.join(SOURCE_DIR, "tests", "mockgw"),
          os.path.join(SOURCE_DIR, "daemon", "cli")):
    if p not in sys.path:
        sys.path.insert(0, p)

from wsf_fixtures import Daemon, Client, RpcError, PYTHON, free_port  # noqa: E402,F401
from mockgw_runner import MockGw  # noqa: E402,F401

CLK_TCK = os.sysconf("SC_CLK_TCK")


def bench_binary(name):
    env = {"bench_control": "WSF_BENCH_CONTROL", "bench_echo": "WSF_BENCH_ECHO"}[name]
    path = os.environ.get(env) or os.path.join(BUILD_DIR, "tests", "bench", name)
    if not os.access(path, os.X_OK):
        raise SystemExit("%s not found at %s (build it: ninja -C build)" % (name, path))
    return path


# ---- /proc ----------------------------------------------------------------------------------------

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid):
    return cpu_ticks(pid) / CLK_TCK


def schedstat(pid):
    """(ns on a CPU, ns waiting on a run queue, timeslices) from /proc/PID/schedstat: how long the
    process was runnable but not running, i.e. what the rest of the machine cost it."""
    with open("/proc/%d/schedstat" % pid) as f:
        run, wait, slices = (int(x) for x in f.read().split()[:3])
    return run, wait, slices


def tree_pids(pid):
    """pid and its descendants (a node or k6 started through a wrapper counts whole)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def tree_cpu_seconds(pid):
    total = 0
    for p in tree_pids(pid):
        try:
            total += cpu_ticks(p)
        except OSError:
            pass
    return total / CLK_TCK


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    distro = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "%d cores, %.0f GiB, %s, kernel %s" % (os.cpu_count(), mem_kb / 1048576, distro, platform.release())


# ---- the daemon's Prometheus histograms -------------------------------------------------------------

def metrics_histogram(port, name):
    """{le_seconds: cumulative count} of one histogram from the daemon's --metrics endpoint."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    prefix = name + "_bucket{"
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, value = line[len(prefix):].rsplit("} ", 1)
            le = labels.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = int(float(value))
    return out


def histogram_quantile(before, after, q):
    """The q-quantile (seconds) of what was added between two cumulative bucket snapshots, linearly
    interpolated inside the bucket, as Prometheus' histogram_quantile does. None when empty."""
    les = sorted(after)
    counts = [after[le] - before.get(le, 0) for le in les]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0
    for le, c in zip(les, counts):
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 1)
        prev_le, prev_c = le, c
    return prev_le


# ---- control requests -----------------------------------------------------------------------------

def pipelined(client, requests, window=2000, timeout=120):
    """Sends [(method, params)] over one control connection with at most `window` outstanding and
    returns [(error, result)] in request order, and the seconds it took."""
    results = [None] * len(requests)
    pending = {}
    nxt = 0
    t0 = time.monotonic()
    deadline = t0 + timeout
    while nxt < len(requests) or pending:
        if nxt < len(requests) and len(pending) < window:
            batch = requests[nxt:nxt + (window - len(pending))]
            for i, msgid in enumerate(client.send_many(batch)):
                pending[msgid] = nxt + i
            nxt += len(batch)
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("%d responses missing after %ss" % (len(pending), timeout))
        msgid, err, res = client.recv_response(timeout=left)
        if msgid not in pending:
            raise RuntimeError("response to an unknown msgid %r" % msgid)
        results[pending.pop(msgid)] = (err, res)
    return results, time.monotonic() - t0


def open_many(client, names, url, window=2000, timeout=300, **params):
    """Opens every name at url; raises on the first failure. Returns the seconds taken."""
    reqs = [("open", dict(params, conn=n, url=url)) for n in names]
    results, secs = pipelined(client, reqs, window=window, timeout=timeout)
    bad = [(n, e) for n, (e, _) in zip(names, results) if e is not None]
    if bad:
        raise RuntimeError("%d of %d opens failed, first: %s %r" % (len(bad), len(names), bad[0][0], bad[0][1]))
    return secs


# ---- output ---------------------------------------------------------------------------------------

def header(title, argv):
    print("# %s" % title)
    print("# date: %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    print("# machine: %s" % machine())
    print("# load average at start: %s" % loadavg())
    print("# command: %s" % " ".join(argv))
    sys.stdout.flush()


def table(rows, cols):
    """Prints rows (dicts) as an aligned text table with the given [(key, title, fmt)]."""
    cells = [[title for _, title, _ in cols]]
    for r in rows:
        line = []
        for key, _, fmt in cols:
            v = r.get(key)
            line.append("-" if v is None else (fmt % v if fmt else str(v)))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    for c in cells:
        print("  ".join(s.rjust(w) for s, w in zip(c, widths)))
    sys.stdout.flush()


def result_line(name, data):
    """The machine-readable last line: RESULT <name> <json>."""
    print("RESULT %s %s" % (name, json.dumps(data, sort_keys=True)))
    sys.stdout.flush()


def run_json(cmd, timeout):
    """Runs a client that prints one JSON line last; returns (parsed, exit status, stderr)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    lines = [l for l in p.stdout.decode().splitlines() if l.strip().startswith("{")]
    data = json.loads(lines[-1]) if lines else None
    return data, p.returncode, p.stderr.decode()
