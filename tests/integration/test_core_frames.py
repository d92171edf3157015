"""Framing seen from the daemon: fragmentation, control frames mid-message, large messages."""

import hashlib
import os

from wsf_fixtures import PyServer, RawServer


def test_fragmented_message_from_websockets_is_delivered_whole(ctl):
    with PyServer("echo", greet_fragmented=["part one, ", "part two, ", "part three"]) as srv:
        ctl.call("open", conn="frag", url=srv.url)
        r = ctl.call("recv", conn="frag", timeout_ms=3000)
    assert (r["type"], r["data"]) == ("text", "part one, part two, part three")
    assert ctl.call("status", conn="frag")["msgs_in"] == 1


def test_ping_between_fragments_is_answered_and_the_message_reassembled(ctl):
    text = "a fragmented message that the client must reassemble ✓"
    with RawServer("fragmented", text=text) as srv:
        ctl.call("open", conn="rawfrag", url=srv.url)
        r = ctl.call("recv", conn="rawfrag", timeout_ms=3000)
        pongs = srv.wait_for("frame", op="pong")
        # Data still flows afterwards on the same connection.
        ctl.call("send", conn="rawfrag", data="after")
        assert ctl.call("recv", conn="rawfrag", timeout_ms=3000)["data"] == "after"
    assert r["data"] == text
    assert pongs and pongs[0]["data"] == "mid-fragment" and pongs[0]["masked"] is True


def test_one_mebibyte_binary_message_round_trips_intact(ctl, node_echo):
    blob = os.urandom(1 << 20)
    ctl.call("open", conn="mib", url=node_echo.url + "mib")
    r = ctl.call("request", conn="mib", data=blob, timeout_ms=10000)
    assert r["type"] == "binary" and len(r["data"]) == len(blob)
    assert hashlib.sha256(r["data"]).digest() == hashlib.sha256(blob).digest()
    pid = node_echo.conn_id("/mib")
    assert node_echo.wait_for("message", id=pid)[0]["len"] == len(blob)
