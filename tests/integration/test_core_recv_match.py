"""recv matching, waiting, discarding and timeouts (PROTOCOL.md 5 recv)."""

import time

import pytest

from wsf_fixtures import RpcError, wait_until, PyServer, wait_state


def fill(ctl, conn, url, messages):
    """Opens conn on the echo peer and lets each message come back into its inbox."""
    ctl.call("open", conn=conn, url=url + conn)
    for m in messages:
        ctl.call("send", conn=conn, data=m)
    assert wait_until(lambda: ctl.call("status", conn=conn)["inbox"]["messages"] == len(messages), 3), \
        ctl.call("status", conn=conn)


def test_contains_takes_the_oldest_match_and_keeps_the_rest(ctl, echo):
    fill(ctl, "c", echo.url, ["alpha 1", "beta 2", "alpha 3", "beta 4"])
    r = ctl.call("recv", conn="c", contains="beta", timeout_ms=0)
    assert r["data"] == "beta 2" and r["inbox"] == 3 and r["discarded"] == 0
    assert ctl.call("recv", conn="c", timeout_ms=0)["data"] == "alpha 1"
    assert ctl.call("recv", conn="c", contains="beta", timeout_ms=0)["data"] == "beta 4"
    assert ctl.call("recv", conn="c", timeout_ms=0)["data"] == "alpha 3"


def test_regex_is_posix_extended_and_matches_anywhere(ctl, echo):
    fill(ctl, "re", echo.url, ["order 17 placed", "ORDER x", "id=42;", "zzz"])
    assert ctl.call("recv", conn="re", regex="[0-9]+;$", timeout_ms=0)["data"] == "id=42;"
    assert ctl.call("recv", conn="re", regex="(placed|shipped)", timeout_ms=0)["data"] == "order 17 placed"
    assert ctl.call("recv", conn="re", regex="^OR(DE)?R [a-z]$", timeout_ms=0)["data"] == "ORDER x"
    with pytest.raises(RpcError) as e:
        ctl.call("recv", conn="re", regex="(unclosed", timeout_ms=0)
    assert e.value.code == "bad_request"


def test_json_field_matches_strings_unquoted_and_literals_as_written(ctl, echo):
    msgs = ['{"class":"A","n":1}', '{"class":"B","body":{"type":"x"}}', '{"n":2,"ok":true}',
            'not json', '{"class":"C","v":null}']
    fill(ctl, "js", echo.url, msgs)
    assert ctl.call("recv", conn="js", json_field="body.type", json_value="x", timeout_ms=0)["data"] == msgs[1]
    assert ctl.call("recv", conn="js", json_field="ok", json_value="true", timeout_ms=0)["data"] == msgs[2]
    assert ctl.call("recv", conn="js", json_field="v", json_value="null", timeout_ms=0)["data"] == msgs[4]
    assert ctl.call("recv", conn="js", json_field="n", json_value="1", timeout_ms=0)["data"] == msgs[0]
    with pytest.raises(RpcError) as e:
        ctl.call("recv", conn="js", json_field="class", json_value="A", timeout_ms=0)
    assert e.value.code == "timeout"
    # json_field alone: the field exists.
    fill(ctl, "js2", echo.url, ['{"a":1}', '{"class":"Z"}'])
    assert ctl.call("recv", conn="js2", json_field="class", timeout_ms=0)["data"] == '{"class":"Z"}'


def test_all_criteria_must_hold(ctl, echo):
    fill(ctl, "all", echo.url, ['{"class":"A","msg":"no"}', '{"class":"A","msg":"yes"}'])
    r = ctl.call("recv", conn="all", json_field="class", json_value="A", contains="yes", timeout_ms=0)
    assert r["data"] == '{"class":"A","msg":"yes"}'


def test_discard_unmatched_drops_older_non_matching_messages(ctl, echo):
    fill(ctl, "d", echo.url, ["noise 1", "noise 2", "target", "after"])
    r = ctl.call("recv", conn="d", contains="target", discard_unmatched=True, timeout_ms=0)
    assert (r["data"], r["discarded"], r["inbox"]) == ("target", 2, 1)
    assert ctl.call("recv", conn="d", timeout_ms=0)["data"] == "after"


def test_timeout_waits_about_timeout_ms_and_keeps_the_inbox(ctl, echo):
    fill(ctl, "to", echo.url, ["present"])
    t0 = time.monotonic()
    with pytest.raises(RpcError) as e:
        ctl.call("recv", conn="to", contains="absent", timeout_ms=300)
    took = time.monotonic() - t0
    assert e.value.code == "timeout"
    assert 0.28 <= took < 1.5, took
    assert ctl.call("status", conn="to")["inbox"]["messages"] == 1
    with pytest.raises(RpcError) as e:
        ctl.call("recv", conn="to", contains="absent", timeout_ms=0)
    assert e.value.code == "timeout"


def test_a_waiting_recv_gets_a_message_that_arrives_later(ctl, echo):
    ctl.call("open", conn="w", url=echo.url + "w")
    waiting = ctl.send("recv", {"conn": "w", "contains": "late", "timeout_ms": 5000})
    time.sleep(0.2)
    ctl.call("send", conn="w", data="early")
    ctl.call("send", conn="w", data="late one")
    err, res = ctl.wait_response(waiting, timeout=6)
    assert err is None, err
    assert res["data"] == "late one"
    assert res["waited_us"] >= 150_000
    # The non-matching message went to the inbox.
    assert ctl.call("recv", conn="w", timeout_ms=0)["data"] == "early"


def test_waiters_are_served_first_come_first_served(daemon, ctl, echo):
    ctl.call("open", conn="fifo", url=echo.url + "fifo")
    other = daemon.client()
    first = ctl.send("recv", {"conn": "fifo", "timeout_ms": 5000})
    time.sleep(0.1)
    second = other.send("recv", {"conn": "fifo", "timeout_ms": 5000})
    time.sleep(0.1)
    ctl.call("send", conn="fifo", data="one")
    ctl.call("send", conn="fifo", data="two")
    assert ctl.wait_response(first, timeout=6)[1]["data"] == "one"
    assert other.wait_response(second, timeout=6)[1]["data"] == "two"


def test_a_long_recv_does_not_hold_up_later_requests(ctl, echo):
    ctl.call("open", conn="ooo", url=echo.url + "ooo")
    slow = ctl.send("recv", {"conn": "ooo", "timeout_ms": 1500})
    fast = ctl.send("stats", {})
    msgid, err, res = ctl.recv_response(timeout=3)
    assert msgid == fast and err is None and "uptime_us" in res
    msgid, err, res = ctl.recv_response(timeout=3)
    assert msgid == slow and err["code"] == "timeout"


def test_messages_left_in_the_inbox_outlive_the_connection():
    # The peer greets, then closes at once: the greeting must still be readable.
    from wsf_fixtures import Daemon
    with Daemon() as d, PyServer("close_after", after=0, greet=["last words"], close_code=4002,
                                 close_reason="gone") as srv:
        ctl = d.client()
        try:
            ctl.call("open", conn="ghost", url=srv.url)
        except RpcError as e:  # the close may race the open's reply: the record says so
            assert e.code == "conn_closed", e
        wait_state(ctl, "ghost", "closed")
        assert ctl.call("recv", conn="ghost", timeout_ms=0)["data"] == "last words"
        with pytest.raises(RpcError) as e:
            ctl.call("recv", conn="ghost", timeout_ms=1000)
        assert e.value.code == "conn_closed"
        assert e.value.details["record"]["code"] == 4002


def test_a_waiter_is_told_when_the_connection_ends():
    from wsf_fixtures import Daemon
    with Daemon() as d, PyServer("close_after", after=1, close_code=4003, close_reason="after one") as srv:
        ctl = d.client()
        ctl.call("open", conn="end", url=srv.url)
        waiting = ctl.send("recv", {"conn": "end", "contains": "never", "timeout_ms": 5000})
        ctl.call("send", conn="end", data="trigger")
        err, res = ctl.wait_response(waiting, timeout=6)
        assert err is not None and err["code"] == "conn_closed", (err, res)
        assert err["record"]["code"] == 4003 and err["record"]["reason"] == "after one"
