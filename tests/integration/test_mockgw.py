"""The mock gateway's options, each seen the way a user sees them: through wsfleetd's close records
(and the gateway's own counters where the daemon cannot see the policy). Durations are short and
the bounds generous: each test pins a behaviour, not a benchmark."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))

from mockgw_runner import MockGw  # noqa: E402
from wsf_fixtures import RpcError, wait_state, wait_until  # noqa: E402


def record(ctl, conn, timeout=5):
    return wait_state(ctl, conn, "closed", timeout)["record"]


def open_quiet(ctl, conn, url, **kw):
    return ctl.call("open", conn=conn, url=url, keepalive={"mode": "none"}, **kw)


def ping_keepalive(interval_ms, pong_timeout_ms=2000):
    return {"mode": "ping", "interval_ms": interval_ms, "jitter_ms": 0, "pong_timeout_ms": pong_timeout_ms}


def messages(ctl, conn, n, timeout_ms=2000):
    return [json.loads(ctl.call("recv", conn=conn, timeout_ms=timeout_ms)["data"]) for _ in range(n)]


# ---- idle timeout and what counts as activity ----------------------------------------------------

def test_idle_timeout_drops_a_quiet_session_after_the_timeout(ctl):
    with MockGw("--idle-timeout", "0.4", "--drop", "fin") as gw:
        open_quiet(ctl, "a", gw.url)
        ctl.call("send", conn="a", data=json.dumps({"action": "configureSession"}))
        t0 = time.monotonic()
        rec = record(ctl, "a")
        assert rec["code"] == 1006 and rec["cause"] == "eof" and rec["initiator"] == "none"
        assert 400_000 <= rec["since_sent_us"] < 1_400_000
        assert time.monotonic() - t0 < 2
        (drop,) = gw.drops(1)
        assert drop["reason"] == "idle" and drop["open"] == 1 and drop["silence_s"] >= 0.4


def test_activity_any_counts_pings_as_activity(ctl):
    with MockGw("--idle-timeout", "0.5", "--activity", "any") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=ping_keepalive(150))
        time.sleep(1.5)
        assert ctl.call("status", conn="a")["state"] == "open"
        assert gw.stats()["pings_in"] >= 5


def test_activity_data_ignores_pings_but_counts_messages(ctl):
    with MockGw("--idle-timeout", "0.5", "--activity", "data", "--drop", "rst") as gw:
        ctl.call("open", conn="pinging", url=gw.url, keepalive=ping_keepalive(150))
        ctl.call("open", conn="talking", url=gw.url, keepalive={
            "mode": "text", "interval_ms": 150, "jitter_ms": 0,
            "payload": json.dumps({"action": "echo", "message": "hb"}), "reply_contains": "\"hb\""})
        rec = record(ctl, "pinging", timeout=3)
        # Dropped although its last frame (a ping) went out well inside the timeout.
        assert rec["code"] == 1006 and rec["cause"] == "reset"
        assert rec["since_sent_us"] < 400_000 and rec["age_us"] >= 500_000
        time.sleep(1.0)
        st = ctl.call("status", conn="talking")
        assert st["state"] == "open" and st["keepalive"]["replies"] >= 5


# ---- overload mode ---------------------------------------------------------------------------------

def test_overload_shrinks_the_idle_timeout_only_while_above_the_threshold(ctl):
    args = ("--idle-timeout", "30", "--overload-above", "2", "--overload-idle-timeout", "0.5", "--drop", "fin")
    with MockGw(*args) as gw:
        for name in ("q1", "q2"):
            open_quiet(ctl, name, gw.url)
        time.sleep(1.0)  # quiet for twice the overload timeout, but only 2 open: not overloaded
        assert [ctl.call("status", conn=n)["state"] for n in ("q1", "q2")] == ["open", "open"]
        open_quiet(ctl, "q3", gw.url)  # 3 > 2: engage; an overdue session goes at once
        dropped = wait_until(lambda: [n for n in ("q1", "q2") if ctl.call("status", conn=n)["state"] == "closed"], 3)
        assert len(dropped) == 1
        rec = ctl.call("status", conn=dropped[0])["record"]
        assert rec["code"] == 1006 and rec["cause"] == "eof"
        assert rec["open_conns"] == 3 and rec["age_us"] >= 1_000_000
        # Back to 2 open: disengaged, so the other quiet sessions keep the long timeout.
        time.sleep(1.0)
        alive = [n for n in ("q1", "q2", "q3") if ctl.call("status", conn=n)["state"] == "open"]
        assert len(alive) == 2 and "q3" in alive
        stats = gw.stats()
        assert stats["overload_engaged"] == 1 and stats["overload_disengaged"] == 1
        assert {k: v for k, v in stats["drops"].items() if v} == {"idle_overload": 1}
        (drop,) = gw.drops(1)
        assert drop["reason"] == "idle_overload" and drop["open"] == 3 and drop["timeout_s"] == 0.5


def test_overload_drops_sessions_quiet_longer_than_the_short_timeout_while_engaged(ctl):
    with MockGw("--idle-timeout", "30", "--overload-above", "1", "--overload-idle-timeout", "0.4") as gw:
        open_quiet(ctl, "busy", gw.url)
        ctl.call("open", conn="kept", url=gw.url, keepalive=ping_keepalive(100))
        rec = record(ctl, "busy", timeout=3)
        assert rec["code"] == 1006 and rec["cause"] == "reset" and rec["open_conns"] == 2
        assert 400_000 <= rec["age_us"] < 2_000_000
        assert ctl.call("status", conn="kept")["state"] == "open"


# ---- required heartbeat ----------------------------------------------------------------------------

def test_require_heartbeat_accepts_pings_or_echo_and_drops_other_traffic(ctl):
    with MockGw("--require-heartbeat", "0.5", "--drop", "fin") as gw:
        ctl.call("open", conn="ping", url=gw.url, keepalive=ping_keepalive(150))
        ctl.call("open", conn="echo", url=gw.url, keepalive={
            "mode": "text", "interval_ms": 150, "jitter_ms": 0,
            "payload": json.dumps({"action": "echo", "message": "hb"}), "reply_contains": "\"hb\""})
        ctl.call("open", conn="chat", url=gw.url, keepalive={
            "mode": "text", "interval_ms": 150, "jitter_ms": 0,
            "payload": json.dumps({"action": "configureSession"}), "reply_contains": "SessionResponse"})
        rec = record(ctl, "chat", timeout=3)
        assert rec["code"] == 1006 and rec["cause"] == "eof" and rec["since_sent_us"] < 400_000
        time.sleep(0.5)
        assert [ctl.call("status", conn=n)["state"] for n in ("ping", "echo")] == ["open", "open"]
        assert [d["reason"] for d in gw.drops(1)] == ["heartbeat"]


# ---- drop styles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("style,cause", [("rst", "reset"), ("fin", "eof")])
def test_drop_without_close_frame_is_1006_with_the_tcp_cause(ctl, style, cause):
    with MockGw("--idle-timeout", "0.3", "--drop", style) as gw:
        open_quiet(ctl, "a", gw.url)
        rec = record(ctl, "a")
        assert (rec["code"], rec["cause"], rec["initiator"], rec["clean"]) == (1006, cause, "none", False)


@pytest.mark.parametrize("code", [None, 4000])
def test_drop_close_frame_sends_the_code_and_reason(ctl, code):
    args = ["--idle-timeout", "0.3", "--drop", "close-frame"] + (["--close-code", str(code)] if code else [])
    with MockGw(*args) as gw:
        open_quiet(ctl, "a", gw.url)
        rec = record(ctl, "a")
        assert rec["code"] == (code or 1001) and rec["reason"] == "idle timeout"
        assert rec["cause"] == "server_close" and rec["initiator"] == "server" and rec["clean"] is True


def test_drop_silent_answers_nothing_so_only_the_pong_timeout_notices(ctl):
    # --activity data: the daemon's pings do not keep it alive, and once dropped they go unanswered.
    with MockGw("--idle-timeout", "0.3", "--activity", "data", "--drop", "silent") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=ping_keepalive(200, pong_timeout_ms=300))
        rec = record(ctl, "a", timeout=5)
        assert rec["cause"] == "pong_timeout" and rec["code"] == 1006
        assert [d["style"] for d in gw.drops(1)] == ["silent"]


# ---- session cap -----------------------------------------------------------------------------------

def test_max_sessions_503_refuses_the_handshake_above_the_cap(ctl):
    with MockGw("--max-sessions", "2") as gw:
        open_quiet(ctl, "a", gw.url)
        open_quiet(ctl, "b", gw.url)
        with pytest.raises(RpcError) as e:
            open_quiet(ctl, "c", gw.url)
        assert e.value.code == "handshake_failed" and e.value.details["http_status"] == 503
        ctl.call("close", conn="a")
        wait_until(lambda: gw.stats()["open"] == 1, 3)
        open_quiet(ctl, "c", gw.url)  # room again
        assert gw.stats()["rejected_cap"] == 1


def test_max_sessions_event_mode_upgrades_then_closes_with_an_event(ctl):
    with MockGw("--max-sessions", "1", "--max-sessions-mode", "event") as gw:
        open_quiet(ctl, "a", gw.url)
        open_quiet(ctl, "b", gw.url)
        msg = json.loads(ctl.call("recv", conn="b", timeout_ms=2000)["data"])
        assert msg["type"] == "message" and msg["class"] == "ConnectionClosedEvent"
        rec = record(ctl, "b")
        assert rec["code"] == 1000 and rec["cause"] == "server_close"
        assert ctl.call("status", conn="a")["state"] == "open"


# ---- chat protocol and rate limit ------------------------------------------------------------------

def test_chat_actions_answer_as_documented(ctl):
    with MockGw("--agent-delay", "0.3") as gw:
        open_quiet(ctl, "a", gw.url)
        r = ctl.call("request", conn="a", data=json.dumps({"action": "configureSession", "token": "t"}),
                     timeout_ms=2000)
        assert json.loads(r["data"]) == {"type": "response", "class": "SessionResponse", "code": 200,
                                         "body": {"connected": True}}
        r = ctl.call("request", conn="a", data=json.dumps({"action": "echo", "message": {"type": "Text",
                                                                                          "text": "é \"q\""}}),
                     timeout_ms=2000)
        assert json.loads(r["data"]) == {"type": "response", "class": "string", "code": 200, "body": "é \"q\""}
        t0 = time.monotonic()
        ctl.call("send", conn="a", data=json.dumps({"action": "onMessage", "message": {"text": "hello"}}))
        first, agent = messages(ctl, "a", 2)
        waited = time.monotonic() - t0
        assert first["type"] == "response" and first["body"]["text"] == "hello"
        assert agent["type"] == "message" and agent["body"]["direction"] == "Outbound"
        assert agent["body"]["text"] == "agent reply to: hello" and waited >= 0.3
        for bad in ("not json", "{\"action\":", "[1,2]", "{\"action\":\"nope\"}", "{\"x\":1}"):
            err = json.loads(ctl.call("request", conn="a", data=bad, timeout_ms=2000)["data"])
            assert err["code"] == 400 and err["type"] == "response", bad
        assert ctl.call("status", conn="a")["state"] == "open"


def test_rate_limit_answers_429_beyond_n_messages_per_window(ctl):
    with MockGw("--rate-limit", "3", "--rate-window", "10") as gw:
        open_quiet(ctl, "a", gw.url)
        for i in range(5):
            ctl.call("send", conn="a", data=json.dumps({"action": "echo", "message": str(i)}))
        got = messages(ctl, "a", 5)
        assert [m["code"] for m in got] == [200, 200, 200, 429, 429]
        assert [m["body"] for m in got[:3]] == ["0", "1", "2"]
        assert got[3]["class"] == "TooManyRequestsErrorMessage" and 0 < got[3]["body"]["retryAfterMs"] <= 10000
        assert gw.stats()["rate_limited"] == 2


def test_echo_mode_returns_every_data_frame_verbatim(ctl):
    with MockGw("--echo") as gw:
        open_quiet(ctl, "a", gw.url)
        blob = bytes(range(256)) * 300
        r = ctl.call("request", conn="a", data=blob, timeout_ms=2000)
        assert r["type"] == "binary" and r["data"] == blob
        r = ctl.call("request", conn="a", data="not a chat action", timeout_ms=2000)
        assert r["data"] == "not a chat action"


# ---- time scale, handshake delay, server pings, TLS ------------------------------------------------

def test_time_scale_multiplies_every_duration(ctl):
    with MockGw("--time-scale", "0.1", "--idle-timeout", "5", "--handshake-delay", "3") as gw:
        r = open_quiet(ctl, "a", gw.url)
        assert 300_000 <= r["timings"]["upgrade_us"] < 1_500_000
        ctl.call("send", conn="a", data=json.dumps({"action": "configureSession"}))
        rec = record(ctl, "a", timeout=5)
        assert 500_000 <= rec["since_sent_us"] < 1_500_000
        (drop,) = gw.drops(1)
        assert drop["timeout_s"] == 0.5 and drop["timeout_unscaled_s"] == 5.0
        assert 5.0 <= drop["silence_unscaled_s"] < 10 and drop["silence_s"] >= 0.5


def test_handshake_delay_holds_the_101(ctl):
    with MockGw("--handshake-delay", "0.4") as gw:
        r = open_quiet(ctl, "a", gw.url)
        assert r["timings"]["upgrade_us"] >= 400_000


def test_server_ping_is_answered_by_the_daemon(ctl):
    with MockGw("--server-ping", "0.1") as gw:
        open_quiet(ctl, "a", gw.url)
        time.sleep(0.8)
        stats = gw.stats()
        assert stats["pings_out"] >= 4 and stats["pongs_in"] >= stats["pings_out"] - 1
        assert ctl.call("status", conn="a")["since_recv_us"] < 500_000


def test_tls_serves_wss_with_the_given_certificate(ctl, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True, timeout=60)
    with MockGw("--tls", cert, key, "--echo", "--idle-timeout", "0.5", "--drop", "fin") as gw:
        assert gw.url.startswith("wss://")
        r = ctl.call("open", conn="a", url=gw.url, tls={"ca_file": str(cert)}, keepalive={"mode": "none"})
        assert r["tls"]["verified"] is True
        assert ctl.call("request", conn="a", data="over tls", timeout_ms=2000)["data"] == "over tls"
        rec = record(ctl, "a")
        # A FIN under TLS arrives without close_notify only if the gateway skips it; ours sends it.
        assert rec["code"] == 1006 and rec["cause"] in ("tls_close_notify", "eof")


def test_deflate_is_negotiated_only_when_enabled_and_compresses_both_ways(ctl):
    text = "the same words again and again, " * 64
    with MockGw("--echo", "--deflate") as gw:
        r = ctl.call("open", conn="z", url=gw.url, deflate={"server_no_context_takeover": True})
        assert r["deflate"]["server_no_context_takeover"] is True
        assert ctl.call("request", conn="z", data=text, timeout_ms=2000)["data"] == text
        d = ctl.call("status", conn="z")["deflate"]
        assert d["bytes_out"] == d["bytes_in"] == len(text)
        assert d["bytes_out_compressed"] < len(text) / 4 and d["bytes_in_compressed"] < len(text) / 4
        # Not offered: not agreed, even by a gateway that accepts it.
        assert ctl.call("open", conn="plain", url=gw.url)["deflate"] is None
    with MockGw("--echo") as gw:  # offered to a gateway without --deflate: declined
        assert ctl.call("open", conn="declined", url=gw.url, deflate={})["deflate"] is None
        assert ctl.call("request", conn="declined", data=text, timeout_ms=2000)["data"] == text


# ---- robustness ------------------------------------------------------------------------------------

def test_garbage_requests_get_400_and_the_gateway_keeps_serving(ctl):
    with MockGw() as gw:
        for junk in (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", b"\x00\xff\xfe junk\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(junk)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            assert data.startswith(b"HTTP/1.1 400"), (junk, data[:80])
        # Broken frames after a valid upgrade: the session ends, the gateway lives.
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 101")
        s.sendall(b"\x81\x05hello" + os.urandom(64))  # unmasked: a protocol error from a client
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        s.close()
        open_quiet(ctl, "a", gw.url)
        r = ctl.call("request", conn="a", data=json.dumps({"action": "echo", "message": "still here"}),
                     timeout_ms=2000)
        assert json.loads(r["data"])["body"] == "still here"
        assert gw.stats()["rejected_bad_request"] == 4


def test_ipv6_host_and_stats_file(ctl, tmp_path):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    stats_file = tmp_path / "stats.json"
    with MockGw("--host", "::1", "--stats-file", stats_file) as gw:
        assert gw.url == "ws://[::1]:%d/" % gw.port
        open_quiet(ctl, "a", gw.url)
        ctl.call("close", conn="a")
        final = gw.stop()
    written = json.loads(stats_file.read_text())
    assert written == final and written["handshakes"] == 1 and written["client_close_frames"] == 1
