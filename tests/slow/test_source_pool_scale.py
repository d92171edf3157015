"""Issue 17's "Done when" at a smaller size: two daemons hold 2 x 3,000 connections to one gateway
address:port through a pool of loopback source addresses, with no EADDRNOTAVAIL, where one source
address alone runs out of ports.

The ports are made scarce instead of the connections many: everything runs in a network namespace of
its own (unshare -n, root) whose ephemeral range is 1,000 ports (net.ipv4.ip_local_port_range is per
namespace), so one source address reaches the gateway through at most 1,000 connections, as it does
through ~28,000 with the default range. The control: a daemon without a pool fails its 1,001st-ish open
with the connect_error that names the limit. Then two daemons with --source-addresses 127.0.0.2-127.0.0.9
(8 x 1,000 ports) open 3,000 each, all of which must open, spread evenly over the 8 addresses.
Bounded: every wait has a deadline; about 30 s on the 2-core machine."""

import os
import resource
import shutil
import signal
import subprocess
import threading
import time

import pytest

from wsf_fixtures import Daemon
from mockgw_runner import mockgw_binary

PORTS = (40000, 40999)  # 1,000 ephemeral ports in the namespace
PER_DAEMON = 3000
POOL = ["127.0.0.%d" % i for i in range(2, 10)]
BATCH = 500  # opens pipelined per write (as bench_conns.py does)


def can_unshare_net():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0


pytestmark = pytest.mark.skipif(not can_unshare_net(),
                                reason="needs root, unshare -n, nsenter and ip to make a network namespace")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.fixture
def netns():
    """A network namespace with lo up and 1,000 ephemeral ports; yields the nsenter prefix."""
    holder = subprocess.Popen(
        ["unshare", "-n", "sh", "-c",
         "ip link set lo up && echo '%d %d' > /proc/sys/net/ipv4/ip_local_port_range && echo ready && exec sleep 900"
         % PORTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"ready", holder.stderr.read()
        ns = ["nsenter", "-t", str(holder.pid), "-n"]
        rng = subprocess.run(ns + ["cat", "/proc/sys/net/ipv4/ip_local_port_range"], capture_output=True,
                             timeout=10).stdout.split()
        assert [int(x) for x in rng] == list(PORTS)
        yield ns
    finally:
        holder.kill()
        holder.wait(10)


@pytest.fixture
def gateway(netns):
    proc = subprocess.Popen(netns + [mockgw_binary(), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=raise_nofile)
    got = []
    t = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(10)
    try:
        assert got and got[0].startswith(b"listening "), "mockgw did not start"
        port = int(got[0].split()[1])
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield "ws://127.0.0.1:%d/" % port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def open_many(client, prefix, url, n, deadline):
    """Pipelined opens in batches; returns (results, errors)."""
    results, errors = [], []
    for start in range(0, n, BATCH):
        names = ["%s-%d" % (prefix, i) for i in range(start, min(n, start + BATCH))]
        ids = client.send_many([("open", {"conn": name, "url": url + name}) for name in names])
        for msgid in ids:
            error, result = client.wait_response(msgid, timeout=max(1.0, deadline - time.monotonic()))
            (errors if error is not None else results).append(error if error is not None else result)
        assert time.monotonic() < deadline, "opens did not finish in time"
    return results, errors


def test_one_source_address_runs_out_and_says_what_to_add(netns, gateway):
    with Daemon("--max-handshakes", "64", wrapper=netns) as d:
        c = d.client()
        results, errors = open_many(c, "solo", gateway, 1100, time.monotonic() + 120)
        assert len(results) <= PORTS[1] - PORTS[0] + 1
        assert errors, "1,100 connections through 1,000 ports all opened: the namespace's range did not apply"
        port = gateway.rsplit(":", 1)[1].strip("/")
        words = "ephemeral ports exhausted for the default source address \u2192 127.0.0.1:%s (EADDRNOTAVAIL): " \
                "add source addresses (--source-addresses)" % port
        assert all(e["code"] == "connect_error" and e["message"] == words for e in errors), errors[:3]


def test_two_daemons_hold_6000_connections_to_one_port_through_a_pool(netns, gateway):
    args = ("--source-addresses", "127.0.0.2-127.0.0.9", "--max-handshakes", "64")
    with Daemon(*args, wrapper=netns) as a, Daemon(*args, wrapper=netns) as b:
        deadline = time.monotonic() + 240
        ca, cb = a.client(timeout=60), b.client(timeout=60)
        out = {}

        def run(name, client):
            out[name] = open_many(client, name, gateway, PER_DAEMON, deadline)

        threads = [threading.Thread(target=run, args=(n, cl)) for n, cl in (("a", ca), ("b", cb))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
        assert set(out) == {"a", "b"}, "a daemon's opens did not finish in time"
        for name, client in (("a", ca), ("b", cb)):
            results, errors = out[name]
            assert not errors, (name, len(errors), errors[:3])
            assert len(results) == PER_DAEMON
            stats = client.call("stats")
            assert stats["open"] == PER_DAEMON
            assert stats["sources"]["opens"] == {s: PER_DAEMON // len(POOL) for s in POOL}
            assert stats["sources"]["failures"] == {s: 0 for s in POOL}
        total = sum(len(out[n][0]) for n in out)
        assert total == 2 * PER_DAEMON
        print("held %d connections to one gateway port through %d source addresses, %d ports each"
              % (total, len(POOL), PORTS[1] - PORTS[0] + 1))
