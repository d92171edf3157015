"""1,000 concurrent connections driven through one control connection with pipelined requests."""

import time

from wsf_fixtures import NodeServer

N = 1000


def drain(ctl, ids, timeout=30):
    """Collects the responses to ids (in any order); returns {msgid: (error, result)}."""
    want, got = set(ids), {}
    deadline = time.monotonic() + timeout
    while want - set(got):
        left = deadline - time.monotonic()
        assert left > 0, "%d responses missing" % len(want - set(got))
        msgid, err, res = ctl.recv_response(timeout=left)
        assert msgid in want and msgid not in got, msgid
        got[msgid] = (err, res)
    return got


def test_thousand_connections_open_talk_and_close_pipelined(ctl):
    with NodeServer("echo", quiet=True) as srv:
        t0 = time.monotonic()
        names = ["fleet-%04d" % i for i in range(N)]
        ids = ctl.send_many([("open", {"conn": n, "url": srv.url + n}) for n in names])
        got = drain(ctl, ids)
        errors = [e for e, _ in got.values() if e is not None]
        assert not errors, errors[:3]
        assert all(r["status"] == 101 and r["reused"] is False for _, r in got.values())
        opened = time.monotonic() - t0
        s = ctl.call("stats")
        assert (s["open"], s["opened_total"]) == (N, N)
        assert s["opened_total"] == s["open"] + s["closing"] + s["closed_total"]

        # One request per connection, all in flight at once; each reply is its own connection's.
        ids = ctl.send_many([("request", {"conn": n, "data": "hi " + n, "timeout_ms": 10000}) for n in names])
        got = drain(ctl, ids)
        for msgid, n in zip(ids, names):
            err, res = got[msgid]
            assert err is None and res["data"] == "hi " + n, (n, err)

        ids = ctl.send_many([("close", {"conn": n, "timeout_ms": 5000}) for n in names])
        got = drain(ctl, ids)
        assert all(e is None and r["clean"] and r["initiator"] == "client" for e, r in got.values())
        total = time.monotonic() - t0
        s = ctl.call("stats")
        assert (s["open"], s["closing"], s["closed_total"], s["opened_total"]) == (0, 0, N, N)
        assert s["msgs_in"] == N and s["msgs_out"] == N
        assert s["closes_by_cause"].get("local_close") == N
        assert len(ctl.call("list", state="closed", limit=N * 2)["conns"]) == N
        print("\n%d connections: opened in %.2f s, whole cycle %.2f s" % (N, opened, total))
        assert total < 60
