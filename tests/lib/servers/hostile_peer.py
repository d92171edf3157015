#!/usr/bin/python3
"""A hostile WebSocket server on plain sockets: does the upgrade by hand (raw_peer.py's helpers),
then attacks the client's memory in one chosen way. Its receive buffer is small, so a peer that
never reads pushes back on the client at once.

Prints `READY <port>` once listening, then JSON lines:
  {"ev": "connect", "id": n, "path": "/p"}
  {"ev": "sent", "id": n, "bytes": n, "frames": n}   when an attack's bytes are all written
  {"ev": "gone", "id": n, "error": str}              the client went away mid-attack

Modes (after a correct 101; none of them ever reads again):
  ping_flood       --bytes of pings with 2-byte payloads, as fast as the client takes them
  never_read       nothing: holds the connection without reading (the client's output piles up)
  tiny_fragments   a text message opened and continued by --frames 1-byte continuation frames, never
                   finished
Exits when stdin reaches EOF (its parent went away) or after --max-seconds.
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_peer import accept_key, emit, frame, read_request, watch_stdin  # noqa: E402

CHUNK = 1 << 20


def ping_flood(sock, cid, total):
    one = b"".join(frame(9, struct.pack("!H", i & 0xFFFF)) for i in range(CHUNK // 4))
    sent = frames = 0
    while sent < total:
        sock.sendall(one)
        sent += len(one)
        frames += CHUNK // 4
    emit(ev="sent", id=cid, bytes=sent, frames=frames)


def tiny_fragments(sock, cid, count):
    sock.sendall(frame(1, b"x", fin=False))
    one = frame(0, b"y", fin=False) * (CHUNK // 3)
    frames = 1
    while frames < count:
        n = min(CHUNK // 3, count - frames)
        sock.sendall(one if n == CHUNK // 3 else one[:3 * n])
        frames += n
    emit(ev="sent", id=cid, bytes=3 * frames, frames=frames)


def serve(sock, cid, args):
    try:
        request, headers, _ = read_request(sock)
        if request is None:
            return
        parts = request.split()
        emit(ev="connect", id=cid, path=parts[1] if len(parts) > 1 else "")
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(headers.get("sec-websocket-key", "")))
                     .encode())
        if args.mode == "ping_flood":
            ping_flood(sock, cid, args.bytes)
        elif args.mode == "tiny_fragments":
            tiny_fragments(sock, cid, args.frames)
        time.sleep(args.max_seconds)  # hold the connection, never read
    except OSError as e:
        emit(ev="gone", id=cid, error=str(e))
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True, choices=["ping_flood", "never_read", "tiny_fragments"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--bytes", type=int, default=32 << 20)
    ap.add_argument("--frames", type=int, default=1 << 20)
    ap.add_argument("--rcvbuf", type=int, default=4096)
    ap.add_argument("--max-seconds", type=float, default=300)
    args = ap.parse_args()

    threading.Thread(target=watch_stdin, daemon=True).start()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)  # inherited by accepted sockets
    srv.bind((args.host, 0))
    srv.listen(64)
    sys.stdout.write("READY %d\n" % srv.getsockname()[1])
    sys.stdout.flush()
    threading.Timer(args.max_seconds, lambda: os._exit(0)).start()
    cid = 0
    while True:
        sock, _ = srv.accept()
        cid += 1
        threading.Thread(target=serve, args=(sock, cid, args), daemon=True).start()


if __name__ == "__main__":
    main()
