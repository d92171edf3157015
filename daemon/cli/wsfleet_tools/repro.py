"""wsfleet repro: the 150-vs-155-session reproduction of the 1006 report (shared seed), against the
mock gateway (tests/mockgw), time-scaled to run in about a minute.

    wsfleet repro [--time-scale F | --real-time] [--phases A,B,C,D] [--duration S] [--json]
                  [--html FILE] [--events FILE] [--keep DIR] [--mockgw PATH] [--daemon PATH]
                  [--drop fin|rst] [--low N] [--high N]

The gateway model (a hypothesis, not the real platform): idle timeout 120 s; while more than 150
sessions are open the idle timeout is 45 s (as Envoy's overload manager shrinks idle timers under
pressure); a dropped session gets no close frame (TCP FIN by default), so the client sees 1006.

The clients are driven the way JMeter WebSocket plugins drive them: each thread runs its samplers
in turn, and a ping goes out only when the thread's ping sampler runs. The thread loop is
    [open connection if not connected] -> read sampler (read timeout 20 s, optional)
    -> ping sampler -> constant timer 30 s (+ up to 2 s random)
so although "the ping interval is 30 s", a thread's frames are about 50 s apart. A drop is noticed
by the next sampler; the thread reconnects on its next loop iteration, after its timer.

Phases (each after a `reset`):
  A   150 sessions, thread-driven pings only                 -> no drops (idle timeout 120 s applies)
  B   155 sessions, thread-driven pings only                 -> overload: quiet sessions drop with 1006
  C   155 sessions + the daemon's keepalive (ping every 25 s ± 2.5 s)   -> no drops
  D1  155, gateway counts only data frames, daemon keepalive pings     -> drops: pings do not help there
  D2  155, gateway counts only data frames, daemon text heartbeat      -> no drops
      ({"action":"echo",...} every 25 s; replies kept out of the inbox by reply_contains)

Every duration is multiplied by the time scale (default 0.1: the 45 s timeout lasts 4.5 s); the
times printed are model seconds (real seconds divided by the scale). --real-time runs at scale 1.
Exit status: 0 when every phase behaved as expected, 1 otherwise, 2 on a usage error.
"""

import heapq
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import programs, report
from .client import Client, RpcError

HEARTBEAT_TEXT = "wsfleet-heartbeat"
HEARTBEAT = json.dumps({"action": "echo", "message": {"type": "Text", "text": HEARTBEAT_TEXT}},
                       separators=(",", ":"))
CONFIGURE = json.dumps({"action": "configureSession", "token": "repro"}, separators=(",", ":"))

DEFAULTS = {
    "time_scale": 0.1,
    "duration": 130.0,       # model seconds per phase
    "low": 150,
    "high": 155,
    # the gateway model
    "idle_timeout": 120.0,
    "overload_above": 150,
    "overload_idle_timeout": 45.0,
    "drop": "fin",
    # the JMeter-like thread loop
    "ramp": 10.0,            # ramp-up period of the thread group
    "read_timeout": 20.0,
    "think": 30.0,
    "think_random": 2.0,
    "ping_timeout": 10.0,
    # the daemon's keepalive (phases C, D)
    "keepalive_interval": 25.0,
    "keepalive_jitter": 2.5,
}


class Phase:
    def __init__(self, name, sessions, activity, keepalive, expect_drops, title):
        self.name = name
        self.sessions = sessions
        self.activity = activity      # "any" or "data": what the gateway counts as activity
        self.keepalive = keepalive    # None, "ping" or "text"
        self.expect_drops = expect_drops
        self.title = title


def make_phases(opts, names):
    lo, hi = opts["low"], opts["high"]
    ka = "%g s ± %g s" % (opts["keepalive_interval"], opts["keepalive_jitter"])
    table = {
        "A": Phase("A", lo, "any", None, False, "%d sessions, thread-driven pings only" % lo),
        "B": Phase("B", hi, "any", None, True, "%d sessions, thread-driven pings only" % hi),
        "C": Phase("C", hi, "any", "ping", False, "%d sessions + daemon keepalive ping every %s" % (hi, ka)),
        "D1": Phase("D1", hi, "data", "ping", True,
                    "%d sessions, gateway counts data frames only, daemon keepalive ping every %s" % (hi, ka)),
        "D2": Phase("D2", hi, "data", "text", False,
                    "%d sessions, gateway counts data frames only, daemon text heartbeat (echo) every %s" % (hi, ka)),
    }
    out = []
    for n in names:
        n = n.strip().upper()
        if n == "D":
            out += [table["D1"], table["D2"]]
        elif n in table:
            out.append(table[n])
        elif n:
            raise ValueError("unknown phase %r (A, B, C, D, D1, D2)" % n)
    return out


# ---- running the programs ---------------------------------------------------------------------

class Proc:
    """A child process with its output in files; always killed by close()."""

    def __init__(self, cmd, out_path, err_path):
        self.cmd = cmd
        self.out_path, self.err_path = out_path, err_path
        self._out = open(out_path, "wb")
        self._err = open(err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)

    def read_out(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def read_err(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()
        self._err.close()
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for f in (self._out, self._err):
            if not f.closed:
                f.close()


def start_mockgw(path, workdir, tag, opts, activity):
    cmd = [path, "--port", "0", "--time-scale", repr(opts["time_scale"]),
           "--idle-timeout", repr(opts["idle_timeout"]),
           "--overload-above", str(opts["overload_above"]),
           "--overload-idle-timeout", repr(opts["overload_idle_timeout"]),
           "--activity", activity, "--drop", opts["drop"]]
    p = Proc(cmd, os.path.join(workdir, "mockgw-%s.out" % tag), os.path.join(workdir, "mockgw-%s.err" % tag))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in p.read_out().splitlines():
            if line.startswith("listening "):
                p.port = int(line.split()[1])
                return p
        if p.proc.poll() is not None:
            break
        time.sleep(0.02)
    p.close()
    raise RuntimeError("mock gateway did not start: %s\n%s" % (" ".join(cmd), p.read_err()))


def mockgw_results(p):
    """Stops the gateway; returns (its counter dump, its drop log lines)."""
    p.stop()
    stats = None
    for line in p.read_out().splitlines():
        if line.startswith("{"):
            try:
                stats = json.loads(line)
            except ValueError:
                pass
    drops = [line for line in p.read_err().splitlines() if line.startswith("mockgw drop ")]
    return stats, drops


def start_daemon(path, workdir):
    sock = os.path.join(workdir, "wsfleetd.sock")
    events = os.path.join(workdir, "events.jsonl")
    cmd = [path, "--socket", sock, "--events", events]
    p = Proc(cmd, os.path.join(workdir, "wsfleetd.out"), os.path.join(workdir, "wsfleetd.err"))
    p.socket, p.events = sock, events
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            break
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1)
            s.connect(sock)
            s.close()
            return p
        except OSError:
            s.close()
        time.sleep(0.02)
    p.close()
    raise RuntimeError("wsfleetd did not start: %s\n%s" % (" ".join(cmd), p.read_err()))


# ---- the JMeter-like driver -------------------------------------------------------------------

class Driver:
    """Drives N virtual users over one control connection, requests pipelined: a blocking read
    sampler is a `recv` request whose answer comes when it comes, so one Python thread holds every
    user and the CPU stays low. Each user runs the thread loop described in the module docstring."""

    def __init__(self, sock_path, url, phase, opts, prefix):
        self.c = Client(sock_path, timeout=30)
        self.url = url
        self.phase = phase
        self.o = opts
        self.prefix = prefix
        self.scale = opts["time_scale"]
        self.heap = []
        self.seq = 0
        self.pending = {}
        self.rng = random.Random(1006)
        self.counts = {"opens": 0, "open_errors": 0, "reads": 0, "messages": 0, "read_timeouts": 0,
                       "pings": 0, "ping_errors": 0, "drops_noticed": 0, "errors": 0}
        self.connected = {}
        self.last_frame = {}        # vu -> monotonic time its last frame went out
        self.ping_gap = {}          # msgid of a pending ping -> the quiet spell it ends
        self.max_quiet_survived = 0.0  # model seconds
        self.keepalive = self._keepalive()

    def ms(self, model_s):
        return max(1, int(round(model_s * self.scale * 1000)))

    def _keepalive(self):
        ka = self.phase.keepalive
        if not ka:
            return {"mode": "none"}
        k = {"interval_ms": self.ms(self.o["keepalive_interval"]), "jitter_ms": self.ms(self.o["keepalive_jitter"])}
        if ka == "ping":
            k.update(mode="ping", pong_timeout_ms=self.ms(10))
        else:
            k.update(mode="text", payload=HEARTBEAT, reply_contains=HEARTBEAT_TEXT)
        return k

    def at(self, delay_model_s, vu, step):
        self.seq += 1
        heapq.heappush(self.heap, (time.monotonic() + delay_model_s * self.scale, self.seq, vu, step))

    def request(self, vu, step, method, params):
        msgid = self.c.send(method, params)
        self.pending[msgid] = (vu, step)
        self.seq_last = msgid

    def conn(self, vu):
        return "%s-%d" % (self.prefix, vu)

    def do(self, vu, step):
        name = self.conn(vu)
        if step == "open":
            self.request(vu, step, "open", {"conn": name, "url": self.url, "reuse": True,
                                            "connect_timeout_ms": 10000, "keepalive": self.keepalive})
        elif step == "configure":
            self.last_frame[vu] = time.monotonic()
            self.request(vu, step, "request", {"conn": name, "data": CONFIGURE, "contains": "SessionResponse",
                                               "timeout_ms": max(1000, self.ms(10))})
        elif step == "read":
            self.counts["reads"] += 1
            self.request(vu, step, "recv", {"conn": name, "timeout_ms": self.ms(self.o["read_timeout"])})
        elif step == "ping":
            self.counts["pings"] += 1
            now = time.monotonic()
            gap = now - self.last_frame.get(vu, now)
            self.last_frame[vu] = now
            self.request(vu, step, "ping", {"conn": name, "timeout_ms": max(1000, self.ms(self.o["ping_timeout"]))})
            self.ping_gap[self.seq_last] = gap

    def think(self):
        return self.o["think"] + self.rng.uniform(0, self.o["think_random"])

    def handle(self, msgid, error, result):
        if msgid not in self.pending:
            return
        vu, step = self.pending.pop(msgid)
        gap = self.ping_gap.pop(msgid, None)
        if gap is not None and error is None and self.phase.keepalive is None:
            # A quiet spell (thread frames only) that ended with the session still alive.
            self.max_quiet_survived = max(self.max_quiet_survived, gap / self.scale)
        code = error.get("code") if isinstance(error, dict) else None
        if code == "conn_closed":
            # The thread's next sampler fails too; then its timer; then it reconnects.
            if self.connected.get(vu):
                self.counts["drops_noticed"] += 1
            self.connected[vu] = False
            self.at(self.think(), vu, "open")
            return
        if step == "open":
            if error:
                self.counts["open_errors"] += 1
                self.at(self.think(), vu, "open")
            else:
                self.counts["opens"] += 1
                self.connected[vu] = True
                self.do(vu, "configure")
        elif step == "configure":
            if error and code != "timeout":
                self.counts["errors"] += 1
            self.do(vu, "read")
        elif step == "read":
            if error and code == "timeout":
                self.counts["read_timeouts"] += 1
            elif error:
                self.counts["errors"] += 1
            else:
                self.counts["messages"] += 1
            self.do(vu, "ping")
        elif step == "ping":
            if error:
                self.counts["ping_errors"] += 1
            self.at(self.think(), vu, "read")

    def run(self, duration_model_s):
        n = self.phase.sessions
        for vu in range(n):
            self.at(self.o["ramp"] * vu / n, vu, "open")
        end = time.monotonic() + duration_model_s * self.scale
        while True:
            now = time.monotonic()
            if now >= end:
                break
            while self.heap and self.heap[0][0] <= now:
                _, _, vu, step = heapq.heappop(self.heap)
                self.do(vu, step)
            nxt = min(self.heap[0][0] if self.heap else end, end)
            try:
                msgid, error, result = self.c.recv_response(timeout=max(0.001, nxt - time.monotonic()))
            except socket.timeout:
                continue
            self.handle(msgid, error, result)

    def close(self):
        self.c.close()


# ---- running the phases -----------------------------------------------------------------------

def run_phase(phase, opts, daemon, mockgw_path, workdir, log):
    gw = start_mockgw(mockgw_path, workdir, phase.name, opts, phase.activity)
    try:
        url = "ws://127.0.0.1:%d/webchat/v1" % gw.port
        start_ms = time.time() * 1000.0
        t0 = time.monotonic()
        log("phase %s: %s ..." % (phase.name, phase.title))
        drv = Driver(daemon.socket, url, phase, opts, "vu" + phase.name.lower())
        try:
            drv.run(opts["duration"])
        finally:
            drv.close()
        with Client(daemon.socket, timeout=30) as c:
            c.call("reset")
        elapsed = time.monotonic() - t0
        end_ms = time.time() * 1000.0 + 1
        gw_stats, gw_drops = mockgw_results(gw)
    finally:
        gw.close()
    events, _ = report.load(daemon.events)
    s = report.analyze(report.window(events, start_ms, end_ms), opts["time_scale"])
    return {"phase": phase, "summary": s, "start_ms": start_ms, "end_ms": end_ms, "elapsed_s": elapsed,
            "driver": dict(drv.counts, max_quiet_survived_s=drv.max_quiet_survived), "gateway": gw_stats, "gateway_drop_lines": gw_drops}


def check(res, opts):
    """Whether a phase behaved as the model predicts; returns (ok, words)."""
    ph, s = res["phase"], res["summary"]
    if not ph.expect_drops:
        if s["drops"] == 0:
            return True, "as expected: no drops"
        return False, "UNEXPECTED: %d drops" % s["drops"]
    if s["drops"] == 0:
        return False, "UNEXPECTED: no drops"
    if ph.name == "B":
        bad = [d for d in s["drop_list"]
               if d["code"] != 1006 or d["cause"] not in ("eof", "reset")
               or d["since_sent_s"] is None or d["since_sent_s"] < opts["overload_idle_timeout"] * 0.999
               or d["open_conns"] is None or d["open_conns"] <= opts["overload_above"]]
        if bad:
            return False, "UNEXPECTED: %d of %d drops are not 1006 after ≥ %g s quiet with > %d open" % (
                len(bad), s["drops"], opts["overload_idle_timeout"], opts["overload_above"])
    return True, "as expected: %d drops" % s["drops"]


def drop_json(d, scale):
    def real(v):
        return None if v is None else v * scale
    return {"at_s": d["at_s"], "conn": d["conn"], "code": d["code"], "cause": d["cause"],
            "since_sent_s": d["since_sent_s"], "since_sent_real_s": real(d["since_sent_s"]),
            "since_ping_s": d["since_ping_s"], "age_s": d["age_s"], "open_conns": d["open_conns"]}


def keepalive_words(ph, opts):
    if ph.keepalive == "ping":
        return "daemon ping %gs" % opts["keepalive_interval"]
    if ph.keepalive == "text":
        return "daemon echo %gs" % opts["keepalive_interval"]
    return "thread pings only"


def render_text(results, opts, ab_summary, out):
    w = lambda s="": out.write(s + "\n")  # noqa: E731
    sc = opts["time_scale"]
    w("wsfleet repro — 1006 drops at %d vs %d sessions" % (opts["low"], opts["high"]))
    w("  gateway model (tests/mockgw, a hypothesis): idle timeout %g s; while more than %d sessions are open"
      % (opts["idle_timeout"], opts["overload_above"]))
    w("    it is %g s; a dropped session gets TCP %s and no close frame, so the client sees 1006."
      % (opts["overload_idle_timeout"], opts["drop"].upper()))
    w("  clients: JMeter-like threads: read sampler (read timeout %g s) → ping sampler → timer %g s:"
      % (opts["read_timeout"], opts["think"]))
    w("    a thread's frames are ~%g s apart although its \"ping interval\" is %g s."
      % (opts["read_timeout"] + opts["think"], opts["think"]))
    if sc != 1:
        w("  time scale %g: everything runs %g× faster; times below are model seconds (real ÷ %g)."
          % (sc, 1 / sc, sc))
    w()
    w("  %-5s %-8s %-18s %-10s %-6s %-7s %-6s %-15s %s" % (
        "phase", "sessions", "client keepalive", "gw counts", "quiet", "opened", "drops", "code/cause", "result"))
    for r in results:
        ph, s = r["phase"], r["summary"]
        codes = ", ".join("%s×%d" % (k, v) for k, v in sorted(s["drops_by_code_cause"].items())) or "-"
        quiet = r["driver"]["max_quiet_survived_s"]
        w("  %-5s %-8d %-18s %-10s %-6s %-7d %-6d %-15s %s" % (
            ph.name, ph.sessions, keepalive_words(ph, opts), "any frame" if ph.activity == "any" else "data only",
            "%.0f s" % quiet if quiet else "-", s["opened"], s["drops"], codes, r["check"]))
    w("  (quiet: the longest spell a thread went without sending a frame and still found its session alive)")
    for r in results:
        ph, s = r["phase"], r["summary"]
        if not s["drops"]:
            continue
        w()
        w("phase %s drops (%s):" % (ph.name, ph.title))
        st, ot = s["silence_at_drop_s"], s["open_at_drop"]
        if st:
            w("  client silence at drop: min %.1f s, median %.1f s, max %.1f s; open at drop: %s – %s; "
              "first drop %.1f s into the phase" % (st["min"], st["p50"], st["max"], ot["min"] if ot else "-",
                                                    ot["max"] if ot else "-", s["first_drop_at_s"]))
        w(report.format_drop_table(s["drop_table"]))
        w("  report: " + "; ".join(s["verdict"]))
    if ab_summary is not None:
        w()
        w("wsfleet report on phases A+B:")
        for v in ab_summary["verdict"]:
            w("  - " + v)
    w()
    w("what this shows (in this model):")
    by = {r["phase"].name: r for r in results}
    if "A" in by and "B" in by:
        w("  - A and B differ only in %d extra sessions. At %d, threads quiet for %.0f s kept their sessions;"
          % (opts["high"] - opts["low"], opts["low"], by["A"]["driver"]["max_quiet_survived_s"]))
        w("    at %d, sessions dropped with 1006 and no close frame after ≥ %g s without a client frame, only"
          % (opts["high"], opts["overload_idle_timeout"]))
        w("    while more than %d were open (each drop brings the count back down, so drops come in waves)."
          % opts["overload_above"])
        w("    That is the report's symptom: the drop follows the threads' quiet spells, not the handshake.")
        w("    Every phase starts after `reset`, so no stale session carries over; JMeter's HTTP connection")
        w("    settings play no part (the daemon owns the sockets).")
    if "C" in by:
        w("  - C: a heartbeat on the daemon's clock, independent of what the threads are doing, keeps every")
        w("    session under the %g s timeout: %d drops." % (opts["overload_idle_timeout"], by["C"]["summary"]["drops"]))
    if "D1" in by and "D2" in by:
        w("  - D: if the gateway counts only data frames as activity, protocol pings do not help (D1: %d drops);"
          % by["D1"]["summary"]["drops"])
        w("    an application heartbeat (keepalive mode text with an echo action) does (D2: %d drops)."
          % by["D2"]["summary"]["drops"])
    if "B" in by and by["B"]["ok"]:
        w()
        w("cause (in this model): a %g s idle timeout that applies only above %d sessions, meeting JMeter"
          % (opts["overload_idle_timeout"], opts["overload_above"]))
        w("threads whose \"%g s ping interval\" is really ~%g s between frames (timer + read timeout)."
          % (opts["think"], opts["think"] + opts["read_timeout"]))
        w("fix: a heartbeat every %g s on the daemon's clock (open with keepalive), as a data message if the"
          % opts["keepalive_interval"])
        w("gateway ignores pings.")


def results_json(results, opts, ab_summary, ok, extra):
    out = {"ok": ok, "options": opts, "phases": []}
    for r in results:
        ph, s = r["phase"], r["summary"]
        out["phases"].append({
            "name": ph.name, "title": ph.title, "sessions": ph.sessions, "activity": ph.activity,
            "keepalive": ph.keepalive, "expect_drops": ph.expect_drops, "ok": r["ok"], "check": r["check"],
            "elapsed_s": r["elapsed_s"], "opened": s["opened"], "peak_open": s["peak_open"],
            "closes_by_code_cause": s["closes_by_code_cause"], "drops": s["drops"],
            "drops_by_code_cause": s["drops_by_code_cause"], "silence_at_drop_s": s["silence_at_drop_s"],
            "open_at_drop": s["open_at_drop"], "first_drop_at_s": s["first_drop_at_s"],
            "drop_table": s["drop_table"], "verdict": s["verdict"],
            "drop_list": [drop_json(d, opts["time_scale"]) for d in s["drop_list"]],
            "driver": r["driver"], "gateway": r["gateway"], "gateway_drop_lines": r["gateway_drop_lines"],
        })
    out["verdict_ab"] = ab_summary["verdict"] if ab_summary else None
    out.update(extra)
    return out


USAGE = ("usage: wsfleet repro [--time-scale F | --real-time] [--phases A,B,C,D] [--duration S] [--json]\n"
         "                     [--html FILE] [--events FILE] [--keep DIR] [--mockgw PATH] [--daemon PATH]\n"
         "                     [--drop fin|rst] [--low N] [--high N]\n")


def parse_args(argv):
    opts = dict(DEFAULTS)
    a = {"phases": "A,B,C,D", "json": False, "html": None, "events": None, "keep": None,
         "mockgw": None, "daemon": None}
    i = 0
    while i < len(argv):
        k = argv[i]
        def val():
            if i + 1 >= len(argv):
                raise ValueError("%s needs a value" % k)
            return argv[i + 1]
        if k in ("-h", "--help"):
            a["help"] = True
        elif k == "--json":
            a["json"] = True
        elif k == "--real-time":
            opts["time_scale"] = 1.0
        elif k in ("--time-scale", "--scale"):
            opts["time_scale"] = float(val())
            if not 0 < opts["time_scale"] <= 10:
                raise ValueError("time scale must be in (0, 10]")
            i += 1
        elif k == "--duration":
            opts["duration"] = float(val())
            if opts["duration"] <= 0:
                raise ValueError("duration must be > 0")
            i += 1
        elif k == "--drop":
            opts["drop"] = val()
            if opts["drop"] not in ("fin", "rst"):
                raise ValueError("--drop is fin or rst (the report is about drops without a close frame)")
            i += 1
        elif k in ("--low", "--high"):
            opts[k[2:]] = int(val())
            i += 1
        elif k in ("--phases", "--html", "--events", "--keep", "--mockgw", "--daemon"):
            a[k[2:]] = val()
            i += 1
        else:
            raise ValueError("unknown argument %s" % k)
        i += 1
    if not (0 < opts["low"] <= opts["overload_above"] < opts["high"]):
        raise ValueError("need --low ≤ %d < --high" % opts["overload_above"])
    return opts, a


def main(argv, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        opts, a = parse_args(list(argv))
        phases = make_phases(opts, a["phases"].split(","))
    except ValueError as e:
        err.write("wsfleet repro: %s\n%s" % (e, USAGE))
        return 2
    if a.get("help"):
        out.write(__doc__)
        return 0
    mockgw_path = programs.find("mockgw", a["mockgw"])
    daemon_path = programs.find("wsfleetd", a["daemon"])
    for name, p in (("mockgw", mockgw_path), ("wsfleetd", daemon_path)):
        if not p or not os.access(p, os.X_OK):
            err.write("wsfleet repro: %s\n" % (programs.not_found(name) if not p else "%s is not executable" % p))
            return 2

    workdir = tempfile.mkdtemp(prefix="wsfleet-repro-")
    log = (lambda m: err.write(m + "\n") or err.flush()) if a["json"] else (lambda m: out.write(m + "\n") or out.flush())
    daemon = None
    results = []
    try:
        daemon = start_daemon(daemon_path, workdir)
        for ph in phases:
            r = run_phase(ph, opts, daemon, mockgw_path, workdir, log)
            r["ok"], r["check"] = check(r, opts)
            results.append(r)
        daemon.stop()
        events, _ = report.load(daemon.events)
        by = {r["phase"].name: r for r in results}
        ab = None
        if "A" in by and "B" in by:
            ab = report.analyze(report.window(events, by["A"]["start_ms"], by["B"]["end_ms"]), opts["time_scale"])
            # The driver knows how long its quiet threads lived at the lower count: evidence for "under load".
            ab["quiet_survived"] = {"silence_s": by["A"]["driver"]["max_quiet_survived_s"], "open": opts["low"]}
            ab["verdict"] = report.verdict(ab)
        ok = all(r["ok"] for r in results)
        extra = {"programs": {"wsfleetd": daemon_path, "mockgw": mockgw_path}}
        if a["events"]:
            shutil.copyfile(daemon.events, a["events"])
            extra["events"] = a["events"]
        if a["html"]:
            whole = report.analyze(events, opts["time_scale"])
            # One log holds every phase: give each phase's own verdict, not one for the mixture.
            whole["verdict"] = ["phase %s (%s): %s — %s" % (r["phase"].name, r["phase"].title, r["check"],
                                                            "; ".join(r["summary"]["verdict"])) for r in results]
            t0 = whole["first_at_ms"] or 0
            marks = [((r["start_ms"] - t0) / 1000.0 / opts["time_scale"], r["phase"].name) for r in results]
            with open(a["html"], "w", encoding="utf-8") as f:
                f.write(report.to_html(whole, title="wsfleet repro: %d vs %d sessions" % (opts["low"], opts["high"]),
                                       marks=marks))
            extra["html"] = a["html"]
        if a["json"]:
            json.dump(results_json(results, opts, ab, ok, extra), out, indent=2, default=str)
            out.write("\n")
        else:
            out.write("\n")
            render_text(results, opts, ab, out)
            if a["html"]:
                out.write("\nHTML report: %s\n" % a["html"])
        return 0 if ok else 1
    except (RuntimeError, OSError, RpcError) as e:
        err.write("wsfleet repro: %s\n" % e)
        return 1
    finally:
        if daemon is not None:
            daemon.close()
        if a["keep"]:
            shutil.copytree(workdir, a["keep"], dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
