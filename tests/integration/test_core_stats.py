"""stats counters and their invariant; reset (PROTOCOL.md 5 stats, reset)."""

import pytest

from wsf_fixtures import PyServer, RawServer, RpcError, closed_port, wait_state, wait_until


def invariant(s):
    return s["opened_total"] == s["open"] + s["closing"] + s["closed_total"]


def test_counters_follow_a_mixed_lifecycle_and_keep_the_invariant(ctl, echo):
    s = ctl.call("stats")
    assert invariant(s) and s["opened_total"] == 0 and s["uptime_us"] > 0
    for i in range(5):
        ctl.call("open", conn="s%d" % i, url=echo.url + "stats%d" % i)
    s = ctl.call("stats")
    assert (s["open"], s["opened_total"], s["closed_total"]) == (5, 5, 0) and invariant(s)

    ctl.call("request", conn="s0", data="12345", timeout_ms=3000)
    ctl.call("close", conn="s1", code=1000)
    ctl.call("close", conn="s2", code=4100)
    with PyServer("close_after", after=1, close_code=4200, close_reason="x") as srv:
        ctl.call("open", conn="s5", url=srv.url)
        ctl.call("send", conn="s5", data="bye")
        wait_state(ctl, "s5", "closed")
    with RawServer("fin", delay_ms=50) as srv:
        ctl.call("open", conn="s6", url=srv.url)
        wait_state(ctl, "s6", "closed")
    with pytest.raises(RpcError):
        ctl.call("open", conn="s7", url="ws://127.0.0.1:%d/" % closed_port())

    s = ctl.call("stats")
    assert invariant(s), s
    assert (s["open"], s["opened_total"], s["closed_total"], s["failed_total"]) == (3, 7, 4, 1)
    assert s["closed"] >= 4
    assert s["closes_by_code"].get("1000") == 1 and s["closes_by_code"].get("4100") == 1
    assert s["closes_by_code"].get("4200") == 1 and s["closes_by_code"].get("1006", 0) >= 1
    assert s["closes_by_cause"].get("local_close") == 2 and s["closes_by_cause"].get("server_close") == 1
    assert s["closes_by_cause"].get("eof") == 1
    assert s["msgs_out"] == 2 and s["bytes_out"] == 5 + 3 and s["msgs_in"] == 1 and s["bytes_in"] == 5
    assert s["control_clients"] == 1
    for k in ("p50", "p99", "max"):
        assert k in s["heartbeat_late_us"]


def test_reset_closes_everything_forgets_names_and_zeroes_counters(daemon, ctl, echo):
    for i in range(3):
        ctl.call("open", conn="r%d" % i, url=echo.url + "reset%d" % i)
    ctl.call("close", conn="r2")
    waiting = ctl.send("recv", {"conn": "r0", "timeout_ms": 5000})
    r = ctl.call("reset", code=1001, reason="between runs")
    assert (r["closed"], r["forgotten"]) == (2, 3)
    err, res = ctl.wait_response(waiting, 3)
    assert err is not None and err["code"] == "conn_closed" and err["record"]["cause"] == "daemon_reset"
    # The peers saw a close frame with the given code and reason.
    for i in (0, 1):
        pid = echo.conn_id("/reset%d" % i)
        closed = echo.wait_for("closed", id=pid)
        assert closed and (closed[0]["code"], closed[0]["reason"]) == (1001, "between runs")
    for name in ("r0", "r1", "r2"):
        with pytest.raises(RpcError) as e:
            ctl.call("status", conn=name)
        assert e.value.code == "no_such_conn"
    s = ctl.call("stats")
    assert (s["open"], s["closed"], s["opened_total"], s["closed_total"], s["msgs_in"]) == (0, 0, 0, 0, 0)
    assert ctl.call("list")["total"] == 0
    assert ctl.call("open", conn="r0", url=echo.url + "reset-again")["reused"] is False
    assert wait_until(lambda: invariant(ctl.call("stats")), 1)
