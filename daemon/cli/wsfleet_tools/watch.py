"""wsfleet watch: a live view of a running wsfleetd, refreshed every interval.

    wsfleet [--socket PATH | --tcp ...] watch [--interval S] [--count N | --once] [--json]

Each refresh shows open/connecting/closing sessions, the opens, drops (by code and cause) and failed
opens of the interval, heartbeat lateness and loop lag, and the verdict so far: the events seen since
the watch started (the latest 100,000), judged by the same rules as `wsfleet report` (verdicts.py).
It subscribes to the daemon's `open`, `close`, `handshake_failed` (and, when the daemon offers them,
`reconnect` and `snapshot`) events and calls `stats` once per refresh; reopens by a reconnect policy are shown
beside the opens, and the drops they followed stay drops. On a terminal the screen is redrawn; otherwise (or with --json, one
JSON object per refresh) refreshes are appended. --count N stops after N refreshes (--once: 1).
Exit status: 0; 3 when the daemon cannot be reached or goes away.
"""

import argparse
import collections
import json
import socket
import sys
import time

from . import report
from .client import RpcError

EXIT_OK, EXIT_USAGE, EXIT_UNREACHABLE = 0, 2, 3
SUBSCRIBE = ["open", "close", "handshake_failed"]
# Asked for when the daemon offers them (an older one answers bad_request): the longest list first.
OPTIONAL = [["reconnect", "snapshot"], ["reconnect"], []]


def parser():
    ap = argparse.ArgumentParser(prog="wsfleet watch", description="A live view of a running wsfleetd.")
    ap.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between refreshes (1)")
    ap.add_argument("--count", type=int, metavar="N", help="stop after N refreshes")
    ap.add_argument("--once", action="store_true", help="one refresh, then exit (--count 1)")
    ap.add_argument("--json", action="store_true", help="one JSON object per refresh")
    return ap


# The verdict is recomputed over the events kept, at most this many (the latest): analysing 50,000
# events takes about 0.5 s of CPU, which a refresh every second can afford at twice that.
MAX_EVENTS = 100_000


class Tally:
    """What the notifications of one interval and of the whole watch add up to."""

    def __init__(self):
        self.events = collections.deque(maxlen=MAX_EVENTS)  # lifecycle events as the event log holds them
        self.interval = self._empty()
        self.changed = False
        self.summary = None

    @staticmethod
    def _empty():
        return {"opens": 0, "reopens": 0, "drops": {}, "closes_asked": 0, "failed": {}}

    def add(self, ev):
        kind = ev.get("event")
        if kind not in ("open", "close", "handshake_failed", "snapshot", "reconnect"):
            return
        ev = {k: v for k, v in ev.items() if k != "_method"}
        self.events.append(ev)
        self.changed = True
        iv = self.interval
        if kind == "open":
            iv["opens"] += 1
        elif kind == "reconnect":
            iv["reopens"] += 1
        elif kind == "close":
            rec = ev.get("record") or {}
            if rec.get("cause") in report.EXPECTED_CAUSES:
                iv["closes_asked"] += 1
            else:
                key = "%s %s" % (rec.get("code"), rec.get("cause"))
                iv["drops"][key] = iv["drops"].get(key, 0) + 1
        elif kind == "handshake_failed":
            err = ev.get("error") or {}
            key = str(err.get("http_status") or err.get("code"))
            iv["failed"][key] = iv["failed"].get(key, 0) + 1

    def take_interval(self):
        iv, self.interval = self.interval, self._empty()
        return iv

    def analysis(self):
        """report.analyze over the events kept, recomputed only when new ones came."""
        if self.changed:
            self.summary = report.analyze(list(self.events))
            self.changed = False
        return self.summary


def frame(stats, iv, tally, interval_s, now=None):
    """One refresh as a map (what --json prints and the text view renders)."""
    s = tally.analysis()
    groups = s["groups"] if s else []
    return {
        "at": time.strftime("%H:%M:%S", time.localtime(now or time.time())),
        "interval_s": interval_s,
        "open": stats.get("open"), "connecting": stats.get("connecting"), "closing": stats.get("closing"),
        "opens": iv["opens"], "reopens": iv["reopens"], "drops": iv["drops"], "closes_asked": iv["closes_asked"], "failed": iv["failed"],
        "heartbeat_late_us": stats.get("heartbeat_late_us"), "loop_lag_us": stats.get("loop_lag_us"),
        "drops_total": s["drops"] if s else 0,
        "verdicts": [{"code": g["code"], "side": g["side"], "count": g["count"], "sentence": g["sentence"]}
                     for g in groups],
    }


def _us(q, key):
    v = (q or {}).get(key)
    return "-" if v is None else "%.2f s" % (v / 1e6)


def render(f):
    words = lambda m: ", ".join("%s ×%d" % (k, v) for k, v in sorted(m.items(), key=lambda kv: -kv[1])) or "none"  # noqa: E731
    lines = [
        "wsfleet watch  %s  open %s  connecting %s  closing %s" % (f["at"], f["open"], f["connecting"], f["closing"]),
        "last %.1f s: %d opens%s, drops %s, failed opens %s, %d closed by the client" % (
            f["interval_s"], f["opens"], ", %d reopened by the reconnect policy" % f["reopens"] if f["reopens"] else "",
            words(f["drops"]), words(f["failed"]), f["closes_asked"]),
        "since the daemon started: heartbeats late p99 %s, max %s; loop lag p99 %s, max %s" % (
            _us(f["heartbeat_late_us"], "p99"), _us(f["heartbeat_late_us"], "max"),
            _us(f["loop_lag_us"], "p99"), _us(f["loop_lag_us"], "max")),
        "verdict so far (%d drops since the watch began):" % f["drops_total"],
    ]
    lines += ["  - %s ×%d (%s side): %s" % (v["code"], v["count"], v["side"], v["sentence"]) for v in f["verdicts"]] \
        or ["  - no drops"]
    return "\n".join(lines)


def run(client, interval, count, as_json, out):
    for extra in OPTIONAL:
        try:
            client.call("subscribe", events=SUBSCRIBE + extra)
            break
        except RpcError as e:
            if e.code != "bad_request" or not extra:
                raise
    tally = Tally()
    tty = not as_json and hasattr(out, "isatty") and out.isatty()
    n = 0
    while count is None or n < count:
        deadline = time.monotonic() + interval
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                tally.add(client.next_notification(left))
            except socket.timeout:
                break
        f = frame(client.call("stats"), tally.take_interval(), tally, interval)
        if as_json:
            out.write(json.dumps(f) + "\n")
        else:
            out.write(("\x1b[H\x1b[2J" if tty else ("\n" if n else "")) + render(f) + "\n")
        out.flush()
        n += 1


def main(argv, opts, out=None, err=None):
    """opts: the connection options of `wsfleet` (socket, tcp, token_file, timeout)."""
    from .cli import connect, default_socket_path  # noqa: F401 (one way to connect)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        a = parser().parse_args(list(argv))
    except SystemExit as e:
        return EXIT_USAGE if e.code else EXIT_OK
    if not a.interval > 0 or (a.count is not None and a.count < 1):
        err.write("wsfleet watch: --interval must be > 0 and --count >= 1\n")
        return EXIT_USAGE
    try:
        client = connect(opts)
    except (OSError, EOFError) as e:
        err.write("wsfleet watch: cannot reach wsfleetd at %s: %s\n" % (
            opts.get("tcp") or opts.get("socket") or default_socket_path(), e))
        return EXIT_UNREACHABLE
    with client:
        try:
            run(client, a.interval, 1 if a.once else a.count, a.json, out)
        except KeyboardInterrupt:
            return EXIT_OK
        except (OSError, EOFError, RpcError) as e:
            err.write("wsfleet watch: the daemon went away: %s\n" % e)
            return EXIT_UNREACHABLE
    return EXIT_OK
