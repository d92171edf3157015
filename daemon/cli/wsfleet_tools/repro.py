"""wsfleet repro: the 150-vs-155-session reproduction of the 1006 drops the README describes, against the
mock gateway (tests/mockgw), time-scaled to run in about a minute.

    wsfleet repro [--time-scale F | --real-time] [--phases A,B,C,D] [--duration S] [--json]
                  [--html FILE] [--events FILE] [--keep DIR] [--mockgw PATH] [--daemon PATH]
                  [--drop fin|rst] [--low N] [--high N]
                  [--rtt 180ms [--jitter 10ms] [--loss 1%] [--link-seed N]]

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

Distance: --rtt puts the gateway a round trip away, as from another region: the daemon and the
gateways run in two network namespaces joined by an emulated link (wsfleet_tools/netdelay.py, a
user-space forwarder over TUN devices; this kernel has no tc netem) that holds every packet
RTT/2 each way, ± --jitter/2 (uniform, order kept), and drops it with probability --loss each way
(seeded by --link-seed; TCP retransmits). Needs root, unshare, nsenter, ip and /dev/net/tun.
The RTT is physical time and is NOT scaled: at scale 0.1, 180 ms is 1.8 model seconds; use
--real-time to keep the model's proportions. So the timeouts that wait for a reply (pong 10 s,
the ping sampler's 10 s, the configure request's 10 s) are not scaled either behind a link: a
retransmitted packet must not time out where the real run would not (a drop is a TCP FIN the
client sees at once, so longer reply timeouts change no verdict). The report then gives, per phase, the handshake
phases (connect = one round trip, upgrade = one round trip, total) and the ping round trips of
the samplers and of the daemon's histogram (stats ping_rtt_us), in real milliseconds, with the
pong timeouts, and the link's counters (packets lost, queue drops).
Exit status: 0 when every phase behaved as expected, 1 otherwise, 2 on a usage error.

The programs: --daemon and --mockgw, else $WSFLEETD and $WSF_MOCKGW, else the build tree
(build/daemon/wsfleetd, build/tests/mockgw/mockgw), else wsfleetd and wsfleet-mockgw beside
`wsfleet` (as `meson install` puts them), else on PATH. --json names the ones it ran.
"""


import argparse
import json
import os
import shutil
import sys
import tempfile

from . import distance, programs, repro_distance, repro_render, repro_runner
from .client import RpcError
from .repro_scenario import DEFAULTS, check, make_phases, summarize_ab


USAGE = ("usage: wsfleet repro [--time-scale F | --real-time] [--phases A,B,C,D] [--duration S] [--json]\n"
         "                     [--html FILE] [--events FILE] [--keep DIR] [--mockgw PATH] [--daemon PATH]\n"
         "                     [--drop fin|rst] [--low N] [--high N]\n"
         "                     [--rtt 180ms [--jitter 10ms] [--loss 1%] [--link-seed N]]\n")


class _Parser(argparse.ArgumentParser):
    """Usage errors become ValueError, so main() words them and returns 2 (a caller's process is
    not exited from inside a library call)."""

    def error(self, message):
        raise ValueError(message)


def build_parser():
    """The options of `wsfleet repro` (--help prints the module docstring instead of argparse's)."""
    p = _Parser(prog="wsfleet repro", add_help=False, allow_abbrev=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--json", action="store_true")
    # --real-time and --time-scale set the same value: the last one given wins.
    p.add_argument("--time-scale", "--scale", dest="time_scale", type=float, default=DEFAULTS["time_scale"])
    p.add_argument("--real-time", dest="time_scale", action="store_const", const=1.0)
    p.add_argument("--duration", type=float, default=DEFAULTS["duration"])
    p.add_argument("--drop", default=DEFAULTS["drop"])
    p.add_argument("--low", type=int, default=DEFAULTS["low"])
    p.add_argument("--high", type=int, default=DEFAULTS["high"])
    p.add_argument("--phases", default="A,B,C,D")
    for name in ("html", "events", "keep", "mockgw", "daemon", "rtt", "jitter", "loss"):
        p.add_argument("--" + name)
    p.add_argument("--link-seed", type=int, default=1)
    return p


def parse_args(argv):
    """Returns (opts: the scenario's numbers, DEFAULTS overridden; a: everything else)."""
    ns = build_parser().parse_args(argv)
    opts = dict(DEFAULTS, time_scale=ns.time_scale, duration=ns.duration, drop=ns.drop, low=ns.low, high=ns.high)
    if not 0 < opts["time_scale"] <= 10:
        raise ValueError("time scale must be in (0, 10]")
    if opts["duration"] <= 0:
        raise ValueError("duration must be > 0")
    if opts["drop"] not in ("fin", "rst"):
        raise ValueError("--drop is fin or rst (the report is about drops without a close frame)")
    if not (0 < opts["low"] <= opts["overload_above"] < opts["high"]):
        raise ValueError("need --low ≤ %d < --high" % opts["overload_above"])
    a = {k: getattr(ns, k) for k in ("help", "json", "phases", "html", "events", "keep", "mockgw", "daemon")}
    a["link"] = repro_distance.link_settings(ns.rtt, ns.jitter, ns.loss, ns.link_seed)
    opts["link"] = a["link"] is not None  # reply timeouts are not scaled behind a link (repro_scenario)
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
    if a["link"] is not None:
        why = distance.unavailable()
        if why:
            err.write("wsfleet repro: --rtt/--jitter/--loss emulate a far gateway in network namespaces, "
                      "which %s\n" % why)
            return 2

    workdir = tempfile.mkdtemp(prefix="wsfleet-repro-")
    log = (lambda m: err.write(m + "\n") or err.flush()) if a["json"] else (lambda m: out.write(m + "\n") or out.flush())
    try:
        results, events, events_path, link_counters = repro_runner.run_phases(
            phases, opts, daemon_path, mockgw_path, workdir, log, lambda r: check(r, opts), a["link"])
        by = {r["phase"].name: r for r in results}
        ab = summarize_ab(events, by, opts)
        ok = all(r["ok"] for r in results)
        extra = {"programs": {"wsfleetd": daemon_path, "mockgw": mockgw_path},
                 "link": None if a["link"] is None else dict(a["link"], counters=link_counters)}
        if a["events"]:
            shutil.copyfile(events_path, a["events"])
            extra["events"] = a["events"]
        if a["html"]:
            repro_render.write_html(a["html"], results, events, opts, a["link"])
            extra["html"] = a["html"]
        if a["json"]:
            json.dump(repro_render.results_json(results, opts, ab, ok, extra), out, indent=2, default=str)
            out.write("\n")
        else:
            out.write("\n")
            repro_render.render_text(results, opts, ab, out, extra["link"])
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
