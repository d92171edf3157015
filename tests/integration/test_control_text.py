"""Everything the daemon sends as a msgpack str is UTF-8 (PROTOCOL.md §3): text a server wrote (a
handshake body, a response header) has each invalid byte replaced by U+FFFD; a connection name
with a NUL byte or invalid UTF-8 is refused. A client with a strict decoder (raw=False,
unicode_errors="strict") must be able to read every response."""

import socket

import msgpack
import pytest

from test_fault_server import ScriptedServer, read_request, response_101


def strict_call(daemon, method, params):
    """One request on a fresh connection, decoded with a strict UTF-8 decoder."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(daemon.socket)
    s.sendall(msgpack.packb([0, 1, method, [params]], use_bin_type=True))
    u = msgpack.Unpacker(raw=False, unicode_errors="strict")
    try:
        while True:
            chunk = s.recv(65536)
            assert chunk, "daemon closed the connection"
            u.feed(chunk)
            for m in u:  # raises UnicodeDecodeError on a str that is not UTF-8
                return m
    finally:
        s.close()


def _refuses_with_a_latin1_body(sock, srv):
    read_request(sock)
    body = b"Zugriff verweigert: \xe4\xf6\xfc \xff\xfe"
    sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=latin1\r\nContent-Length: %d\r\n\r\n"
                 % len(body) + body)
    srv.go.wait(5)


def _accepts_with_a_latin1_header(sock, srv):
    _, headers, _ = read_request(sock)
    sock.sendall(response_101(headers)[:-2] + b"X-Greeting: gr\xfc\xdf Gott\r\n\r\n")
    srv.go.wait(10)


def test_a_handshake_body_that_is_not_utf8_arrives_as_valid_str_with_replacements(daemon):
    with ScriptedServer(_refuses_with_a_latin1_body) as srv:
        msg = strict_call(daemon, "open", {"conn": "latin", "url": "ws://127.0.0.1:%d/" % srv.port})
        srv.go.set()
    err = msg[2]
    assert err["code"] == "handshake_failed" and err["http_status"] == 403, err
    assert err["body"] == "Zugriff verweigert: \ufffd\ufffd\ufffd \ufffd\ufffd", err["body"]


def test_a_response_header_that_is_not_utf8_arrives_as_valid_str_with_replacements(daemon):
    with ScriptedServer(_accepts_with_a_latin1_header) as srv:
        msg = strict_call(daemon, "open", {"conn": "hdr", "url": "ws://127.0.0.1:%d/" % srv.port})
        assert msg[2] is None, msg
        headers = {k.lower(): v for k, v in msg[3]["headers"].items()}
        assert headers["x-greeting"] == "gr\ufffd\ufffd Gott", headers
        srv.go.set()


@pytest.mark.parametrize("name", [b"a\x00b", b"\xff\xfe", b"half \xe2\x82"])
def test_a_name_with_a_nul_byte_or_invalid_utf8_is_refused(daemon, ctl, echo, name):
    """Before: accepted; "a\\0b" then showed as "a" in the event log and metrics."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(daemon.socket)
    # Raw str bytes: msgpack-python would not pack invalid UTF-8 from a Python str.
    body = b"\x94\x00\x07\xa4open\x91\x82\xa4conn" + bytes([0xa0 | len(name)]) + name + b"\xa3url" + \
        msgpack.packb(echo.url)
    s.sendall(body)
    u = msgpack.Unpacker(raw=False, unicode_errors="strict")
    msg = None
    while msg is None:
        chunk = s.recv(65536)
        assert chunk
        u.feed(chunk)
        for m in u:
            msg = m
    s.close()
    assert msg[1] == 7 and msg[2]["code"] == "bad_request" and "NUL" in msg[2]["message"], msg
    assert ctl.call("stats")["opened_total"] == 0
    assert ctl.call("open", conn="ok \u00e4", url=echo.url)["conn"] == "ok \u00e4"
