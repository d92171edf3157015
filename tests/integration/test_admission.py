"""Connection admission (--max-handshakes, --connect-rate) and 1,000 concurrent wss:// connections.

The peer measures what the daemon promises: a python3-websockets server whose upgrade handler
holds each handshake open for a while and counts how many are in progress at once, and when each
one arrived.
"""

import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time

import pytest

from certs import make_certs
from wsf_fixtures import Daemon

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mockgw"))
from mockgw_runner import MockGw  # noqa: E402

import websockets  # noqa: E402


class SlowUpgradeServer:
    """Answers every upgrade after `hold` seconds; records arrivals and peak concurrency."""

    def __init__(self, hold):
        self.hold = hold
        self.in_flight = self.peak = 0
        self.arrivals = []
        self._ready = threading.Event()

    async def _process_request(self, path, headers):
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.hold)
        self.in_flight -= 1
        return None  # go on with the upgrade

    async def _handler(self, ws, path=None):
        async for _ in ws:
            pass

    async def _main(self):
        self._stop = asyncio.Event()
        async with websockets.serve(self._handler, "127.0.0.1", 0, process_request=self._process_request,
                                    compression=None, ping_interval=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        self.url = "ws://127.0.0.1:%d/" % self.port
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def open_all(ctl, url, names, **params):
    ids = ctl.send_many([("open", dict(conn=n, url=url, **params)) for n in names])
    results = []
    for msgid in ids:
        error, result = ctl.wait_response(msgid, timeout=60)
        assert error is None, error
        results.append(result)
    return results


def test_max_handshakes_caps_handshakes_in_flight_and_reports_queueing():
    with SlowUpgradeServer(hold=0.2) as srv, Daemon("--max-handshakes", "4") as d:
        ctl = d.client()
        t0 = time.monotonic()
        results = open_all(ctl, srv.url, ["h%d" % i for i in range(16)])
        took = time.monotonic() - t0
    assert srv.peak == 4, srv.peak  # never more than 4 at once, and the cap was used
    assert took >= 4 * 0.2 - 0.05, took  # 16 handshakes, 4 at a time, 0.2 s each
    queued = sorted(r["timings"]["queued_us"] for r in results)
    assert queued[3] < 100_000 and queued[-1] >= 500_000, queued  # the last ones waited ~3 rounds
    assert all(r["timings"]["total_us"] >= r["timings"]["queued_us"] + 190_000 for r in results)


def test_connect_rate_spreads_a_burst_of_opens():
    with SlowUpgradeServer(hold=0) as srv, Daemon("--connect-rate", "40") as d:
        ctl = d.client()
        results = open_all(ctl, srv.url, ["r%d" % i for i in range(40)])
    arrivals = sorted(srv.arrivals)
    span = arrivals[-1] - arrivals[0]
    # 40 opens at 40/s with a burst of 4: about (40 - 4) / 40 = 0.9 s from the first to the last.
    assert span >= 0.8, span
    # No second holds more than a second's rate plus the burst.
    for a in arrivals:
        assert sum(1 for b in arrivals if a <= b < a + 1.0) <= 40 + 4
    assert max(r["timings"]["queued_us"] for r in results) >= 700_000


def test_without_limits_a_burst_is_not_queued():
    with SlowUpgradeServer(hold=0.2) as srv, Daemon() as d:
        results = open_all(d.client(), srv.url, ["f%d" % i for i in range(16)])
    assert srv.peak >= 8, srv.peak  # all at once (a loaded machine may stagger a few)
    assert max(r["timings"]["queued_us"] for r in results) < 100_000


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="wsf-certs-")
    try:
        yield make_certs(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_a_thousand_concurrent_wss_connections(certs):
    with MockGw("--tls", certs.path("server.pem"), certs.path("server.key"), "--echo") as gw, \
            Daemon("--tls-ca-file", certs.path("ca.pem")) as d:
        ctl = d.client()
        url = "wss://localhost:%d/" % gw.port
        results = open_all(ctl, url, ["s%d" % i for i in range(1000)])
        assert all(r["tls"]["verified"] and r["timings"]["tls_us"] > 0 for r in results)
        stats = ctl.call("stats")
        assert stats["open"] == 1000 and stats["opened_total"] == 1000
        ids = ctl.send_many([("request", {"conn": "s%d" % i, "data": "m%d" % i, "timeout_ms": 10000})
                             for i in range(0, 1000, 10)])
        for i, msgid in zip(range(0, 1000, 10), ids):
            error, result = ctl.wait_response(msgid, timeout=30)
            assert error is None and result["data"] == "m%d" % i
        ids = ctl.send_many([("close", {"conn": "s%d" % i}) for i in range(1000)])
        for msgid in ids:
            error, result = ctl.wait_response(msgid, timeout=30)
            assert error is None and result["clean"], (error, result)
        stats = ctl.call("stats")
        assert stats["open"] == 0 and stats["closed_total"] == 1000
