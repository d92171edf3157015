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

The programs: --daemon and --mockgw, else $WSFLEETD and $WSF_MOCKGW, else the build tree
(build/daemon/wsfleetd, build/tests/mockgw/mockgw), else wsfleetd and wsfleet-mockgw beside
`wsfleet` (as `meson install` puts them), else on PATH. --json names the ones it ran.
"""


import json
import os
import shutil
import sys
import tempfile

from . import programs, repro_render, repro_runner
from .client import RpcError
from .repro_scenario import DEFAULTS, check, make_phases, summarize_ab


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
    try:
        results, events, events_path = repro_runner.run_phases(phases, opts, daemon_path, mockgw_path, workdir, log,
                                                               lambda r: check(r, opts))
        by = {r["phase"].name: r for r in results}
        ab = summarize_ab(events, by, opts)
        ok = all(r["ok"] for r in results)
        extra = {"programs": {"wsfleetd": daemon_path, "mockgw": mockgw_path}}
        if a["events"]:
            shutil.copyfile(events_path, a["events"])
            extra["events"] = a["events"]
        if a["html"]:
            repro_render.write_html(a["html"], results, events, opts)
            extra["html"] = a["html"]
        if a["json"]:
            json.dump(repro_render.results_json(results, opts, ab, ok, extra), out, indent=2, default=str)
            out.write("\n")
        else:
            out.write("\n")
            repro_render.render_text(results, opts, ab, out)
            if a["html"]:
                out.write("\nHTML report: %s\n" % a["html"])
        return 0 if ok else 1
    except (RuntimeError, OSError, RpcError) as e:
        err.write("wsfleet repro: %s\n" % e)
        return 1
    finally:
        if a["keep"]:
            shutil.copytree(workdir, a["keep"], dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
