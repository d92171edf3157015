"""The example plans in real JMeter 5.6.3 (non-GUI) through the real daemon, against independent
peers: python3-websockets, node ws, and the mock gateway's chat protocol. Each run's JTL is parsed
and checked sample by sample."""

import os
import signal

from jmeter_harness import EXAMPLES, MockGateway, generate_dashboard, run_plan
from wsf_fixtures import Daemon, NodeServer, PyServer

ECHO = os.path.join(EXAMPLES, "echo.jmx")
CHAT = os.path.join(EXAMPLES, "chat.jmx")


def wsfleet_props(daemon, **props):
    out = {"wsfleet.transport": "unix", "wsfleet.socket": daemon.socket}
    out.update(props)
    return out


def check_echo_run(run, threads, loops):
    assert run.returncode == 0, run.output
    assert len(run.rows) == threads * (2 + 2 * loops), run.describe()
    assert not run.failures(), run.describe() + "\n" + repr(run.failures()[:3])
    opens = run.by_label("open")
    assert len(opens) == threads
    for r in opens:
        assert r["responseCode"] == "101" and r["responseMessage"].startswith("Switching Protocols")
        # connect time is the daemon's handshake time, within the sample's elapsed time
        assert 0 <= int(r["Connect"]) <= int(r["elapsed"]) == int(r["Latency"])
    for r in run.by_label("echo"):
        assert r["responseCode"] == "200"
        assert int(r["bytes"]) == int(r["sentBytes"]) > 0  # an echo: as many bytes back as sent
    for r in run.by_label("close"):
        assert r["responseCode"] == "1000" and "closed by the client" in r["responseMessage"]
    assert {r["threadName"] for r in run.rows} == {"echo users 1-%d" % i for i in range(1, threads + 1)}


def test_echo_plan_against_python_websockets(jmeter, tmp_path):
    with Daemon() as d, PyServer("echo") as srv:
        run = run_plan(ECHO, str(tmp_path), wsfleet_props(d, url=srv.url, threads=3, loops=5), home=jmeter)
        check_echo_run(run, 3, 5)
        # what crossed the wire: the peer saw every echo message, from three connections
        msgs = srv.records("message")
        assert len([m for m in msgs if m["data"].startswith("hello from ")]) == 15
        assert len({m["id"] for m in msgs}) == 3
        stats = d.client().call("stats")
        assert stats["opened_total"] == 3 and stats["closes_by_code"] == {"1000": 3}


def test_echo_plan_against_node_ws_with_an_xml_jtl(jmeter, tmp_path):
    with Daemon() as d, NodeServer("echo") as srv:
        run = run_plan(ECHO, str(tmp_path), wsfleet_props(d, url=srv.url, threads=2, loops=3), xml=True,
                       home=jmeter)
        check_echo_run(run, 2, 3)
        # response data is the message received, as extractors and assertions see it
        for r in run.by_label("echo"):
            n = r["threadName"].rsplit("-", 1)[1]
            assert r["responseData"].startswith("hello from %s #" % n), r["responseData"]
        for r in run.by_label("open"):
            headers = r["xml"].find("responseHeader").text.lower()
            assert headers.startswith("http/1.1 101") and "sec-websocket-accept" in headers


def test_chat_plan_against_the_mock_gateway(jmeter, tmp_path):
    with Daemon() as d, MockGateway("--agent-delay", "200ms") as gw:
        run = run_plan(CHAT, str(tmp_path), wsfleet_props(
            d, url=gw.url, threads=4, rampup=1, duration=8, think_ms=300, think_jitter_ms=200,
            heartbeat_ms=1000, agent_timeout_ms=3000), home=jmeter)
        stats = gw.stop()
    assert run.returncode == 0, run.output
    assert not run.failures(), run.describe() + "\n" + repr(run.failures()[:3])
    assert len(run.by_label("configureSession")) == 4
    assert len(run.by_label("open")) == 4
    asked = run.by_label("send message")
    answered = run.by_label("agent reply")
    assert len(asked) >= 8 and len(answered) >= len(asked) - 4  # a thread may stop between the two
    # The daemon sent the echo heartbeat on its own clock: 4 sessions x ~8 s / 1 s. The gateway
    # answered each; the answers were kept out of the inbox, so no sampler ever saw one.
    assert stats["msgs_in"] >= len(asked) + 4 + 4 * 5, stats
    reset = run.by_label("reset wsfleet")
    assert len(reset) == 1 and reset[0]["success"] == "true"
    assert reset[0]["responseMessage"].startswith("closed 4,"), reset[0]  # the tearDown group reset the daemon


def test_a_1006_run_reads_right_in_the_html_dashboard(jmeter, tmp_path):
    """A dropped connection shows up in JMeter's own report as code 1006 with the cause."""
    with Daemon() as d, MockGateway("--idle-timeout", "1", "--drop", "fin") as gw:
        run = run_plan(os.path.join(EXAMPLES, "sessions-155.jmx"), str(tmp_path), wsfleet_props(
            d, url=gw.url, threads=3, rampup=0, duration=4, think_ms=1500, think_jitter_ms=0,
            keepalive="none"), home=jmeter)
    assert run.returncode == 0, run.output
    failed = run.failures("ping")
    assert failed, run.describe()
    for r in failed:
        assert r["responseCode"] == "1006", r
        assert r["responseMessage"] == "1006 eof: dropped by peer (TCP FIN, no close frame)", r
    report = tmp_path / "report"
    stats = generate_dashboard(run.jtl, str(report), home=jmeter)
    assert stats["ping"]["errorCount"] == len(failed)
    assert stats["open"]["errorCount"] == 0 and stats["open"]["sampleCount"] == 3
    errors_js = (report / "content" / "js" / "dashboard.js").read_text()
    assert "1006/1006 eof: " in errors_js  # "Errors" table: code/message


def test_open_reuses_a_live_name_unless_the_run_starts_with_a_reset(jmeter, tmp_path):
    """A connection left open by an earlier run is reused (and the sample says so); with
    -Jwsfleet.reset=true the run starts from a clean daemon instead."""
    with Daemon() as d, PyServer("echo") as srv:
        c = d.client()
        c.call("open", conn="vu-1", url=srv.url)  # left over from an "earlier run"
        run = run_plan(ECHO, str(tmp_path), wsfleet_props(d, url=srv.url, threads=1, loops=1),
                       name="reused", home=jmeter)
        assert not run.failures(), run.describe()
        [opened] = run.by_label("open")
        assert opened["responseCode"] == "101" and opened["responseMessage"] == "reused live connection vu-1"
        assert opened["Connect"] == "0"

        c.call("open", conn="vu-1", url=srv.url)
        run = run_plan(ECHO, str(tmp_path), wsfleet_props(d, url=srv.url, threads=1, loops=1,
                                                          **{"wsfleet.reset": "true"}),
                       name="reset", home=jmeter)
        assert not run.failures(), run.describe()
        [opened] = run.by_label("open")
        assert opened["responseMessage"].startswith("Switching Protocols"), opened
        stats = c.call("stats")
        assert stats["reused_total"] == 0 and stats["opened_total"] == 1, stats
        assert len({r["id"] for r in srv.records("connect")}) == 3  # leftover, its replacement, the new one


def test_jmeter_starts_the_daemon_itself_and_stops_it_at_exit(jmeter, tmp_path):
    """-Jwsfleet.daemon: no daemon listens, the plugin starts one, and JMeter's exit stops it."""
    import socket as _socket
    from wsf_fixtures import daemon_binary

    sock = tmp_path / "private" / "wsfleetd.sock"  # the daemon creates the 0700 directory
    with PyServer("echo") as srv:
        run = run_plan(ECHO, str(tmp_path), {"url": srv.url, "threads": 2, "loops": 2,
                                             "wsfleet.transport": "unix", "wsfleet.socket": str(sock),
                                             "wsfleet.daemon": daemon_binary(),
                                             "wsfleet.daemon.log": str(tmp_path / "daemon.log")}, home=jmeter)
        check_echo_run(run, 2, 2)
    probe = _socket.socket(_socket.AF_UNIX)
    try:
        probe.connect(str(sock))
    except OSError:
        return  # gone, as it should be
    finally:
        probe.close()
    # Still there: stop it (by the pid it reports) before failing, so no process outlives the test.
    from wsf_fixtures import Client
    os.kill(Client(str(sock)).call("hello")["pid"], signal.SIGKILL)
    raise AssertionError("the daemon started by JMeter still listens after JMeter exited")


def test_the_java8_route_loopback_tcp_with_a_token(jmeter, tmp_path):
    """-Jwsfleet.transport=tcp: what the plugin uses on Java 8-15, hello carries the token."""
    from wsf_fixtures import closed_port

    port = closed_port()
    token = tmp_path / "token"
    with Daemon("--control-tcp", "127.0.0.1:%d" % port, "--token-file", str(token)) as d, PyServer("echo") as srv:
        run = run_plan(ECHO, str(tmp_path), {"url": srv.url, "threads": 2, "loops": 2, "wsfleet.transport": "tcp",
                                             "wsfleet.tcp": "127.0.0.1:%d" % port,
                                             "wsfleet.token_file": str(token)}, home=jmeter)
        check_echo_run(run, 2, 2)
        assert d.client().call("stats")["opened_total"] == 2
