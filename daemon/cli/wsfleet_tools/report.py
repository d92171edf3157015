"""wsfleet report: turn a wsfleetd event log (--events, PROTOCOL.md section 10) into a summary a
person reads in a minute, and optionally a one-page HTML report with a chart.

    wsfleet report EVENTS.jsonl [--html FILE] [--json] [--time-scale F] [--since-ms T] [--until-ms T]
                                [--fail-on CODE,...]

--time-scale F: the log comes from a time-scaled run (e.g. `wsfleet repro`, F = 0.1); durations are
shown divided by F, in the run's model seconds. --since-ms/--until-ms keep only events whose at_ms
lies in [since, until).

A "drop" is a connection that ended without the client asking: every close whose cause is not
local_close (the client closed it), daemon_reset or shutdown. Drops and failed opens are grouped by
pattern, each group named by a verdict code (verdicts.py, README "Verdict codes").
"""

import argparse
import html
import json
import math
import sys

from . import verdicts

EXPECTED_CAUSES = {"local_close", "daemon_reset", "shutdown"}


# ---- loading ----------------------------------------------------------------------------------

def load(path):
    """Returns (events, bad_lines). A line that is not a JSON object is counted, not fatal (a log
    cut short by a crash ends with a partial line)."""
    events, bad = [], 0
    with open(path, "rb") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                ev = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                bad += 1
                continue
            if isinstance(ev, dict) and isinstance(ev.get("event"), str):
                events.append(ev)
            else:
                bad += 1
    return events, bad


def window(events, since_ms=None, until_ms=None):
    out = []
    for ev in events:
        at = _num(ev.get("at_ms"))
        if at is None:
            continue
        if since_ms is not None and at < since_ms:
            continue
        if until_ms is not None and at >= until_ms:
            continue
        out.append(ev)
    return out


# ---- small helpers ----------------------------------------------------------------------------

def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _us_to_s(v, scale):
    v = _num(v)
    return None if v is None else v / 1e6 / scale


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list (p in 0..100)."""
    s = sorted(values)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(math.ceil(p / 100.0 * len(s))) - 1))
    return s[k]


def fmt_s(v, digits=1):
    return "-" if v is None else "%.*f" % (digits, v)


def _nice_step(span, target_rows=10):
    raw = max(span / float(target_rows), 1e-9)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


# ---- analysis ---------------------------------------------------------------------------------

def analyze(events, time_scale=1.0):
    """Summarises events (already windowed). Durations in the result are seconds divided by
    time_scale; `*_at_s` are seconds since the first event of the window."""
    scale = float(time_scale) if time_scale else 1.0
    events = sorted((e for e in events if _num(e.get("at_ms")) is not None), key=lambda e: e["at_ms"])
    t0 = events[0]["at_ms"] if events else 0
    rel = lambda at: (at - t0) / 1000.0 / scale  # noqa: E731

    opened = 0
    open_names = set()
    timeline = []  # (t_s, open_count)
    peak = 0
    closes, drops, failures, opens, snapshots = [], [], [], [], []
    reconnects = []  # reopens by open's reconnect policy: each follows a drop that stays a drop
    by_code, by_cause, by_code_cause = {}, {}, {}
    starts = 0
    for ev in events:
        kind = ev["event"]
        t = rel(ev["at_ms"])
        if kind == "start":
            starts += 1
            open_names.clear()
            timeline.append((t, 0))
        elif kind == "open":
            opened += 1
            open_names.add(ev.get("conn"))
            timeline.append((t, len(open_names)))
            peak = max(peak, len(open_names))
            timings = ev.get("timings") if isinstance(ev.get("timings"), dict) else {}
            opens.append({"at_s": t, "conn": ev.get("conn"),
                          "open_conns": _num(ev.get("open_conns")) or len(open_names),
                          "upgrade_s": _us_to_s(timings.get("upgrade_us"), scale),
                          "connect_s": _us_to_s(timings.get("connect_us"), scale)})
        elif kind == "reconnect":
            open_names.add(ev.get("conn"))
            timeline.append((t, len(open_names)))
            peak = max(peak, len(open_names))
            rec = ev.get("record") if isinstance(ev.get("record"), dict) else {}
            timings = ev.get("timings") if isinstance(ev.get("timings"), dict) else {}
            reconnects.append({"at_s": t, "conn": ev.get("conn"), "attempt": _num(ev.get("attempt")),
                               "replaced": "%s %s" % (rec.get("code"), rec.get("cause") or "?"),
                               "total_s": _us_to_s(timings.get("total_us"), scale)})
        elif kind == "handshake_failed":
            err = ev.get("error") if isinstance(ev.get("error"), dict) else {}
            rec = ev.get("record") if isinstance(ev.get("record"), dict) else {}
            headers = err.get("headers") if isinstance(err.get("headers"), dict) else {}
            failures.append({"at_s": t, "conn": ev.get("conn"), "code": err.get("code"),
                             "http_status": err.get("http_status"), "message": err.get("message"),
                             "cause": rec.get("cause"), "detail": rec.get("detail") or err.get("detail") or "",
                             "open_conns": _num(rec.get("open_conns")),
                             "retry_after": err.get("retry_after", headers.get("retry-after")),
                             "reconnect_attempt": _num(ev.get("reconnect_attempt"))})
        elif kind == "snapshot":
            snapshots.append({"at_s": t, "open": _num(ev.get("open")), "connecting": _num(ev.get("connecting")),
                              "max_silence_s": _us_to_s(ev.get("max_silence_us"), scale),
                              "opens": _num(ev.get("opens")), "closes": _num(ev.get("closes")),
                              "loop_lag_us": ev.get("loop_lag_us") if isinstance(ev.get("loop_lag_us"), dict) else {},
                              "heartbeat_late_us": ev.get("heartbeat_late_us")
                              if isinstance(ev.get("heartbeat_late_us"), dict) else {}})
            if snapshots[-1]["open"] is not None:
                peak = max(peak, snapshots[-1]["open"])
        elif kind == "close":
            rec = ev.get("record") if isinstance(ev.get("record"), dict) else {}
            if ev.get("conn") in open_names:
                open_names.discard(ev.get("conn"))
                timeline.append((t, len(open_names)))
            code = rec.get("code")
            cause = rec.get("cause") or "?"
            by_code[str(code)] = by_code.get(str(code), 0) + 1
            by_cause[cause] = by_cause.get(cause, 0) + 1
            key = "%s %s" % (code, cause)
            by_code_cause[key] = by_code_cause.get(key, 0) + 1
            item = {
                "at_s": t, "at_ms": ev["at_ms"], "conn": ev.get("conn"), "code": code, "cause": cause,
                "reason": rec.get("reason") or "", "initiator": rec.get("initiator"),
                "detail": rec.get("detail") or "",
                "since_sent_s": _us_to_s(rec.get("since_sent_us"), scale),
                # What the server saw: quiet since the last client frame, or since the upgrade if none.
                "silence_s": _us_to_s(rec.get("since_sent_us") if _num(rec.get("since_sent_us")) is not None
                                      else rec.get("age_us"), scale),
                "since_recv_s": _us_to_s(rec.get("since_recv_us"), scale),
                "since_ping_s": _us_to_s(rec.get("since_ping_us"), scale),
                "since_pong_s": _us_to_s(rec.get("since_pong_us"), scale),
                "age_s": _us_to_s(rec.get("age_us"), scale),
                "open_conns": _num(rec.get("open_conns")),
                "msgs_out": _num(rec.get("msgs_out")),
                "summary": rec.get("summary") or "",
                # the reconnect policy reopens it: a drop all the same (the plan may not have seen it)
                "reconnect_attempt": _num((ev.get("reconnect") or {}).get("attempt"))
                if isinstance(ev.get("reconnect"), dict) else None,
            }
            closes.append(item)
            if cause not in EXPECTED_CAUSES:
                drops.append(item)
        elif kind == "stop":
            timeline.append((t, len(open_names)))
    span = rel(events[-1]["at_ms"]) if events else 0.0

    s = {
        "time_scale": scale,
        "events": len(events),
        "starts": starts,
        "span_s": span,
        "first_at_ms": t0 if events else None,
        "opened": opened,
        "peak_open": peak,
        "handshake_failures": len(failures),
        "failures_by_code": _count(failures, lambda f: f["code"] if f["http_status"] is None
                                   else "%s %s" % (f["code"], f["http_status"])),
        "closes": len(closes),
        "closes_by_code": by_code,
        "closes_by_cause": by_cause,
        "closes_by_code_cause": by_code_cause,
        "drops": len(drops),
        "drops_by_code_cause": _count(drops, lambda d: "%s %s" % (d["code"], d["cause"])),
        "drop_list": drops,
        "close_list": closes,
        "timeline": timeline,
        "failure_list": failures,
        "open_list": opens,
        "snapshots": snapshots,
        "reconnects": len(reconnects),
        "reconnect_list": reconnects,
        "reconnect_failures": sum(1 for f in failures if f["reconnect_attempt"]),
        "drops_reconnected": sum(1 for d in drops if d["reconnect_attempt"]),
        "reconnected_conns": len({r["conn"] for r in reconnects}),
    }
    s.update(_drop_stats(drops))
    s["drop_table"] = drop_table(drops, span)
    s["groups"] = verdicts.classify(s)
    s["verdict"] = verdict_lines(s, s["groups"])
    return s


def _count(items, key):
    out = {}
    for it in items:
        k = str(key(it))
        out[k] = out.get(k, 0) + 1
    return out


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "p10": percentile(values, 10), "p50": percentile(values, 50),
            "p90": percentile(values, 90), "max": max(values), "n": len(values)}


def _drop_stats(drops):
    first = drops[0] if drops else None
    return {
        "first_drop_at_s": first["at_s"] if first else None,
        "open_at_first_drop": first["open_conns"] if first else None,
        "silence_at_drop_s": _stats([d["silence_s"] for d in drops]),
        "open_at_drop": _stats([d["open_conns"] for d in drops]),
        "age_at_drop_s": _stats([d["age_s"] for d in drops]),
    }


def drop_table(drops, span, target_rows=10):
    """Drops bucketed in time: [{from_s, to_s, drops, silence_min_s, silence_max_s, open_min, open_max,
    codes}]; empty buckets are left out."""
    if not drops:
        return []
    step = _nice_step(max(span, drops[-1]["at_s"], 1e-3), target_rows)
    rows = {}
    for d in drops:
        b = int(d["at_s"] // step)
        rows.setdefault(b, []).append(d)
    out = []
    for b in sorted(rows):
        ds = rows[b]
        sil = [d["silence_s"] for d in ds if d["silence_s"] is not None]
        opn = [d["open_conns"] for d in ds if d["open_conns"] is not None]
        out.append({"from_s": b * step, "to_s": (b + 1) * step, "drops": len(ds),
                    "silence_min_s": min(sil) if sil else None, "silence_max_s": max(sil) if sil else None,
                    "open_min": min(opn) if opn else None, "open_max": max(opn) if opn else None,
                    "codes": _count(ds, lambda d: "%s %s" % (d["code"], d["cause"]))})
    return out


# ---- verdict ----------------------------------------------------------------------------------

def verdict(s):
    """Plain-words conclusions, one per group of drops (verdicts.classify), largest first, each ending
    with its code and side. Recomputed from s, so a caller may add evidence (s["quiet_survived"])
    first."""
    return verdict_lines(s, verdicts.classify(s))


def verdict_lines(s, groups):
    if s["opened"] == 0 and s["handshake_failures"] == 0:
        return ["the log holds no connection"]
    out = ["%s [%s; %s side]" % (g["sentence"], g["code"], g["side"]) for g in groups]
    if not s["drops"]:
        out.append("no drops: all %d closes were asked for by the client, a reset or shutdown" % s["closes"]
                   if s["closes"] else "no drops: no connection ended during the log")
    return out


def verdict_codes(s):
    return sorted({g["code"] for g in s["groups"]})


# ---- text -------------------------------------------------------------------------------------

def format_text(s, title=None):
    lines = []
    w = lines.append
    if title:
        w(title)
    scale_note = "" if s["time_scale"] == 1 else " (durations ÷ time scale %g, in model seconds)" % s["time_scale"]
    w("span %.1f s%s, %d events" % (s["span_s"], scale_note, s["events"]))
    w("sessions opened: %d (peak %d open at once); handshake failures: %d" % (
        s["opened"], s["peak_open"], s["handshake_failures"]))
    if s.get("reconnects") or s.get("drops_reconnected") or s.get("reconnect_failures"):
        w("reconnects: %d reopens of %d connections by the reconnect policy; %d of the drops below were "
          "followed by a reconnect attempt; %d attempts failed (counted as handshake failures) — each "
          "reopened session had dropped first: the drops are counted as drops" % (
              s["reconnects"], s["reconnected_conns"], s["drops_reconnected"], s["reconnect_failures"]))
    if s["closes"]:
        w("closes: %d — %s" % (s["closes"], ", ".join("%s ×%d" % (k, v) for k, v in
                                                      sorted(s["closes_by_code_cause"].items(), key=lambda kv: -kv[1]))))
    else:
        w("closes: none")
    if s["drops"]:
        w("drops (not asked for by the client): %d — %s" % (
            s["drops"], ", ".join("%s ×%d" % (k, v) for k, v in sorted(s["drops_by_code_cause"].items()))))
        w("drops began at %.1f s with %s sessions open" % (s["first_drop_at_s"], s["open_at_first_drop"]))
        st = s["silence_at_drop_s"]
        if st:
            w("client silence at drop (since the last client frame, or the upgrade): min %s  p10 %s  median %s  p90 %s  max %s s" % (
                fmt_s(st["min"]), fmt_s(st["p10"]), fmt_s(st["p50"]), fmt_s(st["p90"]), fmt_s(st["max"])))
        ot = s["open_at_drop"]
        if ot:
            w("open sessions at drop: min %d  median %d  max %d" % (ot["min"], ot["p50"], ot["max"]))
        w("")
        w(format_drop_table(s["drop_table"]))
    else:
        w("drops: none")
    w("")
    w("verdict:")
    for v in s["verdict"]:
        w("  - " + v)
    if s.get("groups"):
        w("")
        w(format_groups(s["groups"]))
    return "\n".join(lines)


def format_groups(groups):
    """Each group's code, count, time span, side, and the evidence behind it."""
    out = []
    for g in groups:
        span = "" if g["from_s"] is None else " at %.1f – %.1f s" % (g["from_s"], g["to_s"])
        out.append("%s (%s side): %d%s" % (g["code"], g["side"], g["count"], span))
        for e in g["evidence"]:
            out.append("    evidence: " + e)
        for r in g["rules_out"]:
            out.append("    rules out: " + r)
        out.append("    would confirm: " + g["confirm"])
    return "\n".join(out)


def format_drop_table(rows):
    out = ["  %-15s %6s  %-26s %s" % ("when (s)", "drops", "client silence at drop (s)", "open at drop")]
    for r in rows:
        sil = "%s – %s" % (fmt_s(r["silence_min_s"]), fmt_s(r["silence_max_s"]))
        opn = "-" if r["open_min"] is None else ("%d" % r["open_min"] if r["open_min"] == r["open_max"]
                                                 else "%d – %d" % (r["open_min"], r["open_max"]))
        out.append("  %-15s %6d  %-26s %s" % ("%g – %g" % (round(r["from_s"], 3), round(r["to_s"], 3)),
                                              r["drops"], sil, opn))
    return "\n".join(out)


# ---- HTML -------------------------------------------------------------------------------------

def svg_chart(s, width=900, height=320, marks=()):
    """Open connections over time (a step line) and each drop (a red mark at its time and the open
    count the daemon saw). marks: [(t_s, label)] drawn as dashed vertical lines (e.g. phases)."""
    ml, mr, mt, mb = 56, 16, 34, 40
    pw, ph = width - ml - mr, height - mt - mb
    tl = s["timeline"]
    tmax = max([s["span_s"], 1e-3] + [t for t, _ in tl])
    ymax = max([s["peak_open"], 1] + [d["open_conns"] or 0 for d in s["drop_list"]])
    ystep = _nice_step(ymax, 5)
    ymax = math.ceil(ymax / ystep) * ystep
    tstep = _nice_step(tmax, 8)
    x = lambda t: ml + pw * (t / tmax)  # noqa: E731
    y = lambda v: mt + ph * (1 - v / float(ymax))  # noqa: E731
    e = []
    e.append('<svg xmlns="http://www.w3.org/2000/svg" id="chart" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="open connections and drops over time">' % (width, height, width, height))
    e.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#fbfbfb" stroke="#ccc"/>' % (ml, mt, pw, ph))
    v = 0.0
    while v <= ymax + 1e-9:
        e.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e4e4e4"/>' % (ml, ml + pw, y(v), y(v)))
        e.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%g</text>' % (ml - 6, y(v) + 4, v))
        v += ystep
    t = 0.0
    while t <= tmax + 1e-9:
        e.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%g</text>' % (x(t), mt + ph + 15, round(t, 3)))
        t += tstep
    e.append('<text x="%d" y="%d" font-size="12" text-anchor="middle">time (s%s)</text>'
             % (ml + pw / 2, height - 6, "" if s["time_scale"] == 1 else ", model"))
    e.append('<text x="14" y="%d" font-size="12" transform="rotate(-90 14 %d)" text-anchor="middle">open connections</text>'
             % (mt + ph / 2, mt + ph / 2))
    for mt_s, label in marks:
        e.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#888" stroke-dasharray="4 3"/>'
                 % (x(mt_s), x(mt_s), mt, mt + ph))
        e.append('<text x="%.1f" y="%d" font-size="11" fill="#555">%s</text>' % (x(mt_s) + 3, mt + 12, html.escape(label)))
    if tl:
        pts = []
        prev = 0
        for t, n in tl:
            pts.append("%.1f,%.1f" % (x(t), y(prev)))
            pts.append("%.1f,%.1f" % (x(t), y(n)))
            prev = n
        pts.append("%.1f,%.1f" % (x(tmax), y(prev)))
        e.append('<polyline class="open-line" fill="none" stroke="#2a6fdb" stroke-width="1.5" points="%s"/>' % " ".join(pts))
    for d in s["drop_list"]:
        yy = y(d["open_conns"]) if d["open_conns"] is not None else mt + ph
        title = "%s %s at %.1f s, %s s after the last client frame, %s open" % (
            d["code"], d["cause"], d["at_s"], fmt_s(d["silence_s"]), d["open_conns"])
        e.append('<circle class="drop" cx="%.1f" cy="%.1f" r="3" fill="#d62728" fill-opacity="0.7">'
                 '<title>%s</title></circle>' % (x(d["at_s"]), yy, html.escape(title)))
    for f in s["failure_list"]:
        e.append('<path class="failure" d="M%.1f %.1f l6 6 m0 -6 l-6 6" stroke="#ff7f0e" stroke-width="1.5"/>'
                 % (x(f["at_s"]) - 3, mt + ph - 9))
    e.append('<g font-size="11"><line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#2a6fdb" stroke-width="1.5"/>'
             '<text x="%d" y="%d">open connections</text>'
             '<circle cx="%d" cy="%d" r="3" fill="#d62728"/><text x="%d" y="%d">drop (at the open count the daemon saw)</text></g>'
             % (ml, ml + 20, 14, 14, ml + 24, 18, ml + 160, 14, ml + 168, 18))
    e.append("</svg>")
    return "\n".join(e)


def to_html(s, title="wsfleet report", marks=(), extra_html=""):
    esc = html.escape
    rows = "".join("<tr><td>%s</td><td>%d</td></tr>" % (esc(k), v)
                   for k, v in sorted(s["closes_by_code_cause"].items(), key=lambda kv: -kv[1]))
    def span(a, b, f=str):
        return "-" if a is None else (f(a) if a == b else "%s – %s" % (f(a), f(b)))
    drop_rows = "".join(
        "<tr><td>%g – %g</td><td>%d</td><td>%s</td><td>%s</td></tr>" % (
            round(r["from_s"], 3), round(r["to_s"], 3), r["drops"],
            span(r["silence_min_s"], r["silence_max_s"], fmt_s), span(r["open_min"], r["open_max"]))
        for r in s["drop_table"])
    st = s["silence_at_drop_s"]
    sil = ("min %s, median %s, p90 %s, max %s s" % (fmt_s(st["min"]), fmt_s(st["p50"]), fmt_s(st["p90"]),
                                                  fmt_s(st["max"]))) if st else "–"
    scale_note = "" if s["time_scale"] == 1 else (
        "<p class=note>Time-scaled run: durations are divided by %g (model seconds).</p>" % s["time_scale"])
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%(title)s</title>
<style>body{font:14px/1.45 system-ui,sans-serif;max-width:960px;margin:24px auto;padding:0 12px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
.verdict{background:#fff7e0;border-left:4px solid #e0a800;padding:8px 12px}.note{color:#666}</style></head>
<body><h1>%(title)s</h1>%(scale_note)s
<div class="verdict" id="verdict"><b>Verdict</b><ul>%(verdict)s</ul></div>
%(groups)s
<p>Sessions opened: <b>%(opened)d</b> (peak %(peak)d open at once) · handshake failures: %(failures)d ·
closes: %(closes)d · drops: <b>%(drops)d</b>%(first)s%(reconnects)s</p>
<p>Client silence at drop (time since the last client frame): %(sil)s</p>
%(chart)s
<h2>Closes by code and cause</h2><table><tr><th>code cause</th><th>count</th></tr>%(rows)s</table>
%(drop_section)s
%(extra)s
</body></html>
""" % {
        "title": esc(title), "scale_note": scale_note,
        "verdict": "".join("<li>%s</li>" % esc(v) for v in s["verdict"]),
        "groups": _html_groups(s.get("groups") or []),
        "opened": s["opened"], "peak": s["peak_open"], "failures": s["handshake_failures"],
        "closes": s["closes"], "drops": s["drops"],
        "first": (" · drops began at %.1f s with %s open" % (s["first_drop_at_s"], s["open_at_first_drop"]))
        if s["drops"] else "",
        "reconnects": (" · reopened by the reconnect policy: <b id=\"reconnects\">%d</b> (after %d of the drops; "
                       "%d attempts failed)" % (s["reconnects"], s["drops_reconnected"], s["reconnect_failures"]))
        if s.get("reconnects") or s.get("drops_reconnected") else "",
        "sil": sil, "chart": svg_chart(s, marks=marks), "rows": rows or "<tr><td>none</td><td>0</td></tr>",
        "drop_section": ("<h2>Drops over time</h2><table><tr><th>when (s)</th><th>drops</th>"
                         "<th>client silence at drop (s)</th><th>open at drop</th></tr>%s</table>" % drop_rows)
        if drop_rows else "",
        "extra": extra_html,
    }


def _html_groups(groups):
    """One row per group: code, side, count, span, and the evidence behind it."""
    if not groups:
        return ""
    esc = html.escape
    rows = "".join(
        '<tr class="group" data-code="%s"><td><code>%s</code></td><td>%s</td><td>%d</td><td>%s</td><td>%s</td></tr>' % (
            esc(g["code"]), esc(g["code"]), esc(g["side"]), g["count"],
            "-" if g["from_s"] is None else "%.1f – %.1f s" % (g["from_s"], g["to_s"]),
            "<br>".join(esc(e) for e in g["evidence"] + ["rules out: " + r for r in g["rules_out"]]
                        + ["would confirm: " + g["confirm"]]))
        for g in groups)
    return ("<table id=\"groups\"><tr><th>verdict code</th><th>side</th><th>count</th><th>when</th>"
            "<th>evidence</th></tr>%s</table>" % rows)


def public(s):
    """The summary without internal lists that only the chart needs."""
    out = {k: v for k, v in s.items() if k not in ("timeline", "close_list", "open_list", "groups")}
    out["groups"] = [verdicts.public_group(g) for g in s["groups"]]
    out["verdict_codes"] = verdict_codes(s)
    return out


# ---- command line -----------------------------------------------------------------------------

EXIT_OK, EXIT_FILE, EXIT_USAGE, EXIT_VERDICT = 0, 1, 2, 4


def parser(prog="wsfleet report"):
    ap = argparse.ArgumentParser(prog=prog, description="Summarise a wsfleetd event log and name why sessions ended.",
                                 epilog="Exit status: 0, 1 the log cannot be read, 2 usage, 4 a --fail-on verdict was found.")
    ap.add_argument("events", metavar="EVENTS.jsonl", help="the daemon's --events file (it may still be growing)")
    ap.add_argument("--html", metavar="FILE", help="also write a one-page HTML report with a chart")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON (groups with verdict codes)")
    ap.add_argument("--time-scale", type=_positive, default=1.0, metavar="F",
                    help="the log comes from a time-scaled run: durations are divided by F")
    ap.add_argument("--since-ms", type=float, metavar="T", help="keep events with at_ms >= T")
    ap.add_argument("--until-ms", type=float, metavar="T", help="keep events with at_ms < T")
    ap.add_argument("--fail-on", type=_codes, default=(), metavar="CODE,...",
                    help="exit 4 when a group has one of these verdict codes ('any' for any verdict; "
                         "'client', 'server', 'network' for a side)")
    return ap


def _positive(text):
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return v


SIDES = ("client", "server", "network", "unknown")


def _codes(text):
    codes = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in codes if c not in verdicts.CATALOGUE and c not in SIDES and c != "any"]
    if unknown or not codes:
        raise argparse.ArgumentTypeError("unknown verdict code %s (known: %s)" % (
            ", ".join(unknown) or "''", ", ".join(sorted(verdicts.CATALOGUE))))
    return codes


def failing(s, fail_on):
    """The groups of s that --fail-on names."""
    return [g for g in s["groups"] if "any" in fail_on or g["code"] in fail_on or g["side"] in fail_on]


def main(argv, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        a = parser().parse_args(list(argv))
    except SystemExit as e:
        return EXIT_USAGE if e.code else EXIT_OK
    try:
        events, bad = load(a.events)
    except OSError as e:
        err.write("wsfleet report: %s\n" % e)
        return EXIT_FILE
    s = analyze(window(events, a.since_ms, a.until_ms), a.time_scale)
    s["bad_lines"] = bad
    if a.html:
        with open(a.html, "w", encoding="utf-8") as f:
            f.write(to_html(s, title="wsfleet report: %s" % a.events))
    if a.json:
        json.dump(public(s), out, indent=2, sort_keys=True)
        out.write("\n")
    else:
        out.write(format_text(s, title="wsfleet report: %s" % a.events) + "\n")
        if bad:
            out.write("(%d lines were not JSON events and were skipped)\n" % bad)
        if a.html:
            out.write("HTML report: %s\n" % a.html)
    hit = failing(s, a.fail_on)
    if hit:
        err.write("wsfleet report: --fail-on: %s\n" % ", ".join(
            "%s (%d)" % (g["code"], g["count"]) for g in hit))
        return EXIT_VERDICT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
