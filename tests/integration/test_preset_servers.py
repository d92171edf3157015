"""The real servers of issue 18's preset tests, checked without wsfleetd: each speaks its protocol as the
official client of that protocol expects, and each one's heartbeat timeout really ends a silent session
(so a preset test where sessions survive proves the daemon kept them alive, not a lenient server).

- Socket.IO: the `socket.io` 4.8.4 server driven by the official `socket.io-client`; a WebSocket client
  that never answers Engine.IO pings is dropped for "ping timeout" after pingInterval + pingTimeout, by
  that server and by python-socketio (the second implementation test_presets.py runs the preset against).
- SignalR: our JSON hub server (tests/node/README.md says why) driven by Microsoft's `@microsoft/signalr`;
  a client silent after the handshake gets the type-7 close message after ClientTimeoutInterval.
- STOMP: RabbitMQ 3.10 (Debian) with Web-STOMP: CONNECT/CONNECTED, SUBSCRIBE with receipt, SEND and
  MESSAGE; a client silent after negotiating heart-beat 1000,1000 is closed ("STOMP died");
  rabbitmqctl close_all_connections closes Web-STOMP sessions. Its startup time is printed.
"""

import asyncio
import json
import os
import shutil
import subprocess
import time

import pytest
import websockets

from proto_servers import PySocketIOServer, RabbitMQ, SignalRServer, SocketIOServer
from wsf_fixtures import NODE_DIR, wait_until

NODE = shutil.which("node") or "/usr/bin/node"


def node_check(script, *args, timeout=30):
    r = subprocess.run([NODE, os.path.join(NODE_DIR, script)] + [str(a) for a in args], cwd=NODE_DIR,
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.startswith("{") and '"ev"' not in ln]
    assert lines, "%s printed nothing (exit %s): %s" % (script, r.returncode, r.stderr.decode())
    out = json.loads(lines[-1])
    return r.returncode, out


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- Socket.IO ----

def test_socketio_fixture_with_the_official_client():
    with SocketIOServer(ping_interval=500, ping_timeout=500) as srv:
        rc, out = node_check("socketio_client_check.js", "--url", srv.http_url, "--namespace", "/chat",
                             "--hold-ms", 2500)
        assert rc == 0, out
        assert out["connected"] and out["ack"] == "hello" and out["broadcast"] == ["to-all"]
        assert out["still_connected"] and out["ack_after_hold"] == "after-hold"
        assert out["pings"] >= 3  # the server pinged, the client ponged: that is what kept it past 1 s
        stats = srv.stats()
        assert stats["connects"] == 1 and stats["acks"] == 3 and stats["broadcasts"] == 1
        assert srv.wait_for("disconnect", 5, reason="client namespace disconnect")


async def _silent_engineio_client(url):
    async with websockets.connect(url + "?EIO=4&transport=websocket") as ws:
        opened = await ws.recv()
        assert opened.startswith("0{"), opened
        await ws.send("40/chat,")
        assert (await ws.recv()).startswith("40/chat,")
        t0 = time.monotonic()
        seen = []
        try:
            while True:
                seen.append(await ws.recv())  # pings ("2") come and are never answered
        except websockets.ConnectionClosed:
            return json.loads(opened[1:]), time.monotonic() - t0, seen


@pytest.mark.parametrize("server", [SocketIOServer, PySocketIOServer], ids=["socket.io", "python-socketio"])
def test_socketio_server_drops_a_client_that_does_not_pong(server):
    if not getattr(server, "available", lambda: True)():
        pytest.skip("python3-socketio and python3-aiohttp are not installed")
    with server(ping_interval=1000, ping_timeout=1000) as srv:
        handshake, silent_s, seen = run(_silent_engineio_client(srv.url))
        assert handshake["pingInterval"] == 1000 and handshake["pingTimeout"] == 1000
        assert seen and seen[0] == "2"
        assert 1.5 <= silent_s <= 4.0, silent_s  # interval + timeout = 2 s
        recs = srv.wait_for("disconnect", 5)
        assert recs and recs[0].get("reason", "ping timeout") == "ping timeout"  # python-socketio gives none


def test_socketio_private_namespace_refuses_without_auth():
    async def go(url):
        async with websockets.connect(url + "?EIO=4&transport=websocket") as ws:
            await ws.recv()
            await ws.send("40/private,")
            refused = await ws.recv()
            await ws.send('40/private,{"token":"letmein"}')
            return refused, await ws.recv()

    with SocketIOServer() as srv:
        refused, accepted = run(go(srv.url))
        assert refused == '44/private,{"message":"not authorized"}'
        assert accepted.startswith('40/private,{"sid":')


# ---- SignalR ----

def test_signalr_fixture_with_microsofts_client():
    with SignalRServer(keep_alive_ms=300, client_timeout_ms=1000) as srv:
        rc, out = node_check("signalr_client_check.js", "--url", srv.http_url, "--hold-ms", 2500,
                             "--keep-alive-ms", 300, "--server-timeout-ms", 1000)
        assert rc == 0, out
        assert out["connected"] and out["connectionId"] and out["echo"] == "hello"
        assert out["hub_error"] == "An unexpected error occurred invoking 'Throw' on the server. HubException: boom"
        assert out["broadcast"] == ["to-all"]
        assert out["state_after_hold"] == "Connected" and out["echo_after_hold"] == "after-hold"
        stats = srv.stats()
        assert stats["negotiates"] == 1 and stats["handshakes_ok"] == 1
        assert stats["pings_sent"] >= 3 and stats["pings_received"] >= 3
        assert srv.wait_for("disconnect", 5, reason="client close")


def test_signalr_client_sees_the_servers_close_message():
    with SignalRServer() as srv:
        proc = subprocess.Popen([NODE, os.path.join(NODE_DIR, "signalr_client_check.js"), "--url", srv.http_url,
                                 "--expect-close"], cwd=NODE_DIR, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            assert proc.stdout.readline().strip() == b'{"ev":"waiting_close"}'
            srv.close("going down")
            out = json.loads(proc.stdout.readline())
        finally:
            proc.kill()
            proc.wait(5)
        assert out["closed"] == "Server returned an error on close: going down", out


async def _signalr_session(url, handshake=b'{"protocol":"json","version":1}\x1e', silent=True):
    async with websockets.connect(url) as ws:
        await ws.send(handshake.decode())
        answer = await ws.recv()
        t0 = time.monotonic()
        seen = []
        try:
            while silent:
                seen.append(await ws.recv())
        except websockets.ConnectionClosed as e:
            return answer, time.monotonic() - t0, seen, e.code
        return answer, 0, seen, None


def test_signalr_server_times_out_a_silent_client_and_answers_pings():
    with SignalRServer(keep_alive_ms=400, client_timeout_ms=2000) as srv:
        ws_url, negotiated = srv.negotiate()
        answer, silent_s, seen, code = run(_signalr_session(ws_url))
        assert answer == "{}\x1e"
        assert 1.8 <= silent_s <= 3.5, silent_s
        assert seen[:3] == ['{"type":6}\x1e'] * 3  # KeepAliveInterval pings while nothing else is written
        assert seen[-1] == '{"type":7,"error":"Connection closed with an error.","allowReconnect":true}\x1e'
        assert code == 1000
        assert srv.wait_for("disconnect", 5, reason="client timeout")


def test_signalr_handshake_errors_and_unknown_ids():
    with SignalRServer() as srv:
        answer, _, _, _ = run(_signalr_session(srv.url, b'{"protocol":"messagepack","version":1}\x1e'))
        assert answer == '{"error":"The protocol \'messagepack\' is not supported."}\x1e'
        with pytest.raises(websockets.InvalidStatusCode) as err:
            run(_signalr_session(srv.url + "?id=nosuchtoken"))
        assert err.value.status_code == 404
        ws_url, _ = srv.negotiate()
        answer, _, _, _ = run(_signalr_session(ws_url, silent=False))
        assert answer == "{}\x1e"
        with pytest.raises(websockets.InvalidStatusCode) as err:
            run(_signalr_session(ws_url))
        assert err.value.status_code == 409


# ---- STOMP on RabbitMQ ----


@pytest.fixture(scope="module")
def broker():
    if not RabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed (.ci/install-deps --test)")
    with RabbitMQ() as mq:
        print("RabbitMQ startup: %.1f s (start to Web-STOMP accepting)" % mq.startup_s)
        yield mq


def stomp_frames(data):
    """Splits a WebSocket message into STOMP frames (NUL-terminated; EOLs between frames are heart-beats)."""
    return [f.lstrip("\r\n") for f in data.split("\0") if f.strip("\r\n")]


async def _stomp_session(url, heart_beat="1000,1000", silent=True):
    async with websockets.connect(url, subprotocols=["v12.stomp"]) as ws:
        assert ws.subprotocol == "v12.stomp"
        await ws.send("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:%s\nlogin:guest\npasscode:guest\n\n\0" % heart_beat)
        connected = stomp_frames(await ws.recv())[0]
        await ws.send("SUBSCRIBE\nid:sub-0\ndestination:/queue/wsf-check\nreceipt:r-1\n\n\0")
        await ws.send("SEND\ndestination:/queue/wsf-check\ncontent-type:text/plain\n\nhello\0")
        frames = []
        while len(frames) < 2:
            frames += stomp_frames(await ws.recv())
        t0 = time.monotonic()
        beats = 0
        try:
            while silent:
                if (await ws.recv()).strip("\r\n") == "":
                    beats += 1
        except websockets.ConnectionClosed as e:
            return connected, frames, time.monotonic() - t0, beats, (e.code, e.reason)
        return connected, frames, 0, beats, None


def test_rabbitmq_web_stomp_session_and_heartbeat_timeout(broker):
    connected, frames, silent_s, beats, close = run(_stomp_session(broker.url))
    assert connected.startswith("CONNECTED\n") and "heart-beat:1000,1000" in connected and "version:1.2" in connected
    assert frames[0] == "RECEIPT\nreceipt-id:r-1\n\n"
    assert frames[1].startswith("MESSAGE\n") and "destination:/queue/wsf-check" in frames[1]
    assert frames[1].endswith("\n\nhello")
    # RabbitMQ sends a heart-beat each second and closes after ~3 s without one from the client.
    assert beats >= 1 and 1.5 <= silent_s <= 6, (beats, silent_s)
    assert close == (1000, "STOMP died")


def test_rabbitmq_close_all_connections_closes_web_stomp(broker):
    async def go():
        async with websockets.connect(broker.url, subprotocols=["v12.stomp"]) as ws:
            await ws.send("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0")
            await ws.recv()
            loop = asyncio.get_running_loop()
            during = await loop.run_in_executor(None, broker.channels)
            await loop.run_in_executor(None, broker.close_all_connections, "kicked")
            try:
                while True:
                    await ws.recv()
            except websockets.ConnectionClosed as e:
                return during, e.code

    during, code = run(go())
    assert len(during) == 1 and during[0]["user"] == "guest"
    assert code is not None
    assert wait_until(lambda: broker.channels() == [], 5)
