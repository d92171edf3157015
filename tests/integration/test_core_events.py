"""Every close cause, the JSON-lines event log, and subscribe notifications (PROTOCOL.md 5, 7, 10)."""

import json
import signal

from wsf_fixtures import Daemon, PyServer, RawServer, RpcError, wait_state


def end(ctl, conn, url, **open_params):
    try:
        ctl.call("open", conn=conn, url=url, **open_params)
    except RpcError as e:
        assert e.code == "conn_closed", e
    return wait_state(ctl, conn, "closed", 5)


def test_each_cause_is_produced_and_logged_as_status_reports_it():
    with Daemon() as d, PyServer("close_after", after=1, close_code=4005, close_reason="srv") as closer, \
            PyServer("echo") as echo, RawServer("fin", delay_ms=50) as fin, RawServer("rst", delay_ms=50) as rst, \
            RawServer("silent") as silent, RawServer("bad_opcode", delay_ms=50) as bad:
        ctl = d.client()
        ctl.call("open", conn="c-server", url=closer.url)
        ctl.call("send", conn="c-server", data="close please")
        wait_state(ctl, "c-server", "closed")
        end(ctl, "c-eof", fin.url)
        end(ctl, "c-reset", rst.url)
        end(ctl, "c-proto", bad.url)
        end(ctl, "c-pong", silent.url, keepalive={"mode": "ping", "interval_ms": 100, "jitter_ms": 0,
                                                   "pong_timeout_ms": 200})
        ctl.call("open", conn="c-local", url=echo.url)
        ctl.call("close", conn="c-local")
        expected = {"c-server": "server_close", "c-eof": "eof", "c-reset": "reset", "c-proto": "protocol_error",
                    "c-pong": "pong_timeout", "c-local": "local_close"}
        records = {c: ctl.call("status", conn=c)["record"] for c in expected}
        assert {c: r["cause"] for c, r in records.items()} == expected

        by_cause = ctl.call("stats")["closes_by_cause"]
        for cause in expected.values():
            assert by_cause.get(cause) == 1, (cause, by_cause)

        closes = {e["conn"]: e for e in d.events("close")}
        assert set(expected) <= set(closes)
        for conn, rec in records.items():
            ev = closes[conn]
            assert ev["record"] == rec, conn
            assert isinstance(ev["at_ms"], int)
        opens = {e["conn"]: e for e in d.events("open")}
        assert set(expected) <= set(opens)
        assert opens["c-local"]["url"] == echo.url
        assert opens["c-local"]["timings"]["total_us"] > 0 and opens["c-local"]["open_conns"] >= 1


def test_event_log_starts_and_stops_and_every_line_is_json():
    with Daemon() as d, PyServer("echo") as echo:
        ctl = d.client()
        ctl.call("open", conn="live", url=echo.url)
        ctl.call("send", conn="live", data=b"\x00binary never logged")
        ctl.call("recv", conn="live", timeout_ms=3000)
        status = d.stop(signal.SIGTERM)
        assert status == 0, d.log()
        with open(d.events_path, "rb") as f:
            raw = f.read()
        assert raw.endswith(b"\n")
        lines = [json.loads(line) for line in raw.splitlines()]
        kinds = [e["event"] for e in lines]
        assert kinds[0] == "start" and kinds[-1] == "stop"
        assert lines[0]["pid"] == d.pid and isinstance(lines[0]["config"], dict) and lines[0]["version"]
        # Connections still open at SIGTERM are closed with cause shutdown, before the stop line.
        close = [e for e in lines if e["event"] == "close" and e["conn"] == "live"]
        assert len(close) == 1 and close[0]["record"]["cause"] == "shutdown"
        assert lines[-1]["stats"]["opened_total"] == 1
        assert echo.wait_for("closed"), "the peer never saw the connection end"
        assert all(isinstance(e["at_ms"], int) for e in lines)
        assert [e["at_ms"] for e in lines] == sorted(e["at_ms"] for e in lines)


def test_subscribe_delivers_open_and_close_events_to_that_client_only(daemon, ctl, echo):
    watcher, bystander = daemon.client(), daemon.client()
    assert sorted(watcher.call("subscribe", events=["open", "close"])["events"]) == ["close", "open"]
    ctl.call("open", conn="sub", url=echo.url + "sub")
    closed = ctl.call("close", conn="sub", code=4321, reason="observed")
    n_open = watcher.next_notification(timeout=3)
    n_close = watcher.next_notification(timeout=3)
    assert (n_open["_method"], n_open["event"], n_open["conn"]) == ("event", "open", "sub")
    assert n_open["url"] == echo.url + "sub" and "total_us" in n_open["timings"]
    assert (n_close["event"], n_close["conn"]) == ("close", "sub")
    assert n_close["record"] == closed["record"]
    assert n_close["record"]["code"] == 4321 and n_close["record"]["reason"] == "observed"
    # Not subscribed: nothing arrives before its own reply.
    bystander.call("stats")
    assert not bystander.notifications
    # Unsubscribe: nothing more.
    assert watcher.call("subscribe", events=[]) == {"events": []}
    ctl.call("open", conn="sub2", url=echo.url + "sub2")
    ctl.call("close", conn="sub2")
    watcher.call("stats")
    assert not watcher.notifications


def test_subscribe_handshake_failed_events(daemon, ctl):
    watcher = daemon.client()
    watcher.call("subscribe", events=["handshake_failed"])
    with RawServer("http_status", status=429, status_text="Too Many Requests", body="slow down") as srv:
        try:
            ctl.call("open", conn="hf", url=srv.url)
        except RpcError as e:
            assert e.code == "handshake_failed"
    n = watcher.next_notification(timeout=3)
    assert n["event"] == "handshake_failed" and n["conn"] == "hf"
    assert n["error"]["http_status"] == 429 and n["record"]["cause"] == "handshake_failed"
