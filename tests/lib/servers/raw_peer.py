#!/usr/bin/python3
"""A misbehaving WebSocket server on plain sockets: does the HTTP upgrade by hand, then breaks the
rules in one chosen way, so tests can pin how the daemon explains each failure.

Prints `READY <port>` once listening, then JSON lines like py_peer.py:
  {"ev": "connect", "id": n, "t": mono, "request": "GET /p HTTP/1.1", "path": "/p", "headers": {...}}
  {"ev": "frame", "id": n, "t": mono, "opcode": n, "op": "ping", "fin": b, "masked": b, "len": n, "data": str, "hex": hex}
  {"ev": "eof", "id": n, "t": mono} / {"ev": "reset", ...}

Modes (what happens after a correct 101 and --delay-ms, unless said otherwise):
  silent          read and record frames, never answer anything (no pong, no close echo)
  fin             shut the socket down with a FIN, no close frame
  rst             close with SO_LINGER 0 so the kernel sends RST
  invalid_utf8    send a text frame whose payload is not UTF-8, then record
  oversized       send one binary frame of --size bytes, then record
  fragmented      send --text split into 3 fragments with a ping between them, then echo
                  every complete text message as one frame
  bad_opcode      send a frame with reserved opcode 0x3 (a protocol error), then record
  close_no_code   send a close frame with an empty payload, then echo close
  close_code      send a close frame with --close-code (any 16-bit value, valid on the wire or not)
                  and --close-reason, then record
  bad_accept      answer 101 with a wrong Sec-WebSocket-Accept
  http_status     answer --status with --body (and each --header) instead of 101
  bad_subprotocol answer 101 selecting --subprotocol, whatever the client offered
Exits when stdin reaches EOF (its parent went away) or after --max-seconds.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPS = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
_lock = threading.Lock()


def emit(**rec):
    rec.setdefault("t", time.monotonic())
    with _lock:
        sys.stdout.write(json.dumps(rec) + "\n")
        sys.stdout.flush()


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def frame(opcode, payload, fin=True, rsv=0):
    """A server frame (never masked)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


def read_request(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None, None, b""
        buf += chunk
        if len(buf) > 65536:
            return None, None, b""
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, rest


class FrameReader:
    """Parses client frames (masked) from a byte stream."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            b = self.buf
            if len(b) < 2:
                break
            fin, opcode, masked, n = b[0] >> 7, b[0] & 0xF, b[1] >> 7, b[1] & 0x7F
            pos = 2
            if n == 126:
                if len(b) < 4:
                    break
                n = struct.unpack("!H", b[2:4])[0]
                pos = 4
            elif n == 127:
                if len(b) < 10:
                    break
                n = struct.unpack("!Q", b[2:10])[0]
                pos = 10
            key = b""
            if masked:
                if len(b) < pos + 4:
                    break
                key = b[pos:pos + 4]
                pos += 4
            if len(b) < pos + n:
                break
            payload = b[pos:pos + n]
            if masked:
                payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            self.buf = b[pos + n:]
            out.append((bool(fin), opcode, bool(masked), payload))
        return out


def show(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + data.hex()


class Conn:
    def __init__(self, sock, cid, args):
        self.sock, self.id, self.args = sock, cid, args
        self.reader = FrameReader()
        self.text_parts = None

    def run(self):
        a = self.args
        try:
            request, headers, rest = read_request(self.sock)
            if request is None:
                emit(ev="eof", id=self.id, phase="request")
                return
            parts = request.split()
            emit(ev="connect", id=self.id, request=request, path=parts[1] if len(parts) > 1 else "", headers=headers)
            key = headers.get("sec-websocket-key", "")
            if a.mode == "http_status":
                body = a.body.encode()
                # --header values may carry \xNN escapes, so a test can send bytes that are not UTF-8.
                extra = b"".join(h.encode().decode("unicode_escape").encode("latin-1") + b"\r\n" for h in a.header)
                self.sock.sendall(("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                                   % (a.status, a.status_text, len(body))).encode() + extra
                                  + b"Connection: close\r\n\r\n" + body)
                self.linger_then_close()
                return
            accept = accept_key(key)
            extra = ""
            if a.mode == "bad_accept":
                accept = base64.b64encode(hashlib.sha1(b"not the key").digest()).decode()
            if a.mode == "bad_subprotocol":
                extra = "Sec-WebSocket-Protocol: %s\r\n" % a.subprotocol
            self.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept, extra)).encode())
            self.after_handshake(rest)
        except (ConnectionResetError, BrokenPipeError):
            emit(ev="reset", id=self.id)
        except OSError as e:
            emit(ev="error", id=self.id, error=str(e))
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def linger_then_close(self):
        # Let the client read everything and close first, then go away.
        self.sock.settimeout(2)
        try:
            while self.sock.recv(4096):
                pass
        except OSError:
            pass

    def after_handshake(self, rest):
        a = self.args
        delay = a.delay_ms / 1000.0
        if a.mode in ("fin", "rst", "close_no_code", "close_code"):
            self.record_for(delay, rest)
            rest = b""
            if a.mode == "fin":
                emit(ev="sending_fin", id=self.id)
                self.sock.shutdown(socket.SHUT_WR)
            elif a.mode == "rst":
                emit(ev="sending_rst", id=self.id)
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.sock.close()
                return
            elif a.mode == "close_code":
                emit(ev="sending_close", id=self.id, code=a.close_code)
                self.sock.sendall(frame(8, struct.pack("!H", a.close_code) + a.close_reason.encode()))
            else:
                emit(ev="sending_close", id=self.id)
                self.sock.sendall(frame(8, b""))
        elif delay:
            self.record_for(delay, rest)
            rest = b""
        if a.mode == "invalid_utf8":
            self.sock.sendall(frame(1, b"bad \xff\xfe utf8"))
        elif a.mode == "oversized":
            self.sock.sendall(frame(2, b"x" * a.size))
        elif a.mode == "bad_opcode":
            self.sock.sendall(frame(3, b"reserved"))
        elif a.mode == "fragmented":
            parts = [a.text[:len(a.text) // 3], a.text[len(a.text) // 3:2 * len(a.text) // 3],
                     a.text[2 * len(a.text) // 3:]]
            self.sock.sendall(frame(1, parts[0].encode(), fin=False))
            self.sock.sendall(frame(9, b"mid-fragment"))
            self.sock.sendall(frame(0, parts[1].encode(), fin=False))
            self.sock.sendall(frame(0, parts[2].encode(), fin=True))
        self.record_for(None, rest)

    def record_for(self, seconds, rest):
        """Reads and records frames for `seconds` (None: until the peer goes away)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        data = rest
        while True:
            if data:
                for fin, opcode, masked, payload in self.reader.feed(data):
                    emit(ev="frame", id=self.id, opcode=opcode, op=OPS.get(opcode), fin=fin, masked=masked,
                         len=len(payload), data=show(payload[:256]), hex=payload[:256].hex())
                    self.react(fin, opcode, payload)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.sock.settimeout(left)
            else:
                self.sock.settimeout(None)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            if not data:
                emit(ev="eof", id=self.id)
                if deadline is None:
                    return
                time.sleep(max(0.0, deadline - time.monotonic()))
                return

    def react(self, fin, opcode, payload):
        a = self.args
        if a.mode in ("silent", "fin", "rst", "close_code"):
            return
        if opcode == 8:
            self.sock.sendall(frame(8, payload))
            return
        if a.mode == "fragmented":
            if opcode == 9:
                self.sock.sendall(frame(10, payload))
            elif opcode in (0, 1):
                self.text_parts = (self.text_parts or b"") + payload if opcode == 0 else payload
                if fin:
                    self.sock.sendall(frame(1, self.text_parts))
                    self.text_parts = None


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True, choices=["silent", "fin", "rst", "invalid_utf8", "oversized", "fragmented",
                                                      "bad_opcode", "close_no_code", "close_code", "bad_accept",
                                                      "http_status", "bad_subprotocol"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--text", default="fragmented message reassembled by the client")
    ap.add_argument("--status", type=int, default=403)
    ap.add_argument("--status-text", default="Forbidden")
    ap.add_argument("--body", default="")
    ap.add_argument("--header", action="append", default=[], help="extra response header (http_status mode)")
    ap.add_argument("--subprotocol", default="not-offered")
    ap.add_argument("--close-code", type=int, default=1000)
    ap.add_argument("--close-reason", default="")
    ap.add_argument("--max-seconds", type=float, default=900)
    args = ap.parse_args()

    threading.Thread(target=watch_stdin, daemon=True).start()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, args.port))
    srv.listen(1024)
    sys.stdout.write("READY %d\n" % srv.getsockname()[1])
    sys.stdout.flush()
    threading.Timer(args.max_seconds, lambda: os._exit(0)).start()
    cid = 0
    while True:
        sock, _ = srv.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid += 1
        threading.Thread(target=Conn(sock, cid, args).run, daemon=True).start()


if __name__ == "__main__":
    main()
