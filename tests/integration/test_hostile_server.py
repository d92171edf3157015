"""A hostile server cannot bloat the daemon (issue 14): one output cap per connection covering every
frame, pongs coalesced, heartbeats skipped while output waits, reading paused over the cap and the
connection ended (cause output_stalled) if it stays there; fragments charged against
max_message_bytes. Each test measures the daemon's RSS (VmRSS) before and after the attack and
asserts it grew by less than the configured limit plus RSS_SLACK, and that a healthy connection
beside the hostile one keeps round-tripping.

Figures before these fixes: 32 MB of pings grew the daemon by ~+80 MB (one queued pong per ping);
heartbeats toward a server that does not read, +320 MB in 5 s; 50 MB of 1-byte fragments, 1.5 GB."""

import asyncio
import os
import threading
import time

import pytest

from wsf_fixtures import daemon_is_sanitized, PYTHON, SERVERS_DIR, Daemon, PyServer, RpcError, _Peer, wait_state, wait_until

# What RSS may grow by beyond the configured limits: allocator slack, the read buffer, libuv.
RSS_SLACK_KB = 12 * 1024
MAX_OUTPUT = 1 << 20

def assert_rss_growth(rss0, rss1, limit_kb):
    """RSS grew by less than limit_kb. Not under ASan, whose quarantine keeps freed memory resident."""
    if not daemon_is_sanitized():
        assert rss1 - rss0 < limit_kb, (rss0, rss1, limit_kb)



class HostileServer(_Peer):
    def __init__(self, mode, *args, **opts):
        super().__init__([PYTHON, os.path.join(SERVERS_DIR, "hostile_peer.py"), "--mode", mode]
                         + self.flags(args, opts))


def round_trip(ctl, conn, text, timeout_s=5.0):
    t0 = time.monotonic()
    ctl.call("send", conn=conn, data=text)
    got = ctl.call("recv", conn=conn, timeout_ms=int(timeout_s * 1000))
    assert got["data"] == text
    return time.monotonic() - t0


@pytest.fixture
def echo():
    with PyServer("echo") as srv:
        yield srv


def test_ping_flood_from_a_server_that_never_reads_gets_coalesced_pongs(echo):
    with HostileServer("ping_flood", bytes=32 << 20) as bad, \
            Daemon("--max-output-bytes", MAX_OUTPUT) as d:
        ctl = d.client(timeout=60)
        ctl.call("open", conn="ok", url=echo.url)
        round_trip(ctl, "ok", "warm up")
        rss0 = d.rss_kb()
        ctl.call("open", conn="bad", url=bad.url)
        deadline = time.monotonic() + 60
        n = 0
        while not bad.records("sent") and time.monotonic() < deadline:
            assert round_trip(ctl, "ok", "beside the flood %d" % n) < 2.0
            n += 1
            time.sleep(0.05)
        assert bad.records("sent"), "the daemon stopped taking the pings: %r" % ctl.call("status", conn="bad")
        rss1 = d.rss_kb()
        stats = ctl.call("stats")
        status = ctl.call("status", conn="bad")
    assert_rss_growth(rss0, rss1, MAX_OUTPUT // 1024 + RSS_SLACK_KB)
    assert stats["output"]["pongs_coalesced"] > 1_000_000, stats["output"]
    assert status["state"] == "open", status


def test_heartbeats_toward_a_server_that_never_reads_are_skipped(echo):
    beat = "h" * 32768
    with HostileServer("never_read") as bad, Daemon("--max-output-bytes", MAX_OUTPUT) as d:
        ctl = d.client(timeout=30)
        ctl.call("open", conn="ok", url=echo.url)
        round_trip(ctl, "ok", "warm up")
        rss0 = d.rss_kb()
        ctl.call("open", conn="bad", url=bad.url,
                 keepalive={"mode": "text", "interval_ms": 1, "jitter_ms": 0, "payload": beat})
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:  # 3 s of 32 KiB beats every ms: ~96 MB if they queued
            assert round_trip(ctl, "ok", "beside the beats") < 2.0
            time.sleep(0.1)
        rss1 = d.rss_kb()
        status = ctl.call("status", conn="bad")
        stats = ctl.call("stats")
    assert_rss_growth(rss0, rss1, RSS_SLACK_KB)
    assert status["keepalive"]["skipped"] > 100, status["keepalive"]
    assert stats["output"]["heartbeats_skipped"] >= status["keepalive"]["skipped"]
    assert status["state"] == "open", status


def test_output_over_the_cap_pauses_reading_then_ends_with_output_stalled(echo):
    big = "s" * (512 * 1024)
    with HostileServer("never_read") as bad, \
            Daemon("--max-output-bytes", MAX_OUTPUT, "--output-stall-ms", 1500) as d:
        ctl = d.client(timeout=30)
        ctl.call("open", conn="ok", url=echo.url)
        ctl.call("open", conn="bad", url=bad.url)
        rss0 = d.rss_kb()
        refused = None
        for _ in range(64):  # 32 MB if nothing refused them
            try:
                ctl.call("send", conn="bad", data=big)
            except RpcError as e:
                refused = e
                break
        assert refused is not None and refused.code == "limit_exceeded", refused
        assert refused.details.get("limit") == "max_output_bytes", refused.as_dict()
        rss1 = d.rss_kb()
        assert ctl.call("stats")["output"]["reads_paused"] == 1
        rec = wait_state(ctl, "bad", "closed", timeout=10)["record"]
        assert round_trip(ctl, "ok", "still fine") < 2.0
    assert_rss_growth(rss0, rss1, MAX_OUTPUT // 1024 + 2 * len(big) // 1024 + RSS_SLACK_KB)
    assert (rec["code"], rec["initiator"], rec["cause"]) == (1006, "client", "output_stalled"), rec
    assert "max_output_bytes %d" % MAX_OUTPUT in rec["detail"], rec


def test_tiny_fragments_are_charged_and_end_with_1009(echo):
    max_msg = 4 << 20
    with HostileServer("tiny_fragments", frames=2_000_000) as bad, \
            Daemon("--max-message-bytes", max_msg) as d:
        ctl = d.client(timeout=60)
        ctl.call("open", conn="ok", url=echo.url)
        round_trip(ctl, "ok", "warm up")
        rss0 = d.rss_kb()
        try:
            ctl.call("open", conn="bad", url=bad.url)
        except RpcError as e:
            assert e.code == "conn_closed", e
        rec = wait_state(ctl, "bad", "closed", timeout=30)["record"]
        rss1 = d.rss_kb()
        assert round_trip(ctl, "ok", "beside the fragments") < 2.0
    # 2,000,000 1-byte fragments held ~190 MB in wslay; charged 128 bytes each, the message ends
    # after ~32,000 of them.
    assert (rec["code"], rec["initiator"], rec["cause"]) == (1009, "client", "message_too_big"), rec
    assert "fragmented message over max_message_bytes" in rec["detail"], rec
    assert_rss_growth(rss0, rss1, max_msg // 1024 + RSS_SLACK_KB)


class DeflateGreeter:
    """python3-websockets with permessage-deflate: sends each client one highly compressible message
    of `size` bytes (a few KB on the wire) right after the upgrade, then reads."""

    def __init__(self, size):
        self.size = size
        self._ready = threading.Event()

    async def _handler(self, ws, path=None):
        await ws.send("z" * self.size)
        async for _ in ws:
            pass

    async def _main(self):
        import websockets
        self._stop = asyncio.Event()
        async with websockets.serve(self._handler, "127.0.0.1", 0, max_size=None, ping_interval=None) as server:
            self.url = "ws://127.0.0.1:%d/" % server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def test_inbox_bound_includes_the_newest_message_under_deflate():
    n, size, inbox_max = 20, 8 << 20, 1 << 20
    with DeflateGreeter(size) as srv, Daemon("--inbox-max-bytes", inbox_max) as d:
        ctl = d.client(timeout=60)
        rss0 = d.rss_kb()
        for i in range(n):
            ctl.call("open", conn="z%d" % i, url=srv.url, deflate={})
        assert wait_until(lambda: ctl.call("stats")["msgs_in"] == n, 30), ctl.call("stats")
        time.sleep(1.2)  # past the daemon's once-a-second malloc_trim
        ctl.call("open", conn="trim", url=srv.url, deflate={})
        rss1 = d.rss_kb()
        st = ctl.call("status", conn="z0")
        stats = ctl.call("stats")
    # Before: each inbox kept its newest message whatever its size: 20 x 8 MiB.
    assert st["inbox"] == {"messages": 0, "bytes": 0, "dropped": 1}, st["inbox"]
    assert stats["inbox_dropped"] >= n
    assert_rss_growth(rss0, rss1, inbox_max // 1024 * n // 8 + RSS_SLACK_KB)
