"""Control replies are msgpack in its shortest forms, byte for byte what msgpack-c (and python
msgpack) pack: the views (status, stats, close records) are written straight into the output
buffer by rpc_pack.c, not through msgpack-c's packer (issue 19), so this pins the bytes."""

import socket

import msgpack

LONG_NAME = "b\u00fc\u00df" + "x" * 40  # not ASCII, and past a fixstr


def raw_call(sock, msgid, method, params):
    """(the reply's bytes as the daemon sent them, the reply decoded)."""
    sock.sendall(msgpack.packb([0, msgid, method, [params] if params is not None else []]))
    buf = b""
    while True:
        data = sock.recv(1 << 20)
        assert data, "the daemon closed the control connection"
        buf += data
        u = msgpack.Unpacker(raw=False)
        u.feed(buf)
        try:
            obj = next(u)
        except StopIteration:
            continue
        assert u.tell() == len(buf), "one reply per request"
        return buf, obj


def test_status_stats_list_and_errors_are_packed_in_the_shortest_forms(daemon, ctl, echo):
    ctl.call("open", conn="a", url=echo.url + "a", keepalive={"mode": "ping", "interval_ms": 1000})
    ctl.call("open", conn=LONG_NAME, url=echo.url + "b", headers={"X-Long": "v" * 300})
    for i in range(200):  # a counter in 128..255 (uint8) and one past (uint16)
        ctl.call("send", conn="a", data="m%d" % i)
    ctl.call("close", conn=LONG_NAME)  # a close record in its status
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.socket)
    s.settimeout(5)
    calls = [("status", {"conn": "a"}), ("status", {"conn": LONG_NAME}), ("stats", None), ("hello", None),
             ("list", {}), ("status", {"conn": "nope"}), ("no_such_method", None)]
    for msgid, (method, params) in enumerate(calls):
        raw, reply = raw_call(s, msgid, method, params)
        assert reply[1] == msgid
        assert raw == msgpack.packb(reply, use_bin_type=True), (method, params)
    _, st = raw_call(s, 99, "status", {"conn": "a"})
    assert 128 <= st[3]["msgs_out"] <= 255 and st[3]["bytes_out"] > 255
    _, st = raw_call(s, 100, "status", {"conn": LONG_NAME})
    assert st[3]["conn"] == LONG_NAME and st[3]["record"] is not None
    s.close()


def test_request_and_recv_replies_carry_the_message_in_the_shortest_str_or_bin(daemon, ctl, echo):
    ctl.call("open", conn="e", url=echo.url + "e")
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.socket)
    s.settimeout(10)
    msgid = 0
    # fixstr / str8 / str16 / str32 edges, and bin8 / bin16 / bin32; 600,000 bytes are more than the
    # socket takes at once: the rest is written from the output buffer handed over (rpc_io.c)
    for n in (0, 31, 32, 255, 256, 65535, 65536, 70000, 600000):
        for data in ("\u00fc" * (n // 2) + "a" * (n % 2), b"\x00\xff" * (n // 2) + b"b" * (n % 2)):
            msgid += 1
            raw, reply = raw_call(s, msgid, "request", {"conn": "e", "data": data})
            assert reply[2] is None and reply[3]["data"] == data
            assert raw == msgpack.packb(reply, use_bin_type=True), (n, type(data))
    ctl.call("send", conn="e", data="queued")
    raw, reply = raw_call(s, msgid + 1, "recv", {"conn": "e"})
    assert reply[3]["data"] == "queued" and raw == msgpack.packb(reply, use_bin_type=True)
    s.close()
