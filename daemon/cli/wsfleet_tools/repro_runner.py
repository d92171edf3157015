"""The reproduction's runner: starts the mock gateway and wsfleetd, drives JMeter-like sessions
through the daemon for one phase, and collects what happened (the daemon's event log, analysed by
`wsfleet report`, and the gateway's counters and drop lines).

The programs are found by programs.py; what a phase is and what it should show is in
repro_scenario.py; the tables and JSON are made by repro_render.py.
"""

import heapq
import json
import os
import random
import signal
import socket
import subprocess
import time

from . import distance, repro_distance, report
from .client import Client
from .repro_scenario import CONFIGURE, keepalive_params, model_ms, reply_timeout_ms

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


def start_mockgw(path, workdir, tag, opts, activity, link=None):
    """The gateway; behind `link` (a distance.FarLink) it runs in the link's far namespace and
    listens on its address there, else on 127.0.0.1."""
    prefix = link.gateway_ns if link else []
    host = link.gateway_addr if link else "127.0.0.1"
    cmd = prefix + [path, "--host", host, "--port", "0", "--time-scale", repr(opts["time_scale"]),
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
                p.host = host
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


def start_daemon(path, workdir, link=None):
    """wsfleetd; with `link` in the link's near namespace (its control socket is a file, so the
    driver reaches it from here all the same)."""
    sock = os.path.join(workdir, "wsfleetd.sock")
    events = os.path.join(workdir, "events.jsonl")
    cmd = (link.client_ns if link else []) + [path, "--socket", sock, "--events", events]
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
    user and the CPU stays low. Each user runs the thread loop described in repro.py's docstring."""

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
        self.ping_rtts_us = []      # round trips of the ping samplers that got their pong
        self.max_quiet_survived = 0.0  # model seconds
        self.keepalive = keepalive_params(phase, opts)

    def ms(self, model_s):
        return model_ms(model_s, self.scale)

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
                                               "timeout_ms": reply_timeout_ms(10, self.o)})
        elif step == "read":
            self.counts["reads"] += 1
            self.request(vu, step, "recv", {"conn": name, "timeout_ms": self.ms(self.o["read_timeout"])})
        elif step == "ping":
            self.counts["pings"] += 1
            now = time.monotonic()
            gap = now - self.last_frame.get(vu, now)
            self.last_frame[vu] = now
            self.request(vu, step, "ping",
                         {"conn": name, "timeout_ms": reply_timeout_ms(self.o["ping_timeout"], self.o)})
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
            elif isinstance(result, dict) and "rtt_us" in result:
                self.ping_rtts_us.append(result["rtt_us"])
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

def run_phase(phase, opts, daemon, mockgw_path, workdir, log, link=None):
    gw = start_mockgw(mockgw_path, workdir, phase.name, opts, phase.activity, link)
    try:
        url = "ws://%s:%d/webchat/v1" % (gw.host, gw.port)
        start_ms = time.time() * 1000.0
        t0 = time.monotonic()
        log("phase %s: %s ..." % (phase.name, phase.title))
        drv = Driver(daemon.socket, url, phase, opts, "vu" + phase.name.lower())
        try:
            drv.run(opts["duration"])
        finally:
            drv.close()
        with Client(daemon.socket, timeout=30) as c:
            stats = c.call("stats")  # before the reset, which zeroes its histograms
            c.call("reset")
        elapsed = time.monotonic() - t0
        end_ms = time.time() * 1000.0 + 1
        gw_stats, gw_drops = mockgw_results(gw)
    finally:
        gw.close()
    events, _ = report.load(daemon.events)
    in_phase = report.window(events, start_ms, end_ms)
    s = report.analyze(in_phase, opts["time_scale"])
    return {"phase": phase, "summary": s, "start_ms": start_ms, "end_ms": end_ms, "elapsed_s": elapsed,
            "driver": dict(drv.counts, max_quiet_survived_s=drv.max_quiet_survived), "gateway": gw_stats,
            "gateway_drop_lines": gw_drops,
            "distance": repro_distance.phase_figures(in_phase, drv.ping_rtts_us, stats)}


def run_phases(phases, opts, daemon_path, mockgw_path, workdir, log, judge, link_settings=None):
    """Starts the daemon, runs each phase against its own gateway, stops the daemon; returns
    (results, the whole event log, its path, the link's counters or None). `judge(result)` ->
    (ok, words) is stored in each result. With `link_settings` (repro_distance.link_settings) the
    daemon and the gateways sit at the two ends of one emulated link for the whole run."""
    if link_settings is None:
        return _run_phases(phases, opts, daemon_path, mockgw_path, workdir, log, judge, None) + (None,)
    with distance.FarLink(**link_settings) as link:
        log("link: %s (emulated; daemon at %s, gateway at %s)"
            % (repro_distance.link_words(link_settings), link.client_addr, link.gateway_addr))
        out = _run_phases(phases, opts, daemon_path, mockgw_path, workdir, log, judge, link)
        return out + (link.stop_forwarder(),)


def _run_phases(phases, opts, daemon_path, mockgw_path, workdir, log, judge, link):
    daemon = start_daemon(daemon_path, workdir, link)
    try:
        results = []
        for ph in phases:
            r = run_phase(ph, opts, daemon, mockgw_path, workdir, log, link)
            r["ok"], r["check"] = judge(r)
            results.append(r)
        daemon.stop()
        events, _ = report.load(daemon.events)
        return results, events, daemon.events
    finally:
        daemon.close()
