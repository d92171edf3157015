"""The mock gateway's models of server behaviours other than an idle timeout (tests/mockgw/README.md),
each seen through wsfleetd's close records: the code, the initiator and the cause a report reads to
name the behaviour. Durations are short and the bounds generous: each test pins a behaviour."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))

from mockgw_runner import MockGw, mockgw_binary  # noqa: E402
from wsf_fixtures import RpcError, wait_state, wait_until  # noqa: E402

QUIET = {"mode": "none"}


def ping_keepalive(interval_ms, pong_timeout_ms=2000):
    return {"mode": "ping", "interval_ms": interval_ms, "jitter_ms": 0, "pong_timeout_ms": pong_timeout_ms}


def open_and_wait_closed(ctl, conn, url, timeout=5, **params):
    """Opens conn (an end during the handshake is fine) and returns its close record."""
    try:
        ctl.call("open", conn=conn, url=url, **params)
    except RpcError as e:
        assert e.code == "conn_closed", e
    return wait_state(ctl, conn, "closed", timeout)["record"]


def record(ctl, conn, timeout=5):
    return wait_state(ctl, conn, "closed", timeout)["record"]


def state(ctl, conn):
    return ctl.call("status", conn=conn)["state"]


def gateway_age_us(rec, opened):
    """The session's age as the gateway counts it: from the 101 it wrote. The daemon's record counts
    from the 101 it read, up to the open's upgrade time later."""
    return rec["age_us"] + opened["timings"]["upgrade_us"]


def server_close(rec, code, reason):
    """The record of a close frame the server sent, as sent."""
    return (rec["code"], rec["reason"], rec["initiator"], rec["cause"]) == (code, reason, "server", "server_close")


def upgrade_response(port, timeout=5):
    """The gateway's raw answer to an upgrade request (status line and headers)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    head = data.split(b"\r\n\r\n")[0].decode()
    lines = head.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers


def python_client_close(url):
    """What python3-websockets, a client that reads every registered code, sees: (code, reason)."""
    import websockets

    async def run():
        async with websockets.connect(url) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as e:
                return e.rcvd.code, e.rcvd.reason
        return None

    return asyncio.run(run())


# ---- session cap: by close code, by 503/429 with Retry-After ---------------------------------------

def test_cap_close_records_the_servers_code_and_reason(ctl):
    with MockGw("--max-sessions", "2", "--max-sessions-mode", "close") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=QUIET)
        ctl.call("open", conn="b", url=gw.url, keepalive=QUIET)
        # On the wire, as python3-websockets (which reads every registered code) sees it.
        assert python_client_close(gw.url) == (1013, "try again later")
        rec = open_and_wait_closed(ctl, "c", gw.url, keepalive=QUIET)
        # Needs the close-code fix (h14a): wslay alone turns 1013 into 1002 protocol_error.
        assert server_close(rec, 1013, "try again later"), rec
        assert rec["age_us"] < 1_000_000 and rec["open_conns"] <= 3
        assert [state(ctl, n) for n in ("a", "b")] == ["open", "open"]
        assert gw.stats()["cap_closes"] == 2


def test_cap_close_code_and_reason_are_chosen(ctl):
    with MockGw("--max-sessions", "1", "--max-sessions-mode", "close", "--cap-close", "4008:too many sessions") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=QUIET)
        rec = open_and_wait_closed(ctl, "b", gw.url, keepalive=QUIET)
        assert server_close(rec, 4008, "too many sessions"), rec
        ctl.call("close", conn="a")
        wait_until(lambda: gw.stats()["open"] == 0, 3)
        ctl.call("open", conn="b", url=gw.url, keepalive=QUIET, reuse=False)  # room again
        time.sleep(0.2)
        assert state(ctl, "b") == "open"


@pytest.mark.parametrize("mode,status", [("503", 503), ("429", 429)])
def test_cap_refuses_the_upgrade_with_retry_after(ctl, mode, status):
    with MockGw("--max-sessions", "1", "--max-sessions-mode", mode, "--retry-after", "20", "--time-scale", "0.1") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=QUIET)
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="b", url=gw.url, keepalive=QUIET)
        assert e.value.code == "handshake_failed" and e.value.details["http_status"] == status
        rec = ctl.call("status", conn="b")["record"]
        assert rec["cause"] == "handshake_failed"
        got, headers = upgrade_response(gw.port)
        assert got == status and headers["retry-after"] == "2"  # 20 s × 0.1, whole seconds
        assert gw.stats()["rejected_cap"] == 2


def test_no_retry_after_unless_asked():
    with MockGw("--max-sessions", "0") as gw:  # 0 = no cap
        assert upgrade_response(gw.port)[0] == 101
    with MockGw("--max-sessions", "1", "--max-sessions-mode", "429") as gw:
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 101")
        got, headers = upgrade_response(gw.port)
        s.close()
        assert got == 429 and "retry-after" not in headers


# ---- maximum session age ---------------------------------------------------------------------------

@pytest.mark.parametrize("style,code,cause", [("rst", 1006, "reset"), ("fin", 1006, "eof"),
                                               ("close-frame", 1001, "server_close")])
def test_max_age_ends_every_session_at_the_same_age_whatever_it_does(ctl, style, code, cause):
    with MockGw("--max-age", "0.6", "--max-age-drop", style) as gw:
        opened = {
            "pinging": ctl.call("open", conn="pinging", url=gw.url, keepalive=ping_keepalive(100)),
            "talking": ctl.call("open", conn="talking", url=gw.url, keepalive={
                "mode": "text", "interval_ms": 100, "jitter_ms": 0,
                "payload": json.dumps({"action": "echo", "message": "hb"}), "reply_contains": "\"hb\""}),
            "quiet": ctl.call("open", conn="quiet", url=gw.url, keepalive=QUIET)}
        for conn in ("pinging", "talking", "quiet"):
            rec = record(ctl, conn, timeout=5)
            assert (rec["code"], rec["cause"]) == (code, cause), (conn, rec)
            assert 600_000 <= gateway_age_us(rec, opened[conn]) and rec["age_us"] < 1_200_000, (conn, rec)
            if conn != "quiet":
                assert rec["since_sent_us"] < 400_000, (conn, rec)  # active to the end
            if style == "close-frame":
                assert rec["reason"] == "session too old" and rec["initiator"] == "server"
        drops = gw.drops(3)
        assert [d["reason"] for d in drops] == ["max_age"] * 3 and all(d["timeout_s"] == 0.6 for d in drops)


def test_max_age_follows_the_time_scale_and_the_default_drop_style(ctl):
    with MockGw("--time-scale", "0.1", "--max-age", "5", "--drop", "fin") as gw:
        opened = ctl.call("open", conn="a", url=gw.url, keepalive=ping_keepalive(100))
        rec = record(ctl, "a")
        assert rec["cause"] == "eof" and 500_000 <= gateway_age_us(rec, opened) and rec["age_us"] < 1_100_000
        (drop,) = gw.drops(1)
        assert drop["timeout_unscaled_s"] == 5.0 and drop["style"] == "fin"


# ---- rate limit by close ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec,code,reason", [("4029", 4029, "rate limited"), ("1008:rate limited", 1008, "rate limited"),
                                              ("4029:Message rate limit exceeded", 4029, "Message rate limit exceeded")])
def test_rate_limit_close_ends_the_session_after_a_burst(ctl, spec, code, reason):
    with MockGw("--rate-limit", "3", "--rate-window", "10", "--rate-limit-close", spec) as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=QUIET)
        for i in range(5):
            try:
                ctl.call("send", conn="a", data=json.dumps({"action": "echo", "message": str(i)}))
            except RpcError as e:
                assert e.code == "conn_closed"
        rec = record(ctl, "a")
        assert server_close(rec, code, reason), rec
        assert rec["msgs_out"] >= 4 and rec["since_sent_us"] < 1_000_000
        (drop,) = gw.drops(1)
        assert drop["reason"] == "rate_limit" and drop["code"] == code and drop["msgs_in"] == 4
        assert gw.stats()["rate_limited"] == 1


def test_rate_limit_without_close_still_answers_429_in_band(ctl):
    with MockGw("--rate-limit", "1", "--rate-window", "10") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=QUIET)
        for i in range(2):
            ctl.call("send", conn="a", data=json.dumps({"action": "echo", "message": str(i)}))
        codes = [json.loads(ctl.call("recv", conn="a", timeout_ms=2000)["data"])["code"] for _ in range(2)]
        assert codes == [200, 429] and state(ctl, "a") == "open"


# ---- restart ---------------------------------------------------------------------------------------

def test_restart_closes_every_session_at_once_with_1012(ctl):
    with MockGw("--restart-at", "0.8") as gw:
        names = ["r%d" % i for i in range(4)]
        for n in names:
            ctl.call("open", conn=n, url=gw.url, keepalive=ping_keepalive(100))
        recs = [record(ctl, n, timeout=5) for n in names]
        # Needs the close-code fix (h14a): wslay alone turns 1012 into 1002 protocol_error.
        assert all(server_close(r, 1012, "service restart") for r in recs), recs
        at = [r["closed_at_ms"] for r in recs]
        assert max(at) - min(at) < 200, at
        assert [d["reason"] for d in gw.drops(4)] == ["restart"] * 4
        # The gateway keeps serving after the restart.
        ctl.call("open", conn="after", url=gw.url, keepalive=QUIET)
        time.sleep(0.3)
        assert state(ctl, "after") == "open"


def test_restart_code_and_reason_are_chosen(ctl):
    with MockGw("--restart-at", "0.5", "--restart-close", "1001:going away") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=QUIET)
        ctl.call("open", conn="b", url=gw.url, keepalive=QUIET)
        for n in ("a", "b"):
            assert server_close(record(ctl, n), 1001, "going away")


def test_restart_1012_on_the_wire():
    with MockGw("--restart-at", "0.3") as gw:
        assert python_client_close(gw.url) == (1012, "service restart")


# ---- black hole ------------------------------------------------------------------------------------

def test_black_hole_after_t_answers_nothing_so_only_the_pong_timeout_ends_sessions(ctl):
    with MockGw("--black-hole-after", "0.5") as gw:
        ctl.call("open", conn="a", url=gw.url, keepalive=ping_keepalive(100, pong_timeout_ms=300))
        ctl.call("open", conn="q", url=gw.url, keepalive=QUIET)
        rec = record(ctl, "a", timeout=5)
        assert (rec["code"], rec["cause"], rec["initiator"]) == (1006, "pong_timeout", "none"), rec
        assert 500_000 <= rec["age_us"] < 2_000_000
        # Without keepalive nothing tells: the quiet session still looks open.
        assert state(ctl, "q") == "open"
        # New upgrades are swallowed too: the open times out in the upgrade phase.
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="late", url=gw.url, keepalive=QUIET, connect_timeout_ms=500)
        assert e.value.code == "timeout" and e.value.details.get("phase") == "upgrade"
        stats = gw.stats()
        assert stats["black_hole"] is True and stats["black_hole_handshakes"] == 1
        assert stats["drops"]["black_hole"] == 2


def test_black_hole_is_seen_by_an_application_heartbeat_reply_deadline_without_pings(ctl):
    with MockGw("--black-hole-after", "0.5") as gw:
        ctl.call("open", conn="echo", url=gw.url, keepalive={
            "mode": "text", "interval_ms": 100, "jitter_ms": 0, "reply_timeout_ms": 300,
            "payload": json.dumps({"action": "echo", "message": "hb"}), "reply_contains": "\"hb\""})
        time.sleep(0.3)
        assert ctl.call("status", conn="echo")["keepalive"]["replies"] >= 1  # answered before the black hole
        rec = record(ctl, "echo", timeout=5)
        assert (rec["code"], rec["cause"]) == (1006, "reply_timeout"), rec
        assert rec["since_sent_us"] < 200_000 and rec["since_recv_us"] >= 300_000
        assert gw.stats()["drops"]["black_hole"] == 1


def test_black_hole_above_n_serves_n_sessions_and_swallows_the_rest(ctl):
    with MockGw("--black-hole-above", "2") as gw:
        for n in ("a", "b", "c"):
            ctl.call("open", conn=n, url=gw.url, keepalive=ping_keepalive(100, pong_timeout_ms=300))
        rec = record(ctl, "c", timeout=5)
        assert (rec["code"], rec["cause"]) == (1006, "pong_timeout"), rec
        assert rec["age_us"] < 1_500_000
        assert [state(ctl, n) for n in ("a", "b")] == ["open", "open"]
        assert ctl.call("request", conn="a", data=json.dumps({"action": "echo", "message": "x"}),
                        timeout_ms=2000)
        (drop,) = gw.drops(1)
        assert drop["reason"] == "black_hole" and drop["style"] == "silent" and drop["open"] == 3


# ---- random resets ---------------------------------------------------------------------------------

def reset_run(ctl, prefix, seed, n=20):
    """{arrival index: close record} of the sessions reset within 1.5 s, and the gateway's counters."""
    with MockGw("--reset-share", "0.5", "--reset-within", "1", "--seed", seed) as gw:
        names = ["%s%02d" % (prefix, i) for i in range(n)]
        for name in names:  # one at a time: the draws follow the arrival order
            ctl.call("open", conn=name, url=gw.url, keepalive=ping_keepalive(100))
        time.sleep(1.5)
        states = [ctl.call("status", conn=name) for name in names]
        stats = gw.stats()
    return {i: s["record"] for i, s in enumerate(states) if s["state"] == "closed"}, stats


def test_random_resets_hit_a_seeded_share_of_sessions_at_scattered_ages(ctl):
    resets, stats = reset_run(ctl, "x", 7)
    assert 3 <= len(resets) <= 17 and stats["drops"]["random_reset"] == len(resets)
    for rec in resets.values():
        assert (rec["code"], rec["cause"]) == (1006, "reset"), rec
        assert rec["age_us"] <= 1_300_000, rec
        # Active sessions: pinging when reset, or reset before their first ping was due (the first beat
        # falls anywhere in the first 100 ms interval; a reset age is drawn from (0, 1 s]).
        sent = rec["since_sent_us"]
        assert (sent is not None and sent < 400_000) or (sent is None and rec["age_us"] < 200_000), rec
    ages = [r["age_us"] for r in resets.values()]
    assert max(ages) - min(ages) > 300_000, ages
    # The same seed and arrival order: the same sessions, reset at the same ages (give or take timing).
    again, _ = reset_run(ctl, "y", 7)
    assert set(again) == set(resets)
    for i in resets:
        assert abs(again[i]["age_us"] - resets[i]["age_us"]) < 150_000, (i, again[i], resets[i])
    other, _ = reset_run(ctl, "z", 8)
    assert set(other) != set(resets)


# ---- handshake delay growing with load -------------------------------------------------------------

def test_handshake_delay_grows_with_open_sessions(ctl):
    with MockGw("--handshake-delay", "0.05", "--handshake-delay-per-open", "0.05") as gw:
        upgrades = []
        for i in range(5):
            upgrades.append(ctl.call("open", conn="h%d" % i, url=gw.url, keepalive=QUIET)["timings"]["upgrade_us"])
        for k, us in enumerate(upgrades):
            assert 50_000 + 50_000 * k <= us < 50_000 + 50_000 * k + 500_000, upgrades
        assert gw.stats()["open"] == 5


def test_handshake_delay_grows_with_upgrades_in_flight(ctl):
    # Each upgrade waits 0.1 s, plus 0.1 s per upgrade already waiting when its request arrived.
    with MockGw("--handshake-delay", "0.1", "--handshake-delay-per-inflight", "0.1") as gw:
        n = 5
        ids = ctl.send_many([("open", {"conn": "p%d" % i, "url": gw.url, "keepalive": QUIET}) for i in range(n)])
        got = {}
        while len(got) < n:
            msgid, err, res = ctl.recv_response(timeout=10)
            assert err is None, err
            got[msgid] = res["timings"]["upgrade_us"]
        delays = sorted(got.values())
        # All five requests arrive within a few ms: 0.1, 0.2, ... 0.5 s.
        for k, us in enumerate(delays):
            assert 100_000 * (k + 1) <= us < 100_000 * (k + 1) + 300_000, delays


# ---- combined: each session ends by its own rule ---------------------------------------------------

def test_behaviours_combine_and_each_drop_names_its_rule(ctl):
    args = ("--idle-timeout", "0.5", "--drop", "fin", "--max-age", "1.5", "--max-age-drop", "rst",
            "--rate-limit", "3", "--rate-window", "10", "--rate-limit-close", "4029",
            "--max-sessions", "3", "--max-sessions-mode", "close")
    with MockGw(*args) as gw:
        idle = ctl.call("open", conn="idle", url=gw.url, keepalive=QUIET)
        old = ctl.call("open", conn="old", url=gw.url, keepalive=ping_keepalive(100))
        ctl.call("open", conn="chatty", url=gw.url, keepalive=QUIET)
        capped = open_and_wait_closed(ctl, "capped", gw.url, keepalive=QUIET)
        for i in range(4):
            try:
                ctl.call("send", conn="chatty", data=json.dumps({"action": "echo", "message": str(i)}))
            except RpcError:
                pass
        assert server_close(record(ctl, "chatty"), 4029, "rate limited")
        rec = record(ctl, "idle")
        assert rec["cause"] == "eof" and rec["since_sent_us"] is None and gateway_age_us(rec, idle) >= 500_000
        rec = record(ctl, "old", timeout=5)
        assert rec["cause"] == "reset" and gateway_age_us(rec, old) >= 1_500_000 and rec["since_sent_us"] < 400_000
        reasons = sorted(d["reason"] for d in gw.drops(3))
        assert reasons == ["idle", "max_age", "rate_limit"]
        # Needs the close-code fix (h14a) for 1013.
        assert server_close(capped, 1013, "try again later"), capped


# ---- command line ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("--cap-close", "1005"), ("--cap-close", "1015:x"), ("--cap-close", "2999"), ("--cap-close", "5000"),
    ("--cap-close", ":reason"), ("--rate-limit-close", "4029:" + "r" * 124), ("--restart-close", "abc"),
    ("--max-sessions-mode", "418"), ("--max-age-drop", "teleport"), ("--reset-share", "0"),
    ("--reset-share", "1.5"), ("--reset-share", "0.5"), ("--black-hole-above", "0"), ("--max-age", "-1"),
    ("--handshake-delay-per-open", "soon"), ("--seed", "-3"),
])
def test_bad_option_values_are_refused_at_start(args):
    r = subprocess.run([mockgw_binary(), "--port", "0"] + list(args), capture_output=True, timeout=10)
    assert r.returncode == 2 and b"mockgw:" in r.stderr and not r.stdout, (args, r)


@pytest.mark.parametrize("args", [
    ("--cap-close", "1014"), ("--cap-close", "3000:x"), ("--rate-limit-close", "4999:" + "r" * 123),
    ("--restart-close", "1001:going away"), ("--max-age-drop", "silent"), ("--reset-share", "1", "--reset-within", "2"),
])
def test_good_option_values_start_the_gateway(args):
    with MockGw(*args) as gw:
        assert gw.port > 0
