"""Source addresses (PROTOCOL.md §4 open's source, §9 --source-addresses): opens rotate over the pool,
the server sees each source address, open's result, status and the close record name the one used,
stats count per address, and a source that is not local is a connect_error that says so."""

import pytest

from wsf_fixtures import RpcError, wait_state

POOL = ["127.0.0.%d" % i for i in range(2, 6)]


@pytest.fixture
def daemon_args():
    return ("--source-addresses", "127.0.0.2-127.0.0.5")


def test_opens_spread_round_robin_over_the_pool(ctl, echo):
    n = 40
    used = []
    for i in range(n):
        r = ctl.call("open", conn="rr-%d" % i, url=echo.url + "rr-%d" % i)
        assert r["address"] == "127.0.0.1:%d" % echo.port
        used.append(r["source"])
    assert sorted(set(used)) == POOL
    assert all(used.count(a) == n // len(POOL) for a in POOL), used
    # What the server saw: the peer address of each connection is the source reported.
    for i in range(n):
        rec = echo.wait_for("connect", path="/rr-%d" % i)
        assert rec and rec[-1]["peer"] == used[i], (i, rec)
    st = ctl.call("status", conn="rr-7")
    assert st["source"] == used[7] and st["address"] == "127.0.0.1:%d" % echo.port
    stats = ctl.call("stats")
    assert stats["sources"]["opens"] == {a: n // len(POOL) for a in POOL}
    assert stats["sources"]["failures"] == {a: 0 for a in POOL}
    ctl.call("close", conn="rr-3")
    rec = wait_state(ctl, "rr-3")["record"]
    assert rec["source"] == used[3]
    assert rec["address"] == "127.0.0.1:%d" % echo.port


def test_open_source_overrides_the_pool(ctl, echo):
    r = ctl.call("open", conn="fixed", url=echo.url + "fixed", source="127.0.0.9")
    assert r["source"] == "127.0.0.9"
    assert echo.wait_for("connect", path="/fixed")[-1]["peer"] == "127.0.0.9"
    stats = ctl.call("stats")
    assert stats["sources"]["opens"]["127.0.0.9"] == 1


def test_a_source_that_is_not_local_is_a_clear_connect_error(ctl, echo):
    # 192.0.2.1 (TEST-NET-1) is never an address of this host: bind fails before any packet.
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="far", url=echo.url + "far", source="192.0.2.1")
    assert e.value.code == "connect_error"
    assert "source address 192.0.2.1 is not an address of this host" in e.value.message
    rec = ctl.call("status", conn="far")["record"]
    assert rec["source"] == "192.0.2.1" and rec["cause"] == "connect_error"
    assert ctl.call("stats")["sources"]["failures"]["192.0.2.1"] == 1


def test_a_source_that_is_no_address_is_bad_request(ctl, echo):
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="junk", url=echo.url, source="localhost")
    assert e.value.code == "bad_request"
    assert "source" in e.value.message


def test_no_pool_leaves_the_choice_to_the_kernel(echo):
    from wsf_fixtures import Daemon
    with Daemon() as d:
        c = d.client()
        r = c.call("open", conn="plain", url=echo.url + "plain")
        assert r["source"] is None
        assert c.call("stats")["sources"]["opens"] == {}


@pytest.mark.parametrize("spec", ["127.0.0.5-127.0.0.2", "127.0.0.1,,127.0.0.2", "lo"])
def test_a_bad_pool_stops_the_daemon_at_start(spec):
    import subprocess
    from wsf_fixtures import daemon_binary
    p = subprocess.run([daemon_binary(), "--source-addresses", spec, "--socket", "/nonexistent/x"],
                       capture_output=True, timeout=10)
    assert p.returncode == 2
    assert b"--source-addresses" in p.stderr


def test_per_address_counters_in_prometheus(echo):
    import shutil
    import subprocess
    import urllib.request
    from wsf_fixtures import Daemon, closed_port
    port = closed_port()
    with Daemon("--source-addresses", "127.0.0.2,127.0.0.3", "--metrics", "127.0.0.1:%d" % port) as d:
        c = d.client()
        for i in range(3):
            c.call("open", conn="p%d" % i, url=echo.url + "p%d" % i)
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    assert 'wsfleet_source_opens_total{source="127.0.0.2"} 2' in text
    assert 'wsfleet_source_opens_total{source="127.0.0.3"} 1' in text
    assert 'wsfleet_source_failures_total{source="127.0.0.2"} 0' in text
    assert "wsfleet_dns_failures_total 0" in text
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr


def test_named_pools_rotate_over_their_own_addresses(echo):
    from wsf_fixtures import Daemon
    with Daemon("--source-addresses", "127.0.0.2-127.0.0.3", "--source-pool", "east=127.0.0.10-127.0.0.12",
                "--source-pool", "solo=127.0.0.3") as d:
        c = d.client()
        east = [c.call("open", conn="e%d" % i, url=echo.url + "e%d" % i, source="east")["source"]
                for i in range(9)]
        assert east == ["127.0.0.10", "127.0.0.11", "127.0.0.12"] * 3
        for i in range(3):  # what the server saw
            assert echo.wait_for("connect", path="/e%d" % i)[-1]["peer"] == east[i]
        plain = [c.call("open", conn="d%d" % i, url=echo.url + "d%d" % i)["source"] for i in range(4)]
        assert plain == ["127.0.0.2", "127.0.0.3"] * 2  # the default rotation is not disturbed
        assert c.call("open", conn="s", url=echo.url + "s", source="solo")["source"] == "127.0.0.3"
        assert c.call("open", conn="dflt", url=echo.url + "dflt", source="default")["source"] == "127.0.0.2"
        sources = c.call("stats")["sources"]
        # 127.0.0.3 is in the default pool and in solo: one address, counted in both pools' sums
        assert sources["opens"]["127.0.0.3"] == 3
        assert sources["pool_opens"] == {"default": 6, "east": 9, "solo": 3}
        assert sources["pool_failures"] == {"default": 0, "east": 0, "solo": 0}
        with pytest.raises(RpcError) as e:
            c.call("open", conn="west", url=echo.url, source="west")
        assert e.value.code == "bad_request"
        assert "pool name (--source-pool)" in e.value.message


@pytest.mark.parametrize("spec", ["east", "=127.0.0.2", "east=", "a b=127.0.0.2", "default=127.0.0.2",
                                  "east=127.0.0.2,127.0.0.2"])
def test_a_bad_named_pool_stops_the_daemon_at_start(spec):
    import subprocess
    from wsf_fixtures import daemon_binary
    p = subprocess.run([daemon_binary(), "--source-pool", spec, "--socket", "/nonexistent/x"],
                       capture_output=True, timeout=10)
    assert p.returncode == 2
    assert b"--source-pool" in p.stderr


def test_the_same_pool_name_twice_stops_the_daemon(echo):
    import subprocess
    from wsf_fixtures import daemon_binary
    p = subprocess.run([daemon_binary(), "--source-pool", "a=127.0.0.2", "--source-pool", "a=127.0.0.3",
                        "--socket", "/nonexistent/x"], capture_output=True, timeout=10)
    assert p.returncode == 2 and b"pool 'a' is given twice" in p.stderr
