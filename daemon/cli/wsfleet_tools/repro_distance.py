"""The reproduction at a distance (`wsfleet repro --rtt 180ms [--jitter 10ms] [--loss 1%]`): the
link's options, and what a phase's records show of the distance. No processes and no I/O here:
repro_runner puts the gateway behind the link (distance.FarLink), this module reads the figures.

The round trip is physical time: the time scale shortens the model's timeouts and think times,
never the link, so at the default scale 0.1 an RTT of 180 ms is 1.8 model seconds. Every figure
here is in real milliseconds, as measured by the daemon.
"""

from . import netdelay


def link_settings(rtt, jitter, loss, seed):
    """The link of --rtt/--jitter/--loss (strings as typed), or None when none was given.
    Raises ValueError with words for a bad value."""
    if rtt is None and jitter is None and loss is None:
        return None
    rtt_ms = netdelay.parse_duration_ms(rtt) if rtt is not None else 0.0
    jitter_ms = netdelay.parse_duration_ms(jitter) if jitter is not None else 0.0
    if jitter_ms > rtt_ms:
        raise ValueError("--jitter (%g ms) must not exceed --rtt (%g ms)" % (jitter_ms, rtt_ms))
    if rtt_ms > 10000:
        raise ValueError("--rtt above 10 s is not a region's distance")
    return {"rtt_ms": rtt_ms, "jitter_ms": jitter_ms, "loss": netdelay.parse_fraction(loss) if loss else 0.0,
            "seed": seed}


def _quantiles(values):
    v = sorted(x for x in values if isinstance(x, (int, float)))
    if not v:
        return None
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return {"count": len(v), "min": v[0], "p50": pick(0.5), "p90": pick(0.9), "max": v[-1]}


def _ms(q):
    return None if q is None else {k: (round(x / 1000.0, 1) if k != "count" else x) for k, x in q.items()}


def phase_figures(events, driver_ping_rtts_us, stats):
    """The distance as one phase saw it: handshake phases from its `open` events (connect = TCP
    SYN to SYN-ACK, one round trip; upgrade = HTTP request to 101, one round trip; total from the
    request), the thread ping samplers' round trips, the daemon's ping_rtt_us histogram (pings of
    the samplers and of the keepalive), and the pong timeouts among the closes. Milliseconds."""
    timings = [e.get("timings") for e in events if e.get("event") == "open" and isinstance(e.get("timings"), dict)]
    pong_timeouts = sum(1 for e in events if e.get("event") == "close" and isinstance(e.get("record"), dict)
                        and e["record"].get("cause") == "pong_timeout")
    hist = (stats or {}).get("ping_rtt_us") or {}
    return {
        "connect_ms": _ms(_quantiles(t.get("connect_us") for t in timings)),
        "upgrade_ms": _ms(_quantiles(t.get("upgrade_us") for t in timings)),
        "total_ms": _ms(_quantiles(t.get("total_us") for t in timings)),
        "sampler_ping_rtt_ms": _ms(_quantiles(driver_ping_rtts_us)),
        "daemon_ping_rtt_ms": ({k: (round(v / 1000.0, 1) if k != "count" else v) for k, v in hist.items()}
                               if hist.get("count") else None),
        "pong_timeouts": pong_timeouts,
    }


def link_words(link):
    words = "RTT %g ms" % link["rtt_ms"]
    if link["jitter_ms"]:
        words += " ± %g ms" % link["jitter_ms"]
    if link["loss"]:
        words += ", loss %g %% per packet each way" % (link["loss"] * 100)
    return words
