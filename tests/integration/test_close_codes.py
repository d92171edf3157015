"""Close codes as sent (PROTOCOL.md 7): every code a server may put on the wire reaches the close
record unchanged, with its reason, initiator server and cause server_close, and the daemon echoes it
(RFC 6455 5.5.1); a code invalid on the wire ends the connection with 1002 from the client, and the
record names the server's code in its detail. wslay 1.1.1 alone stops at 1011: 1012 Service Restart,
1013 Try Again Later and 1014 Bad Gateway, which gateways shedding load send, are what this pins."""

import pytest

from wsf_fixtures import PyServer, RawServer, RpcError, wait_state

# python3-websockets sends only the codes valid on the wire: every boundary of those ranges.
VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
# A hand-written peer sends the others: every boundary of the invalid ranges.
INVALID = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]


def open_and_wait_closed(ctl, conn, url):
    try:
        ctl.call("open", conn=conn, url=url)
    except RpcError as e:  # the server may close before the open's reply: then conn_closed
        assert e.code == "conn_closed", e
    return wait_state(ctl, conn, "closed")["record"]


@pytest.mark.parametrize("code", VALID)
def test_code_a_server_may_send_reaches_the_record_as_sent(ctl, code):
    reason = "reason for %d: caf\u00e9" % code
    with PyServer("close_after", after=0, close_code=code, close_reason=reason) as srv:
        rec = open_and_wait_closed(ctl, "c%d" % code, srv.url)
        closed = srv.wait_for("closed")
    assert (rec["code"], rec["reason"], rec["initiator"], rec["clean"], rec["cause"]) == \
        (code, reason, "server", True, "server_close")
    assert rec["detail"] is None or "1002" not in rec["detail"]
    assert str(code) in rec["summary"]
    # The echo the server read carries the same code.
    assert closed and closed[0]["code"] == code


@pytest.mark.parametrize("code", INVALID)
def test_code_invalid_on_the_wire_is_failed_with_1002_and_named(ctl, code):
    with RawServer("close_code", close_code=code, close_reason="bad") as srv:
        rec = open_and_wait_closed(ctl, "c%d" % code, srv.url)
        frames = srv.wait_for("frame", op="close")
    assert (rec["code"], rec["initiator"], rec["clean"], rec["cause"]) == (1002, "client", False, "protocol_error")
    assert "close code %d" % code in rec["detail"], rec
    assert frames and frames[0]["hex"][:4] == "03ea"  # the client's close carries 1002


def test_1013_counts_under_its_own_code_in_stats(ctl):
    with PyServer("close_after", after=0, close_code=1013, close_reason="try again later") as srv:
        open_and_wait_closed(ctl, "s1", srv.url)
    stats = ctl.call("stats")
    by_code = stats.get("closes_by_code") or {}
    assert by_code.get("1013", by_code.get(1013)) == 1, stats
    assert not by_code.get("1002", by_code.get(1002)), stats
