"""Inbox bounds: overflow drops the oldest message and is counted, never silent (PROTOCOL.md 9)."""

import pytest

from wsf_fixtures import wait_until


def test_overflow_by_count_drops_the_oldest_and_is_counted_everywhere(daemon, ctl, echo):
    sub = daemon.client()
    sub.call("subscribe", events=["drop"])
    ctl.call("open", conn="ov", url=echo.url + "ov", inbox={"max_messages": 3})
    for i in range(8):
        ctl.call("send", conn="ov", data="m%d" % i)
    assert wait_until(lambda: ctl.call("status", conn="ov")["inbox"]["dropped"] == 5, 3), \
        ctl.call("status", conn="ov")
    st = ctl.call("status", conn="ov")
    assert st["inbox"]["messages"] == 3
    assert st["msgs_in"] == 8
    assert ctl.call("stats")["inbox_dropped"] == 5
    assert [ctl.call("recv", conn="ov", timeout_ms=0)["data"] for _ in range(3)] == ["m5", "m6", "m7"]

    note = sub.next_notification(timeout=3)
    assert note["_method"] == "event" and note["event"] == "drop" and note["conn"] == "ov"
    assert note["dropped"] >= 1 and isinstance(note["at_ms"], int)
    drops = daemon.wait_event(lambda e: e.get("event") == "drop" and e.get("dropped") == 5)
    assert drops and drops["conn"] == "ov"


def test_overflow_by_bytes_keeps_the_newest_that_fit(ctl, echo):
    ctl.call("open", conn="ovb", url=echo.url + "ovb", inbox={"max_bytes": 100})
    for i in range(5):
        ctl.call("send", conn="ovb", data="%d" % i * 40)
    assert wait_until(lambda: ctl.call("status", conn="ovb")["msgs_in"] == 5, 3)
    st = ctl.call("status", conn="ovb")
    assert st["inbox"]["messages"] == 2 and st["inbox"]["bytes"] == 80 and st["inbox"]["dropped"] == 3
    assert ctl.call("recv", conn="ovb", timeout_ms=0)["data"] == "3" * 40


@pytest.mark.parametrize("daemon_args", [("--inbox-max-messages", "2")])
def test_daemon_wide_inbox_default_applies_to_every_connection(daemon, ctl, echo):
    assert ctl.call("hello")["limits"]["inbox_max_messages"] == 2
    ctl.call("open", conn="dflt", url=echo.url + "dflt")
    for i in range(4):
        ctl.call("send", conn="dflt", data="d%d" % i)
    assert wait_until(lambda: ctl.call("status", conn="dflt")["inbox"]["dropped"] == 2, 3)
    assert ctl.call("stats")["inbox_dropped"] == 2


def test_messages_taken_by_a_waiter_never_enter_the_inbox(ctl, echo):
    ctl.call("open", conn="direct", url=echo.url + "direct", inbox={"max_messages": 1})
    for i in range(5):
        assert ctl.call("request", conn="direct", data="r%d" % i, timeout_ms=3000)["data"] == "r%d" % i
    assert ctl.call("status", conn="direct")["inbox"]["dropped"] == 0
