#!/usr/bin/python3
"""Small, faithful servers of the chat protocols wsfleet's presets speak (python3-websockets 10.x),
for the protocol-layer tests (tests/integration/test_proto_*.py). The real servers (socket.io npm,
RabbitMQ Web-STOMP, a SignalR hub) are tested elsewhere; these follow the specifications closely
enough to fail a client that gets a detail wrong, and record what they see.

Prints `READY <port>`, then JSON lines: {"ev": "connect"|"message"|"closed"|..., "id": n, "t": mono, ...}.
Exits on stdin EOF. --drop-first-after-ms: the first connection is closed (1001) that long after it
came, in any mode (to see a reconnect replay the session).

Modes:
  script    --on-connect MSG (repeatable): sent at connect; --script FILE: a JSON list of
            {"on": regex, "send": [msg, ...]}: each message received that matches `on` (re.search)
            is answered with `send` (first matching entry). Messages are text; "\\x1e" etc. in JSON.
  socketio  Engine.IO v4 + Socket.IO v5: open packet `0{...}` at connect, `40[/ns,][{auth}]` →
            `40[/ns,]{"sid":...}` (or `44[/ns,]{"message":"Not authorized"}` when --reject-auth and
            the auth has no "token"), pings `2` every --ping-interval-ms and closes the transport
            when no `3` comes within --ping-timeout-ms (records "ping_timeout"); events
            `42[/ns,]["echo",...]` are emitted back, `42[/ns,]<id>[...]` acks as `43[/ns,]<id>[...]`.
  stomp     STOMP 1.2: CONNECT/STOMP → CONNECTED with heart-beat:--server-hb (sx,sy) or ERROR
            (--error); SUBSCRIBE, SEND (→ MESSAGE to the subscribers of the destination), receipt →
            RECEIPT; sends EOL heart-beats every negotiated max(sx, cy) and closes when the client
            is silent for twice max(cx, sy) (records "heartbeat_timeout").
  signalr   JSON hub protocol: handshake record → `{}` (or {"error":...} with --error), type-6 pings
            every --ping-interval-ms, closes when the client is silent for --client-timeout-ms
            (records "client_timeout"); invocation {"type":1,"target":"echo",...} → a type-1 "echo"
            message back, and a completion (type 3) when it has an invocationId; --close-after-ms
            sends {"type":7,"error":...}. --batch: the handshake answer and the first ping share
            one WebSocket message.
"""

import argparse
import asyncio
import json
import re
import sys
import threading
import time

import websockets

RS = "\x1e"


def dumps(obj):
    """Compact JSON, as JSON.stringify and System.Text.Json write it."""
    return json.dumps(obj, separators=(",", ":"))


def emit(**rec):
    rec.setdefault("t", time.monotonic())
    sys.stdout.write(json.dumps(rec) + "\n")
    sys.stdout.flush()


def show(data):
    return data if isinstance(data, str) else "hex:" + data.hex()


class Conn:
    n = 0

    def __init__(self, ws):
        Conn.n += 1
        self.id = Conn.n
        self.ws = ws
        self.last_in = time.monotonic()

    async def send(self, msg):
        emit(ev="sent", id=self.id, data=show(msg))
        await self.ws.send(msg)

    async def messages(self):
        async for msg in self.ws:
            self.last_in = time.monotonic()
            emit(ev="message", id=self.id, type="text" if isinstance(msg, str) else "binary", data=show(msg))
            yield msg


# ---- script ---------------------------------------------------------------------------------------

async def script(c, args):
    rules = json.load(open(args.script)) if args.script else []
    for m in args.on_connect:
        await c.send(m)
    async for msg in c.messages():
        text = msg if isinstance(msg, str) else msg.decode("latin-1")
        for rule in rules:
            if re.search(rule["on"], text):
                for out in rule.get("send", []):
                    await c.send(out)
                if rule.get("close"):
                    await c.ws.close(rule["close"], "script")
                break


# ---- socketio -------------------------------------------------------------------------------------

def sio_split(body):
    """'/ns,rest' → ('/ns', 'rest'); 'rest' → ('/', 'rest')."""
    if body.startswith("/"):
        ns, _, rest = body.partition(",")
        return ns, rest
    return "/", body


async def socketio(c, args):
    sid = "eio-%d" % c.id
    await c.send("0" + dumps({"sid": sid, "upgrades": [], "pingInterval": args.ping_interval_ms,
                                   "pingTimeout": args.ping_timeout_ms, "maxPayload": 1000000}))
    pong = asyncio.Event()

    async def pinger():
        while True:
            await asyncio.sleep(args.ping_interval_ms / 1000)
            pong.clear()
            await c.send("2")
            try:
                await asyncio.wait_for(pong.wait(), args.ping_timeout_ms / 1000)
            except asyncio.TimeoutError:
                emit(ev="ping_timeout", id=c.id)
                await c.ws.close(1000, "ping timeout")  # the transport closes (Engine.IO: no close packet)
                return

    task = asyncio.ensure_future(pinger())
    try:
        async for msg in c.messages():
            if msg == "3":
                emit(ev="pong", id=c.id)
                pong.set()
                continue
            if msg.startswith("40"):
                ns, rest = sio_split(msg[2:])
                prefix = "" if ns == "/" else ns + ","
                auth = json.loads(rest) if rest else None
                if args.reject_auth and not (auth and "token" in auth):
                    await c.send("44" + prefix + dumps({"message": "Not authorized"}))
                    continue
                emit(ev="sio_connect", id=c.id, ns=ns, auth=auth)
                await c.send("40" + prefix + dumps({"sid": "sio-%d" % c.id}))
            elif msg.startswith("42") or msg.startswith("43"):
                ns, rest = sio_split(msg[2:])
                prefix = "" if ns == "/" else ns + ","
                m = re.match(r"(\d*)(\[.*)$", rest, re.S)
                ack_id, payload = m.group(1), json.loads(m.group(2))
                emit(ev="sio_event", id=c.id, ns=ns, ack=ack_id, name=payload[0], args=payload[1:])
                if ack_id:
                    await c.send("43" + prefix + ack_id + dumps(payload[1:]))
                elif payload[0] == "echo":
                    await c.send("42" + prefix + dumps(payload))
    finally:
        task.cancel()


# ---- stomp ----------------------------------------------------------------------------------------

SUBS = {}  # destination → [(conn, sub id)]


def stomp_parse(frame):
    head, _, body = frame.partition("\n\n")
    lines = head.split("\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k, v)
    return lines[0].strip("\r"), headers, body


def stomp_frame(command, headers, body=""):
    return command + "\n" + "".join("%s:%s\n" % kv for kv in headers.items()) + "\n" + body + "\0"


async def stomp(c, args):
    buf = ""
    connected = False
    tasks = []
    try:
        async for msg in c.messages():
            buf += msg if isinstance(msg, str) else msg.decode()
            while True:
                while buf.startswith("\n") or buf.startswith("\r\n"):  # heart-beats between frames
                    buf = buf[1:] if buf[0] == "\n" else buf[2:]
                    emit(ev="heartbeat", id=c.id)
                if "\0" not in buf:
                    break
                frame, _, buf = buf.partition("\0")
                command, headers, body = stomp_parse(frame)
                emit(ev="stomp", id=c.id, command=command, headers=headers, body=body)
                if command in ("CONNECT", "STOMP"):
                    if args.error:
                        await c.send(stomp_frame("ERROR", {"message": args.error}, "Bad credentials"))
                        await c.ws.close()
                        return
                    cx, cy = (int(x) for x in headers.get("heart-beat", "0,0").split(","))
                    sx, sy = (int(x) for x in args.server_hb.split(","))
                    await c.send(stomp_frame("CONNECTED", {"version": "1.2", "heart-beat": "%d,%d" % (sx, sy),
                                                           "server": "proto_peer/1"}))
                    connected = True
                    if sx and cy:
                        tasks.append(asyncio.ensure_future(stomp_beats(c, max(sx, cy))))
                    if cx and sy:
                        tasks.append(asyncio.ensure_future(stomp_watch(c, max(cx, sy))))
                elif not connected:
                    await c.send(stomp_frame("ERROR", {"message": "not connected"}))
                elif command == "SUBSCRIBE":
                    SUBS.setdefault(headers["destination"], []).append((c, headers.get("id", "0")))
                elif command == "SEND":
                    dest = headers["destination"]
                    for sub_conn, sub_id in SUBS.get(dest, []):
                        await sub_conn.send(stomp_frame("MESSAGE", {"destination": dest, "subscription": sub_id,
                                                                    "message-id": "m%d" % time.monotonic_ns()},
                                                        body))
                if "receipt" in headers:
                    await c.send(stomp_frame("RECEIPT", {"receipt-id": headers["receipt"]}))
    finally:
        for t in tasks:
            t.cancel()
        for subs in SUBS.values():
            subs[:] = [s for s in subs if s[0] is not c]


async def stomp_beats(c, ms):
    while True:
        await asyncio.sleep(ms / 1000)
        await c.send("\n")


async def stomp_watch(c, ms):
    while True:
        await asyncio.sleep(ms / 1000 / 4)
        if time.monotonic() - c.last_in > 2 * ms / 1000:
            emit(ev="heartbeat_timeout", id=c.id)
            await c.ws.close(1000, "heart-beat timeout")
            return


# ---- signalr --------------------------------------------------------------------------------------

async def signalr(c, args):
    buf = ""
    shaken = False
    tasks = []
    try:
        async for msg in c.messages():
            buf += msg
            while RS in buf:
                record, _, buf = buf.partition(RS)
                obj = json.loads(record)
                emit(ev="record", id=c.id, obj=obj)
                if not shaken:
                    if args.error:
                        await c.send(dumps({"error": args.error}) + RS)
                        await c.ws.close()
                        return
                    shaken = True
                    if args.batch:
                        await c.send("{}" + RS + dumps({"type": 6}) + RS)
                    else:
                        await c.send("{}" + RS)
                    tasks.append(asyncio.ensure_future(signalr_pings(c, args)))
                    if args.close_after_ms:
                        tasks.append(asyncio.ensure_future(signalr_close(c, args)))
                    continue
                if obj.get("type") == 1:
                    if obj.get("target") == "echo":
                        await c.send(dumps({"type": 1, "target": "echo", "arguments": obj.get("arguments", [])})
                                     + RS)
                    if "invocationId" in obj:
                        await c.send(dumps({"type": 3, "invocationId": obj["invocationId"],
                                                 "result": obj.get("arguments", [])}) + RS)
    finally:
        for t in tasks:
            t.cancel()


async def signalr_pings(c, args):
    while True:
        await asyncio.sleep(args.ping_interval_ms / 1000)
        if time.monotonic() - c.last_in > args.client_timeout_ms / 1000:
            emit(ev="client_timeout", id=c.id)
            await c.ws.close(1000, "client timeout")
            return
        await c.send(dumps({"type": 6}) + RS)


async def signalr_close(c, args):
    await asyncio.sleep(args.close_after_ms / 1000)
    await c.send(dumps({"type": 7, "error": "Server is shutting down", "allowReconnect": True}) + RS)


# ---- main -----------------------------------------------------------------------------------------

async def main(args):
    modes = {"script": script, "socketio": socketio, "stomp": stomp, "signalr": signalr}

    async def handler(ws, path):
        c = Conn(ws)
        emit(ev="connect", id=c.id, path=path, subprotocol=ws.subprotocol)
        if c.id == 1 and args.drop_first_after_ms:
            asyncio.get_running_loop().call_later(args.drop_first_after_ms / 1000,
                                                  lambda: asyncio.ensure_future(ws.close(1001, "drop")))
        try:
            await modes[args.mode](c, args)
        except websockets.ConnectionClosed:
            pass
        emit(ev="closed", id=c.id, code=ws.close_code, reason=ws.close_reason)

    subprotocols = ["v12.stomp", "v11.stomp"] if args.mode == "stomp" else None
    server = await websockets.serve(handler, "127.0.0.1", 0, subprotocols=subprotocols, ping_interval=None,
                                    max_size=None)
    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)), daemon=True).start()
    await done.wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="script")
    p.add_argument("--on-connect", action="append", default=[])
    p.add_argument("--script")
    p.add_argument("--ping-interval-ms", type=int, default=25000)
    p.add_argument("--ping-timeout-ms", type=int, default=20000)
    p.add_argument("--reject-auth", action="store_true")
    p.add_argument("--server-hb", default="0,0")
    p.add_argument("--error")
    p.add_argument("--client-timeout-ms", type=int, default=30000)
    p.add_argument("--close-after-ms", type=int, default=0)
    p.add_argument("--batch", action="store_true")
    p.add_argument("--drop-first-after-ms", type=int, default=0)
    asyncio.run(main(p.parse_args()))
