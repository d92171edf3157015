"""The reproduction's scenario: the gateway model, the phases, and what each phase should show.

No processes and no I/O here: repro_runner runs a phase, this module says what the phase is
(sessions, what the gateway counts as activity, which keepalive the daemon sends) and whether its
results match the model (check, summarize_ab). The model and the thread loop are described in
repro.py's docstring (`wsfleet repro --help`).
"""

import json

from . import report, verdicts

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


def model_ms(model_s, scale):
    """Model seconds as real milliseconds at this time scale (at least 1)."""
    return max(1, int(round(model_s * scale * 1000)))


def reply_timeout_ms(model_s, opts):
    """A timeout that waits for a reply over the network (pong, request, ping sampler), in real
    milliseconds. Scaled like every other duration, except behind an emulated link (--rtt, --loss),
    whose round trips are physical and not scaled: there it stays the model's real value, so a
    retransmission (Linux waits at least 200 ms, 1 s for a lost SYN) does not become a pong timeout
    the real run would never see (measured at 180 ms and 1 % loss, scale 0.1: a scaled 1 s pong
    timeout fired once in 155 sessions of phase D1)."""
    return max(1000, model_ms(model_s, 1.0 if opts.get("link") else opts["time_scale"]))


def keepalive_params(phase, opts):
    """The `keepalive` map of the phase's opens (PROTOCOL.md, open)."""
    ka = phase.keepalive
    if not ka:
        return {"mode": "none"}
    scale = opts["time_scale"]
    k = {"interval_ms": model_ms(opts["keepalive_interval"], scale),
         "jitter_ms": model_ms(opts["keepalive_jitter"], scale)}
    if ka == "ping":
        k.update(mode="ping", pong_timeout_ms=reply_timeout_ms(opts["ping_timeout"], opts))
    else:
        k.update(mode="text", payload=HEARTBEAT, reply_contains=HEARTBEAT_TEXT)
    return k


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


def summarize_ab(events, by, opts):
    """`wsfleet report`'s analysis of phases A and B together (None unless both ran): the
    comparison that tells "under load" from "always"."""
    if "A" not in by or "B" not in by:
        return None
    ab = report.analyze(report.window(events, by["A"]["start_ms"], by["B"]["end_ms"]), opts["time_scale"])
    # The driver knows how long its quiet threads lived at the lower count: evidence for "under load".
    ab["quiet_survived"] = {"silence_s": by["A"]["driver"]["max_quiet_survived_s"], "open": opts["low"]}
    ab["groups"] = verdicts.classify(ab)  # with that evidence in, so --json's codes match the words
    ab["verdict"] = report.verdict_lines(ab, ab["groups"])
    return ab
