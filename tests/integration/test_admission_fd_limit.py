"""Admission never recurses (issue 14): with --max-handshakes, queued opens whose connect fails at
once (EMFILE at the fd limit) are failed from the event loop, one after another, not from inside
the failure of the one before. Before, each such failure admitted the next queued open from within
itself (fail_open → admit_next → try_connect → fail_open …) and 19,000 queued opens overflowed the
stack (SIGSEGV).

The daemon runs under a small RLIMIT_NOFILE (prlimit); healthy connections take the descriptors left
but one, which a handshake to a server that never answers the upgrade takes: it holds the only
admission slot while 20,000 pipelined opens queue behind it. When its connect timeout ends it, the
queue drains: each open gets its connect_error naming EMFILE (but the one or two that the
blocker's freed descriptor serves), the daemon stays alive, and once a
descriptor is free again a new connection round-trips."""

import socket
import time

from wsf_fixtures import Daemon, PyServer, RpcError, wait_state, wait_until

N_QUEUED = 20000


def test_twenty_thousand_queued_opens_failing_at_the_fd_limit_do_not_crash():
    with PyServer("echo") as srv, \
            Daemon("--max-handshakes", 1, "--max-connections", N_QUEUED + 200,
                   wrapper=["prlimit", "--nofile=64:64", "--"]) as d:
        ctl = d.client(timeout=120)
        healthy = []
        for i in range(64):  # take every descriptor left
            try:
                ctl.call("open", conn="h%d" % i, url=srv.url)
            except RpcError as e:
                assert e.code == "connect_error" and "EMFILE" in e.message, e
                break
            healthy.append("h%d" % i)
        else:
            raise AssertionError("64 connections opened under a 64-descriptor limit")
        assert len(healthy) >= 2, "too few descriptors left: raise the limit"

        # The blocker: TCP connects (the kernel's backlog accepts it), the upgrade is never answered.
        mute = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        mute.bind(("127.0.0.1", 0))
        mute.listen(16)
        ctl.call("close", conn=healthy.pop())
        assert wait_until(lambda: _blocker_connected(ctl, mute), 10, 0.1)

        ids = ctl.send_many([("open", {"conn": "q%d" % i, "url": srv.url, "connect_timeout_ms": 60000})
                             for i in range(N_QUEUED)])
        failed = 0
        for msgid in ids:
            error, result = ctl.wait_response(msgid, timeout=120)
            if error is None:  # the blocker's descriptor, once it closed, went to a queued open
                continue
            err = RpcError.from_error(error)
            assert err.code == "connect_error" and "EMFILE" in err.message, err.as_dict()
            failed += 1
        assert failed >= N_QUEUED - 2
        assert d.alive(), d.log()[-2000:]
        blocker = ctl.call("status", conn="blocker")["record"]
        assert blocker["cause"] == "timeout", blocker
        mute.close()
        stats = ctl.call("stats")
        assert stats["closes_by_cause"].get("connect_error", 0) >= failed

        # A freed descriptor serves a healthy connection again.
        ctl.call("close", conn=healthy[0])
        wait_state(ctl, healthy[0], "closed")
        opened = wait_until(lambda: _try_open(ctl, "after", srv.url), 10, 0.2)
        assert opened, "no connection could be opened after a descriptor was freed"
        ctl.call("send", conn="after", data="still here")
        assert ctl.call("recv", conn="after", timeout_ms=5000)["data"] == "still here"
        assert ctl.call("status", conn=healthy[-1])["state"] == "open"


def _blocker_connected(ctl, mute):
    """Sends the blocker's open (its reply comes when it times out) and says whether it got a
    descriptor: a connect that fails at once is already closed one round trip later."""
    try:
        if ctl.call("status", conn="blocker")["state"] != "closed":
            return True
    except RpcError:
        pass
    ctl.send("open", {"conn": "blocker", "url": "ws://127.0.0.1:%d/" % mute.getsockname()[1],
                      "connect_timeout_ms": 3000})
    time.sleep(0.05)
    return ctl.call("status", conn="blocker")["state"] == "connecting"


def _try_open(ctl, conn, url):
    try:
        ctl.call("open", conn=conn, url=url)
        return True
    except RpcError as e:
        assert e.code == "connect_error", e.as_dict()
        return False
