"""The reproduction's rendering: the text tables and words, the --json document, the --html page.
Reads the results repro_runner collected and repro_scenario judged; runs nothing.
"""

from . import report, repro_distance


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


def _p50_max(q):
    return "%.0f/%.0f" % (q["p50"], q["max"]) if q else "-"


def render_distance(results, link, w):
    """The distance section: what the link did and what each phase measured through it."""
    w()
    w("distance: %s (emulated link; real milliseconds, not time-scaled)" % repro_distance.link_words(link))
    w("  %-5s %-13s %-13s %-15s %-17s %-18s %s" % ("phase", "connect ms", "upgrade ms", "handshake ms",
                                                   "sampler ping ms", "daemon ping_rtt ms", "pong timeouts"))
    for r in results:
        f = r["distance"]
        dp = f["daemon_ping_rtt_ms"]
        w("  %-5s %-13s %-13s %-15s %-17s %-18s %d" % (
            r["phase"].name, _p50_max(f["connect_ms"]), _p50_max(f["upgrade_ms"]), _p50_max(f["total_ms"]),
            _p50_max(f["sampler_ping_rtt_ms"]), "%.0f/%.0f" % (dp["p50"], dp["p99"]) if dp else "-",
            f["pong_timeouts"]))
    w("  (p50/max; daemon ping_rtt is the stats histogram's p50/p99 over sampler and keepalive pings, bucketed:")
    w("   up to 19 % above the true value. connect is TCP's SYN to SYN-ACK and upgrade the HTTP request to its")
    w("   101: one round trip each, so both sit at the RTT; a lost SYN or request shows as +1 s or +200 ms.)")
    c = link.get("counters") or {}
    for name in ("client_to_gateway", "gateway_to_client"):
        d = c.get(name)
        if d:
            w("  link %s: %d packets, %d lost, %d queue drops, %s TUN-device drops, mean delay %s ms, "
              "forwarder lateness p99 %s µs" % (name.replace("_", " "), d["packets"], d["lost"], d["queue_full"],
                                                d.get("device_drops", "?"), d["mean_delay_ms"], d["late_us"]["p99"]))


def render_text(results, opts, ab_summary, out, link=None):
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
    if link:
        render_distance(results, link, w)
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
            "drop_table": s["drop_table"], "verdict": s["verdict"], "verdict_codes": report.verdict_codes(s),
            "drop_list": [drop_json(d, opts["time_scale"]) for d in s["drop_list"]],
            "driver": r["driver"], "gateway": r["gateway"], "gateway_drop_lines": r["gateway_drop_lines"],
            "distance": r["distance"],
        })
    out["verdict_ab"] = ab_summary["verdict"] if ab_summary else None
    out["verdict_codes_ab"] = report.verdict_codes(ab_summary) if ab_summary else None
    out.update(extra)
    return out


def distance_words(r):
    """One phase's distance in a line: handshake phases and ping round trips (p50, real ms)."""
    f = r["distance"]
    part = lambda name, q: "%s %s ms" % (name, "%.0f" % q["p50"] if q else "-")  # noqa: E731
    return "%s, %s, %s, ping %s ms, %d pong timeouts" % (
        part("connect", f["connect_ms"]), part("upgrade", f["upgrade_ms"]), part("handshake", f["total_ms"]),
        "%.0f" % f["sampler_ping_rtt_ms"]["p50"] if f["sampler_ping_rtt_ms"] else "-", f["pong_timeouts"])


def write_html(path, results, events, opts, link=None):
    """The --html page: `wsfleet report`'s page for the whole log, with each phase's own verdict
    (and, behind a link, its distance figures) and a mark where each phase starts."""
    whole = report.analyze(events, opts["time_scale"])
    # One log holds every phase: give each phase's own verdict, not one for the mixture.
    whole["verdict"] = ["phase %s (%s): %s — %s" % (r["phase"].name, r["phase"].title, r["check"],
                                                    "; ".join(r["summary"]["verdict"])) for r in results]
    if link:
        whole["verdict"].append("distance: %s (emulated link); p50 per phase, real time: %s" % (
            repro_distance.link_words(link),
            "; ".join("%s: %s" % (r["phase"].name, distance_words(r)) for r in results)))
    t0 = whole["first_at_ms"] or 0
    marks = [((r["start_ms"] - t0) / 1000.0 / opts["time_scale"], r["phase"].name) for r in results]
    with open(path, "w", encoding="utf-8") as f:
        f.write(report.to_html(whole, title="wsfleet repro: %d vs %d sessions" % (opts["low"], opts["high"]),
                               marks=marks))
