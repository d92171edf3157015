"""Graceful shutdown with a full house (PROTOCOL.md 7 cause `shutdown`, 10 event log; README "The daemon"):
SIGTERM with 5,000 connections open to the mock gateway sends each a 1001 close frame, waits a
bounded time for the answers, answers every waiting request, writes a close event per connection
and a complete `stop` line, and exits 0."""

import json
import os
import signal
import struct
import sys
import time

from test_fault_server import ScriptedServer, read_request, response_101
from wsf_fixtures import Daemon, RawServer, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))
from mockgw_runner import MockGw  # noqa: E402

N = 5000
SHUTDOWN_TIMEOUT_MS = 3000


def open_many(ctl, names, url_of, batch=500):
    for i in range(0, len(names), batch):
        ids = ctl.send_many([("open", {"conn": n, "url": url_of(n)}) for n in names[i:i + batch]])
        for msgid in ids:
            err, res = ctl.wait_response(msgid, 30)
            assert err is None and res["status"] == 101, err


def _never_answers_the_upgrade(sock, srv):
    read_request(sock)
    srv.go.wait(30)


def _upgrades_then_ignores_everything(sock, srv):
    _, headers, _ = read_request(sock)
    sock.sendall(response_101(headers))
    srv.go.wait(30)  # never reads, never answers the close frame, never closes


def test_sigterm_with_five_thousand_connections_closes_each_with_1001_and_exits_0():
    with MockGw("--echo", "--quiet") as gw, RawServer("silent") as recorder, \
            ScriptedServer(_never_answers_the_upgrade) as mute, \
            ScriptedServer(_upgrades_then_ignores_everything) as deaf, \
            Daemon("--shutdown-timeout-ms", SHUTDOWN_TIMEOUT_MS) as d:
        ctl = d.client(timeout=60)
        names = ["gw-%04d" % i for i in range(N)]
        t0 = time.monotonic()
        open_many(ctl, names, lambda n: gw.url + n)
        opened_s = time.monotonic() - t0
        ctl.call("open", conn="recorder", url=recorder.url)  # shows the close frame on the wire
        ctl.call("open", conn="deaf", url=deaf.url)          # never answers the close frame
        assert ctl.call("request", conn=names[-1], data="alive", timeout_ms=5000)["data"] == "alive"
        assert gw.stats()["open"] == N
        s = ctl.call("stats")
        assert (s["open"], s["opened_total"]) == (N + 2, N + 2)

        # Left waiting at SIGTERM: a recv, and an open whose server never answers the upgrade.
        waiting_recv = ctl.send("recv", {"conn": names[0], "timeout_ms": 30000})
        pending_open = ctl.send("open", {"conn": "connecting", "url": mute.url, "connect_timeout_ms": 30000})
        assert wait_until(lambda: mute.socks, 5)
        late = d.client(timeout=10)

        t_term = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        # Requests that would start something new are refused while the daemon drains.
        assert wait_until(lambda: "signal 15" in d.log(), 5), d.log()[-2000:]
        err, _ = late.wait_response(late.send("open", {"conn": "too-late", "url": gw.url}), 10)
        assert err is not None and err["code"] == "shutting_down", err

        err, res = ctl.wait_response(waiting_recv, 10)
        assert res is None and err["code"] == "conn_closed" and err["record"]["cause"] == "shutdown", err
        err, res = ctl.wait_response(pending_open, 10)
        assert res is None and err is not None, res
        d.proc.wait(SHUTDOWN_TIMEOUT_MS / 1000 + 5)
        took = time.monotonic() - t_term
        d.stopped = True
        assert d.proc.returncode == 0, d.log()[-4000:]
        # Bounded: the deaf server holds out, the daemon does not wait beyond its shutdown timeout.
        assert took < SHUTDOWN_TIMEOUT_MS / 1000 + 2, took

        # Every gateway session got a close frame (counted only while the session was open).
        assert wait_until(lambda: gw.stats()["open"] == 0, 10)
        gs = gw.stats()
        assert gs["client_close_frames"] == N, gs
        assert gs["client_eofs"] + gs["client_resets"] <= N
        # ... and on the wire it carries 1001 "going away".
        close = recorder.wait_for("frame", op="close")
        assert close and close[0]["masked"] and struct.unpack("!H", bytes.fromhex(close[0]["hex"])[:2])[0] == 1001

        # The event log: a close event with cause shutdown for each of them, then one complete stop line.
        with open(d.events_path, "rb") as f:
            raw = f.read()
        assert raw.endswith(b"\n"), raw[-200:]
        events = [json.loads(line) for line in raw.splitlines()]
        assert events[-1]["event"] == "stop" and [e["event"] for e in events].count("stop") == 1
        closes = {e["conn"]: e["record"] for e in events if e["event"] == "close"}
        live = set(names) | {"recorder", "deaf"}
        assert set(closes) == live, len(set(closes) ^ live)
        assert {(r["cause"], r["code"], r["initiator"]) for r in closes.values()} == {("shutdown", 1001, "client")}
        failed = [e for e in events if e["event"] == "handshake_failed"]
        assert [e["conn"] for e in failed] == ["connecting"] and failed[0]["record"]["cause"] == "shutdown"
        stop = events[-1]["stats"]
        assert stop["opened_total"] == N + 2 and stop["open"] == 0 and stop["connecting"] == 0
        assert stop["opened_total"] == stop["open"] + stop["closing"] + stop["closed_total"]
        # The connecting one counts as a failed open, with the same cause.
        assert stop["closes_by_cause"] == {"shutdown": N + 3} and stop["failed_total"] == 1, stop
        print("\n%d connections opened in %.2f s; SIGTERM to exit %.2f s" % (N, opened_s, took))
        mute.go.set()
        deaf.go.set()
