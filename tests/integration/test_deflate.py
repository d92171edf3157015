"""permessage-deflate (RFC 7692) through the daemon against real peers: python3-websockets and node `ws`
servers with their own deflate settings, and a hand-written server for bad answers and bad compressed data.

`open`'s `deflate` map asks for the extension; the result's `deflate` holds the agreed parameters (nil when
not agreed) and `status.deflate` counts payload bytes on the wire (`*_compressed`) and as the application
sees them. Each peer reports what it agreed on its side, so both views are compared, and every message is
echoed back so the peer's decoder checks our encoder and ours checks theirs.
"""

import json
import os
import shutil
import sys
import zlib

import pytest

from wsf_fixtures import NODE_DIR, PYTHON, Daemon, RpcError, _Peer, daemon_is_sanitized, ensure_node_modules, \
    wait_state

# A python3-websockets echo server. argv[1]: {"off": true} (compression=None), {"params": {...}}
# (ServerPerMessageDeflateFactory), or {} (websockets' default: server_max_window_bits=12, client 12).
# A text message "bomb:N" is answered with N zero bytes instead of its echo.
PY_SERVER = r'''
import asyncio, json, sys, time
import websockets
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory

cfg = json.loads(sys.argv[1])

def emit(**rec):
    print(json.dumps(rec), flush=True)

async def handler(ws, path):
    pmd = [e for e in ws.extensions if isinstance(e, PerMessageDeflate)]
    view = None
    if pmd:  # the server's remote is the client
        e = pmd[0]
        view = {"client_max_window_bits": e.remote_max_window_bits, "server_max_window_bits": e.local_max_window_bits,
                "client_no_context_takeover": e.remote_no_context_takeover,
                "server_no_context_takeover": e.local_no_context_takeover}
    emit(ev="connect", path=path, offer=ws.request_headers.get("Sec-WebSocket-Extensions"),
         answer=ws.response_headers.get("Sec-WebSocket-Extensions"), agreed=view)
    try:
        async for m in ws:
            if isinstance(m, str) and m.startswith("bomb:"):
                await ws.send(bytes(int(m[5:])))
            else:
                await ws.send(m)
    except websockets.ConnectionClosed:
        pass
    emit(ev="closed", path=path, code=ws.close_code)

async def main():
    kw = {}
    if cfg.get("off"):
        kw["compression"] = None
    elif "params" in cfg:
        kw["extensions"] = [ServerPerMessageDeflateFactory(**cfg["params"])]
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, ping_interval=None, **kw) as srv:
        print("READY", srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
'''

# A node `ws` echo server; argv[1] is its perMessageDeflate option.
NODE_SERVER = r'''
const { WebSocketServer } = require('ws');
const pmd = JSON.parse(process.argv[1]);
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: pmd, maxPayload: 1 << 28 });
wss.on('listening', () => console.log('READY ' + wss.address().port));
const answers = new Map();  // the 101's Sec-WebSocket-Extensions, by request
wss.on('headers', (headers, req) => {
  const h = headers.find((l) => l.toLowerCase().startsWith('sec-websocket-extensions:'));
  answers.set(req, h ? h.slice(h.indexOf(':') + 1).trim() : null);
});
wss.on('connection', (ws, req) => {
  console.log(JSON.stringify({ ev: 'connect', path: req.url, offer: req.headers['sec-websocket-extensions'] || null,
                               answer: answers.get(req) }));
  answers.delete(req);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
'''

# A hand-written server: answers the upgrade with cfg["answer"] as Sec-WebSocket-Extensions (none when
# null), sends the frames in cfg["frames_hex"], then logs every frame the client sends until it closes.
RAW_SERVER = r'''
import base64, hashlib, json, os, socket, sys, threading

cfg = json.loads(sys.argv[1])

def emit(**rec):
    print(json.dumps(rec), flush=True)

def frames(buf):
    out, off = [], 0
    while len(buf) - off >= 2:
        b1 = buf[off + 1]; n = b1 & 0x7f; h = 2
        if n == 126: n = int.from_bytes(buf[off + 2:off + 4], "big"); h = 4
        elif n == 127: n = int.from_bytes(buf[off + 2:off + 10], "big"); h = 10
        key = buf[off + h:off + h + 4] if b1 & 0x80 else b"\0\0\0\0"
        h += 4 if b1 & 0x80 else 0
        if len(buf) - off < h + n: break
        data = bytes(c ^ key[i % 4] for i, c in enumerate(buf[off + h:off + h + n]))
        out.append((buf[off], data)); off += h + n
    return out, off

def serve(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d: return
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    emit(ev="connect", path=lines[0].split()[1], offer=hdrs.get("sec-websocket-extensions"))
    acc = base64.b64encode(hashlib.sha1((hdrs["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                        .encode()).digest()).decode()
    resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    resp += "Sec-WebSocket-Accept: %s\r\n" % acc
    if cfg.get("answer") is not None:
        resp += "Sec-WebSocket-Extensions: %s\r\n" % cfg["answer"]
    c.sendall((resp + "\r\n").encode())
    for f in cfg.get("frames_hex", []):
        c.sendall(bytes.fromhex(f))
    c.settimeout(10)
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            buf += d
            got, used = frames(buf)
            buf = buf[used:]
            for b0, data in got:
                emit(ev="frame", rsv=(b0 >> 4) & 7, opcode=b0 & 15, hex=data.hex())
                if b0 & 15 == 8:
                    c.sendall(bytes([0x88, len(data)]) + data)
    except OSError:
        pass
    c.close()

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print("READY", srv.getsockname()[1], flush=True)
threading.Thread(target=lambda: sys.stdin.read() or os._exit(0), daemon=True).start()  # parent gone: exit
while True:
    try:
        conn, _ = srv.accept()
    except OSError:
        break
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
'''


class PyDeflateServer(_Peer):
    def __init__(self, **cfg):
        super().__init__([PYTHON, "-c", PY_SERVER, json.dumps(cfg)])


class NodeDeflateServer(_Peer):
    def __init__(self, pmd):
        node = shutil.which("node") or "/usr/bin/node"
        super().__init__([node, "-e", NODE_SERVER, json.dumps(pmd)], cwd=NODE_DIR)  # -e: require() from cwd

    def __enter__(self):
        ensure_node_modules()
        return super().__enter__()


class RawDeflateServer(_Peer):
    def __init__(self, answer, frames_hex=()):
        super().__init__([PYTHON, "-c", RAW_SERVER, json.dumps({"answer": answer, "frames_hex": list(frames_hex)})])


def compress(data, bits=15):
    """One message as an RFC 7692 sender makes it (fresh stream, sync flush, tail left off)."""
    c = zlib.compressobj(wbits=-bits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def frame(payload, opcode=1, fin=True, rsv1=True):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    head += bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big") if n < 65536 else \
        bytes([127]) + n.to_bytes(8, "big")
    return (head + payload).hex()


def parse_answer(header):
    """Sec-WebSocket-Extensions answer -> agreed parameters from the client's side (15 when absent)."""
    params = [p.strip() for p in header.split(";")[1:]]
    agreed = {"client_max_window_bits": 15, "server_max_window_bits": 15,
              "client_no_context_takeover": False, "server_no_context_takeover": False}
    for p in params:
        name, _, value = p.partition("=")
        agreed[name.strip()] = int(value.strip('" ')) if value else True
    return agreed


MESSAGES = [
    ("text", '{"action":"echo","session":"s-1","body":"' + "café ☕ " * 3000 + '"}'),
    ("text", '{"action":"echo","session":"s-1","body":"' + "café ☕ " * 3000 + '"}'),
    ("text", "short"),
    ("text", ""),
    ("binary", bytes(range(256)) * 200),
    ("binary", os.urandom(5000)),
    ("binary", b""),
]


def payload_len(data):
    return len(data.encode()) if isinstance(data, str) else len(data)


def echo_all(ctl, conn, messages=MESSAGES):
    for kind, data in messages:
        ctl.call("send", conn=conn, data=data, type=kind)
        r = ctl.call("recv", conn=conn, timeout_ms=5000)
        assert (r["type"], r["data"]) == (kind, data)
    return sum(payload_len(d) for _, d in messages)


def check_counters(ctl, conn, total, compressible=True):
    c = ctl.call("status", conn=conn)["deflate"]
    assert set(c) >= {"bytes_in_compressed", "bytes_in", "bytes_out_compressed", "bytes_out"}
    assert c["bytes_out"] == total and c["bytes_in"] == total
    if compressible:
        assert c["bytes_out_compressed"] < total * 0.6
        assert c["bytes_in_compressed"] < total * 0.6
    return c


# (offer, server config, expected agreed parameters or None to take the server's own report)
PY_CASES = [
    ({}, {}, None),
    ({"client_max_window_bits": 10}, {}, {"client_max_window_bits": 10, "server_max_window_bits": 12,
                                          "client_no_context_takeover": False,
                                          "server_no_context_takeover": False}),
    # 8 bits: zlib cannot deflate in 256 bytes, the daemon deflates in 512 keeping distances <= 250, and
    # the peer inflates with a 256-byte window: a distance too far back would fail its decoder.
    ({"client_max_window_bits": 8, "server_max_window_bits": 9},
     {"params": {}}, {"client_max_window_bits": 8, "server_max_window_bits": 9,
                      "client_no_context_takeover": False, "server_no_context_takeover": False}),
    ({"client_no_context_takeover": True, "server_no_context_takeover": True}, {"params": {}},
     {"client_max_window_bits": 15, "server_max_window_bits": 15,
      "client_no_context_takeover": True, "server_no_context_takeover": True}),
    # The server caps its own window and imposes client_no_context_takeover.
    ({"server_max_window_bits": 15},
     {"params": {"server_max_window_bits": 10, "client_no_context_takeover": True}},
     {"client_max_window_bits": 15, "server_max_window_bits": 10,
      "client_no_context_takeover": True, "server_no_context_takeover": False}),
]


@pytest.mark.parametrize("offer,server_cfg,expected", PY_CASES)
def test_python_peer_agrees_and_messages_round_trip_compressed(ctl, offer, server_cfg, expected):
    with PyDeflateServer(**server_cfg) as srv:
        r = ctl.call("open", conn="py", url=srv.url + "py", deflate=dict(enabled=True, **offer))
        peer = srv.wait_for("connect", path="/py")[0]
        assert peer["offer"] and peer["offer"].startswith("permessage-deflate")
        assert r["deflate"] == peer["agreed"]
        if expected is not None:
            assert r["deflate"] == expected
        total = echo_all(ctl, "py")
        check_counters(ctl, "py", total)
        ctl.call("close", conn="py")
        assert srv.wait_for("closed", path="/py")[0]["code"] == 1000


NODE_CASES = [
    ({}, {"threshold": 0}),
    ({"client_max_window_bits": True}, {"threshold": 0, "clientMaxWindowBits": 11, "serverMaxWindowBits": 12}),
    ({"client_no_context_takeover": True, "server_no_context_takeover": True}, {"threshold": 0}),
    ({"client_max_window_bits": 9}, {"threshold": 0, "serverNoContextTakeover": True,
                                     "zlibDeflateOptions": {"level": 9, "memLevel": 9}}),
]


@pytest.mark.parametrize("offer,pmd", NODE_CASES)
def test_node_peer_agrees_and_messages_round_trip_compressed(ctl, offer, pmd):
    with NodeDeflateServer(pmd) as srv:
        r = ctl.call("open", conn="node", url=srv.url + "node", deflate=dict(enabled=True, **offer))
        peer = srv.wait_for("connect", path="/node")[0]
        assert peer["answer"] and r["deflate"] == parse_answer(peer["answer"])
        total = echo_all(ctl, "node")
        check_counters(ctl, "node", total)


def test_node_sends_messages_below_its_threshold_uncompressed(ctl):
    # ws applies its threshold when it compresses without context takeover.
    with NodeDeflateServer({"threshold": 1024}) as srv:
        ctl.call("open", conn="thr", url=srv.url, deflate={"enabled": True, "server_no_context_takeover": True})
        small, big = "s" * 300, "b" * 5000
        echo_all(ctl, "thr", [("text", small)])
        c1 = ctl.call("status", conn="thr")["deflate"]
        assert c1["bytes_in"] == c1["bytes_in_compressed"] == 300  # RSV1 clear: taken as is
        assert c1["bytes_out_compressed"] < 300  # ours are always compressed
        echo_all(ctl, "thr", [("text", big)])
        c2 = ctl.call("status", conn="thr")["deflate"]
        assert c2["bytes_in"] == 5300 and c2["bytes_in_compressed"] - 300 < 100


def test_context_takeover_shrinks_repeated_messages(ctl):
    """The same message ten times: with context takeover each repeat is mostly one back-reference; without
    it every copy costs as much as the first. Both directions, so both peers' settings are honoured."""
    text = json.dumps({"action": "onMessage", "user": "vu-17", "body": "lorem ipsum dolor sit amet " * 40})
    sizes = {}
    with PyDeflateServer(params={}) as srv:
        for name, nct in (("keep", False), ("reset", True)):
            ctl.call("open", conn=name, url=srv.url + name,
                     deflate={"enabled": True, "client_no_context_takeover": nct, "server_no_context_takeover": nct})
            echo_all(ctl, name, [("text", text)] * 10)
            sizes[name] = ctl.call("status", conn=name)["deflate"]
    one = len(compress(text.encode()))
    for k in ("bytes_out_compressed", "bytes_in_compressed"):
        assert sizes["reset"][k] >= 9 * one
        assert sizes["keep"][k] < sizes["reset"][k] / 3


def test_server_without_deflate_leaves_it_off(ctl):
    with PyDeflateServer(off=True) as srv:
        r = ctl.call("open", conn="off", url=srv.url + "off", deflate={"enabled": True})
        assert srv.wait_for("connect", path="/off")[0]["offer"].startswith("permessage-deflate")
        assert r["deflate"] is None
        echo_all(ctl, "off")
        assert ctl.call("status", conn="off")["deflate"] is None


def test_deflate_is_opt_in(ctl):
    """Without `deflate` no offer is made, even to a server that would accept one."""
    with PyDeflateServer() as srv:
        r = ctl.call("open", conn="plain", url=srv.url + "plain")
        assert srv.wait_for("connect", path="/plain")[0]["offer"] is None
        assert r["deflate"] is None
        echo_all(ctl, "plain")
        assert ctl.call("status", conn="plain")["deflate"] is None


BAD_ANSWERS = [
    ({"enabled": True}, "x-webkit-deflate-frame", "extension 'x-webkit-deflate-frame', which was not offered"),
    (None, "permessage-deflate", "which was not offered"),
    ({"enabled": True}, "permessage-deflate, permessage-deflate", "twice"),
    ({"enabled": True}, "permessage-deflate; foo=1", "unknown parameter 'foo'"),
    ({"enabled": True}, "permessage-deflate; server_max_window_bits=16", "must be 8 to 15"),
    ({"enabled": True}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
     "repeats parameter"),
    ({"enabled": True}, "permessage-deflate; client_max_window_bits=10", "which was not offered"),
    ({"enabled": True, "server_max_window_bits": 10}, "permessage-deflate; server_max_window_bits=12",
     "above the offered 10"),
    ({"enabled": True, "server_no_context_takeover": True}, "permessage-deflate",
     "did not accept the offered server_no_context_takeover"),
]


@pytest.mark.parametrize("offer,answer,reason", BAD_ANSWERS)
def test_unacceptable_answer_fails_the_handshake(ctl, offer, answer, reason):
    params = {} if offer is None else {"deflate": offer}
    with RawDeflateServer(answer) as srv:
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="bad", url=srv.url, **params)
    assert e.value.code == "handshake_failed"
    assert reason in e.value.message
    rec = ctl.call("status", conn="bad")["record"]
    assert rec["cause"] == "handshake_failed"


def closed_record(ctl, conn, url, **open_params):
    try:
        ctl.call("open", conn=conn, url=url, **open_params)
    except RpcError as e:  # the peer's frames may end it before the open's reply
        assert e.code == "conn_closed", e
    return wait_state(ctl, conn, "closed", 5)["record"]


def test_compressed_bomb_closes_1009_without_inflating_it(daemon, ctl):
    """64 MB of zeros arrive as ~62 KB: the daemon stops inflating at max_message_bytes."""
    with PyDeflateServer(params={}) as srv:
        ctl.call("open", conn="bomb", url=srv.url + "bomb", deflate={"enabled": True},
                 max_message_bytes=1 << 20)
        rss_before = daemon.rss_kb()
        ctl.call("send", conn="bomb", data="bomb:64000000")
        rec = wait_state(ctl, "bomb", "closed", 20)["record"]
        rss_after = daemon.rss_kb()
    assert (rec["code"], rec["initiator"], rec["cause"]) == (1009, "client", "message_too_big")
    assert ctl.call("status", conn="bomb")["msgs_in"] == 0
    assert rss_after - rss_before < 16 * 1024  # KiB: inflating it would take 64 MB


def test_invalid_utf8_inside_compressed_text_closes_1007(ctl):
    with RawDeflateServer("permessage-deflate", [frame(compress(b"ok\xc3\x28"))]) as srv:
        rec = closed_record(ctl, "u8", srv.url, deflate={"enabled": True})
        closes = srv.wait_for("frame", opcode=8)
    assert (rec["code"], rec["initiator"]) == (1007, "client")
    assert closes and closes[0]["hex"][:4] == "03ef"


def test_corrupt_or_truncated_deflate_data_closes_1007(ctl):
    text = json.dumps([{"user": "vu-%d" % i, "seq": i * 7919 % 1000} for i in range(100)]).encode()
    cut = compress(text)[:len(compress(text)) // 2]
    for name, payload in (("garbage", b"\xff\xff\xff\xff\x12\x34"), ("cut", cut)):
        with RawDeflateServer("permessage-deflate", [frame(payload)]) as srv:
            rec = closed_record(ctl, name, srv.url, deflate={"enabled": True})
        assert (rec["code"], rec["initiator"]) == (1007, "client"), name


def test_rsv1_on_a_continuation_frame_closes_1002(ctl):
    first, rest = compress(b"hello hello")[:3], compress(b"hello hello")[3:]
    frames_hex = [frame(first, fin=False), frame(rest, opcode=0, rsv1=True)]
    with RawDeflateServer("permessage-deflate", frames_hex) as srv:
        rec = closed_record(ctl, "cont", srv.url, deflate={"enabled": True})
    assert (rec["code"], rec["cause"]) == (1002, "protocol_error")


def test_fragmented_compressed_message_from_the_peer(ctl):
    text = ("fragmented " * 300).encode()
    z = compress(text)
    frames_hex = [frame(z[:10], fin=False), frame(b"", opcode=9, rsv1=False), frame(z[10:20], opcode=0, fin=False, rsv1=False),
                  frame(z[20:], opcode=0, rsv1=False)]
    with RawDeflateServer("permessage-deflate", frames_hex) as srv:
        ctl.call("open", conn="frag", url=srv.url, deflate={"enabled": True})
        r = ctl.call("recv", conn="frag", timeout_ms=5000)
        assert (r["type"], r["data"]) == ("text", text.decode())
        pong = srv.wait_for("frame", opcode=10)
        assert pong and pong[0]["rsv"] == 0  # control frames are never compressed
        ctl.call("send", conn="frag", data="back")
        sent = srv.wait_for("frame", opcode=1)
        assert sent[0]["rsv"] == 4  # RSV1 on our data frame
        assert zlib.decompressobj(wbits=-15).decompress(bytes.fromhex(sent[0]["hex"]) + b"\x00\x00\xff\xff") == b"back"


IDLE_WARMUP, IDLE_CONNS = 50, 500


def idle_rss_per_conn(srv, deflate):
    """Daemon RSS per connection that exchanged one message each way and went idle; the first connections
    warm up the daemon's shared buffers and tables and are not counted."""
    params = {"deflate": deflate} if deflate else {}
    with Daemon() as d:
        c = d.client()
        for i in range(IDLE_WARMUP + IDLE_CONNS):
            if i == IDLE_WARMUP:
                before = d.rss_kb()
            c.call("open", conn="idle-%d" % i, url=srv.url + "idle", **params)
            c.call("send", conn="idle-%d" % i, data="hello " * 200)
            assert c.call("recv", conn="idle-%d" % i, timeout_ms=5000)["data"] == "hello " * 200
        after = d.rss_kb()
        d.stop()
    return (after - before) / IDLE_CONNS


@pytest.mark.skipif(daemon_is_sanitized(), reason="RSS of an ASan build says nothing about the daemon's memory")
def test_idle_connection_memory_with_and_without_context_takeover():
    """Without context takeover an idle deflate connection holds no zlib memory: it costs what a plain one
    does. With it, both zlib streams stay (documented in daemon/deflate.h)."""
    with PyDeflateServer(params={}) as srv:
        plain = idle_rss_per_conn(srv, None)
        no_takeover = idle_rss_per_conn(srv, {"enabled": True, "client_no_context_takeover": True,
                                              "server_no_context_takeover": True})
        takeover = idle_rss_per_conn(srv, {"enabled": True})
        small = idle_rss_per_conn(srv, {"enabled": True, "client_max_window_bits": 10, "server_max_window_bits": 10,
                                        "mem_level": 1})
    sys.stderr.write("RSS per idle connection (KiB): plain %.2f, deflate without context takeover %.2f, "
                     "with context takeover %.2f (10-bit windows, mem_level 1: %.2f)\n"
                     % (plain, no_takeover, takeover, small))
    assert no_takeover < plain + 1.0
    assert takeover > no_takeover + 8
    assert small < takeover / 3
