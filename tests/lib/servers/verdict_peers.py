#!/usr/bin/python3
"""WebSocket servers on python3-websockets (10.x) that each behave as one server policy the report
must name (daemon/cli/wsfleet_tools/verdicts.py), so tests drive the real daemon against them.

Prints `READY <port>`, then one JSON line per thing it does ({"ev": "drop", "id": n, "how": ..., "t": mono}),
and exits on stdin EOF or after --max-seconds. Durations are seconds (floats).

Behaviours (--behaviour):
  idle          drop a session --idle s after the last frame from the client (any frame); with
                --overload-above N, while more than N are open the idle time is --overload-idle
  max_age       drop every session --age s after its upgrade, whatever it does
  cap_503       answer the upgrade with HTTP 503 and Retry-After: --retry-after while --cap are open
  cap_close     accept, then close with --close-code (1008) "session limit" when more than --cap are open
  rate          close with --close-code (4029) --close-reason after more than --burst messages within 1 s
  restart       --after s after the first session opened, close every open session with --close-code (1001)
  blackhole     after --after s, stop reading and answering (no pongs, no FIN): a hung server
  resets        reset session k (in opening order) at --reset-ages[k] s of age: scattered RSTs
  slow_upgrade  delay each upgrade by --delay-per-open s for every session already open
  echo          echo data messages (used with the others' caps in mixed runs: --cap with idle)
Drops are TCP FIN (`--drop fin`, default) or RST (`--drop rst`); `max_age` and `resets` RST by default.
`idle` also honours --cap (refusing with 503 beyond it), for one run with two behaviours.
"""

import argparse
import asyncio
import http
import socket
import struct
import sys
import threading
import time

import websockets
from websockets.legacy.server import WebSocketServerProtocol

from py_peer import emit, watch_stdin  # the same READY/JSON-lines conventions

ARGS = None
OPEN = {}  # id -> protocol
STATE = {"next_id": 0, "first_open": None}


class Peer(WebSocketServerProtocol):
    """Tracks the time of the last frame the client sent (pings included)."""

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        self.last_rx = time.monotonic()
        return frame


def drop(ws, how):
    """Ends the TCP connection without a close frame: FIN, or RST (SO_LINGER 0)."""
    sock = ws.transport.get_extra_info("socket")
    if how == "rst" and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort() if how == "rst" else ws.transport.close()
    emit(ev="drop", id=ws.wsf_id, how=how)


async def process_request(path, headers):
    a = ARGS
    if a.cap is not None and a.behaviour in ("cap_503", "idle") and len(OPEN) >= a.cap:
        emit(ev="refused", open=len(OPEN))
        body = b"session limit reached\n"
        return http.HTTPStatus.SERVICE_UNAVAILABLE, [("Retry-After", str(a.retry_after)), ("Content-Length", str(len(body)))], body
    if a.behaviour == "slow_upgrade":
        await asyncio.sleep(a.delay_per_open * len(OPEN))
    return None


async def handler(ws, path):
    a = ARGS
    STATE["next_id"] += 1
    ws.wsf_id = cid = STATE["next_id"]
    ws.opened = ws.last_rx = time.monotonic()
    OPEN[cid] = ws
    if STATE["first_open"] is None:
        STATE["first_open"] = ws.opened
    emit(ev="open", id=cid, open=len(OPEN))
    tasks = []
    try:
        if a.behaviour == "cap_close" and len(OPEN) > a.cap:
            await ws.close(a.close_code, "session limit")
            return
        if a.behaviour == "idle":
            tasks.append(asyncio.ensure_future(idle_watch(ws)))
        elif a.behaviour == "max_age":
            tasks.append(asyncio.ensure_future(later(a.age, lambda: drop(ws, a.drop or "rst"))))
        elif a.behaviour == "resets":
            ages = a.reset_ages
            if cid <= len(ages):
                tasks.append(asyncio.ensure_future(later(ages[cid - 1], lambda: drop(ws, a.drop or "rst"))))
        elif a.behaviour == "restart":
            tasks.append(asyncio.ensure_future(restart_once()))
        elif a.behaviour == "blackhole":
            tasks.append(asyncio.ensure_future(later(a.after, lambda: blackhole(ws))))
        window = []
        async for msg in ws:
            now = time.monotonic()
            if a.behaviour == "rate":
                window = [t for t in window if now - t < 1.0] + [now]
                if len(window) > a.burst:
                    emit(ev="rate_close", id=cid, in_window=len(window))
                    await ws.close(a.close_code, a.close_reason)
                    break
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass
    finally:
        for t in tasks:
            t.cancel()
        OPEN.pop(cid, None)


async def later(delay, fn):
    await asyncio.sleep(delay)
    fn()


def blackhole(ws):
    ws.transport.pause_reading()
    emit(ev="blackhole", id=ws.wsf_id)


async def restart_once():
    a = ARGS
    delay = a.after - (time.monotonic() - STATE["first_open"])
    await asyncio.sleep(max(0, delay))
    if STATE.get("restarted"):
        return
    STATE["restarted"] = True
    emit(ev="restart", open=len(OPEN))
    await asyncio.gather(*(ws.close(a.close_code, "service restart") for ws in list(OPEN.values())),
                         return_exceptions=True)


def idle_limit():
    a = ARGS
    if a.overload_above is not None and len(OPEN) > a.overload_above:
        return a.overload_idle
    return a.idle


async def idle_watch(ws):
    while True:
        await asyncio.sleep(0.02)
        if time.monotonic() - ws.last_rx >= idle_limit():
            drop(ws, ARGS.drop or "fin")
            return


async def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--behaviour", required=True, choices=["idle", "max_age", "cap_503", "cap_close", "rate", "restart",
                                                           "blackhole", "resets", "slow_upgrade", "echo"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--idle", type=float, default=1.0)
    ap.add_argument("--overload-above", type=int)
    ap.add_argument("--overload-idle", type=float, default=0.5)
    ap.add_argument("--age", type=float, default=1.0)
    ap.add_argument("--cap", type=int)
    ap.add_argument("--retry-after", type=int, default=5)
    ap.add_argument("--close-code", type=int, default=1008)
    ap.add_argument("--close-reason", default="rate limited")
    ap.add_argument("--burst", type=int, default=5)
    ap.add_argument("--after", type=float, default=1.0)
    ap.add_argument("--reset-ages", type=lambda s: [float(x) for x in s.split(",")], default=[])
    ap.add_argument("--delay-per-open", type=float, default=0.02)
    ap.add_argument("--drop", choices=["fin", "rst"])
    ap.add_argument("--max-seconds", type=float, default=300)
    ARGS = ap.parse_args()
    threading.Thread(target=watch_stdin, daemon=True).start()
    server = await websockets.serve(handler, "127.0.0.1", ARGS.port, create_protocol=Peer,
                                    process_request=process_request, ping_interval=None, max_queue=None,
                                    close_timeout=1)
    sys.stdout.write("READY %d\n" % server.sockets[0].getsockname()[1])
    sys.stdout.flush()
    await asyncio.sleep(ARGS.max_seconds)


if __name__ == "__main__":
    asyncio.run(main())
