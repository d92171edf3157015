"""The HTTP upgrade: what is sent, what is checked, and how failures are reported (PROTOCOL.md 5 open)."""

import socket
import time

import pytest

from wsf_fixtures import PyServer, RawServer, RpcError, closed_port


def failed_open(ctl, **params):
    with pytest.raises(RpcError) as e:
        ctl.call("open", **params)
    return e.value


def test_request_carries_path_query_and_extra_headers(ctl):
    with PyServer("echo") as srv:
        url = srv.url + "chat/v1?org=42&x=y"
        ctl.call("open", conn="h", url=url, headers={"Origin": "http://tests.local", "Cookie": "sid=abc",
                                                      "Authorization": "Bearer t0k"})
        rec = srv.wait_for("connect")[0]
    assert rec["path"] == "/chat/v1?org=42&x=y"
    h = rec["headers"]
    assert h["origin"] == "http://tests.local" and h["cookie"] == "sid=abc" and h["authorization"] == "Bearer t0k"
    assert h["host"] == "127.0.0.1:%d" % srv.port
    assert h["sec-websocket-version"] == "13"
    assert ctl.call("status", conn="h")["url"] == url


def test_subprotocol_offered_and_selected_is_reported(ctl):
    with PyServer("echo", subprotocol=["chat.v2"]) as srv:
        r = ctl.call("open", conn="sp", url=srv.url, subprotocols=["chat.v1", "chat.v2"])
        rec = srv.wait_for("connect")[0]
    assert r["subprotocol"] == "chat.v2"
    assert rec["subprotocol"] == "chat.v2"
    assert [p.strip() for p in rec["headers"]["sec-websocket-protocol"].split(",")] == ["chat.v1", "chat.v2"]
    assert ctl.call("status", conn="sp")["subprotocol"] == "chat.v2"


def test_non_101_response_is_handshake_failed_with_status_and_body(daemon, ctl):
    body = "gateway overloaded, try later"
    with RawServer("http_status", status=503, status_text="Service Unavailable", body=body) as srv:
        e = failed_open(ctl, conn="h503", url=srv.url)
    assert e.code == "handshake_failed"
    assert e.details["http_status"] == 503
    assert e.details["body"] == body
    st = ctl.call("status", conn="h503")
    assert st["state"] == "closed"
    assert (st["record"]["cause"], st["record"]["code"]) == ("handshake_failed", 1006)
    ev = daemon.wait_event(lambda ev: ev.get("event") == "handshake_failed" and ev.get("conn") == "h503")
    assert ev and ev["error"]["code"] == "handshake_failed" and ev["error"]["http_status"] == 503
    assert ev["record"]["cause"] == "handshake_failed"


def test_a_refusal_s_retry_after_reaches_the_error_and_the_event_log(daemon, ctl):
    """A session cap or throttle says when to come back; the report's session_cap evidence uses it."""
    with RawServer("http_status", status=503, status_text="Service Unavailable", header=["Retry-After: 30"]) as srv:
        e = failed_open(ctl, conn="r503", url=srv.url)
    assert (e.code, e.details["http_status"], e.details["retry_after"]) == ("handshake_failed", 503, "30")
    ev = daemon.wait_event(lambda ev: ev.get("event") == "handshake_failed" and ev.get("conn") == "r503")
    assert ev and ev["error"]["retry_after"] == "30"
    # Server bytes that are not UTF-8 stay valid text in the reply and in the JSON log (U+FFFD).
    with RawServer("http_status", status=429, status_text="Too Many", header=["Retry-After: \\xff9"]) as srv:
        e = failed_open(ctl, conn="r429", url=srv.url)
    assert e.details["retry_after"] == "\ufffd9"
    ev = daemon.wait_event(lambda ev: ev.get("event") == "handshake_failed" and ev.get("conn") == "r429")
    assert ev and ev["error"]["retry_after"] == "\ufffd9"
    with RawServer("http_status", status=403) as srv:  # no header: no field
        e = failed_open(ctl, conn="r403", url=srv.url)
    assert "retry_after" not in e.details


def test_body_in_the_error_is_cut_at_512_bytes(ctl):
    with RawServer("http_status", status=401, status_text="Unauthorized", body="A" * 2000) as srv:
        e = failed_open(ctl, conn="h401", url=srv.url)
    assert e.details["http_status"] == 401
    assert e.details["body"] == "A" * 512


def test_wrong_sec_websocket_accept_is_refused(ctl):
    with RawServer("bad_accept") as srv:
        e = failed_open(ctl, conn="acc", url=srv.url)
    assert e.code == "handshake_failed" and e.details["http_status"] == 101
    assert ctl.call("status", conn="acc")["record"]["cause"] == "handshake_failed"


@pytest.mark.parametrize("offered", [[], ["chat.v1"]])
def test_subprotocol_not_offered_is_refused(ctl, offered):
    with RawServer("bad_subprotocol", subprotocol="evil.v9") as srv:
        e = failed_open(ctl, conn="nsp", url=srv.url, subprotocols=offered)
    assert e.code == "handshake_failed" and e.details["http_status"] == 101


def test_refused_connection_is_connect_error(ctl):
    e = failed_open(ctl, conn="refused", url="ws://127.0.0.1:%d/" % closed_port())
    assert e.code == "connect_error"
    assert "ECONNREFUSED" in e.details.get("detail", "") + e.message
    assert ctl.call("status", conn="refused")["record"]["cause"] == "connect_error"


def test_upgrade_that_never_answers_times_out_in_the_upgrade_phase(ctl):
    # A listening socket that accepts TCP (kernel backlog) but never answers the HTTP request.
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    try:
        t0 = time.monotonic()
        e = failed_open(ctl, conn="slow", url="ws://127.0.0.1:%d/" % lsock.getsockname()[1],
                        connect_timeout_ms=300)
        took = time.monotonic() - t0
    finally:
        lsock.close()
    assert e.code == "timeout" and e.details["phase"] == "upgrade"
    assert 0.28 <= took < 2.0, took
    assert ctl.call("status", conn="slow")["record"]["cause"] == "timeout"


def test_failed_opens_count_as_failed_not_opened(ctl):
    with RawServer("http_status", status=404, status_text="Not Found") as srv:
        failed_open(ctl, conn="f1", url=srv.url)
    failed_open(ctl, conn="f2", url="ws://127.0.0.1:%d/" % closed_port())
    s = ctl.call("stats")
    assert s["failed_total"] == 2
    assert s["opened_total"] == 0
    assert s["opened_total"] == s["open"] + s["closing"] + s["closed_total"]
