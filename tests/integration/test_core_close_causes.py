"""Every way a peer can end a connection leaves the right close record (PROTOCOL.md 7)."""

import time

from wsf_fixtures import PyServer, RawServer, RpcError, wait_state

RECORD_FIELDS = {"code", "reason", "initiator", "clean", "cause", "detail", "closed_at_ms", "age_us",
                 "since_sent_us", "since_recv_us", "since_ping_us", "since_pong_us", "open_conns",
                 "msgs_in", "msgs_out", "bytes_in", "bytes_out", "summary"}


def open_and_wait_closed(ctl, conn, url, timeout=5, **open_params):
    try:
        ctl.call("open", conn=conn, url=url, **open_params)
    except RpcError as e:  # the peer may end it before the open's reply: then conn_closed
        assert e.code == "conn_closed", e
    return wait_state(ctl, conn, "closed", timeout)["record"]


def test_server_close_frame_keeps_code_reason_and_initiator(ctl):
    with PyServer("close_after", after=1, close_code=4001, close_reason="server says bye") as srv:
        ctl.call("open", conn="sc", url=srv.url)
        ctl.call("send", conn="sc", data="x")
        rec = wait_state(ctl, "sc", "closed")["record"]
    assert set(rec) >= RECORD_FIELDS
    assert (rec["code"], rec["reason"], rec["initiator"], rec["clean"], rec["cause"]) == \
        (4001, "server says bye", "server", True, "server_close")
    assert rec["msgs_out"] == 1 and rec["bytes_out"] == 1 and rec["open_conns"] == 1
    assert rec["since_sent_us"] is not None and rec["since_ping_us"] is None
    assert rec["age_us"] > 0 and abs(rec["closed_at_ms"] / 1000 - time.time()) < 60
    assert "4001" in rec["summary"]


def test_server_close_frame_without_code_is_1005(ctl):
    with RawServer("close_no_code", delay_ms=100) as srv:
        rec = open_and_wait_closed(ctl, "nc", srv.url)
    assert (rec["code"], rec["initiator"], rec["cause"]) == (1005, "server", "server_close")


def test_tcp_fin_without_close_frame_is_1006_eof(ctl):
    with RawServer("fin", delay_ms=150) as srv:
        rec = open_and_wait_closed(ctl, "fin", srv.url)
        assert srv.wait_for("sending_fin")
    assert (rec["code"], rec["initiator"], rec["clean"], rec["cause"]) == (1006, "none", False, "eof")
    assert rec["age_us"] >= 100_000
    assert "1006" in rec["summary"]


def test_tcp_rst_is_1006_reset(ctl):
    with RawServer("rst", delay_ms=150) as srv:
        rec = open_and_wait_closed(ctl, "rst", srv.url)
    assert (rec["code"], rec["initiator"], rec["clean"], rec["cause"]) == (1006, "none", False, "reset")


def test_invalid_utf8_text_is_closed_with_1007(ctl):
    with RawServer("invalid_utf8") as srv:
        rec = open_and_wait_closed(ctl, "utf8", srv.url)
        close_frames = srv.wait_for("frame", op="close")
    assert (rec["code"], rec["initiator"], rec["cause"]) == (1007, "client", "invalid_utf8")
    # The peer really received a close frame carrying 1007.
    assert close_frames and close_frames[0]["len"] >= 2
    assert close_frames[0]["hex"][:4] == "03ef"  # 1007, big-endian


def test_message_over_max_message_bytes_is_closed_with_1009(ctl):
    with RawServer("oversized", size=5000) as srv:
        rec = open_and_wait_closed(ctl, "big", srv.url, max_message_bytes=4096)
    assert (rec["code"], rec["initiator"], rec["cause"]) == (1009, "client", "message_too_big")


def test_message_at_max_message_bytes_is_delivered(ctl):
    with RawServer("oversized", size=4096) as srv:
        ctl.call("open", conn="fits", url=srv.url, max_message_bytes=4096)
        r = ctl.call("recv", conn="fits", timeout_ms=3000)
    assert r["type"] == "binary" and len(r["data"]) == 4096


def test_reserved_opcode_is_a_protocol_error_1002(ctl):
    with RawServer("bad_opcode") as srv:
        rec = open_and_wait_closed(ctl, "proto", srv.url)
    assert (rec["code"], rec["cause"]) == (1002, "protocol_error")


def test_close_handshake_timeout_when_the_peer_never_answers(ctl):
    with RawServer("silent") as srv:
        ctl.call("open", conn="mute", url=srv.url)
        t0 = time.monotonic()
        r = ctl.call("close", conn="mute", code=1000, timeout_ms=300)
        took = time.monotonic() - t0
        assert srv.wait_for("frame", op="close")
    assert 0.25 <= took < 2.0, took
    assert (r["code"], r["initiator"], r["clean"]) == (1006, "client", False)
    assert r["record"]["cause"] == "timeout"
