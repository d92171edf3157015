#!/usr/bin/python3
"""A WebSocket server on python3-websockets (10.x) that tests run as an independent peer.

Prints `READY <port>` on stdout once listening, then one JSON object per line for everything it
sees, so a test can assert on what actually crossed the wire and when:
  {"ev": "connect", "id": n, "t": mono, "path": ..., "headers": {...}, "subprotocol": ..., "peer": "127.0.0.3"}
  {"ev": "frame", "id": n, "t": mono, "opcode": 1|2|9|10|8|0, "fin": bool, "len": n, "data": str|"hex"}
  {"ev": "message", "id": n, "t": mono, "type": "text"|"binary", "data": str or hex}
  {"ev": "pong_rtt", "id": n, "t": mono, "rtt_ms": x}   (ping mode)
  {"ev": "closed", "id": n, "t": mono, "code": c, "reason": r}
`t` is time.monotonic() (CLOCK_MONOTONIC, shared with the test process).

Modes:
  echo        send every message back (the default)
  sink        receive and record only
  close_after close with --close-code/--close-reason after --after messages (0: at once)
  ping        echo, and send a ping every --ping-interval-ms (records the pong's round trip)
On connect it first sends each --greet message, and --greet-fragmented as one fragmented message.
Exits when stdin reaches EOF (its parent went away) or after --max-seconds.
"""

import argparse
import asyncio
import json
import os
import sys
import threading
import time

import websockets
from websockets.legacy.server import WebSocketServerProtocol

OPS = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def emit(**rec):
    rec.setdefault("t", time.monotonic())
    sys.stdout.write(json.dumps(rec) + "\n")
    sys.stdout.flush()


def show(data):
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + data.hex()


class RecordingProtocol(WebSocketServerProtocol):
    """Records every frame read, control frames included (websockets answers pings itself)."""

    conn_id = 0

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        data = frame.data
        rec = {"ev": "frame", "id": getattr(self, "wsf_id", 0), "opcode": frame.opcode, "op": OPS.get(frame.opcode),
               "fin": frame.fin, "len": len(data)}
        rec["data"] = show(data[:256]) if frame.opcode != 2 else "hex:" + data[:256].hex()
        emit(**rec)
        return frame


async def handler(ws, path, args):
    RecordingProtocol.conn_id += 1
    ws.wsf_id = cid = RecordingProtocol.conn_id
    emit(ev="connect", id=cid, path=path, headers={k.lower(): v for k, v in ws.request_headers.raw_items()},
         subprotocol=ws.subprotocol, peer=ws.remote_address[0])
    pinger = None
    try:
        for g in args.greet:
            await ws.send(g)
        if args.greet_fragmented:
            await ws.send(list(args.greet_fragmented))
        if args.mode == "ping":
            pinger = asyncio.ensure_future(ping_loop(ws, cid, args.ping_interval_ms / 1000.0))
        if args.mode == "close_after" and args.after == 0:
            await ws.close(args.close_code, args.close_reason)
        count = 0
        async for msg in ws:
            count += 1
            emit(ev="message", id=cid, type="text" if isinstance(msg, str) else "binary",
                 data=msg if isinstance(msg, str) else msg.hex(), len=len(msg))
            if args.mode in ("echo", "ping"):
                await ws.send(msg)
            elif args.mode == "close_after" and count >= args.after:
                await ws.close(args.close_code, args.close_reason)
    except websockets.ConnectionClosed:
        pass
    finally:
        if pinger:
            pinger.cancel()
        emit(ev="closed", id=cid, code=ws.close_code, reason=ws.close_reason)


async def ping_loop(ws, cid, interval):
    n = 0
    while True:
        await asyncio.sleep(interval)
        n += 1
        payload = b"srv-%d" % n
        t0 = time.monotonic()
        waiter = await ws.ping(payload)
        emit(ev="ping_sent", id=cid, data=payload.decode())

        async def wait(w=waiter, p=payload, t=t0):
            try:
                await asyncio.wait_for(w, 5)
                emit(ev="pong_rtt", id=cid, data=p.decode(), rtt_ms=(time.monotonic() - t) * 1000.0)
            except (asyncio.TimeoutError, websockets.ConnectionClosed, asyncio.CancelledError):
                pass
        asyncio.ensure_future(wait())


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    os._exit(0)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="echo", choices=["echo", "sink", "close_after", "ping"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--after", type=int, default=1)
    ap.add_argument("--close-code", type=int, default=1000)
    ap.add_argument("--close-reason", default="")
    ap.add_argument("--ping-interval-ms", type=float, default=200)
    ap.add_argument("--greet", action="append", default=[])
    ap.add_argument("--greet-fragmented", action="append", default=[])
    ap.add_argument("--subprotocol", action="append", default=[], help="subprotocols the server accepts")
    ap.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    ap.add_argument("--max-seconds", type=float, default=900)
    ap.add_argument("--deflate", action="store_true", help="accept permessage-deflate (websockets' defaults)")
    args = ap.parse_args()

    threading.Thread(target=watch_stdin, daemon=True).start()
    server = await websockets.serve(
        lambda ws, path: handler(ws, path, args), args.host, args.port,
        create_protocol=RecordingProtocol, subprotocols=args.subprotocol or None,
        max_size=args.max_size, max_queue=None, ping_interval=None,
        compression="deflate" if args.deflate else None,
        close_timeout=2)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("READY %d\n" % port)
    sys.stdout.flush()
    await asyncio.sleep(args.max_seconds)


if __name__ == "__main__":
    asyncio.run(main())
