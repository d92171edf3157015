"""Prometheus metrics on a loopback HTTP port (--metrics, daemon/metrics.c).

The scrape is checked by promtool (the Prometheus project's own checker) and against the `stats`
method of the same daemon, after real connections to python websockets peers have opened, echoed,
closed in several ways and failed.
"""

import http.client
import re
import shutil
import socket
import subprocess
import time

import pytest

from wsf_fixtures import (Daemon, PyServer, RawServer, RpcError, closed_port, daemon_is_sanitized, wait_state,
                          wait_until)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(?:,|$)')
CAUSES = ("server_close", "local_close", "eof", "reset", "tls_alert", "tls_close_notify", "tls_error",
          "pong_timeout", "protocol_error", "message_too_big", "invalid_utf8", "timeout", "shutdown",
          "daemon_reset", "io_error", "handshake_failed", "dns_error", "connect_error", "output_stalled",
          "reply_timeout", "session_failed")


def get(port, path="/metrics", method="GET", host="127.0.0.1"):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def raw(port, data, host="127.0.0.1"):
    """Sends bytes, half-closes, returns everything the server sent until it closed."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def status_of(response):
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


def parse(text):
    """Exposition text → ({(name, ((label, value), ...)): float}, {family: type}). Strict: any line
    that is not a comment or a well-formed sample fails the test."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            types[name] = typ
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "malformed sample line %r" % line
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in samples, "duplicate sample %r" % line
        samples[key] = float(m.group(3))
    return samples, types


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, "no sample %s%r" % (name, labels)
    return samples[key]


def by_label(samples, name, label):
    return {dict(k[1])[label]: v for k, v in samples.items() if k[0] == name}


def buckets(samples, name, **labels):
    """[(le, cumulative count)] in order of le, +Inf last."""
    out = []
    for (n, lab), v in samples.items():
        d = dict(lab)
        le = d.pop("le", None)
        if n == name + "_bucket" and d == labels:
            out.append((float(le), v))
    return sorted(out)


def check_histograms(samples, types):
    """Every histogram series: cumulative buckets that never decrease, +Inf equal to _count."""
    series = {(k[0][:-len("_bucket")], tuple(x for x in k[1] if x[0] != "le"))
              for k in samples if k[0].endswith("_bucket")}
    assert series
    for name, lab in series:
        assert types.get(name) == "histogram", name
        b = buckets(samples, name, **dict(lab))
        counts = [v for _, v in b]
        assert counts == sorted(counts), (name, lab, b)
        assert b[-1][0] == float("inf") and b[-1][1] == value(samples, name + "_count", **dict(lab))
    return series


def promtool(text):
    exe = shutil.which("promtool")
    if not exe:
        pytest.fail("promtool not found (Debian package prometheus)")
    return subprocess.run([exe, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)


def metrics_daemon(*args, addr="127.0.0.1"):
    port = closed_port()
    host = "[%s]" % addr if ":" in addr else addr
    return Daemon("--metrics", "%s:%d" % (host, port), *args), port


def test_scrape_passes_promtool_and_every_counter_equals_the_stats_method():
    d, port = metrics_daemon()
    with d, PyServer("echo") as echo, PyServer("close_after", after=1, close_code=4200, close_reason="bye") as closer:
        c = d.client()
        ka = {"mode": "ping", "interval_ms": 40, "jitter_ms": 10}
        timings = []  # of every open that reached open: the exact samples of the handshake histograms
        for i in range(4):
            timings.append(c.call("open", conn="m%d" % i, url=echo.url + "m%d" % i, keepalive=ka)["timings"])
        assert c.call("open", conn="m0", url=echo.url + "m0")["reused"] is True
        assert c.call("request", conn="m1", data="hello", timeout_ms=3000)
        timings.append(c.call("open", conn="small", url=echo.url + "small", inbox={"max_messages": 1})["timings"])
        for _ in range(3):
            c.call("send", conn="small", data="xyz")
        assert wait_until(lambda: c.call("stats")["inbox_dropped"] == 2, 5)
        timings.append(c.call("open", conn="s5", url=closer.url)["timings"])
        c.call("send", conn="s5", data="bye")
        wait_state(c, "s5", "closed")
        with pytest.raises(RpcError):
            c.call("open", conn="refused", url="ws://127.0.0.1:%d/" % closed_port())
        with RawServer("http_status", status=403) as srv, pytest.raises(RpcError):
            c.call("open", conn="forbidden", url=srv.url)
        assert wait_until(lambda: c.call("stats")["ping_rtt_us"]["count"] >= 8, 5)
        # Stop every heartbeat so that nothing moves between the scrape and `stats`.
        for name, code in (("m0", 1000), ("m1", 1000), ("m2", 4100), ("m3", 4100)):
            c.call("close", conn=name, code=code)
            wait_state(c, name, "closed")

        before = c.call("stats")
        status, headers, body = get(port)
        after = c.call("stats")
        text = body.decode()
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
        uptime = [before.pop("uptime_us"), after.pop("uptime_us")]
        lag = [before.pop("loop_lag_us"), after.pop("loop_lag_us")]  # sampled every 50 ms, quiet or not
        assert before == after, "the daemon was not quiet during the scrape"
        s = after

        checked = promtool(text)
        assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()

        m, types = parse(text)
        check_histograms(m, types)
        assert uptime[0] / 1e6 <= value(m, "wsfleet_uptime_seconds") <= uptime[1] / 1e6
        assert lag[0]["count"] <= value(m, "wsfleet_loop_lag_seconds_count") <= lag[1]["count"]
        assert lag[0]["count"] > 0 and types["wsfleet_loop_lag_seconds"] == "histogram"
        for state in ("connecting", "open", "closing", "closed"):
            assert value(m, "wsfleet_connections", state=state) == s[state], state
        assert (s["open"], s["closed"]) == (1, 7)
        for k in ("opened", "reused", "failed", "closed"):
            assert value(m, "wsfleet_connections_%s_total" % k) == s["%s_total" % k], k
        assert (s["opened_total"], s["reused_total"], s["failed_total"], s["closed_total"]) == (6, 1, 2, 5)

        codes = by_label(m, "wsfleet_closes_by_code_total", "code")
        assert codes == {k: float(v) for k, v in s["closes_by_code"].items()}
        assert codes["1000"] == 2 and codes["4100"] == 2 and codes["4200"] == 1
        causes = by_label(m, "wsfleet_closes_by_cause_total", "cause")
        assert set(causes) == set(CAUSES)  # zeros listed too
        assert {k: v for k, v in causes.items() if v} == {k: float(v) for k, v in s["closes_by_cause"].items()}
        assert causes["local_close"] == 4 and causes["connect_error"] == 1 and causes["handshake_failed"] == 1

        assert value(m, "wsfleet_messages_total", direction="in") == s["msgs_in"]
        assert value(m, "wsfleet_messages_total", direction="out") == s["msgs_out"] == 5
        assert value(m, "wsfleet_message_bytes_total", direction="in") == s["bytes_in"]
        assert value(m, "wsfleet_message_bytes_total", direction="out") == s["bytes_out"] == 5 + 9 + 3
        assert value(m, "wsfleet_inbox_dropped_messages_total") == s["inbox_dropped"] == 2
        assert value(m, "wsfleet_control_clients") == s["control_clients"] == 1
        assert value(m, "wsfleet_heartbeats_sent_total") == s["heartbeats_sent"] >= 8

        for name, summary in (("wsfleet_ping_rtt_seconds", s["ping_rtt_us"]),
                              ("wsfleet_heartbeat_lateness_seconds", s["heartbeat_late_us"])):
            assert value(m, name + "_count") == summary["count"] > 0, name
            # Every sample is at most `max`, so each bucket at or above it holds them all.
            for le, n in buckets(m, name):
                if le >= summary["max"] / 1e6:
                    assert n == summary["count"], (name, le, n)
            assert 0 < value(m, name + "_sum") <= summary["count"] * summary["max"] / 1e6 + 1e-6

        # One sample per phase for each connection that reached open, as its open result reported
        # it: every bucket counts exactly the timings at or below its bound (µs, powers of two).
        assert len(timings) == s["opened_total"]
        for name, labels, key in (("wsfleet_handshake_phase_seconds", {"phase": "dns"}, "dns_us"),
                                  ("wsfleet_handshake_phase_seconds", {"phase": "connect"}, "connect_us"),
                                  ("wsfleet_handshake_phase_seconds", {"phase": "upgrade"}, "upgrade_us"),
                                  ("wsfleet_handshake_seconds", {}, "total_us")):
            us = [t[key] for t in timings]
            b = buckets(m, name, **labels)
            assert len(b) > 20 and b[0][0] <= 16e-6 and b[-2][0] >= 1800, "bucket bounds span 16 µs .. 30 min"
            for le, n in b:
                assert n == len([u for u in us if u <= le * 1e6 + 0.5]), (name, labels, le)
            assert value(m, name + "_count", **labels) == len(us)
            assert abs(value(m, name + "_sum", **labels) - sum(us) / 1e6) < 1e-9, (name, labels)
        assert all(t["tls_us"] == 0 for t in timings)
        assert value(m, "wsfleet_handshake_phase_seconds_count", phase="tls") == 0  # ws:// only


def test_only_get_and_head_of_slash_metrics_are_served():
    d, port = metrics_daemon()
    with d:
        assert get(port, "/")[0] == 404
        assert get(port, "/metricsx")[0] == 404
        assert get(port, "/metrics/")[0] == 404
        assert get(port, "/metrics?name[]=x")[0] == 200  # Prometheus may add query parameters
        status, headers, _ = get(port, method="POST")
        assert status == 405 and headers["allow"] == "GET, HEAD"
        assert get(port, method="DELETE")[0] == 405
        status, headers, body = get(port, method="HEAD")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
        assert headers["connection"] == "close"
        assert d.alive()


def test_garbage_oversized_and_unfinished_requests_get_errors_and_the_daemon_keeps_serving():
    d, port = metrics_daemon()
    with d:
        assert status_of(raw(port, b"\x00\xff\x16\x03\x01 not http\r\n\r\n")) == 400
        assert status_of(raw(port, bytes(range(256)) * 20)) == 400
        assert status_of(raw(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")) == 431
        assert status_of(raw(port, b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 3000)) == 431
        assert status_of(raw(port, b"GET /" + b"m" * 6000 + b" HTTP/1.1\r\n\r\n")) == 404
        # A body the server never reads does not cost the client its response.
        assert status_of(raw(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 200000\r\n\r\n" + b"x" * 200000)) == 405
        assert raw(port, b"GET /metr") == b""  # the client gave up half way: nothing to answer
        assert status_of(raw(port, b"GET /metrics HTTP/1.0\r\n\r\n")) == 200
        assert d.alive() and get(port)[0] == 200


def test_metrics_clients_are_bounded_and_idle_ones_are_dropped_after_ten_seconds():
    d, port = metrics_daemon()
    with d:
        idle = []
        try:
            for _ in range(64):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=15))
            idle[0].sendall(b"GET /met")  # an unfinished request holds its slot too
            time.sleep(0.3)
            # Over the bound a client is told at once, before it sends anything, and let go.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
                answer = extra.recv(200)
                assert status_of(answer) == 503 and extra.recv(100) == b"", answer
            # A scraper sends its request at once, before the daemon accepts: it still gets the 503
            # (before: the daemon closed with the request unread, and the scraper saw a reset).
            for _ in range(20):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as scraper:
                    scraper.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    time.sleep(0.02)
                    answer = b""
                    while True:
                        chunk = scraper.recv(4096)  # ConnectionResetError here was the bug
                        if not chunk:
                            break
                        answer += chunk
                    assert status_of(answer) == 503, answer
            assert d.client().call("stats")["open"] == 0  # the control socket is not affected
            started = time.monotonic()
            for s in idle:
                assert s.recv(100) == b""  # closed by the daemon without an answer
            assert 9 <= time.monotonic() - started <= 13
        finally:
            for s in idle:
                s.close()
        assert get(port)[0] == 200


@pytest.mark.parametrize("addr", ["0.0.0.0", "192.0.2.1", "[::]", "localhost"])
def test_a_metrics_address_that_is_not_a_loopback_address_stops_the_daemon_at_start(addr):
    with pytest.raises(RuntimeError) as e:
        with Daemon("--metrics", "%s:%d" % (addr, closed_port())):
            pass
    assert "wsfleetd exited with 1 at start" in str(e.value)
    assert "--metrics" in str(e.value) and "loopback" in str(e.value)


def test_a_metrics_port_already_in_use_stops_the_daemon_at_start():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError) as e:
            with Daemon("--metrics", "127.0.0.1:%d" % busy.getsockname()[1]):
                pass
    assert "cannot listen" in str(e.value) and "address already in use" in str(e.value)


def test_metrics_are_served_on_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    d, port = metrics_daemon(addr="::1")
    with d:
        status, _, body = get(port, host="::1")
        assert status == 200 and b"wsfleet_connections{state=\"open\"} 0" in body


def test_under_valgrind_scrapes_garbage_and_a_shutdown_with_clients_attached_leave_no_errors_or_leaks():
    if daemon_is_sanitized():
        pytest.skip("valgrind cannot run an ASan build; the plain build runs this test")
    valgrind = shutil.which("valgrind")
    if not valgrind:
        pytest.fail("valgrind not found (Debian package valgrind)")
    port = closed_port()
    with Daemon("--metrics", "127.0.0.1:%d" % port, start_timeout=60,
                wrapper=[valgrind, "-q", "--error-exitcode=99", "--leak-check=full",
                         "--errors-for-leak-kinds=definite,indirect"]) as d:
        assert get(port)[0] == 200
        assert status_of(raw(port, bytes(range(256)) * 4)) == 400
        assert status_of(raw(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")) == 431
        attached = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        try:
            attached[1].sendall(b"GET /metr")                          # unfinished request
            attached[2].sendall(b"GET /metrics HTTP/1.1\r\n\r\n")      # answered, never read
            assert wait_until(lambda: attached[2].recv(15, socket.MSG_PEEK) == b"HTTP/1.1 200 OK", 10)
            assert d.stop(timeout=60) == 0, d.log()[-3000:]
        finally:
            for s in attached:
                s.close()
