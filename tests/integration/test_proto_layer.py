"""open's protocol layer against python3-websockets peers (PROTOCOL.md §5, "Protocol layer"):
auto-reply rules, session steps, framing."""

import time

import pytest

from proto_fixtures import ProtoServer
from wsf_fixtures import RpcError, wait_until

RS = "\x1e"


def rules_of(ctl, conn):
    return {r["name"]: r for r in ctl.call("status", conn=conn)["auto_reply"]}


# ---- auto-reply ------------------------------------------------------------------------------------

def test_hello_reports_the_protocol_layer_limits(ctl):
    limits = ctl.call("hello")["limits"]
    assert (limits["max_auto_reply_rules"], limits["max_session_steps"], limits["max_captures"],
            limits["max_reply_bytes"]) == (32, 16, 16, 65536)


def test_auto_reply_answers_at_once_counts_and_keeps_matches_out_of_the_inbox(ctl):
    script = [{"on": "^go$", "send": ["PING 1", "PING 2", "hello", "PING 3"]}]
    with ProtoServer("script", script=script) as srv:
        ctl.call("open", conn="ar", url=srv.url,
                 auto_reply=[{"name": "pinger", "match": {"regex": "^PING ([0-9]+)$"}, "reply": "PONG $1 ($0) $$"}])
        ctl.call("send", conn="ar", data="go")
        assert ctl.call("recv", conn="ar", timeout_ms=3000)["data"] == "hello"
        got = srv.wait_for("message", count=4, timeout=3)
        st = ctl.call("status", conn="ar")
        stats = ctl.call("stats")
    assert [m["data"] for m in got] == ["go", "PONG 1 (PING 1) $", "PONG 2 (PING 2) $", "PONG 3 (PING 3) $"]
    assert st["auto_reply"] == [{"name": "pinger", "matched": 3, "replied": 3, "failed": 0}]
    assert st["inbox"]["messages"] == 0  # the three PINGs never reached it
    assert stats["auto_replies"] == {"pinger": 3}


def test_keep_in_inbox_answers_and_still_delivers(ctl):
    with ProtoServer("script", on_connect=["ask 7"]) as srv:
        ctl.call("open", conn="keep", url=srv.url,
                 auto_reply=[{"match": {"contains": "ask"}, "reply": "answer", "keep_in_inbox": True}])
        assert ctl.call("recv", conn="keep", timeout_ms=3000)["data"] == "ask 7"
        assert srv.wait_for("message", data="answer", timeout=3)
        assert rules_of(ctl, "keep")["rule0"]["replied"] == 1


def test_a_rule_without_reply_swallows_and_type_and_json_criteria_apply(ctl):
    with ProtoServer("script", on_connect=['{"type":6}', '{"type":1,"target":"x"}', "plain"]) as srv:
        ctl.call("open", conn="sw", url=srv.url,
                 auto_reply=[{"name": "ping6", "match": {"json_field": "type", "json_value": "6"}},
                             {"name": "bin-only", "match": {"type": "binary"}, "reply": "never"}])
        assert ctl.call("recv", conn="sw", timeout_ms=3000)["data"] == '{"type":1,"target":"x"}'
        assert ctl.call("recv", conn="sw", timeout_ms=3000)["data"] == "plain"
        rules = rules_of(ctl, "sw")
        assert rules["ping6"] == {"name": "ping6", "matched": 1, "replied": 0, "failed": 0}
        assert rules["bin-only"]["matched"] == 0
        assert not srv.records("message")


def test_auto_reply_uses_session_captures_and_the_first_rule_wins(ctl):
    script = [{"on": "^hello$", "send": ["welcome token=abc123", "PING"]}]
    with ProtoServer("script", script=script) as srv:
        ctl.call("open", conn="cap", url=srv.url,
                 session=[{"send": "hello", "expect": {"regex": "^welcome"},
                           "capture": {"token": {"regex": "token=([a-z0-9]+)"}}}],
                 auto_reply=[{"name": "first", "match": {"contains": "PING"}, "reply": "PONG ${token}"},
                             {"name": "second", "match": {"contains": "PI"}, "reply": "no"}])
        assert srv.wait_for("message", data="PONG abc123", timeout=3)
        st = ctl.call("status", conn="cap")
    assert st["session"] == {"token": "abc123"}
    assert [r["replied"] for r in st["auto_reply"]] == [1, 0]


def test_a_reply_over_64_kib_after_expansion_is_not_sent_and_counted(ctl):
    big = "x" * 40000
    with ProtoServer("script", on_connect=[big]) as srv:
        ctl.call("open", conn="big", url=srv.url, max_message_bytes=1 << 20,
                 auto_reply=[{"name": "twice", "match": {"regex": "^(x+)$"}, "reply": "$1$1"}])
        wait_until(lambda: rules_of(ctl, "big")["twice"]["matched"] == 1, 3)
        time.sleep(0.2)
        assert rules_of(ctl, "big")["twice"] == {"name": "twice", "matched": 1, "replied": 0, "failed": 1}
        assert ctl.call("stats")["auto_reply_failures"] == 1
        assert not srv.records("message")


@pytest.mark.parametrize("auto_reply,field", [
    ([{"reply": "x"}], "auto_reply[0].match"),
    ([{"match": {"regex": "("}}], "auto_reply[0].match"),
    ([{"match": {}, "reply": 5}], "auto_reply[0].reply"),
    ([{"match": {"type": "json"}}], "auto_reply[0].match.type"),
    ([{"match": {}, "name": "n" * 65}], "auto_reply[0].name"),
    ([{"match": {}}] * 33, "auto_reply"),
    ("rules", "auto_reply"),
])
def test_bad_auto_reply_is_refused_naming_the_field(ctl, auto_reply, field):
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="bad", url="ws://127.0.0.1:9/", auto_reply=auto_reply)
    assert e.value.code == "bad_request"
    assert field in e.value.message


# ---- session steps ---------------------------------------------------------------------------------

def test_session_steps_run_before_open_succeeds(ctl):
    script = [{"on": "^LOGIN", "send": ["OK session=s-42"]}, {"on": "^JOIN s-42$", "send": ["JOINED"]}]
    with ProtoServer("script", on_connect=["HELLO v1"], script=script) as srv:
        r = ctl.call("open", conn="ses", url=srv.url, session=[
            {"expect": {"contains": "HELLO"}, "capture": {"version": {"regex": "v([0-9]+)"}}},
            {"send": "LOGIN user", "expect": {"regex": "^OK"}, "capture": {"sid": {"regex": "session=(\\S+)"}}},
            {"send": "JOIN ${sid}", "expect": {"contains": "JOINED"}},
        ])
        st = ctl.call("status", conn="ses")
        msgs = [m["data"] for m in srv.wait_for("message", count=2, timeout=3)]
    assert msgs == ["LOGIN user", "JOIN s-42"]
    assert r["timings"]["session_us"] > 0
    assert r["timings"]["total_us"] >= r["timings"]["upgrade_us"] + r["timings"]["session_us"]
    assert st["state"] == "open" and st["session"] == {"version": "1", "sid": "s-42"}


def test_a_message_that_does_not_match_fails_the_open_in_the_session_phase(ctl, daemon):
    with ProtoServer("script", script=[{"on": "^auth", "send": ["DENIED: bad token"]}]) as srv:
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="deny", url=srv.url,
                     session=[{"send": "auth x", "expect": {"contains": "GRANTED"}}])
        closed = srv.wait_for("closed", timeout=3)
    err = e.value
    assert err.code == "handshake_failed"
    assert err.details["phase"] == "session" and err.details["step"] == 0
    assert err.details["http_status"] == 101 and err.details["body"] == "DENIED: bad token"
    assert "GRANTED" in err.message
    assert ctl.call("status", conn="deny")["record"]["cause"] == "session_failed"
    assert closed and closed[0]["code"] == 1000 and closed[0]["reason"] == "session setup failed"
    ev = daemon.wait_event(lambda e: e.get("event") == "handshake_failed" and e.get("conn") == "deny", 3)
    assert ev and (ev["error"]["phase"], ev["error"]["step"], ev["error"]["http_status"]) == ("session", 0, 101)
    assert ev["record"]["cause"] == "session_failed"


def test_subscribers_get_the_failed_step(ctl, daemon):
    watcher = daemon.client()
    watcher.call("subscribe", events=["handshake_failed"])
    with ProtoServer("script", on_connect=["nope"]) as srv:
        with pytest.raises(RpcError):
            ctl.call("open", conn="sub", url=srv.url, session=[{"expect": {"contains": "yes"}}])
    n = watcher.next_notification(timeout=3)
    assert (n["event"], n["conn"]) == ("handshake_failed", "sub")
    assert n["error"]["phase"] == "session" and n["error"]["step"] == 0 and n["error"]["body"] == "nope"
    assert watcher.call("stats")["session_failures"] == 1  # the stream after the notification still decodes


def test_skip_unmatched_puts_other_messages_in_the_inbox(ctl):
    with ProtoServer("script", on_connect=["noise 1", "noise 2", "READY"]) as srv:
        ctl.call("open", conn="skip", url=srv.url,
                 session=[{"expect": {"contains": "READY"}, "skip_unmatched": True}])
        assert ctl.call("recv", conn="skip", timeout_ms=1000)["data"] == "noise 1"
        assert ctl.call("recv", conn="skip", timeout_ms=1000)["data"] == "noise 2"


def test_a_step_that_gets_no_answer_times_out_with_phase_session(ctl):
    with ProtoServer("script") as srv:
        t0 = time.monotonic()
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="slow", url=srv.url,
                     session=[{"send": "hi", "expect": {"contains": "never"}, "timeout_ms": 300}])
        took = time.monotonic() - t0
    assert e.value.code == "timeout"
    assert e.value.details["phase"] == "session" and e.value.details["step"] == 0
    assert ctl.call("status", conn="slow")["record"]["cause"] == "session_failed"
    assert 0.3 <= took < 2.5
    assert ctl.call("status", conn="slow")["state"] == "closed"


def test_the_default_step_timeout_is_what_is_left_of_connect_timeout(ctl):
    with ProtoServer("script") as srv:
        t0 = time.monotonic()
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="left", url=srv.url, connect_timeout_ms=600,
                     session=[{"expect": {"contains": "never"}}])
        took = time.monotonic() - t0
    assert e.value.code == "timeout" and e.value.details["phase"] == "session"
    assert 0.5 <= took < 2.5


def test_the_server_closing_during_the_session_fails_the_open(ctl, daemon):
    with ProtoServer("script", script=[{"on": "hi", "send": [], "close": 4001}]) as srv:
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="gone", url=srv.url, session=[{"send": "hi", "expect": {"contains": "x"}}])
    assert e.value.code == "conn_closed"
    assert e.value.details["record"]["code"] == 4001
    # a failed open for the event log (and `wsfleet report`), not a silent end
    ev = daemon.wait_event(lambda e: e.get("event") == "handshake_failed" and e.get("conn") == "gone", 3)
    assert ev and ev["record"]["cause"] == "server_close"
    assert ctl.call("stats")["failed_total"] == 1


@pytest.mark.parametrize("session,field", [
    ([{}], "session[0].send"),
    ([{"expect": {"regex": "["}}], "session[0].expect"),
    ([{"send": "x", "capture": {"a": {"regex": "(x)"}}}], "session[0].capture"),
    ([{"expect": {}, "capture": {"a": {}}}], "session[0].capture.a"),
    ([{"expect": {}, "capture": {"a": {"regex": "x", "group": 12}}}], "session[0].capture.a.group"),
    ([{"expect": {}}] * 17, "session"),
])
def test_bad_session_is_refused_naming_the_field(ctl, session, field):
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="bad", url="ws://127.0.0.1:9/", session=session)
    assert e.value.code == "bad_request"
    assert field in e.value.message


# ---- framing ---------------------------------------------------------------------------------------

def test_record_separator_splits_records_and_joins_split_ones(ctl):
    script = [{"on": "^go", "send": ["a" + RS + "b" + RS + "c" + RS, "par", "tial" + RS + "last" + RS]}]
    with ProtoServer("script", script=script) as srv:
        ctl.call("open", conn="rs", url=srv.url, framing="record_separator")
        ctl.call("send", conn="rs", data="go")  # the daemon appends the separator
        ctl.call("send", conn="rs", data="already" + RS)  # not twice
        got = [ctl.call("recv", conn="rs", timeout_ms=3000)["data"] for _ in range(5)]
        sent = [m["data"] for m in srv.wait_for("message", count=2, timeout=3)]
    assert got == ["a", "b", "c", "partial", "last"]
    assert sent == ["go" + RS, "already" + RS]


def test_stomp_framing_counts_eol_heartbeats_and_splits_nul_frames(ctl):
    frames = "MESSAGE\ndestination:/q\n\nbody1\0\n\nMESSAGE\ndestination:/q\n\nbody2\0"
    script = [{"on": "^go", "send": ["\n", frames, "\r\n", "MESSAGE\n\nsp", "lit\0"]}]
    with ProtoServer("script", script=script) as srv:
        ctl.call("open", conn="st", url=srv.url, framing="stomp")
        ctl.call("send", conn="st", data="go")
        got = [ctl.call("recv", conn="st", timeout_ms=3000)["data"] for _ in range(3)]
        st = ctl.call("status", conn="st")
        sent = srv.wait_for("message", timeout=3)
    assert got == ["MESSAGE\ndestination:/q\n\nbody1", "MESSAGE\ndestination:/q\n\nbody2", "MESSAGE\n\nsplit"]
    assert st["keepalive"]["replies"] == 4  # "\n", "\n\n" between frames, "\r\n"
    assert st["inbox"]["messages"] == 0 and st["framing"] == "stomp"
    assert sent[0]["data"] == "go\0"


def test_a_record_that_never_ends_is_bounded_by_max_message_bytes(ctl):
    script = [{"on": "^go", "send": ["x" * 3000, "y" * 3000]}]
    with ProtoServer("script", script=script) as srv:
        ctl.call("open", conn="long", url=srv.url, framing="record_separator", max_message_bytes=4096)
        ctl.call("send", conn="long", data="go")
        wait_until(lambda: ctl.call("status", conn="long")["state"] == "closed", 3)
        rec = ctl.call("status", conn="long")["record"]
    assert rec["cause"] == "message_too_big" and rec["code"] == 1009
    assert "max_message_bytes" in rec["detail"]


def test_bad_framing_is_refused(ctl):
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="bad", url="ws://127.0.0.1:9/", framing="lines")
    assert e.value.code == "bad_request" and "framing" in e.value.message


# ---- metrics ---------------------------------------------------------------------------------------

def test_auto_replies_in_prometheus_by_rule_and_promtool_accepts_them():
    import http.client
    import shutil
    import subprocess

    from wsf_fixtures import Daemon, closed_port

    port = closed_port()
    with Daemon("--metrics", "127.0.0.1:%d" % port) as d, \
            ProtoServer("script", script=[{"on": "^go$", "send": ["PING", "PING", "ask"]}]) as srv:
        ctl = d.client()
        ctl.call("open", conn="m", url=srv.url,
                 auto_reply=[{"name": "pinger", "match": {"contains": "PING"}, "reply": "PONG"},
                             {"name": "asker", "match": {"contains": "ask"}, "reply": "$9" * 2}])
        ctl.call("send", conn="m", data="go")
        wait_until(lambda: ctl.call("stats")["auto_replies"].get("pinger") == 2, 3)
        with pytest.raises(RpcError):
            ctl.call("open", conn="bad", url=srv.url, session=[{"expect": {"contains": "never"}, "timeout_ms": 100}])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    lines = text.splitlines()
    assert 'wsfleet_auto_replies_total{rule="pinger"} 2' in lines
    assert 'wsfleet_auto_replies_total{rule="asker"} 1' in lines  # an empty reply is still a reply
    assert "wsfleet_session_failures_total 1" in lines
    assert 'wsfleet_closes_by_cause_total{cause="session_failed"} 1' in lines
    exe = shutil.which("promtool")
    if exe:
        checked = subprocess.run([exe, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
