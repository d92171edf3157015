"""Issue 18's presets against real servers (PROTOCOL.md: presets, session steps, auto-reply, framing,
reconnect, rate_limit): Socket.IO v4 on the `socket.io` npm server, STOMP 1.2 on RabbitMQ's Web-STOMP,
SignalR JSON on our hub server (checked against Microsoft's client in test_preset_servers.py), and
echo-heartbeat on the mock gateway's chat protocol.

Each server's heartbeat timeout is set short (Socket.IO pingInterval 1 s + pingTimeout 1 s; RabbitMQ
heart-beat 1000 ms, which it enforces after ~3 s of silence; SignalR ClientTimeoutInterval 2 s; mockgw
--require-heartbeat 2s) and each session is held well past it while the test sends nothing: the preset
alone (auto-replies, heartbeats on the daemon's clock) must keep it alive, with zero drops on both
sides. Where it is cheap, a control session without the preset is dropped by the same server in the
same time, so a lenient server cannot make a test pass.
"""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mockgw"))
from mockgw_runner import MockGw  # noqa: E402
from proto_servers import PySocketIOServer, RabbitMQ, SignalRServer, SocketIOServer, daemon_has_presets  # noqa: E402
from wsf_fixtures import Daemon, RpcError, wait_state, wait_until  # noqa: E402

HOLD_S = 5.0  # every server below drops a silent session within 2-3 s


@pytest.fixture(scope="module", autouse=True)
def presets_in_daemon():
    with Daemon() as d:
        if not daemon_has_presets(d.client()):
            pytest.skip("this wsfleetd has no protocol layer (open's framing, session, auto_reply, preset)")


def auto_reply(status, name):
    rules = {r["name"]: r for r in status.get("auto_reply") or []}
    assert name in rules, "no auto-reply rule %r in status: %r" % (name, status.get("auto_reply"))
    return rules[name]


def assert_no_record(status):
    assert status["state"] == "open" and status["record"] is None, status


def wait_reconnected(ctl, conn, count=1, timeout=15):
    def done():
        st = ctl.call("status", conn=conn)
        return st if (st.get("reconnect") or {}).get("count", 0) >= count and st["state"] == "open" else None

    st = wait_until(done, timeout, interval=0.05)
    assert st, "no reconnect of %s within %d s: %r" % (conn, timeout, ctl.call("status", conn=conn))
    return st


def open_failure(ctl, **params):
    with pytest.raises(RpcError) as err:
        ctl.call("open", **params)
    return err.value


# ---------------------------------------------------------------- Socket.IO v4

@pytest.fixture
def sio():
    with SocketIOServer(ping_interval=1000, ping_timeout=1000) as srv:
        yield srv


def test_socketio4_session_survives_ping_timeout_while_the_test_sends_nothing(ctl, sio):
    ctl.call("open", conn="sio", url=sio.url, preset="socketio4", preset_options={"namespace": "/chat"})
    st = ctl.call("status", conn="sio")
    assert st["session"]["sid"] and st["session"]["pingInterval"] == "1000" and st["session"]["pingTimeout"] == "1000"
    connect = sio.wait_for("connect", 5)[0]
    assert connect["nsp"] == "/chat" and connect["query"]["EIO"] == "4" and connect["query"]["transport"] == "websocket"
    # A control session that connects the same way but never answers pings: dropped within 2 s.
    ctl.call("open", conn="bare", url=sio.url + "?EIO=4&transport=websocket")
    ctl.call("send", conn="bare", data="40/chat,")
    time.sleep(HOLD_S)
    st = ctl.call("status", conn="sio")
    assert_no_record(st)
    pings = auto_reply(st, "engineio-ping")
    assert pings["matched"] == pings["replied"] >= HOLD_S - 1  # one ping a second, each answered with 3
    assert ctl.call("stats")["auto_replies"]["engineio-ping"] >= pings["replied"]
    assert st["inbox"]["messages"] == 0  # pings are kept out of the inbox
    assert ctl.call("status", conn="bare")["state"] == "closed"
    stats = sio.stats()
    assert stats["connects"] == 2 and stats["disconnect_reasons"] == {"ping timeout": 1}, stats


def test_socketio4_event_ack_and_broadcast_are_matched(ctl, sio):
    ctl.call("open", conn="chat", url=sio.url, preset="socketio4", preset_options={"namespace": "/chat"})
    r = ctl.call("request", conn="chat", data='42/chat,17["echo","hi",{"n":1}]', regex=r"^43/chat,17\[",
                 timeout_ms=3000)
    assert r["data"] == '43/chat,17["hi",{"n":1}]'
    ctl.call("send", conn="chat", data='42/chat,["echo","plain"]')
    assert ctl.call("recv", conn="chat", regex=r'^42/chat,\["echo"', timeout_ms=3000)["data"] == '42/chat,["echo","plain"]'
    sio.emit("/chat", "news", [{"a": 1}])
    assert ctl.call("recv", conn="chat", regex=r'^42/chat,\["news"', timeout_ms=3000)["data"] == '42/chat,["news",{"a":1}]'
    # The default namespace: no namespace in the packets.
    ctl.call("open", conn="root", url=sio.url, preset="socketio4")
    assert ctl.call("request", conn="root", data='421["echo","x"]', regex=r"^431\[", timeout_ms=3000)["data"] == '431["x"]'
    events = [(e["nsp"], e["name"], e["ack"]) for e in sio.records("event")]
    assert events == [("/chat", "echo", True), ("/chat", "echo", False), ("/", "echo", True)]


def test_socketio4_connect_error_fails_the_open_with_the_servers_message(ctl, sio):
    err = open_failure(ctl, conn="priv", url=sio.url, preset="socketio4", preset_options={"namespace": "/private"})
    assert err.code == "handshake_failed", err
    assert err.details["phase"] == "session" and err.details["step"] == 1 and err.details["http_status"] == 101
    assert err.details["body"] == '44/private,{"message":"not authorized"}'
    assert ctl.call("status", conn="priv")["record"]["cause"] == "session_failed"
    ctl.call("open", conn="priv2", url=sio.url, preset="socketio4",
             preset_options={"namespace": "/private", "auth": '{"token":"letmein"}'})
    assert sio.wait_for("connect", 5, nsp="/private")[0]["auth"] == {"token": "letmein"}


def test_socketio4_server_disconnect_is_counted_and_reconnected(ctl, daemon, sio):
    ctl.call("open", conn="sio", url=sio.url, preset="socketio4", preset_options={"namespace": "/chat"},
             reconnect={"max": 2, "backoff_ms": 100, "jitter_ms": 0})
    sio.disconnect("/chat")
    st = wait_reconnected(ctl, "sio")
    assert st["reconnect"]["count"] == 1 and not st["reconnect"]["gave_up"]
    assert st["reconnect"]["last_record"]["cause"] in ("server_close", "eof"), st["reconnect"]
    stats = ctl.call("stats")
    assert stats["reconnects_total"] == 1 and stats["closed_total"] >= 1
    # The session steps were replayed: the namespace is connected again, events work, results say so.
    r = ctl.call("request", conn="sio", data='42/chat,3["echo","again"]', regex=r"^43/chat,3\[", timeout_ms=3000)
    assert r["data"] == '43/chat,3["again"]' and r["reconnects"] == 1
    srv = sio.stats()
    assert srv["connects"] == 2 and srv["disconnect_reasons"] == {"server namespace disconnect": 1}, srv
    rec = daemon.wait_event(lambda e: e.get("event") == "reconnect" and e.get("conn") == "sio")
    assert rec["attempt"] == 1 and rec["record"]["cause"] == st["reconnect"]["last_record"]["cause"]



@pytest.mark.skipif(not PySocketIOServer.available(), reason="python3-socketio and python3-aiohttp are not installed")
def test_socketio4_against_python_socketio_too(ctl):
    with PySocketIOServer(ping_interval=1000, ping_timeout=1000) as srv:
        ctl.call("open", conn="py", url=srv.url, preset="socketio4", preset_options={"namespace": "/chat"})
        ctl.call("open", conn="pyroot", url=srv.url, preset="socketio4")
        time.sleep(HOLD_S)
        for conn in ("py", "pyroot"):
            st = ctl.call("status", conn=conn)
            assert_no_record(st)
            assert auto_reply(st, "engineio-ping")["replied"] >= HOLD_S - 1
        r = ctl.call("request", conn="py", data='42/chat,5["echo","hi",2]', regex=r"^43/chat,5\[", timeout_ms=3000)
        assert r["data"] == '43/chat,5["hi",2]'
        r = ctl.call("request", conn="pyroot", data='426["echo","x"]', regex=r"^436\[", timeout_ms=3000)
        assert r["data"] == '436["x"]'
        stats = srv.stats()
    assert (stats["connects"], stats["disconnects"], stats["acks"]) == (2, 0, 2), stats

# ---------------------------------------------------------------- echo-heartbeat on the mock gateway

def test_echo_heartbeat_keeps_a_required_heartbeat_session_alive(ctl):
    # The preset's default payload is the mock gateway's echo shape (`message`, its `text` echoed back).
    opts = {"interval_ms": 500, "reply_timeout_ms": 1500}
    with MockGw("--require-heartbeat", "2s", "--drop", "fin") as gw:
        ctl.call("open", conn="hb", url=gw.url, preset="echo-heartbeat", preset_options=opts)
        ctl.call("open", conn="bare", url=gw.url)  # no heartbeat: the gateway drops it after 2 s
        time.sleep(HOLD_S)
        st = ctl.call("status", conn="hb")
        bare = ctl.call("status", conn="bare")
        drops = gw.drops(expect=1)
    assert_no_record(st)
    assert st["keepalive"]["mode"] == "text" and st["keepalive"]["sent"] >= 8
    assert st["keepalive"]["replies"] >= st["keepalive"]["sent"] - 1  # every echo answered, kept out of the inbox
    assert st["inbox"]["messages"] == 0
    assert bare["state"] == "closed" and bare["record"]["cause"] == "eof"
    assert [d["reason"] for d in drops] == ["heartbeat"]  # only the bare one


@pytest.mark.parametrize("where", ["preset_options", "open"])
def test_echo_heartbeat_rate_limit_paces_a_burst_under_the_gateways_limit(ctl, where):
    # The gateway allows 5 messages per 1 s window (its windows start at a session's first message);
    # at 2 per 1000 ms no 1 s span can carry more than 4, whatever the daemon's windows.
    burst = ['{"action":"echo","message":"m%d"}' % i for i in range(10)]
    limit = {"messages": 2, "per_ms": 1000}
    opts = {"interval_ms": 600000}  # a heartbeat in these 5 s is unlikely (~1 %)
    with MockGw("--rate-limit", "5", "--rate-window", "1") as gw:
        if where == "open":
            ctl.call("open", conn="paced", url=gw.url, preset="echo-heartbeat", preset_options=opts, rate_limit=limit)
        else:
            ctl.call("open", conn="paced", url=gw.url, preset="echo-heartbeat", preset_options=dict(opts, rate_limit=limit))
        ctl.call("open", conn="unpaced", url=gw.url)
        started = time.monotonic()
        paced = [ctl.call("send", conn="paced", data=m) for m in burst]
        for m in burst:
            ctl.call("send", conn="unpaced", data=m)
        got = [ctl.call("recv", conn="paced", contains='"m%d"' % i, timeout_ms=8000) for i in range(10)]
        took = time.monotonic() - started
        st = ctl.call("status", conn="paced")
        with pytest.raises(RpcError) as none:
            ctl.call("recv", conn="paced", contains="429", timeout_ms=0)
        refused = [ctl.call("recv", conn="unpaced", contains="429", timeout_ms=3000) for _ in range(5)]
        gw_stats = gw.stats()
    assert none.value.code == "timeout"
    assert all('"body":"m%d"' % i in g["data"] for i, g in enumerate(got))
    assert 3.5 <= took <= 7, took  # 10 messages at 2 per second
    assert paced[0]["paced_us"] == 0 and paced[-1]["paced_us"] >= 3_000_000, [p.get("paced_us") for p in paced]
    assert st["rate_limit"]["messages"] == 2 and st["rate_limit"]["per_ms"] == 1000
    # 10 sends, 2 written at once; a heartbeat drawn into these seconds would take a slot too.
    assert st["rate_limit"]["delayed"] in (8, 9) and st["rate_limit"]["max_delay_us"] >= 3_000_000
    assert ctl.call("stats")["output"]["paced"] == st["rate_limit"]["delayed"]
    assert len(refused) == 5 and gw_stats["rate_limited"] == 5  # all from the unpaced session


def test_echo_heartbeat_gateway_restart_is_counted_and_reconnected(ctl, daemon):
    with MockGw("--restart-at", "1.5") as gw:
        ctl.call("open", conn="hb", url=gw.url, preset="echo-heartbeat",
                 preset_options={"interval_ms": 500, "reply_timeout_ms": 1500},
                 reconnect={"max": 3, "backoff_ms": 100, "jitter_ms": 0})
        st = wait_reconnected(ctl, "hb")
        last = st["reconnect"]["last_record"]
        assert (last["code"], last["reason"], last["cause"]) == (1012, "service restart", "server_close")
        time.sleep(1.5)  # the reopened session keeps its heartbeat
        st = ctl.call("status", conn="hb")
        assert_no_record(st)
        assert st["reconnect"]["count"] == 1 and ctl.call("stats")["reconnects_total"] == 1
        assert gw.stats()["handshakes"] == 2
    rec = daemon.wait_event(lambda e: e.get("event") == "reconnect" and e.get("conn") == "hb")
    assert rec["record"]["code"] == 1012


# ---------------------------------------------------------------- STOMP 1.2 on RabbitMQ

@pytest.fixture(scope="module")
def broker():
    if not RabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed (.ci/install-deps --test)")
    with RabbitMQ() as mq:
        yield mq


STOMP_GUEST = {"host": "/", "login": "guest", "passcode": "guest", "heart_beat": [1000, 1000]}


def test_stomp12_session_survives_rabbitmqs_heartbeat_timeout(ctl, broker):
    ctl.call("open", conn="stomp", url=broker.url, preset="stomp12", preset_options=STOMP_GUEST)
    st = ctl.call("status", conn="stomp")
    assert st["subprotocol"] == "v12.stomp"
    assert st["session"]["heart_beat"] == "1000,1000" and st["session"]["version"] == "1.2"
    # Control: the same CONNECT sent by hand, then silence: RabbitMQ ends it ("STOMP died").
    ctl.call("open", conn="bare", url=broker.url, subprotocols=["v12.stomp"])
    ctl.call("send", conn="bare", data="CONNECT\naccept-version:1.2\nhost:/\nheart-beat:1000,1000\n"
                                       "login:guest\npasscode:guest\n\n\0")
    time.sleep(HOLD_S)
    st = ctl.call("status", conn="stomp")
    assert_no_record(st)
    assert st["keepalive"]["sent"] >= HOLD_S - 1  # a "\n" every second
    assert st["keepalive"]["replies"] >= HOLD_S - 1  # RabbitMQ's heart-beats, counted, not in the inbox
    assert st["inbox"]["messages"] == 0
    bare = ctl.call("status", conn="bare")["record"]
    assert bare and (bare["code"], bare["reason"]) == (1000, "STOMP died"), bare
    assert len(broker.channels()) == 1


def test_stomp12_subscribe_send_message_and_receipts_matched(ctl, broker):
    ctl.call("open", conn="sub", url=broker.url, preset="stomp12", preset_options=STOMP_GUEST)
    ctl.call("open", conn="pub", url=broker.url, preset="stomp12", preset_options=STOMP_GUEST)
    r = ctl.call("request", conn="sub", data="SUBSCRIBE\nid:s-1\ndestination:/topic/wsf-room\nreceipt:r-sub\n\n",
                 regex="^RECEIPT\n", contains="receipt-id:r-sub", timeout_ms=3000)
    assert r["data"].startswith("RECEIPT\nreceipt-id:r-sub\n")
    r = ctl.call("request", conn="pub", data="SEND\ndestination:/topic/wsf-room\ncontent-type:text/plain\n"
                                              "receipt:r-send\n\nhello stomp\0",  # given NUL: not doubled
                 regex="^RECEIPT\n", contains="receipt-id:r-send", timeout_ms=3000)
    assert r["data"].startswith("RECEIPT\nreceipt-id:r-send\n")
    m = ctl.call("recv", conn="sub", regex="^MESSAGE\n", contains="destination:/topic/wsf-room", timeout_ms=3000)
    headers, _, body = m["data"].partition("\n\n")
    assert "subscription:s-1" in headers.split("\n") and body.rstrip("\0\n") == "hello stomp"
    assert "\0" not in m["data"]  # records come without their NUL
    assert ctl.call("status", conn="sub")["inbox"]["messages"] == 0


def test_stomp12_error_frame_fails_the_open(ctl, broker):
    # RabbitMQ takes `host` as its virtual host: the preset's default (the URL's host) is refused.
    err = open_failure(ctl, conn="vhost", url=broker.url, preset="stomp12",
                       preset_options={"login": "guest", "passcode": "guest"})
    assert err.code == "handshake_failed" and err.details["phase"] == "session" and err.details["step"] == 0
    assert err.details["body"].startswith("ERROR\nmessage:Bad CONNECT\n")  # the server's frame: message header and body
    assert "Virtual host '127.0.0.1' access denied" in err.details["body"] and "session step 0" in err.message
    err = open_failure(ctl, conn="pass", url=broker.url, preset="stomp12",
                       preset_options=dict(STOMP_GUEST, passcode="wrong"))
    assert err.code == "handshake_failed" and "Access refused for user 'guest'" in err.details["body"]
    assert ctl.call("status", conn="pass")["record"]["cause"] == "session_failed"


def test_stomp12_broker_closing_the_connection_is_counted_and_reconnected(ctl, broker):
    ctl.call("open", conn="stomp", url=broker.url, preset="stomp12", preset_options=STOMP_GUEST,
             reconnect={"max": 2, "backoff_ms": 100, "jitter_ms": 0})
    broker.close_all_connections("wsfleet test kick")
    st = wait_reconnected(ctl, "stomp")
    assert st["session"]["version"] == "1.2"  # CONNECT replayed
    assert ctl.call("stats")["reconnects_total"] == 1
    time.sleep(4)  # past RabbitMQ's heart-beat timeout again
    assert_no_record(ctl.call("status", conn="stomp"))
    assert len(broker.channels()) == 1


# ---------------------------------------------------------------- SignalR JSON

@pytest.fixture
def hub():
    with SignalRServer(keep_alive_ms=300, client_timeout_ms=2000) as srv:
        yield srv


def test_signalr_json_session_survives_client_timeout_while_the_test_sends_nothing(ctl, hub):
    ws_url, _ = hub.negotiate()  # the HTTP step JMeter's HTTP sampler does
    ctl.call("open", conn="hub", url=ws_url, preset="signalr-json", preset_options={"interval_ms": 500})
    ctl.call("open", conn="bare", url=hub.url)  # handshake by hand, then silence: timed out after 2 s
    ctl.call("send", conn="bare", data='{"protocol":"json","version":1}\x1e')
    time.sleep(HOLD_S)
    st = ctl.call("status", conn="hub")
    assert_no_record(st)
    pings = auto_reply(st, "signalr-ping")
    assert pings["matched"] >= 8 and pings["replied"] == 0  # ~16 (one per 300 ms), swallowed, not answered
    assert st["inbox"]["messages"] == 0
    assert st["keepalive"]["sent"] >= HOLD_S / 0.5 - 2
    srv = hub.stats()
    assert srv["pings_received"] >= st["keepalive"]["sent"] - 1
    assert srv["disconnect_reasons"] == {"client timeout": 1}, srv  # the bare one only
    bare = ctl.call("status", conn="bare")
    assert bare["state"] == "closed" and bare["record"]["code"] == 1000


def test_signalr_json_invocations_completions_and_several_records_per_message(ctl, hub):
    ws_url, _ = hub.negotiate()
    ctl.call("open", conn="hub", url=ws_url, preset="signalr-json")
    r = ctl.call("request", conn="hub", data='{"type":1,"invocationId":"7","target":"Echo","arguments":["hi"]}',
                 json_field="invocationId", json_value="7", timeout_ms=3000)
    assert json.loads(r["data"]) == {"type": 3, "invocationId": "7", "result": "hi"}
    r = ctl.call("request", conn="hub", data='{"type":1,"invocationId":"8","target":"Throw","arguments":["boom"]}\x1e',
                 json_field="invocationId", json_value="8", timeout_ms=3000)
    assert json.loads(r["data"])["error"].endswith("HubException: boom")
    hub.sendmany(3, "tick", ["x"])  # three records in one WebSocket message: three messages here
    ticks = [json.loads(ctl.call("recv", conn="hub", json_field="target", json_value="tick", timeout_ms=3000)["data"])
             for _ in range(3)]
    assert [t["arguments"] for t in ticks] == [["x", 0], ["x", 1], ["x", 2]]
    invs = hub.records("invocation")
    assert [i["target"] for i in invs] == ["Echo", "Throw"]  # the 0x1E given by the test was not doubled


def test_signalr_json_close_message_ends_the_connection_as_server_close(ctl, hub):
    ws_url, _ = hub.negotiate()
    ctl.call("open", conn="hub", url=ws_url, preset="signalr-json")
    hub.close("going down")
    st = wait_state(ctl, "hub", "closed")
    assert st["record"]["cause"] == "server_close" and "going down" in st["record"]["detail"], st["record"]


def test_signalr_json_handshake_error_fails_the_open(ctl):
    with SignalRServer(handshake_error="nope, not today") as srv:
        err = open_failure(ctl, conn="hub", url=srv.url, preset="signalr-json")
    assert err.code == "handshake_failed" and err.details["phase"] == "session" and err.details["step"] == 0
    assert err.details["body"] == '{"error":"nope, not today"}' and "session step 0" in err.message


def test_signalr_json_kick_is_counted_and_reconnected(ctl, hub):
    # Reconnecting replays the same URL: a negotiated ?id= is single-use (409 the second time), so a
    # reconnecting SignalR session uses the skipNegotiation URL (no id), as the .NET client does with
    # SkipNegotiation = true.
    ctl.call("open", conn="hub", url=hub.url, preset="signalr-json", preset_options={"interval_ms": 500},
             reconnect={"max": 2, "backoff_ms": 100, "jitter_ms": 0})
    hub.kick()
    st = wait_reconnected(ctl, "hub")
    assert st["reconnect"]["last_record"]["code"] == 1006
    r = ctl.call("request", conn="hub", data='{"type":1,"invocationId":"1","target":"Echo","arguments":[5]}',
                 json_field="invocationId", json_value="1", timeout_ms=3000)
    assert json.loads(r["data"])["result"] == 5 and r["reconnects"] == 1
    assert hub.stats()["handshakes_ok"] == 2
