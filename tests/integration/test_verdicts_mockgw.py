"""`wsfleet report` names each behaviour the mock gateway models (tests/mockgw/README.md), through
the real daemon's event log: one test per behaviour, asserting verdict codes and the figures behind
them, and one mixed run (idle timeout + session cap → two groups)."""

import os
import shutil
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))

from mockgw_runner import MockGw  # noqa: E402
from verdict_fixtures import groups_by_code, report_json  # noqa: E402
from wsf_fixtures import Daemon, RpcError, wait_until  # noqa: E402
QUIET = {"mode": "none"}


def ping(interval_ms=150, pong_timeout_ms=2000):
    return {"mode": "ping", "interval_ms": interval_ms, "jitter_ms": interval_ms // 4, "pong_timeout_ms": pong_timeout_ms}


def run(tmp_path, gw_args, drive, daemon_args=()):
    """Runs drive(ctl, url) against the gateway, stops the daemon and returns report --json."""
    with Daemon(*daemon_args) as d, MockGw(*gw_args) as gw:
        drive(d.client(), gw.url)
        d.stop()
        path = tmp_path / "events.jsonl"
        shutil.copyfile(d.events_path, path)
    s = report_json(path)
    return s, groups_by_code(s)


def try_open(ctl, conn, url, **kw):
    try:
        ctl.call("open", conn=conn, url=url, **kw)
        return True
    except RpcError:
        return False


def all_closed(ctl, names, timeout):
    return wait_until(lambda: all(ctl.call("status", conn=n)["state"] == "closed" for n in names), timeout)


@pytest.mark.parametrize("mode", ["503", "429", "close", "close 4008:too many sessions", "close 1008:session limit"])
def test_session_cap(tmp_path, mode):
    def drive(ctl, url):
        for i in range(5):
            try_open(ctl, "c%d" % i, url, keepalive=QUIET)
        time.sleep(0.3)

    mode, _, close = mode.partition(" ")
    cap_close = ("--cap-close", close) if close else ()
    s, g = run(tmp_path, ("--max-sessions", "2", "--max-sessions-mode", mode, "--retry-after", "5") + cap_close, drive)
    assert list(g) == ["session_cap"], s["groups"]
    assert g["session_cap"]["count"] == 3 and g["session_cap"]["figures"]["cap"] == 2


def test_max_age(tmp_path):
    def drive(ctl, url):
        names = ["a%d" % i for i in range(4)]
        for n in names:
            ctl.call("open", conn=n, url=url, keepalive=ping())
            time.sleep(0.2)
        assert all_closed(ctl, names, 5)

    s, g = run(tmp_path, ("--echo", "--max-age", "1.0", "--max-age-drop", "rst"), drive)
    assert list(g) == ["max_age"], s["groups"]
    assert 0.95 <= g["max_age"]["figures"]["age_s"]["min"] <= g["max_age"]["figures"]["age_s"]["max"] < 1.3


def test_rate_limit(tmp_path):
    def drive(ctl, url):
        for n in ("r1", "r2"):
            ctl.call("open", conn=n, url=url, keepalive=QUIET)
            for i in range(6):
                try:
                    ctl.call("send", conn=n, data='{"action":"echo","message":"m%d"}' % i)
                except RpcError:
                    break
        assert all_closed(ctl, ["r1", "r2"], 5)

    s, g = run(tmp_path, ("--rate-limit", "3", "--rate-window", "10", "--rate-limit-close", "4029"), drive)
    assert list(g) == ["rate_limit"], s["groups"]
    # The 4th message is over the limit; one or two more may leave before its close frame arrives.
    assert 4 <= g["rate_limit"]["figures"]["msgs_out"]["min"] <= 6


def test_server_restart_1012(tmp_path):
    def drive(ctl, url):
        names = ["g%d" % i for i in range(5)]
        for n in names:
            ctl.call("open", conn=n, url=url, keepalive=ping())
            time.sleep(0.1)
        assert all_closed(ctl, names, 5)

    s, g = run(tmp_path, ("--echo", "--restart-at", "1.2"), drive)
    assert list(g) == ["server_restart"], s["groups"]
    assert g["server_restart"]["count"] == 5


def test_black_hole_is_an_unresponsive_server(tmp_path):
    def drive(ctl, url):
        for n in ("b1", "b2"):
            ctl.call("open", conn=n, url=url, keepalive=ping(200, 500))
        assert all_closed(ctl, ["b1", "b2"], 6)

    s, g = run(tmp_path, ("--echo", "--black-hole-after", "0.3"), drive)
    assert list(g) == ["unresponsive_server"], s["groups"]


def test_random_resets_are_the_network(tmp_path):
    def drive(ctl, url):
        names = ["n%d" % i for i in range(8)]
        for n in names:
            ctl.call("open", conn=n, url=url, keepalive=ping())
        assert all_closed(ctl, names, 6)

    s, g = run(tmp_path, ("--echo", "--reset-share", "1", "--reset-within", "2.5", "--seed", "5"), drive)
    # About one run in three, one of the eight reaches the daemon as a FIN instead (e.g. 0.17 s after
    # the open with a ping just sent); it fits the scattered pattern and joins it.
    assert list(g) == ["network_reset"], s["groups"]
    assert g["network_reset"]["count"] == 8 and g["network_reset"]["side"] == "network"


def test_handshake_delay_growing_with_load_is_throttling(tmp_path):
    def drive(ctl, url):
        for i in range(16):
            ctl.call("open", conn="h%d" % i, url=url, keepalive=QUIET)

    s, g = run(tmp_path, ("--echo", "--handshake-delay-per-open", "0.03"), drive)
    assert list(g) == ["handshake_throttling"], s["groups"]


def test_pings_not_counted_by_a_data_only_idle_timer(tmp_path):
    def drive(ctl, url):
        names = ["d%d" % i for i in range(4)]
        for n in names:
            ctl.call("open", conn=n, url=url, keepalive=ping())
        for n in names:
            time.sleep(0.3)
            ctl.call("send", conn=n, data='{"action":"echo","message":"hi"}')
        assert all_closed(ctl, names, 6)

    s, g = run(tmp_path, ("--idle-timeout", "1.5", "--activity", "data", "--drop", "fin"), drive)
    assert list(g) == ["idle_timeout_data_only"], s["groups"]


def test_mixed_idle_timeout_and_session_cap(tmp_path):
    def drive(ctl, url):
        names = ["x%d" % i for i in range(3)]
        for n in names:
            ctl.call("open", conn=n, url=url, keepalive=QUIET)
        assert not try_open(ctl, "over0", url, keepalive=QUIET)
        assert not try_open(ctl, "over1", url, keepalive=QUIET)
        for n in names:
            time.sleep(0.2)
            ctl.call("send", conn=n, data='{"action":"echo","message":"hi"}')
        assert all_closed(ctl, names, 6)

    s, g = run(tmp_path, ("--idle-timeout", "1.2", "--drop", "fin", "--max-sessions", "3",
                          "--max-sessions-mode", "503"), drive)
    assert set(g) == {"idle_timeout", "session_cap"}, s["groups"]
    assert g["idle_timeout"]["count"] == 3 and g["session_cap"]["count"] == 2
    assert g["session_cap"]["to_s"] < g["idle_timeout"]["from_s"]
