"""Verdict rules: which server or client behaviour explains the connections that ended unasked.

Input: the summary `report.analyze` builds (drops, failed opens, opens with their timings, snapshots),
output: groups, one per pattern, each {code, side, count, from_s, to_s, conns, evidence, rules_out,
confirm, advice, sentence, figures}. No I/O and no wording of the whole report here (report.py
renders); every rule reads figures from the log, never from how the run was driven.

The codes are a stable vocabulary (README "Verdict codes"): a CI job gates on them with
`wsfleet report --fail-on`. CATALOGUE declares each once: its side and what would confirm it.
"""

import bisect
import math
import re

# code: (side, what it means, what would confirm it)
CATALOGUE = {
    "idle_timeout_under_load": (
        "server", "the server drops sessions idle for a time that shrinks when many are open",
        "run the same silence below the threshold (no drops) and above it (drops), or send heartbeats"),
    "idle_timeout": (
        "server", "the server drops sessions after a fixed time without a client frame",
        "send heartbeats (keepalive) shorter than the silence: the drops stop"),
    "idle_timeout_data_only": (
        "server", "the server's idle timer counts data messages only: protocol pings do not keep sessions alive",
        "switch keepalive to an application heartbeat (mode text with an echo action): the drops stop"),
    "max_age": (
        "server", "the server (or a proxy) ends every session at a fixed age whatever it does",
        "send heartbeats: sessions still end at the same age; reconnecting is the only remedy"),
    "session_cap": (
        "server", "the server refuses sessions beyond a cap",
        "open fewer sessions than the cap: no refusals; the server's Retry-After or limit documentation"),
    "rate_limit": (
        "server", "the server closes sessions that send messages faster than it allows",
        "send the same messages more slowly: the closes stop"),
    "server_restart": (
        "server", "the server restarted or was redeployed: many sessions ended at once",
        "the server's deploy or restart log at that time"),
    "unresponsive_server": (
        "server", "the server (or the route to it) stopped answering without closing",
        "a packet capture shows our pings or heartbeats leave and nothing comes back"),
    "server_error": (
        "server", "the server closed sessions on an internal error (1011) or a failing upstream (1014)",
        "the server's error log at the close times"),
    "server_protocol_error": (
        "server", "the server broke RFC 6455 (bad frame, bad UTF-8, bad close code)",
        "the close records' detail names the violation; a packet capture shows the frame"),
    "network_reset": (
        "network", "TCP resets at scattered ages and silences: a middlebox, NAT or load balancer",
        "a capture on both ends: the server did not send the RST"),
    "handshake_throttling": (
        "server", "the server slows or refuses upgrades as more sessions open",
        "open at a lower rate (--connect-rate): upgrade times stay flat"),
    "client_overloaded": (
        "client", "this load generator was late: its event loop or its heartbeats lagged when the drops came",
        "run fewer sessions per wsfleetd (or more cores): the lateness and the drops go away"),
    "fd_exhaustion": (
        "client", "this machine ran out of file descriptors (EMFILE/ENFILE)",
        "raise the open-files limit (ulimit -n, LimitNOFILE): the failures stop"),
    "port_exhaustion": (
        "client", "this machine ran out of ephemeral ports to the target (EADDRNOTAVAIL)",
        "widen net.ipv4.ip_local_port_range, or add source addresses or targets"),
    "connect_burst": (
        "client", "connects failed while this client opened many at once",
        "pace the opens (--connect-rate): the failures stop"),
    "connect_failed": (
        "unknown", "TCP connects or TLS handshakes failed",
        "the detail (libuv error name) says which: refused, unreachable, timed out"),
    "client_limit": (
        "client", "a limit of this client ended sessions (message too big)",
        "raise the limit named in the detail"),
    "unexplained_drops": (
        "unknown", "sessions ended without a pattern these rules know",
        "the close records (code, reason, detail) and the server's logs"),
}

# Thresholds, each with why.
SIMULTANEOUS_GAP_S = 0.1  # closes chained by gaps shorter than this are "at once" (a restart closes its sessions
#                            back to back: 5 sessions in ~2 ms on loopback; scattered resets leave gaps of seconds)
RESTART_MIN = 3  # fewer than this at once is chance, not a restart
NEAR_CONSTANT = 0.10  # spread (max - min) within 10 % of the median: "near-constant" (timers plus one check tick)
NEAR_CONSTANT_MIN_S = 0.05  # ... and never tighter than scheduling noise
SILENCE_FLOOR = 0.5  # the shortest silence at drop is at least half the median: the server waits for quiet
DATA_ONLY_AGE_FLOOR = 0.3  # a data-only idle timer fires no earlier than its timeout: the youngest drop is
#                            at least 0.3 of the median age (repro phase D1: 45 s of a 100 s median; uniform
#                            random resets put the youngest near 0)
TIMER_MIN_S = 0.5  # an idle timeout or maximum age shorter than this is no policy anyone sets: look elsewhere
BURST_AFTER_S = 1.0  # a close within 1 s of the client's last message follows it, not a silence
RATE_MIN_MSGS = 3  # messages sent before a rate-limit close (fewer is no burst)
CAP_SOON_S = 5.0  # a 1008 within 5 s of the upgrade, before any traffic to speak of, is an admission refusal
LAG_BAD_US = 500_000  # loop lag of half a second delays every timer and heartbeat noticeably
HB_LATE_BAD_US = 1_000_000  # a heartbeat a second late eats into any idle timeout
LAG_WINDOW_S = 2.0  # a drop this close to a lagging snapshot is attributed to the lag
BURST_OPENS_PER_S = 200  # opens attempted in the second before a connect failure: a burst (SYN backlogs are ~128–4096)
THROTTLE_FACTOR = 3.0  # upgrade time at the highest concurrency vs the lowest
THROTTLE_MIN_S = 0.1  # and slower than this in absolute terms

# Close reasons and codes as gateways word them. A policy close (1008, 4008) is a rate limit after a
# burst and an admission refusal right after the upgrade; the reason decides when it names either.
RATE_WORDS = re.compile(r"rate|too many (messages|requests)|throttl|slow down|flood", re.I)
CAP_WORDS = re.compile(r"session|connection|capacity|try again|overload|busy|full", re.I)
RATE_CODES = {4029, 4429}  # "429 Too Many Requests" in the private-use range
POLICY_CODES = {1008, 4008}
EXHAUSTION = {"EMFILE": "fd_exhaustion", "ENFILE": "fd_exhaustion", "EADDRNOTAVAIL": "port_exhaustion"}
PROTOCOL_CAUSES = {"protocol_error", "invalid_utf8"}
# No pong, no heartbeat reply, or none of our output taken: the server (or the route) went quiet.
UNRESPONSIVE_CAUSES = {"pong_timeout", "reply_timeout", "output_stalled"}


def _stats(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return {"min": values[0], "median": values[len(values) // 2], "max": values[-1], "n": len(values)}


def near_constant(values):
    """At least three values, and all but a quarter of them within NEAR_CONSTANT of the smallest:
    timers fire late, never early, so one straggler (a loaded test machine made one 1.0 s max-age
    drop read 1.15 s) does not hide a common value."""
    st = _stats(values)
    if not st or st["n"] < 3:
        return False
    tol = max(NEAR_CONSTANT * st["median"], NEAR_CONSTANT_MIN_S)
    close = sum(1 for v in values if v is not None and v <= st["min"] + tol)
    return close >= max(3, math.ceil(0.75 * st["n"]))


def heartbeat_advice(silence_s):
    """A heartbeat interval comfortably below the fatal silence (45 s -> 25 s); None when the silence
    is too short for any heartbeat to be sensible advice (a 0.0 s silence means something else)."""
    if silence_s is None or silence_s < 1.0:
        return None
    target = silence_s * 0.6
    if target >= 10:
        return "%d s" % max(5, int(target // 5) * 5)
    if target >= 1:
        return "%d s" % int(target)
    return "%.1f s" % target


def _lists(s):
    return s.get("drop_list", []), s.get("failure_list", []), s.get("open_list", []), s.get("snapshots", [])


# ---- the groups -----------------------------------------------------------------------------------

def _group(code, items, evidence, rules_out=(), advice=None, sentence=None, figures=None):
    side, meaning, confirm = CATALOGUE[code]
    times = [it["at_s"] for it in items if it.get("at_s") is not None]
    return {
        "code": code, "side": side, "meaning": meaning, "count": len(items),
        "from_s": min(times) if times else None, "to_s": max(times) if times else None,
        "conns": [it.get("conn") for it in items[:5]],
        "evidence": list(evidence), "rules_out": list(rules_out), "confirm": confirm, "advice": advice,
        "sentence": sentence or "%s: %s" % (code, meaning), "figures": figures or {},
        "_items": items,
    }


def classify(s):
    """Returns the groups for summary s (see the module doc), largest first."""
    drops, failures, opens, snaps = _lists(s)
    groups = []
    groups += _failure_groups(failures, opens, s)
    lagging = _lagging_snapshots(snaps)
    overloaded, drops = _split_client_overloaded(drops, lagging)
    if overloaded:
        groups.append(_client_overloaded(overloaded, lagging))
    explicit, timed = _explicit_groups(drops)
    groups += explicit
    restart, timed = _simultaneous(timed)
    groups += restart
    groups += _timed_groups(timed, s)
    throttle = _handshake_throttling(opens, [g for g in groups if g["code"] == "handshake_throttling"])
    if throttle:
        groups = [g for g in groups if g["code"] != "handshake_throttling"] + [throttle]
    groups = _merge_same_code(groups)
    groups.sort(key=lambda g: (-g["count"], g["from_s"] if g["from_s"] is not None else 0))
    return groups


def public_group(g):
    return {k: v for k, v in g.items() if not k.startswith("_")}


def _merge_same_code(groups):
    """Two subsets that reached the same verdict (e.g. FIN and RST idle drops) are one group, with
    both sets of evidence."""
    out, by = [], {}
    for g in groups:
        if g["code"] in by:
            m = by[g["code"]]
            items = m["_items"] + g["_items"]
            merged = _group(g["code"], sorted(items, key=lambda it: it.get("at_s") or 0),
                            m["evidence"] + g["evidence"], m["rules_out"] + [r for r in g["rules_out"] if r not in m["rules_out"]],
                            m["advice"] or g["advice"], m["sentence"] + "; " + g["sentence"],
                            dict(m["figures"], **{k: v for k, v in g["figures"].items() if k not in m["figures"]}))
            out[out.index(m)] = merged
            by[g["code"]] = merged
        else:
            by[g["code"]] = g
            out.append(g)
    return out


# ---- failed opens: refusals, exhaustion, bursts -------------------------------------------------

def _attempts_before(t, attempt_times, window=1.0):
    """Opens attempted (opened or failed) in [t - window, t]; attempt_times sorted."""
    return bisect.bisect_right(attempt_times, t) - bisect.bisect_left(attempt_times, t - window)


def _failure_groups(failures, opens, s):
    by = {}
    for f in failures:
        text = " ".join(str(x) for x in (f.get("message"), f.get("detail")) if x)
        status = f.get("http_status")
        code = None
        for name, verdict in EXHAUSTION.items():
            if re.search(r"\b%s\b" % name, text):
                code = verdict
        if code is None and status in (503, 429):
            code = "refused"
        elif code is None and status is not None:
            code = "http_%s" % status
        elif code is None:
            code = "connect"
        by.setdefault(code, []).append(f)
    out = []
    for key, items in by.items():
        if key in ("fd_exhaustion", "port_exhaustion"):
            out.append(_group(key, items, ["%d opens failed with %s" % (len(items), _names(items))],
                              ["the error is raised by this machine's kernel before any packet reaches the server"],
                              advice=CATALOGUE[key][2],
                              sentence="%d opens failed with %s: %s" % (len(items), _names(items), CATALOGUE[key][1])))
        elif key == "refused":
            out.append(_refusals(items))
        elif key == "connect":
            attempts = sorted([it["at_s"] for it in opens] + [it["at_s"] for it in failures])
            rates = [_attempts_before(f["at_s"], attempts) for f in items]
            in_burst = [r >= BURST_OPENS_PER_S * _scale(s) for r in rates]
            burst = [f for f, b in zip(items, in_burst) if b]
            rest = [f for f, b in zip(items, in_burst) if not b]
            if burst:
                peak = max(rates)
                out.append(_group("connect_burst", burst, [
                    "%d connects failed (%s) with up to %d opens attempted in the second before" % (
                        len(burst), _names(burst), peak)],
                    ["the failures came only during the burst, not at a steady rate"],
                    advice="pace the opens with wsfleetd --connect-rate or --max-handshakes",
                    sentence="%d connects failed (%s) during a burst of up to %d opens per second: pace the "
                             "opens (--connect-rate)" % (len(burst), _names(burst), peak),
                    figures={"opens_per_s_max": peak}))
            if rest:
                out.append(_group("connect_failed", rest, ["%d connects failed: %s" % (len(rest), _names(rest))],
                                  sentence="%d opens failed before the upgrade (%s)" % (len(rest), _names(rest))))
        else:
            out.append(_group("unexplained_drops", items, ["%d upgrades answered %s" % (len(items), key.replace("_", " "))],
                              sentence="%d upgrades were answered with %s instead of 101" % (
                                  len(items), key.replace("http_", "HTTP "))))
    return out


def _scale(s):
    return s.get("time_scale") or 1.0


def _names(items):
    """libuv error names and HTTP statuses in the failures' words, most frequent first."""
    counts = {}
    for it in items:
        text = " ".join(str(x) for x in (it.get("message"), it.get("detail"), it.get("reason")) if x)
        found = re.findall(r"\bE[A-Z0-9]{3,}\b", text) or (["HTTP %s" % it["http_status"]] if it.get("http_status") else
                                                            [it.get("cause") or it.get("code") or "?"])
        counts[found[0]] = counts.get(found[0], 0) + 1
    return ", ".join("%s ×%d" % (k, v) for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _refusals(items):
    """503/429 upgrades: a session cap when they come at a steady open count (the cap), handshake
    throttling when they come at any count."""
    opn = [f.get("open_conns") for f in items if f.get("open_conns") is not None]
    retry = sorted({f["retry_after"] for f in items if f.get("retry_after") is not None})
    st = _stats(opn)
    statuses = _count_words(items, lambda f: "HTTP %s" % f.get("http_status"))
    steady = st is not None and (st["max"] - st["min"] <= max(1, 0.1 * st["max"]))
    any503 = any(f.get("http_status") == 503 for f in items)
    ev = ["%d upgrades refused (%s)" % (len(items), statuses)]
    if retry:
        ev.append("Retry-After: %s s" % ", ".join(str(r) for r in retry))
    if st:
        ev.append("open sessions at refusal: %d – %d" % (st["min"], st["max"]))
    if steady or any503 or not st:
        cap = st["max"] if st else None
        return _group("session_cap", items, ev,
                      ["refused before any session traffic: not a timeout, not a rate of messages"],
                      advice="keep at most %d sessions per target, or ask for a higher cap" % cap if cap else None,
                      sentence="%d upgrades refused (%s)%s: session cap%s" % (
                          len(items), statuses, " with %d open" % cap if cap is not None else "",
                          " (Retry-After %s s)" % retry[0] if retry else ""),
                      figures={"cap": cap, "retry_after": retry})
    return _group("handshake_throttling", items, ev,
                  ["the refusals came at open counts from %d to %d, not at one cap" % (st["min"], st["max"])],
                  advice="pace the opens (--connect-rate)",
                  sentence="%d upgrades refused (%s) at varying open counts: the server throttles handshakes" % (
                      len(items), statuses))


def _count_words(items, key):
    counts = {}
    for it in items:
        k = key(it)
        counts[k] = counts.get(k, 0) + 1
    return ", ".join("%s ×%d" % (k, v) for k, v in sorted(counts.items()))


def _handshake_throttling(opens, refused):
    """Upgrade times that grow with the open count: compare the quarter of opens made with the most
    sessions open against the quarter with the fewest."""
    timed = [o for o in opens if o.get("upgrade_s") is not None and o.get("open_conns") is not None]
    if len(timed) < 8:
        return refused[0] if refused else None
    timed.sort(key=lambda o: o["open_conns"])
    q = max(2, len(timed) // 4)
    low, high = timed[:q], timed[-q:]
    lo = _stats([o["upgrade_s"] for o in low])["median"]
    hi = _stats([o["upgrade_s"] for o in high])["median"]
    if not (hi >= THROTTLE_MIN_S and hi >= THROTTLE_FACTOR * max(lo, 1e-3)):
        return refused[0] if refused else None
    slow = [o for o in timed if o["upgrade_s"] >= 2 * max(lo, 1e-3) and o["upgrade_s"] >= THROTTLE_MIN_S / 2]
    items = slow + (refused[0]["_items"] if refused else [])
    ev = ["median upgrade time %.3f s with %d–%d open, %.3f s with %d–%d open" % (
        lo, low[0]["open_conns"], low[-1]["open_conns"], hi, high[0]["open_conns"], high[-1]["open_conns"])]
    if refused:
        ev += refused[0]["evidence"]
    return _group("handshake_throttling", items, ev,
                  ["connect times (TCP) are separate from upgrade times: the wait is the server's answer"],
                  advice="pace the opens (--connect-rate), or expect the ramp-up to take longer",
                  sentence="upgrades slowed from %.3f s to %.3f s as sessions grew from %d to %d: the server "
                           "throttles handshakes under load" % (lo, hi, low[0]["open_conns"], high[-1]["open_conns"]),
                  figures={"upgrade_low_s": lo, "upgrade_high_s": hi})


# ---- client lateness ------------------------------------------------------------------------------

def _lagging_snapshots(snaps):
    out = []
    for sn in snaps:
        lag = (sn.get("loop_lag_us") or {}).get("max")
        late = (sn.get("heartbeat_late_us") or {}).get("max")
        if (isinstance(lag, (int, float)) and lag >= LAG_BAD_US) or (isinstance(late, (int, float)) and late >= HB_LATE_BAD_US):
            out.append(sn)
    return out


def _split_client_overloaded(drops, lagging):
    """Drops near a snapshot that saw the loop or heartbeats late, except those the server named
    explicitly (a rate limit or cap is the server's decision whatever our lateness)."""
    if not lagging:
        return [], drops
    bad, rest = [], []
    times = sorted(sn["at_s"] for sn in lagging)
    for d in drops:
        i = bisect.bisect_left(times, d["at_s"] - LAG_WINDOW_S)
        near = i < len(times) and times[i] <= d["at_s"] + LAG_WINDOW_S
        named = d.get("cause") == "server_close" and d.get("code") not in (1000, 1001)
        (bad if near and not named else rest).append(d)
    return bad, rest


def _client_overloaded(items, lagging):
    lag = max(((sn.get("loop_lag_us") or {}).get("max") or 0) for sn in lagging) / 1e6
    late = max(((sn.get("heartbeat_late_us") or {}).get("max") or 0) for sn in lagging) / 1e6
    return _group("client_overloaded", items, [
        "loop lag up to %.2f s and heartbeats up to %.2f s late within %.0f s of these drops" % (lag, late, LAG_WINDOW_S)],
        ["the server named no reason: these drops follow our own lateness"],
        advice="run fewer sessions per daemon or give it a core of its own",
        sentence="%d drops came while this client was late (loop lag up to %.2f s, heartbeats up to %.2f s late): "
                 "client overloaded, not the server" % (len(items), lag, late),
        figures={"loop_lag_max_s": lag, "heartbeat_late_max_s": late})


# ---- drops the server named: close codes --------------------------------------------------------

def _explicit_groups(drops):
    """Drops whose close code, cause or burst say what they are; returns (groups, the rest)."""
    by, rest = {}, []
    for d in drops:
        code, cause, reason = d.get("code"), d.get("cause"), d.get("reason") or ""
        sent_before = d.get("since_sent_s")
        msgs = d.get("msgs_out") or 0
        server_close = cause == "server_close"
        if cause in UNRESPONSIVE_CAUSES:
            key = "unresponsive_server"
        elif cause in PROTOCOL_CAUSES:
            key = "server_protocol_error"
        elif cause == "message_too_big":
            key = "client_limit"
        elif server_close and code == 1012:
            key = "server_restart"
        elif server_close and _rate_like(d) and not (_cap_like(d) and msgs <= 1):
            key = "rate_limit"
        elif server_close and _cap_like(d):
            key = "session_cap"
        elif server_close and code in (1011, 1014):
            key = "server_error"
        else:
            rest.append(d)
            continue
        by.setdefault(key, []).append(d)
    out = []
    for key, items in by.items():
        out.append(_EXPLAIN[key](items))
    return out, rest


def _rate_like(d):
    code, reason, msgs, after = d.get("code"), d.get("reason") or "", d.get("msgs_out") or 0, d.get("since_sent_s")
    burst = msgs >= RATE_MIN_MSGS and after is not None and after <= BURST_AFTER_S
    return bool(RATE_WORDS.search(reason)) or code in RATE_CODES or (code in POLICY_CODES and burst)


def _cap_like(d):
    """1013 "try again later", a reason about sessions or capacity, or a policy close right after the
    upgrade before any traffic to speak of."""
    code, reason = d.get("code"), d.get("reason") or ""
    soon = (d.get("age_s") or 0) <= CAP_SOON_S and (d.get("msgs_out") or 0) <= 1
    return code == 1013 or bool(CAP_WORDS.search(reason)) or (code in POLICY_CODES and soon)


def _codes(items):
    return _count_words(items, lambda d: "%s %r" % (d.get("code"), d.get("reason") or "") if d.get("cause") == "server_close"
                        else "%s %s" % (d.get("code"), d.get("cause")))


def _explain_unresponsive(items):
    causes = _count_words(items, lambda d: d.get("cause"))
    return _group("unresponsive_server", items, [
        "%d sessions ended because no pong or heartbeat reply came back, or the server took none of our "
        "output, in time (%s)" % (len(items), causes)],
        ["the server sent no close and no TCP FIN or RST: it went silent, it did not refuse"],
        advice="check the route and the server's health; a shorter pong_timeout_ms finds it sooner",
        sentence="%d connections were declared dead because no reply came back (%s): the server stopped "
                 "answering without closing (a hung server or a black-holed route)" % (len(items), causes))


def _explain_rate(items):
    # A rate over a session of a few milliseconds is noise (6 messages in 0.6 ms read "10,000 per s").
    rates = [d["msgs_out"] / d["age_s"] for d in items if d.get("msgs_out") and (d.get("age_s") or 0) >= 1.0]
    st = _stats(rates)
    msgs = _stats([d.get("msgs_out") for d in items])
    after = _stats([d.get("since_sent_s") for d in items])
    codes = _codes(items)
    ev = ["server close %s" % codes]
    if msgs:
        ev.append("%s client messages in the session's %s before the close" % (
            _span([d.get("msgs_out") for d in items], "%d", ""), _span([d.get("age_s") for d in items], "%.3f")))
    if st:
        ev.append("client message rate over the session %.1f–%.1f per s" % (st["min"], st["max"]))
    if after:
        ev.append("the close came %.2f–%.2f s after the last client message" % (after["min"], after["max"]))
    return _group("rate_limit", items, ev,
                  ["the close follows client messages within %.0f s: not a silence" % BURST_AFTER_S],
                  advice="send fewer messages per second per session (the limit is below %.1f per s)" % st["min"]
                  if st else "send fewer messages per second per session",
                  sentence="%d sessions were closed by the server (%s) right after bursts of %s client messages in %s: "
                           "rate limit" % (len(items), codes, _span([d.get("msgs_out") for d in items], "%d", ""),
                                           _span([d.get("age_s") for d in items], "%.3f")),
                  figures={"rate_per_s": st, "msgs_out": msgs, "close_after_s": after})


def _explain_cap(items):
    opn = _stats([d.get("open_conns") for d in items])
    ages = _stats([d.get("age_s") for d in items])
    codes = _codes(items)
    ev = ["server close %s" % codes]
    if ages:
        ev.append("%.1f–%.1f s after the upgrade" % (ages["min"], ages["max"]))
    if opn:
        ev.append("with %d–%d sessions open" % (opn["min"], opn["max"]))
    cap = opn["min"] - 1 if opn else None
    return _group("session_cap", items, ev,
                  ["closed soon after opening with little or no traffic: not a timeout, not a message rate"],
                  advice="keep at most %d sessions per target, or ask for a higher cap" % cap if cap else None,
                  sentence="%d sessions were closed by the server (%s) soon after opening%s: session cap" % (
                      len(items), codes, " while more than %d were open" % cap if cap is not None else ""),
                  figures={"cap": cap})


def _explain_restart(items, how="server close 1012 (service restart)"):
    burst = _stats([d.get("open_conns") for d in items])
    return _group("server_restart", items, ["%s, %d sessions" % (how, len(items))],
                  ["many sessions at one moment whatever their age and silence: not a timeout"],
                  advice="reconnect with backoff; expect it during deploys",
                  sentence="%d sessions ended at once (%s)%s: the server restarted" % (
                      len(items), how, " with %d open" % burst["max"] if burst else ""))


def _explain_server_error(items):
    codes = _codes(items)
    return _group("server_error", items, ["server close %s" % codes],
                  sentence="%d sessions were closed by the server with an error (%s)" % (len(items), codes))


def _explain_protocol(items):
    return _group("server_protocol_error", items, ["%s" % _count_words(items, lambda d: "%s %s" % (d.get("cause"), d.get("detail") or ""))],
                  sentence="%d sessions ended because the server broke the protocol (%s)" % (
                      len(items), _count_words(items, lambda d: d.get("cause"))))


def _explain_client_limit(items):
    return _group("client_limit", items, ["%d messages exceeded --max-message-bytes" % len(items)],
                  sentence="%d sessions ended on this client's message size limit (1009)" % len(items))


_EXPLAIN = {
    "unresponsive_server": _explain_unresponsive, "rate_limit": _explain_rate, "session_cap": _explain_cap,
    "server_restart": _explain_restart, "server_error": _explain_server_error,
    "server_protocol_error": _explain_protocol, "client_limit": _explain_client_limit,
}


# ---- many at once ---------------------------------------------------------------------------------

def _simultaneous(drops):
    """Clusters of drops chained by gaps under SIMULTANEOUS_GAP_S that took many sessions of scattered ages
    at once (1001 going away, or TCP ends with no close frame): a restart, not a timer."""
    drops = sorted(drops, key=lambda d: d["at_s"])
    clusters, cur = [], []
    for d in drops:
        if cur and d["at_s"] - cur[-1]["at_s"] > SIMULTANEOUS_GAP_S:
            clusters.append(cur)
            cur = []
        cur.append(d)
    if cur:
        clusters.append(cur)
    groups, rest = [], []
    for c in clusters:
        open_before = max((d.get("open_conns") or 0) for d in c)
        many = len(c) >= RESTART_MIN and len(c) >= 0.5 * open_before
        ages_scattered = not near_constant([d.get("age_s") for d in c])
        # Idle drops of sessions that went quiet one after the other also come back to back; their
        # silences share a floor, a restart's do not. A floor under TIMER_MIN_S is no idle timer: the
        # silences of sessions pinging every 200 ms lie within 0.25 s and can agree by chance.
        sil = _stats([d.get("silence_s") for d in c])
        idle_like = sil is not None and sil["min"] >= TIMER_MIN_S and sil["min"] >= SILENCE_FLOOR * sil["median"] and \
            near_constant([d.get("silence_s") for d in c])
        away = [d for d in c if d.get("code") == 1001 and d.get("cause") == "server_close"]
        if many and ages_scattered and not idle_like and (len(away) >= 0.8 * len(c) or
                                        all(d.get("cause") in FIN_CAUSES + ("reset",) for d in c)):
            how = "server close 1001 (going away)" if away else "TCP %s without a close frame" % "/".join(
                sorted({"RST" if d.get("cause") == "reset" else "FIN" for d in c}))
            g = _explain_restart(c, how)
            g["evidence"].append("%d of %d open sessions within %.2f s, ages %s" % (
                len(c), open_before, c[-1]["at_s"] - c[0]["at_s"], _span([d.get("age_s") for d in c])))
            groups.append(g)
        else:
            rest += c
    return groups, rest


def _span(values, fmt="%.1f", unit=" s"):
    """'1.0 s' or '0.2–2.3 s' (one figure when both ends read the same)."""
    st = _stats(values)
    if not st:
        return "-"
    lo, hi = fmt % st["min"], fmt % st["max"]
    return (lo if lo == hi else lo + "–" + hi) + unit


# ---- drops that came with time: idle timeout, max age, resets -----------------------------------

FIN_CAUSES = ("eof", "tls_close_notify")  # under TLS a FIN comes after close_notify


def _signature(d):
    """Drops that look alike on the wire are judged together: FIN, RST, a close frame, others by cause
    (a mixed run of max-age RSTs and idle FINs splits here)."""
    if d.get("cause") in FIN_CAUSES:
        return "tcp eof"
    if d.get("cause") == "reset":
        return "tcp reset"
    if d.get("cause") == "server_close":
        return "close_frame"
    return d.get("cause") or "?"


PATTERN_MIN = 3  # fewer drops of one signature make no pattern of their own


def _timed_groups(drops, s):
    """One verdict per wire signature; a stray drop or two of another TCP signature (a FIN among RSTs)
    joins the TCP group whose verdict it leaves unchanged, else stands alone."""
    by = {}
    for d in drops:
        by.setdefault(_signature(d), []).append(d)
    tcp_big = [sig for sig, ds in by.items() if sig.startswith("tcp") and len(ds) >= PATTERN_MIN]
    out, strays = {}, []
    for sig, ds in sorted(by.items()):
        if sig.startswith("tcp") and len(ds) < PATTERN_MIN and tcp_big:
            strays += ds
        else:
            out[sig] = (ds, _timed(ds, sig, s))
    for d in strays:
        for sig in tcp_big:
            ds, g = out[sig]
            joined = _timed(ds + [d], sig, s)
            if joined["code"] == g["code"]:
                out[sig] = (ds + [d], joined)
                break
        else:
            ds, _ = out.get(_signature(d), ([], None))
            out[_signature(d)] = (ds + [d], _timed(ds + [d], _signature(d), s))
    return [g for _, g in out.values()]


def _what(ds, sig):
    n = len(ds)
    if sig.startswith("tcp"):
        tcp = "/".join(sorted({"FIN" if d["cause"] in FIN_CAUSES else "RST" for d in ds}))
        what = "1006 drop%s (no close frame: TCP " + tcp + ")"
    elif sig == "close_frame":
        what = "server close frame%s (" + _codes(ds).replace("%", "%%") + ")"
    else:
        what = "close%s (" + _codes(ds).replace("%", "%%") + ")"
    return "all %d %s" % (n, what % "s") if n > 1 else "the one %s" % (what % "")


def _timed(ds, sig, s):
    head = _what(ds, sig)
    sil = [d["silence_s"] for d in ds if d.get("silence_s") is not None]
    ages = [d["age_s"] for d in ds if d.get("age_s") is not None]
    opn = [d["open_conns"] for d in ds if d.get("open_conns") is not None]
    n = len(ds)
    if not sil:
        return _group("unexplained_drops", ds, ["no client-silence time in the records"], sentence=head + " carry no client-silence time")
    smin, smax = min(sil), max(sil)
    smed = _stats(sil)["median"]
    silent_since_open = all(d.get("msgs_out") in (0, None) and d.get("since_sent_s") is None or
                            abs((d.get("age_s") or 0) - (d.get("silence_s") or 0)) <= 0.05 * (d.get("age_s") or 0) + 0.05
                            for d in ds)
    # Maximum age first: a near-constant age whatever the silence.
    # (A near-constant silence much shorter than the age cannot be the timer that fired either.)
    if near_constant(ages) and min(ages) >= TIMER_MIN_S and not _outlived(s, max(ages)) and (
            silent_since_open or not near_constant(sil) or smed < 0.5 * _stats(ages)["median"]):
        age = _stats(ages)
        ev = ["ages at drop %s (near-constant)" % _span(ages),
              "client silence at drop %s" % _span(sil)]
        rules = ["the silences vary or stay far below the age while the age does not: not an idle timeout"] \
            if not silent_since_open else []
        if not silent_since_open and all(not d.get("msgs_out") for d in ds):
            rules.append("these sessions sent no data message, only pings: an idle timer that counts data "
                         "only would fire at the same age; an application heartbeat tells them apart")
        if silent_since_open:
            ev.append("these sessions sent nothing since the upgrade, so their silence equals their age")
            rules.append("an idle timeout of %.1f s fits these drops too; a heartbeat run tells them apart "
                         "(drops at the same age: maximum age)" % age["min"])
        return _group("max_age", ds, ev, rules,
                      advice="reconnect before %.0f s; heartbeats will not help" % age["min"],
                      sentence="%s came at a near-constant age of %s%s: maximum session age; heartbeats "
                               "will not help, reconnect before it" % (
                                   head, _span(ages),
                                   " (the sessions were silent since opening, so silence equals age)" if silent_since_open
                                   else " whatever the client silence (%s)" % _span(sil)),
                      figures={"age_s": age})
    # A floor of silence before every drop: the server waits for quiet. When the client's last frame
    # was a ping, only a tight floor (the timer and its check tick) says the pings counted; silences
    # spread over a ping interval say they did not.
    floor = smin >= TIMER_MIN_S and smin >= SILENCE_FLOOR * smed
    pinged = [d for d in ds if d.get("since_ping_s") is not None and d.get("since_sent_s") is not None
              and d["since_ping_s"] <= d["since_sent_s"] + 0.05]
    pinged_all = n and len(pinged) >= 0.9 * n
    tight = smax - smin <= max(NEAR_CONSTANT * smed, NEAR_CONSTANT_MIN_S)
    if floor and (not pinged_all or tight):
        return _idle(ds, head, s, smin, opn)
    # The client was sending pings (its last frame was a ping), yet the server dropped it, and never
    # young: a data-only idle timer fires no earlier than its timeout (resets strike at any age). An
    # age floor needs a few drops to mean anything.
    age = _stats(ages)
    if pinged_all and n >= 3 and age and smax < 0.5 * age["median"] and age["min"] >= TIMER_MIN_S and \
            age["min"] >= DATA_ONLY_AGE_FLOOR * age["median"]:
        return _group("idle_timeout_data_only", ds, [
            "the client's last frame before each drop was a ping, at most %.1f s before" % smax,
            "ages at drop %s" % _span(ages)],
            ["the sessions were not silent: an idle timer that counted pings would not have fired"],
            advice="use an application heartbeat (keepalive mode text with an echo action)",
            sentence="%s came %s after opening although the client's last frame, a ping, was at most %.1f s before: "
                     "the server does not count pings as activity; an application heartbeat (a data message, e.g. "
                     "keepalive mode text with an echo action) avoids it" % (head, _span(ages), smax))
    if floor:
        return _idle(ds, head, s, smin, opn)
    if sig == "tcp reset":
        return _group("network_reset", ds, [
            "TCP RST at ages %s and client silences %s (scattered)" % (_span(ages), _span(sil))],
            ["no floor of silence (not an idle timeout), no common age (not a maximum age), not all at once "
             "(not a restart)"],
            advice="look for a NAT, firewall or load balancer on the path; a capture at both ends",
            sentence="%s came at scattered ages (%s) and client silences (%s): resets from the network "
                     "(a NAT, firewall or load balancer), not a timer" % (head, _span(ages), _span(sil)))
    return _group("unexplained_drops", ds, [
        "client silence at drop %s, ages %s" % (_span(sil), _span(ages))],
        ["no floor of silence, no common age"],
        sentence="%s came %s after the last client frame: not an idle timeout on client frames" % (head, _span(sil)))


def _outlived(s, age):
    """Whether some session lived clearly longer than `age` (so `age` is no maximum): a snapshot's
    quietest session had been open at least that long, or a session closed by the client was older."""
    longer = age * (1 + NEAR_CONSTANT) + NEAR_CONSTANT_MIN_S
    return any((sn.get("max_silence_s") or 0) > longer for sn in s.get("snapshots") or ()) or any(
        c["cause"] in ("local_close", "daemon_reset", "shutdown") and (c.get("age_s") or 0) > longer
        for c in s.get("close_list", ()))


def _idle(ds, head, s, smin, opn):
    peak = s.get("peak_open") or 0
    low_open = min(opn) if opn else None
    threshold = None
    if low_open is not None and peak and low_open >= 0.5 * peak and low_open > 1:
        threshold = low_open - 1
    load = " while > %d sessions were open" % threshold if threshold is not None else ""
    line = "%s came after ≥ %.1f s without a client frame%s" % (head, smin, load)
    hb = heartbeat_advice(smin)
    ev = ["client silence at drop %s (never less than %.1f s)" % (_span([d["silence_s"] for d in ds]), smin)]
    if threshold is not None:
        ev.append("every drop came with more than %d sessions open (peak %d)" % (threshold, peak))
    quiet = _quiet_survivors(s, threshold, smin) if threshold is not None else None
    rules = ["the drops follow silence, not age (ages %s)" % _span([d.get("age_s") for d in ds])]
    fig = {"silence_min_s": smin, "threshold_open": threshold}
    if quiet:
        ev.append(quiet)
        code = "idle_timeout_under_load"
        line += " (with fewer open, sessions quiet that long were not dropped): idle timeout under load"
    else:
        code = "idle_timeout"
        line += ": idle timeout"
    if hb:
        line += "; heartbeats every %s avoid it" % hb
    else:
        line += " (under 1 s of silence: a heartbeat cannot be the fix; look at what the server expects)"
    return _group(code, ds, ev, rules, advice="heartbeats every %s" % hb if hb else None, sentence=line, figures=fig)


def _quiet_survivors(s, threshold, silence):
    """Words for the evidence that the timeout depends on load, or None. From the timeline when the
    log has snapshots: a snapshot with at most `threshold` sessions open whose quietest session had
    been silent at least `silence`. Without snapshots (a daemon older than them): the caller's own
    measurement (s["quiet_survived"], e.g. the repro's driver), else a close for an expected reason
    (client close, reset, shutdown) that found a session that quiet with at most `threshold` open."""
    snaps = s.get("snapshots") or []
    if snaps:
        for sn in snaps:
            ms = sn.get("max_silence_s")
            if sn.get("open") is not None and sn["open"] <= threshold and ms is not None and ms >= silence:
                return ("at %.1f s, with %d open, a session had been quiet %.1f s and was not dropped" % (
                    sn["at_s"], sn["open"], ms))
        return None
    q = s.get("quiet_survived")
    if q and q.get("open") is not None and q["open"] <= threshold and (q.get("silence_s") or 0) >= silence:
        return "with %d open, sessions quiet %.1f s were not dropped (the driver's measurement)" % (
            q["open"], q["silence_s"])
    for c in s.get("close_list", ()):
        if c["cause"] in ("local_close", "daemon_reset", "shutdown") and c["open_conns"] is not None and \
                c["open_conns"] <= threshold and c["silence_s"] is not None and c["silence_s"] >= silence:
            return "a session quiet %.1f s with %d open lived until the client ended it (close, reset or shutdown)" % (
                c["silence_s"], c["open_conns"])
    return None
