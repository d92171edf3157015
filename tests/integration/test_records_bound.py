"""Close records are bounded (issue 14): the oldest records are forgotten beyond --max-records (a
plan using a new name per iteration grew the daemon by 131 MB per 100k names), `status` of a
forgotten name says so, and the unread messages of ended connections are bounded all together by
--max-closed-inbox-bytes, the oldest endings' first, so `recv` after close still finds the newest
ones' messages."""

from test_hostile_server import assert_rss_growth
from wsf_fixtures import Daemon, PyServer, RpcError, closed_port, wait_until


def fail_opens(ctl, names, url, batch=2000):
    """Opens that fail at once (refused): each leaves a close record under its name."""
    for start in range(0, len(names), batch):
        ids = ctl.send_many([("open", {"conn": n, "url": url}) for n in names[start:start + batch]])
        for msgid in ids:
            error, _ = ctl.wait_response(msgid, timeout=60)
            assert error is not None and error["code"] == "connect_error", error


def test_oldest_records_are_forgotten_and_status_says_so():
    url = "ws://127.0.0.1:%d/" % closed_port()
    with Daemon("--max-records", 100) as d:
        ctl = d.client(timeout=60)
        names = ["r%d" % i for i in range(300)]
        fail_opens(ctl, names, url)
        stats = ctl.call("stats")
        assert stats["closed"] == 100 and stats["records_forgotten"] == 200, stats
        assert stats["failed_total"] == 300
        assert ctl.call("status", conn="r299")["record"]["cause"] == "connect_error"
        assert ctl.call("status", conn="r200")["state"] == "closed"
        try:
            ctl.call("status", conn="r0")
            raise AssertionError("r0 should be forgotten")
        except RpcError as e:
            assert e.code == "no_such_conn" and e.details.get("forgotten") is True, e.as_dict()
            assert "forgotten" in e.message
        try:
            ctl.call("status", conn="never-opened")
            raise AssertionError("never-opened exists?")
        except RpcError as e:
            assert e.code == "no_such_conn" and "forgotten" not in e.details, e.as_dict()
        # Reopening a name brings it back; the count bound keeps holding.
        fail_opens(ctl, ["r0"], url)
        assert ctl.call("status", conn="r0")["state"] == "closed"
        assert ctl.call("stats")["closed"] == 100


def test_a_new_name_per_iteration_no_longer_grows_the_daemon():
    url = "ws://127.0.0.1:%d/" % closed_port()
    with Daemon("--max-records", 1000, "--max-connections", 5000) as d:
        ctl = d.client(timeout=120)
        fail_opens(ctl, ["warm%d" % i for i in range(2000)], url)
        rss0 = d.rss_kb()
        fail_opens(ctl, ["iter%d" % i for i in range(50000)], url)
        rss1 = d.rss_kb()
        stats = ctl.call("stats")
    # Unbounded, 50,000 records took ~65 MB (1.3 KB each).
    assert stats["closed"] == 1000 and stats["records_forgotten"] == 51000, stats
    assert_rss_growth(rss0, rss1, 8 * 1024)


def test_unread_messages_of_ended_connections_are_bounded_oldest_first():
    greeting = "g" * 100000
    with PyServer("echo", greet=greeting) as srv, Daemon("--max-closed-inbox-bytes", 300000) as d:
        ctl = d.client(timeout=30)
        for i in range(10):
            conn = "c%d" % i
            ctl.call("open", conn=conn, url=srv.url)
            assert wait_until(lambda: ctl.call("status", conn=conn)["inbox"]["messages"] == 1, 5)
            ctl.call("close", conn=conn)
        inboxes = [ctl.call("status", conn="c%d" % i)["inbox"] for i in range(10)]
        stats = ctl.call("stats")
        # The newest three endings keep their message (3 x 100,000 <= 300,000); recv after close gets it.
        assert [b["messages"] for b in inboxes] == [0] * 7 + [1] * 3, inboxes
        assert all(b["dropped"] == 1 for b in inboxes[:7]), inboxes
        assert stats["inbox_dropped"] == 7
        assert ctl.call("recv", conn="c9", timeout_ms=0)["data"] == greeting
        try:
            ctl.call("recv", conn="c0", timeout_ms=0)
            raise AssertionError("c0's message should be gone")
        except RpcError as e:
            assert e.code == "conn_closed", e.as_dict()
