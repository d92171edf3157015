#!/usr/bin/env python3
"""A Socket.IO v4 server on python-socketio (Debian's python3-socketio 5.7, Engine.IO v4, on aiohttp): a
second, independent implementation beside tests/node/socketio_server.js, so the socketio4 preset is
not fitted to one server's habits (python-socketio's open packet, its ping timer and its namespace
answers differ in detail from the node package's).

Prints `READY <port>`, then JSON lines like the other peers:
  {"ev":"connect","id":sid,"nsp":...}  {"ev":"event","id":sid,"nsp":...,"name":...,"args":[...]}
  {"ev":"disconnect","id":sid,"nsp":...}  {"ev":"stats",...} (stdin `stats`, and at exit)
Namespaces `/` and `/chat`: event `echo` answered through the ack (or emitted back without one).
Options: --ping-interval MS --ping-timeout MS (python-socketio takes seconds; given here in ms like the
node server). Exits when stdin closes.
"""

import argparse
import asyncio
import json
import sys
import time

import socketio
from aiohttp import web


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ping-interval", type=int, default=25000)
    ap.add_argument("--ping-timeout", type=int, default=20000)
    opts = ap.parse_args()
    counters = {"connects": 0, "disconnects": 0, "open": 0, "events": 0, "acks": 0}

    def emit(rec):
        sys.stdout.write(json.dumps(dict(rec, t=time.monotonic())) + "\n")
        sys.stdout.flush()

    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=opts.ping_interval / 1000,
                               ping_timeout=opts.ping_timeout / 1000, cors_allowed_origins="*")

    def attach(nsp):
        @sio.on("connect", namespace=nsp)
        async def connect(sid, environ, auth=None):
            counters["connects"] += 1
            counters["open"] += 1
            emit({"ev": "connect", "id": sid, "nsp": nsp})

        @sio.on("disconnect", namespace=nsp)
        async def disconnect(sid):
            counters["disconnects"] += 1
            counters["open"] -= 1
            emit({"ev": "disconnect", "id": sid, "nsp": nsp})

        @sio.on("echo", namespace=nsp)
        async def echo(sid, *args):
            counters["events"] += 1
            emit({"ev": "event", "id": sid, "nsp": nsp, "name": "echo", "args": list(args)})
            counters["acks"] += 1
            return args  # the ack's arguments (python-socketio sends no ack when none was asked)

    attach("/")
    attach("/chat")
    app = web.Application()
    sio.attach(app)

    async def run():
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", opts.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        sys.stdout.write("READY %d\n" % port)
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if line.strip() == "stats":
                emit(dict(counters, ev="stats"))
        emit(dict(counters, ev="stats"))
        await runner.cleanup()

    asyncio.run(run())


if __name__ == "__main__":
    main()
