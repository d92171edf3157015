"""IPv6 and DNS (PROTOCOL.md §9 "Gateway names"): ws://[::1]:port against python3-websockets on ::1; a name
with several addresses spreads opens round robin over them, falls back to the next when a connect fails,
records the address used, and its answer is cached for --dns-cache-ms; failed lookups are counted.

The names come from an /etc/hosts bind-mounted in a mount namespace of the daemon alone (unshare -m, root),
with nsswitch "hosts: files" so an unknown name fails at once instead of waiting on a resolver."""

import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from wsf_fixtures import Daemon, PyServer, RpcError

NAME = "wsf-multi.test"


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")


def can_unshare_mounts():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10).returncode == 0


needs_namespace = pytest.mark.skipif(not can_unshare_mounts(),
                                     reason="needs root and unshare -m to give the daemon its own /etc/hosts")


class HostsDaemon(Daemon):
    """A daemon that resolves names from its own hosts file (and nothing else)."""

    def __init__(self, hosts, *args):
        self.tmp = tempfile.mkdtemp(prefix="wsf-hosts-")
        self.hosts_path = os.path.join(self.tmp, "hosts")
        nss = os.path.join(self.tmp, "nsswitch.conf")
        with open(self.hosts_path, "w") as f:
            f.write(hosts)
        with open(nss, "w") as f:
            f.write("hosts: files\n")
        script = ('mount --bind %s /etc/hosts && mount --bind %s /etc/nsswitch.conf && exec "$@"'
                  % (self.hosts_path, nss))
        super().__init__(*args, wrapper=["unshare", "-m", "sh", "-c", script, "sh"])

    def close(self):
        super().close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def dual():
    """python3-websockets on ::1 and on 127.0.0.1, same port."""
    if not has_ipv6_loopback():
        pytest.skip("this host has no IPv6 loopback (::1)")
    for _ in range(20):  # the port chosen on ::1 may be taken on 127.0.0.1: try another
        with PyServer("echo", host="::1") as v6:
            try:
                with PyServer("echo", host="127.0.0.1", port=v6.port) as v4:
                    yield v4, v6
                    return
            except RuntimeError:
                continue
    pytest.skip("no port free on both 127.0.0.1 and ::1")


@needs_ipv6
def test_ipv6_literal_url(ctl):
    with PyServer("echo", host="::1") as v6:
        url = "ws://[::1]:%d/six" % v6.port
        r = ctl.call("open", conn="six", url=url)
        assert r["address"] == "[::1]:%d" % v6.port
        assert v6.wait_for("connect", path="/six")[-1]["peer"] == "::1"
        ctl.call("send", conn="six", data="hello over v6")
        assert ctl.call("recv", conn="six", timeout_ms=3000)["data"] == "hello over v6"
        st = ctl.call("status", conn="six")
        assert st["address"] == "[::1]:%d" % v6.port and st["source"] is None
        assert r["timings"]["dns_us"] == 0  # a literal needs no lookup


@needs_ipv6
def test_ipv6_source_from_the_pool():
    with PyServer("echo", host="::1") as v6, Daemon("--source-addresses", "127.0.0.2,::1") as d:
        c = d.client()
        r = c.call("open", conn="s6", url="ws://[::1]:%d/s6" % v6.port)
        assert r["source"] == "::1"  # the pool's address of the destination's family
        with pytest.raises(RpcError) as e:
            c.call("open", conn="s6b", url="ws://[::1]:%d/s6b" % v6.port, source="127.0.0.2")
        assert e.value.code == "connect_error"
        assert "source address 127.0.0.2 cannot reach [::1]:%d (another address family)" % v6.port \
            in e.value.message


@needs_namespace
def test_a_name_with_two_addresses_spreads_opens_round_robin(dual):
    v4, v6 = dual
    with HostsDaemon("127.0.0.1 %s\n::1 %s\n" % (NAME, NAME)) as d:
        c = d.client()
        used = [c.call("open", conn="rr-%d" % i, url="ws://%s:%d/rr-%d" % (NAME, v4.port, i))["address"]
                for i in range(10)]
        assert sorted(set(used)) == sorted(["127.0.0.1:%d" % v4.port, "[::1]:%d" % v4.port])
        assert used[0::2] == [used[0]] * 5 and used[1::2] == [used[1]] * 5, used  # alternating
        for i in range(10):
            server = v4 if used[i].startswith("127.") else v6
            assert server.wait_for("connect", path="/rr-%d" % i), (i, used[i])
        assert c.call("status", conn="rr-3")["address"] == used[3]
        c.call("close", conn="rr-4")
        assert c.call("status", conn="rr-4")["record"]["address"] == used[4]
        dns = c.call("stats")["dns"]
        assert dns["failures"] == 0
        assert dns["cache_hits"] == 9  # one lookup, then the cached answer (--dns-cache-ms 30000)
        assert dns["cache_ms"] == 30000 and dns["names"] == 1


@needs_namespace
def test_a_failed_connect_falls_back_to_the_next_address(dual):
    for _ in range(20):  # the port bound on ::1 may be taken on 127.0.0.1 (a busy host's outgoing
        closed = socket.socket(socket.AF_INET6)  # connections use the same range): try another
        closed.bind(("::1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connects are refused
        try:
            only_v4 = PyServer("echo", host="127.0.0.1", port=port).__enter__()
        except RuntimeError:
            closed.close()
            continue
        try:
            with HostsDaemon("::1 %s\n127.0.0.1 %s\n" % (NAME, NAME), "--dns-cache-ms", "0") as d:
                c = d.client()
                for i in range(4):
                    r = c.call("open", conn="fb-%d" % i, url="ws://%s:%d/fb-%d" % (NAME, port, i))
                    assert r["address"] == "127.0.0.1:%d" % port
                    assert only_v4.wait_for("connect", path="/fb-%d" % i)
                dns = c.call("stats")["dns"]
                assert dns["cache_hits"] == 0  # --dns-cache-ms 0: a lookup per open
            return
        finally:
            only_v4.__exit__(None, None, None)
            closed.close()
    pytest.skip("no port free on both 127.0.0.1 and ::1")


@needs_namespace
def test_a_failed_lookup_is_a_dns_error_and_counted():
    with HostsDaemon("127.0.0.1 %s\n" % NAME) as d:
        c = d.client()
        with pytest.raises(RpcError) as e:
            c.call("open", conn="nx", url="ws://no-such-name.invalid:80/")
        assert e.value.code == "dns_error"
        assert "no-such-name.invalid" in e.value.message
        assert c.call("status", conn="nx")["record"]["address"] is None
        assert c.call("stats")["dns"]["failures"] == 1
