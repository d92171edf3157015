"""Runs the Autobahn|Testsuite fuzzingserver against wsfleetd, driven through the control protocol.

    python3 tests/conformance/driver.py [--cases 1.*,12.1.1] [--jobs 8] [--servers 2] [--outdir DIR]

The fuzzingserver (tests/conformance/fuzzingserver.py, in the Python 2 virtualenv that
.ci/install-deps makes) plays the WebSocket server; wsfleetd is the client under test, and this
script is the user at its control socket: per case it opens ws://127.0.0.1:PORT/runCase?case=N
&agent=wsfleet, echoes every message back with the type it came with (text as text, binary as
binary) until the connection ends, and keeps the close record. Cases run `jobs` at a time over
`servers` fuzzingserver processes (each case is its own connection, judged on its own, and any
fuzzingserver can run any case). At the end /updateReports makes each fuzzingserver write its
reports into OUTDIR/shard-N/ (index.json, index.html, one JSON and HTML per case); OUTDIR/index.json
merges their summaries, and OUTDIR/wsfleet-records.json holds our side: the close record, the deflate
agreed and the echo counts of every case.

Used by test_autobahn.py; run by hand to look at a failure. Prints each case as it ends, then every
verdict that is not OK and the totals.
"""

import argparse
import concurrent.futures
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from wsf_fixtures import Daemon, RpcError, _kill  # noqa: E402

AGENT = "wsfleet"
VENV = os.environ.get("WSF_AUTOBAHN_VENV") or os.path.expanduser("~/.cache/wsfleet/autobahn-venv")
LAUNCHER = os.path.join(HERE, "fuzzingserver.py")

# Group 13 pairs a server answer with each client offer (autobahntestsuite/case/case12_x_x.py:
# DEFLATE_PARAMS). The server accepts only offers that carry the parameters its answer needs
# (client_no_context_takeover for "requestNoContextTakeover", a valueless client_max_window_bits
# for "requestMaxWindowBits"), and the first offer of each pair asks the server for what the
# case's own client asks for. So each subgroup gets the `deflate` map a user would write to make
# that offer (PROTOCOL.md 6a); 13.7 offers three alternatives upstream, we offer the first.
GROUP13_OFFERS = {
    1: {},
    2: {"client_no_context_takeover": True, "server_no_context_takeover": True},
    3: {"client_max_window_bits": True, "server_max_window_bits": 9},
    4: {"client_max_window_bits": True, "server_max_window_bits": 15},
    5: {"client_max_window_bits": True, "client_no_context_takeover": True,
        "server_no_context_takeover": True, "server_max_window_bits": 9},
    6: {"client_max_window_bits": True, "client_no_context_takeover": True,
        "server_no_context_takeover": True, "server_max_window_bits": 15},
    7: {"client_max_window_bits": True, "client_no_context_takeover": True,
        "server_no_context_takeover": True, "server_max_window_bits": 9},
}

# The largest message a case sends is 16 MiB (9.1.6, 9.2.6): the inbox must hold it whole.
INBOX = {"max_messages": 1000, "max_bytes": 32 << 20}
RECV_WAIT_MS = 10000
# The fuzzingserver is single-threaded Python and the busiest process of a run (about twice the
# daemon's CPU in groups 12 and 13), so a run uses one per core; 4 cases per server keep each busy
# while the daemon and the driver wait on one another.
DEFAULT_SERVERS = 2
# The integration suite's subset (README.md: what it leaves out, and the timings): groups 1-10 whole
# (11 is empty); of 12 and 13, every data set and every negotiation with the messages up to 8 KiB,
# unfragmented (x.x.1-6) and in 256-byte fragments (x.x.11): 84 of their 216 cases, 2 % of their bytes.
# Patterns match by prefix ("12.*.1" would take 12.1.10-18 too): the deflate cases are named one by one.
CI_CASES = ["%d.*" % g for g in range(1, 11)] + ["%d.%d.%d" % (g, j, i) for g, subgroups in ((12, 5), (13, 7))
                                                 for j in range(1, subgroups + 1) for i in (1, 2, 3, 4, 5, 6, 11)]
DEFAULT_JOBS = 8
CASE_DEADLINE_S = 600  # the slowest case allows itself 480 s (12.x.x WAITSECS)


def case_key(case_id):
    return tuple(int(x) for x in case_id.split("."))


def deflate_offer(case_id):
    """The `deflate` map for `open`: none for groups 1-11, the default offer for 12, GROUP13_OFFERS for 13."""
    k = case_key(case_id)
    if k[0] == 12:
        return {}
    if k[0] == 13:
        return dict(GROUP13_OFFERS[k[1]])
    return None


def expected_cost(case_id):
    """A rough order for scheduling: long cases first so the last job is a short one."""
    k = case_key(case_id)
    if k[0] in (12, 13):  # 1000 messages; the sub-index grows with the message size
        return 1000 + k[2] * 10
    if k[0] == 9:
        return 500 + k[2] * 10
    return k[0]


_peers = []  # every live daemon and fuzzingserver process this module started


def kill_peers():
    """For a SIGTERM handler: ends the daemon and the fuzzingservers at once, so the workers stop
    with errors instead of finishing their cases (a timed-out meson test must not leave them)."""
    for proc in list(_peers):
        if proc.poll() is None:
            proc.kill()


class FuzzingServer:
    """The fuzzingserver on a free 127.0.0.1 port. Attributes: port, cases (ids in runCase order)."""

    def __init__(self, patterns, outdir):
        self.patterns = patterns
        self.outdir = outdir

    def __enter__(self):
        python = os.path.join(VENV, "bin", "python")
        if not os.access(python, os.X_OK):
            raise RuntimeError("no Autobahn|Testsuite virtualenv at %s: run .ci/install-deps --test" % VENV)
        os.makedirs(self.outdir, exist_ok=True)
        spec = os.path.join(self.outdir, "fuzzingserver.json")
        with open(spec, "w") as f:
            json.dump({"url": "ws://127.0.0.1:0", "outdir": self.outdir, "cases": self.patterns,
                       "exclude-cases": [], "exclude-agent-cases": {}}, f)
        self.log_path = os.path.join(self.outdir, "fuzzingserver.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([python, "-u", LAUNCHER, spec], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._log, cwd=self.outdir)
        _peers.append(self.proc)
        deadline = time.monotonic() + 30
        self.port = None
        # It prints "Cases = [...]" (a Python list of ids) then "READY <port>"; everything goes to the log.
        for line in self.proc.stdout:
            self._log.write(line)
            text = line.decode("utf-8", "replace").strip()
            if text.startswith("Cases = "):
                self.cases = json.loads(text[len("Cases = "):].replace("'", '"'))
            if text.startswith("READY "):
                self.port = int(text.split()[1])
                break
            if time.monotonic() > deadline:
                break
        if self.port is None:
            self.close()
            with open(self.log_path, "rb") as f:
                raise RuntimeError("the fuzzingserver did not start:\n" + f.read().decode("utf-8", "replace"))
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self):
        for line in self.proc.stdout:
            self._log.write(line)
        self._log.flush()

    def log(self):
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        _kill(self.proc)
        _peers.remove(self.proc)
        self._log.close()

    def __exit__(self, *exc):
        self.close()


def echo_until_closed(client, conn, deadline):
    """Echoes every message of `conn` back until the connection ends. Pipelined: each reply goes
    out in one write with the next `recv`, so a message costs one round trip to the daemon.
    Returns (messages echoed, echoes refused with conn_closed, errors of `send` other than that)."""
    echoed, refused, send_errors, sends = 0, 0, [], set()

    def recv():
        return client.send("recv", {"conn": conn, "timeout_ms": RECV_WAIT_MS})

    waiting = recv()
    while waiting is not None or sends:
        if time.monotonic() > deadline:
            raise TimeoutError("%s still open after %d s" % (conn, CASE_DEADLINE_S))
        msgid, error, result = client.recv_response(timeout=RECV_WAIT_MS / 1000 + 30)
        if msgid in sends:
            sends.discard(msgid)
            # conn_closed: the server ended the case, or the daemon failed the connection on the
            # next frame, while our echo was on its way (the NON-STRICT cases of README.md).
            if error is not None and error.get("code") == "conn_closed":
                refused += 1
            elif error is not None:
                send_errors.append(error)
            continue
        if msgid != waiting:
            raise RuntimeError("unexpected response %r: %r %r" % (msgid, error, result))
        if error is not None:
            if error.get("code") == "timeout":
                waiting = recv()
                continue
            if error.get("code") == "conn_closed":
                waiting = None
                continue
            raise RpcError.from_error(error, msgid)
        data = result["data"]
        if isinstance(data, str):  # a text message: sent back as the same bytes, typed text
            data = data.encode("utf-8", "surrogateescape")
        send_id, waiting = client.send_many([("send", {"conn": conn, "data": data, "type": result["type"]}),
                                             ("recv", {"conn": conn, "timeout_ms": RECV_WAIT_MS})])
        sends.add(send_id)
        echoed += 1
    return echoed, refused, send_errors


def run_case(client, server, index, case_id):
    """One case on one control connection; returns our side of it for wsfleet-records.json."""
    conn = "case-" + case_id
    params = {"conn": conn, "url": server.url("/runCase?case=%d&agent=%s" % (index, AGENT)), "inbox": INBOX}
    offer = deflate_offer(case_id)
    if offer is not None:
        params["deflate"] = offer
    out = {"case": case_id, "deflate_offer": offer}
    started = time.monotonic()
    try:
        opened = client.call("open", params)
        out["deflate_agreed"] = opened.get("deflate")
        out["echoed"], out["echo_refused"], out["send_errors"] = echo_until_closed(client, conn, started + CASE_DEADLINE_S)
    except RpcError as e:
        out["error"] = e.as_dict()
    out["record"] = client.call("status", conn=conn).get("record")
    out["seconds"] = round(time.monotonic() - started, 3)
    return out


def update_reports(ctl, server, conn):
    """/updateReports: the fuzzingserver writes its reports, then closes (recv ends with conn_closed)."""
    ctl.call("open", conn=conn, url=server.url("/updateReports?agent=" + AGENT))
    try:
        ctl.call("recv", conn=conn, timeout_ms=120000)
        raise RuntimeError("/updateReports sent a message")
    except RpcError as e:
        if e.code != "conn_closed":
            raise


def cpu_seconds(pid):
    """User + system CPU time of a live process, from /proc (None once it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def run(patterns, outdir, jobs=DEFAULT_JOBS, servers=DEFAULT_SERVERS, daemon_args=(), progress=None):
    """Runs the cases that match `patterns` (fuzzingserver spec syntax, e.g. "12.1.*") with `jobs`
    cases at a time spread over `servers` fuzzingserver processes, then writes the reports.
    Returns {"seconds", "records", "index" (merged: each reportfile relative to outdir), "cpu_seconds"}."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        daemon = stack.enter_context(Daemon(*daemon_args))
        _peers.append(daemon.proc)
        stack.callback(_peers.remove, daemon.proc)
        shards = [stack.enter_context(FuzzingServer(patterns, os.path.join(outdir, "shard-%d" % i)))
                  for i in range(servers)]
        local, assigned = threading.local(), itertools.count()

        def worker(item):
            if not hasattr(local, "client"):  # each thread: its own control connection and fuzzingserver
                local.client = daemon.client(timeout=60)
                local.server = shards[next(assigned) % len(shards)]
            rec = run_case(local.client, local.server, *item)
            if progress:
                progress(rec)
            return rec

        order = sorted(enumerate(shards[0].cases, 1), key=lambda item: -expected_cost(item[1]))
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            records = list(pool.map(worker, order))
        cpu = {"wsfleetd": cpu_seconds(daemon.pid),
               "fuzzingservers": sum(cpu_seconds(s.proc.pid) or 0 for s in shards)}
        ctl = daemon.client(timeout=120)
        for i, server in enumerate(shards):
            update_reports(ctl, server, "update-reports-%d" % i)
        if not daemon.alive():
            raise RuntimeError("wsfleetd died during the run:\n" + daemon.log()[-4000:])
        # A graceful stop, as the integration tests end: shutdown errors, and leaks under ASan, fail the run.
        status = daemon.stop(signal.SIGTERM, timeout=15)
        if status != 0:
            raise RuntimeError("wsfleetd exited with %s on SIGTERM:\n%s" % (status, daemon.log()[-4000:]))
    records.sort(key=lambda r: case_key(r["case"]))
    index = {}
    for server in shards:
        with open(os.path.join(server.outdir, "index.json")) as f:
            for case_id, summary in json.load(f).get(AGENT, {}).items():
                summary["reportfile"] = os.path.join(os.path.basename(server.outdir), summary["reportfile"])
                index[case_id] = summary
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump({AGENT: index}, f, indent=1, sort_keys=True)
    with open(os.path.join(outdir, "wsfleet-records.json"), "w") as f:
        json.dump(records, f, indent=1, sort_keys=True)
    return {"seconds": time.monotonic() - started, "records": records, "index": index, "cpu_seconds": cpu}


def summarize(index):
    """Counts of each behavior, e.g. {"OK": 506, "NON-STRICT": 8, ...}."""
    counts = {}
    for result in index.values():
        counts[result["behavior"]] = counts.get(result["behavior"], 0) + 1
    return counts


def group_durations(index):
    """The fuzzingserver's own duration of each case (ms), summed per group: {"1": ms, ...}."""
    out = {}
    for case_id, result in index.items():
        g = case_id.split(".")[0]
        out[g] = out.get(g, 0) + result.get("duration", 0)
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="*", help="comma-separated fuzzingserver patterns (default: every case)")
    ap.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="cases at a time (default %(default)s)")
    ap.add_argument("--servers", type=int, default=DEFAULT_SERVERS, help="fuzzingserver processes (default %(default)s)")
    ap.add_argument("--outdir", help="reports (default: a new directory under /tmp)")
    args = ap.parse_args()
    outdir = os.path.abspath(args.outdir or tempfile.mkdtemp(prefix="wsf-autobahn-"))
    signal.signal(signal.SIGTERM, lambda *_: (kill_peers(), sys.exit("terminated")))
    res = run(args.cases.split(","), outdir, jobs=args.jobs, servers=args.servers,
              progress=lambda r: print("%-8s %6.2fs %s\n" % (r["case"], r["seconds"], r.get("error", "")), end="", flush=True))
    for case_id in sorted(res["index"], key=case_key):
        behavior = res["index"][case_id]["behavior"]
        if behavior != "OK":
            print("%-8s %s" % (case_id, behavior))
    print("%s in %.1f s (CPU s %s); fuzzingserver ms per group %s; reports in %s"
          % (summarize(res["index"]), res["seconds"], res["cpu_seconds"], group_durations(res["index"]), outdir))


if __name__ == "__main__":
    main()
