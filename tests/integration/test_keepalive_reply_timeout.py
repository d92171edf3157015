"""A reply deadline for application heartbeats (issue 13, PROTOCOL.md 6): with mode text or binary
and reply_contains, no matching reply within reply_timeout_ms (default: pong_timeout_ms) ends the
connection with cause reply_timeout, so a black-holed server is seen without ping keepalive."""

import time

from wsf_fixtures import RawServer, wait_state


def test_server_that_stops_answering_ends_with_reply_timeout(ctl):
    with RawServer("silent") as srv:  # reads and records frames, answers nothing
        t0 = time.monotonic()
        ctl.call("open", conn="bh", url=srv.url,
                 keepalive={"mode": "text", "interval_ms": 200, "jitter_ms": 0, "payload": "hb?",
                            "reply_contains": "hb", "reply_timeout_ms": 600})
        rec = wait_state(ctl, "bh", "closed", timeout=5)["record"]
        elapsed = time.monotonic() - t0
        assert srv.wait_for("frame", op="text")  # the heartbeats did go out
    assert (rec["code"], rec["initiator"], rec["clean"], rec["cause"]) == (1006, "none", False, "reply_timeout")
    assert 'no heartbeat reply containing "hb" within 600 ms' in rec["detail"], rec
    assert 0.6 <= elapsed < 3.0, elapsed
    assert "no heartbeat reply in time" in rec["summary"]


def test_answered_heartbeats_keep_the_connection(ctl, echo):
    ctl.call("open", conn="ans", url=echo.url,
             keepalive={"mode": "text", "interval_ms": 150, "jitter_ms": 0, "payload": "hb!",
                        "reply_contains": "hb", "reply_timeout_ms": 400})
    time.sleep(1.5)
    st = ctl.call("status", conn="ans")
    assert st["state"] == "open", st
    assert st["keepalive"]["replies"] >= 5 and st["keepalive"]["reply_timeout_ms"] == 400
    assert st["inbox"]["messages"] == 0  # replies stay out of the inbox


def test_reply_timeout_defaults_to_pong_timeout_and_needs_reply_contains(ctl):
    with RawServer("silent") as srv:
        ctl.call("open", conn="dflt", url=srv.url,
                 keepalive={"mode": "binary", "interval_ms": 100, "payload": "x", "reply_contains": "y",
                            "pong_timeout_ms": 700})
        assert ctl.call("status", conn="dflt")["keepalive"]["reply_timeout_ms"] == 700
        # Without reply_contains there is no reply to wait for: the silent server keeps it.
        ctl.call("open", conn="noreply", url=srv.url + "n",
                 keepalive={"mode": "text", "interval_ms": 100, "payload": "x", "pong_timeout_ms": 300})
        rec = wait_state(ctl, "dflt", "closed", timeout=5)["record"]
        assert rec["cause"] == "reply_timeout"
        time.sleep(0.6)
        assert ctl.call("status", conn="noreply")["state"] == "open"
