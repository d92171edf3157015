"""--tls-session-cache: wss:// opens resume the gateway's latest TLS session (tls.c, opts.resume).

Against python3-websockets over TLS (OpenSSL issues two TLS 1.3 tickets per connection by default):
with the option, the second and later opens resume (SSL_session_reused, counted in stats
tls_resumed_total and wsfleet_tls_resumed_total) and are still verified; a server that refuses the
offered session (a new server process on the same port, with new ticket keys) still connects, with a
full handshake; without the option nothing is resumed (today's load profile)."""

from test_tls import assert_tls_result, certs, echo_round_trip, py_server  # noqa: F401 (certs: fixture)
from test_metrics import SAMPLE, get, metrics_daemon

BIND = '"127.0.0.1", 0, ssl=ctx'


def py_server_on(certs, port):  # noqa: F811
    """python3-websockets over TLS (test_tls's) bound to a given port: a new process there is a new
    server with new ticket keys, which cannot decrypt the tickets the one before it issued."""
    import test_tls
    assert BIND in test_tls.PY_TLS_SERVER
    srv = py_server(certs)
    srv.cmd[2] = test_tls.PY_TLS_SERVER.replace(BIND, '"127.0.0.1", %d, ssl=ctx' % port)
    return srv


def open_three(ctl, srv, ca):
    results = []
    for i in range(3):
        res = ctl.call("open", conn="r%d" % i, url=srv.url, tls={"ca_file": ca})
        assert_tls_result(res, verified=True)
        # a round trip: the server's tickets (sent after its Finished) have been read by now
        echo_round_trip(ctl, "r%d" % i, "hello %d" % i)
        results.append(res)
    return results


def resumed_metric(port):
    status, _, body = get(port)
    assert status == 200
    for line in body.decode().splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) == "wsfleet_tls_resumed_total":
            return float(m.group(3))
    raise AssertionError("wsfleet_tls_resumed_total missing from /metrics")


def test_later_opens_resume_the_gateways_latest_session(certs):  # noqa: F811
    d, port = metrics_daemon("--tls-session-cache")
    with d, py_server(certs) as srv:
        ctl = d.client()
        open_three(ctl, srv, certs.ca)
        assert ctl.call("stats")["tls_resumed_total"] == 2  # the first open has nothing to resume
        assert resumed_metric(port) == 2
        assert d.stop() == 0


def test_a_server_refusing_the_offered_session_still_connects(certs):  # noqa: F811
    d, _ = metrics_daemon("--tls-session-cache")
    with d:
        ctl = d.client()
        with py_server(certs) as first:
            port = first.port
            res = ctl.call("open", conn="a", url=first.url, tls={"ca_file": certs.ca})
            echo_round_trip(ctl, "a", "tickets read")
        # A new server process on the same port: the session the daemon kept for this address and
        # name is offered, the server cannot decrypt its ticket, and a full handshake follows.
        with py_server_on(certs, port) as second:
            assert second.url == first.url
            for conn in ("b", "c"):
                res = ctl.call("open", conn=conn, url=second.url, tls={"ca_file": certs.ca})
                assert_tls_result(res, verified=True)
                echo_round_trip(ctl, conn, "hello " + conn)
            # b was refused (full handshake); c resumed the session b got from the second server
            assert ctl.call("stats")["tls_resumed_total"] == 1
        assert d.stop() == 0


def test_without_the_option_every_open_is_a_full_handshake(ctl, certs):  # noqa: F811
    with py_server(certs) as srv:
        open_three(ctl, srv, certs.ca)
        assert ctl.call("stats")["tls_resumed_total"] == 0
