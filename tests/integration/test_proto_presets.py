"""open's presets against small, faithful peers of each protocol (tests/lib/servers/proto_peer.py):
sessions kept alive past the server's timeout with no client traffic, the protocol's message shapes
(PROTOCOL.md §5, "Presets"), and the failures each protocol reports at setup."""

import json
import time

import os
import sys

import pytest

from proto_fixtures import ProtoServer
from wsf_fixtures import RpcError, wait_until

RS = "\x1e"

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mockgw"))
from mockgw_runner import MockGw  # noqa: E402


def rule(ctl, conn, name):
    return {r["name"]: r for r in ctl.call("status", conn=conn)["auto_reply"]}[name]


# ---- socketio4 -------------------------------------------------------------------------------------

def test_socketio_session_and_pongs_keep_it_alive_past_the_ping_timeout(ctl):
    with ProtoServer("socketio", ping_interval_ms=200, ping_timeout_ms=150) as srv:
        r = ctl.call("open", conn="sio", url=srv.url + "socket.io/", preset="socketio4")
        connect = srv.wait_for("connect", timeout=3)[0]
        time.sleep(1.6)  # 8 pings; one unanswered for 150 ms would close the transport
        st = ctl.call("status", conn="sio")
        assert not srv.records("ping_timeout")
        assert st["state"] == "open" and st["preset"] == "socketio4"
    assert connect["path"] == "/socket.io/?EIO=4&transport=websocket"
    assert r["timings"]["session_us"] > 0
    assert st["session"]["sid"] == "eio-1" and st["session"]["pingInterval"] == "200"
    assert rule(ctl, "sio", "engineio-ping")["replied"] >= 6
    assert st["inbox"]["messages"] == 0  # pings never reach it
    assert ctl.call("stats")["auto_replies"]["engineio-ping"] >= 6


def test_socketio_events_and_acks_have_the_documented_shapes(ctl):
    with ProtoServer("socketio") as srv:
        ctl.call("open", conn="ev", url=srv.url, preset="socketio4")
        got = ctl.call("request", conn="ev", data='42["echo",{"text":"hi"}]', regex='^42\\["echo"',
                       timeout_ms=3000)
        ack = ctl.call("request", conn="ev", data='4217["add",1,2]', regex="^4317\\[", timeout_ms=3000)
    assert json.loads(got["data"][2:]) == ["echo", {"text": "hi"}]
    assert json.loads(ack["data"][4:]) == [1, 2]


def test_socketio_namespace_with_auth(ctl):
    with ProtoServer("socketio", reject_auth=True) as srv:
        ctl.call("open", conn="ns", url=srv.url, preset="socketio4",
                 preset_options={"namespace": "/chat", "auth": '{"token":"t1"}'})
        connected = srv.wait_for("sio_connect", timeout=3)[0]
        got = ctl.call("request", conn="ns", data='42/chat,["echo","x"]', regex='^42/chat,\\["echo"', timeout_ms=3000)
    assert connected["ns"] == "/chat" and connected["auth"] == {"token": "t1"}
    assert got["data"].startswith('42/chat,') and json.loads(got["data"][8:]) == ["echo", "x"]


def test_socketio_connect_error_fails_the_open_with_the_servers_message(ctl):
    with ProtoServer("socketio", reject_auth=True) as srv:
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="no", url=srv.url, preset="socketio4")
    err = e.value
    assert err.code == "handshake_failed" and err.details["phase"] == "session" and err.details["step"] == 1
    assert err.details["body"] == '44{"message":"Not authorized"}'


@pytest.mark.parametrize("options,field", [({"namespace": "chat"}, "namespace"), ({"auth": "[1]"}, "auth"),
                                           ({"namespace": 5}, "preset_options.namespace")])
def test_socketio_bad_options_are_refused(ctl, options, field):
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="bad", url="ws://127.0.0.1:9/", preset="socketio4", preset_options=options)
    assert e.value.code == "bad_request" and field in e.value.message


# ---- stomp12 ---------------------------------------------------------------------------------------

def stomp(command, headers, body=""):
    return command + "\n" + "".join("%s:%s\n" % kv for kv in headers.items()) + "\n" + body


def test_stomp_connect_negotiated_heart_beat_keeps_it_alive(ctl):
    with ProtoServer("stomp", server_hb="200,500") as srv:
        r = ctl.call("open", conn="st", url=srv.url, preset="stomp12",
                     preset_options={"login": "guest", "passcode": "guest", "heart_beat": [300, 200]})
        time.sleep(2.5)  # the peer closes after 1 s without a client heart-beat
        st = ctl.call("status", conn="st")
        frames = srv.records("stomp", command="CONNECT")
        beats = srv.records("heartbeat")
        assert not srv.records("heartbeat_timeout")
        assert [f["command"] for f in srv.records("stomp")] == ["CONNECT"]  # a beat is a bare EOL, no NUL
    assert r["subprotocol"] == "v12.stomp"
    assert frames[0]["headers"] == {"accept-version": "1.2", "host": "127.0.0.1", "heart-beat": "300,200",
                                    "login": "guest", "passcode": "guest"}
    assert st["state"] == "open" and st["framing"] == "stomp"
    assert st["session"]["heart_beat"] == "200,500"
    # max(cx 300, sy 500) = 500: drawn in [400, 500] ms, never later
    assert (st["keepalive"]["mode"], st["keepalive"]["interval_ms"], st["keepalive"]["jitter_ms"]) == ("text", 450, 50)
    assert len(beats) >= 4 and st["keepalive"]["sent"] >= 4
    assert st["keepalive"]["replies"] >= 8  # the server's EOLs every max(sx 200, cy 200) ms
    assert st["inbox"]["messages"] == 0


def test_stomp_subscribe_send_message_and_receipt(ctl):
    with ProtoServer("stomp") as srv:
        ctl.call("open", conn="a", url=srv.url, preset="stomp12", preset_options={"heart_beat": [0, 0]})
        receipt = ctl.call("request", conn="a", data=stomp("SUBSCRIBE", {"id": "s1", "destination": "/queue/q",
                                                                         "receipt": "r1"}),
                           regex="^RECEIPT\n(.*\n)*receipt-id:r1\n", timeout_ms=3000)
        msg = ctl.call("request", conn="a", data=stomp("SEND", {"destination": "/queue/q"}, "hello"),
                       regex="^MESSAGE\n(.*\n)*destination:/queue/q\n", timeout_ms=3000)
        st = ctl.call("status", conn="a")
    assert receipt["data"].startswith("RECEIPT\n")
    assert msg["data"].endswith("\n\nhello")  # the NUL terminator is the framing's, not the record's
    assert st["keepalive"]["mode"] == "none"  # heart_beat [0, 0]: none either way


def test_stomp_error_frame_fails_the_open(ctl):
    with ProtoServer("stomp", error="Access refused") as srv:
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="err", url=srv.url, preset="stomp12")
    assert e.value.code == "handshake_failed" and e.value.details["phase"] == "session"
    assert e.value.details["body"].startswith("ERROR\nmessage:Access refused\n")


# ---- signalr-json ----------------------------------------------------------------------------------

def test_signalr_handshake_pings_and_keepalive_past_the_client_timeout(ctl):
    with ProtoServer("signalr", ping_interval_ms=150, client_timeout_ms=600, batch=True) as srv:
        ctl.call("open", conn="sr", url=srv.url + "hub?id=tok", preset="signalr-json",
                 preset_options={"interval_ms": 250})
        time.sleep(2.0)
        st = ctl.call("status", conn="sr")
        records = srv.records("record")
        assert not srv.records("client_timeout")
    assert records[0]["obj"] == {"protocol": "json", "version": 1}
    assert sum(1 for r in records if r["obj"] == {"type": 6}) >= 6  # our keepalive
    assert st["state"] == "open" and st["framing"] == "record_separator"
    assert rule(ctl, "sr", "signalr-ping")["matched"] >= 10  # swallowed
    assert st["inbox"]["messages"] == 0


def test_signalr_invocation_and_completion(ctl):
    with ProtoServer("signalr") as srv:
        ctl.call("open", conn="inv", url=srv.url, preset="signalr-json")
        msg = ctl.call("request", conn="inv", data='{"type":1,"target":"echo","arguments":["hi"]}',
                       json_field="target", json_value="echo", timeout_ms=3000)
        done = ctl.call("request", conn="inv",
                        data='{"type":1,"invocationId":"7","target":"echo","arguments":["x"]}' + RS,
                        json_field="invocationId", json_value="7", timeout_ms=3000)
        sent = srv.wait_for("message", count=3, timeout=3)
    assert json.loads(msg["data"]) == {"type": 1, "target": "echo", "arguments": ["hi"]}
    assert json.loads(done["data"]) == {"type": 3, "invocationId": "7", "result": ["x"]}
    assert all(m["data"].endswith(RS) and not m["data"].endswith(RS + RS) for m in sent)


def test_signalr_close_message_ends_the_connection_with_its_error(ctl):
    with ProtoServer("signalr", close_after_ms=200) as srv:
        ctl.call("open", conn="bye", url=srv.url, preset="signalr-json")
        wait_until(lambda: ctl.call("status", conn="bye")["state"] == "closed", 3)
        rec = ctl.call("status", conn="bye")["record"]
    assert rec["cause"] == "server_close" and rec["initiator"] == "server"
    assert rec["detail"] == "SignalR close message: Server is shutting down"


def test_signalr_handshake_error_fails_the_open(ctl):
    with ProtoServer("signalr", error="Requested protocol 'json' is not available.") as srv:
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="no", url=srv.url, preset="signalr-json")
    assert e.value.code == "handshake_failed" and e.value.details["step"] == 0
    assert e.value.details["body"] == '{"error":"Requested protocol \'json\' is not available."}'


# ---- echo-heartbeat --------------------------------------------------------------------------------

def test_echo_heartbeat_sends_the_payload_and_takes_the_replies(ctl):
    script = [{"on": "wsfleet-heartbeat", "send": ['{"type":"response","code":200,"body":"wsfleet-heartbeat"}']}]
    with ProtoServer("script", script=script) as srv:
        ctl.call("open", conn="eh", url=srv.url, preset="echo-heartbeat",
                 preset_options={"interval_ms": 200, "reply_timeout_ms": 500})
        time.sleep(1.2)
        st = ctl.call("status", conn="eh")
        beats = srv.records("message")
    assert len(beats) >= 4
    assert beats[0]["data"] == '{"action":"echo","message":{"type":"Text","text":"wsfleet-heartbeat"}}'
    assert st["keepalive"]["replies"] >= 4 and st["inbox"]["messages"] == 0
    assert st["keepalive"]["interval_ms"] + st["keepalive"]["jitter_ms"] == 200


def test_echo_heartbeat_defaults_keep_a_mock_gateway_session_that_requires_heartbeats(ctl):
    with MockGw("--require-heartbeat", "1", "--drop", "fin") as gw:
        ctl.call("open", conn="gw", url=gw.url, preset="echo-heartbeat",
                 preset_options={"interval_ms": 300, "reply_timeout_ms": 1000})  # the default payload
        ctl.call("open", conn="bare", url=gw.url)
        time.sleep(2.5)
        st = ctl.call("status", conn="gw")
        bare = ctl.call("status", conn="bare")
    assert st["state"] == "open", st.get("record")
    assert st["keepalive"]["sent"] >= 6 and st["keepalive"]["replies"] >= st["keepalive"]["sent"] - 1
    assert st["inbox"]["messages"] == 0
    assert bare["state"] == "closed"  # the gateway does drop a session without heartbeats


def test_echo_heartbeat_without_replies_ends_with_reply_timeout(ctl):
    with ProtoServer("script") as srv:
        ctl.call("open", conn="mute", url=srv.url, preset="echo-heartbeat",
                 preset_options={"interval_ms": 100, "reply_timeout_ms": 300})
        wait_until(lambda: ctl.call("status", conn="mute")["state"] == "closed", 3)
    assert ctl.call("status", conn="mute")["record"]["cause"] == "reply_timeout"


def test_the_opens_own_fields_win_over_the_presets(ctl):
    with ProtoServer("script", on_connect=["2", "hello", "custom"]) as srv:
        ctl.call("open", conn="own", url=srv.url + "?EIO=4&transport=websocket", preset="socketio4",
                 session=[{"expect": {"contains": "hello"}}],
                 auto_reply=[{"name": "mine", "match": {"contains": "custom"}, "reply": "ok"}])
        # the preset's rule answered the ping during the session: rules come before steps
        assert [m["data"] for m in srv.wait_for("message", count=2, timeout=3)] == ["3", "ok"]
        st = ctl.call("status", conn="own")
        path = srv.records("connect")[0]["path"]
    assert [r["name"] for r in st["auto_reply"]] == ["mine", "engineio-ping"]
    assert path == "/?EIO=4&transport=websocket"  # EIO= was there: left alone


def test_unknown_preset_and_options_without_preset_are_refused(ctl):
    for kw, field in (({"preset": "mqtt"}, "preset"), ({"preset_options": {}}, "preset_options")):
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="bad", url="ws://127.0.0.1:9/", **kw)
        assert e.value.code == "bad_request" and field in e.value.message
