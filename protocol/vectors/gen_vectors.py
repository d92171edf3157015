#!/usr/bin/python3
"""Writes vectors.json and vectors.tsv: the control-protocol byte vectors that the
C codec (tests/unit/test_codec.c) and the Java stub both test against.

Run with Debian's python3 (msgpack 1.0.x): /usr/bin/python3 protocol/vectors/gen_vectors.py
The output is deterministic; commit it. Formats: see README.md next to this file.
"""
import json
import os
import sys

import msgpack

MAX_REQUEST_BYTES = 1024  # every vector is decoded with this limit
HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = []


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def to_json(obj):
    """JSON form: bin becomes {"$bin": hex}; maps keep their order."""
    if isinstance(obj, bytes):
        return {"$bin": obj.hex()}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            assert isinstance(k, str) and k != "$bin", k
            out[k] = to_json(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    assert obj is None or isinstance(obj, (bool, int, str)), obj  # no floats: keep encodings exact
    return obj


def fields(obj, prefix=""):
    """Flattened typed fields for vectors.tsv: path=type[:value] entries."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for k, v in items:
        k = str(k)
        assert k and not any(c in k for c in ".= \t\n"), k
        path = prefix + k
        if isinstance(v, bool):
            out.append(path + ("=t" if v else "=f"))
        elif v is None:
            out.append(path + "=n")
        elif isinstance(v, int):
            out.append(path + ("=u:%d" % v if v >= 0 else "=i:%d" % v))
        elif isinstance(v, str):
            out.append(path + "=s:" + v.encode().hex())
        elif isinstance(v, bytes):
            out.append(path + "=b:" + v.hex())
        elif isinstance(v, dict):
            out.append(path + "=m:%d" % len(v))
            out += fields(v, path + ".")
        else:
            out.append(path + "=a:%d" % len(v))
            out += fields(v, path + ".")
    return out


def add(kind, name, description, raw, msgid=None, method=None, params=None, error=None,
        result=None, **extra):
    assert all(v["name"] != name for v in VECTORS), name
    VECTORS.append(dict(name=name, description=description, kind=kind, hex=raw.hex(),
                        msgid=msgid, method=method, params=params, error=error,
                        result=result, **extra))


def request(name, description, msgid, method, params):
    """params None means an empty params array []; otherwise [params]."""
    raw = pack([0, msgid, method, [] if params is None else [params]])
    assert len(raw) <= MAX_REQUEST_BYTES, name
    add("request", name, description, raw, msgid=msgid, method=method, params=params)


def response(name, description, msgid, result=None, error=None):
    assert (result is None) != (error is None)
    if error is not None:
        assert list(error)[:2] == ["code", "message"], name  # the order wsf_pack_error_begin packs
    add("response", name, description, pack([1, msgid, error, result]), msgid=msgid,
        error=error, result=result)


def notification(name, description, method, params):
    add("notification", name, description, pack([2, method, [params]]), method=method,
        params=params)


def invalid(name, description, obj=None, raw=None, msgid=None):
    """A well-formed msgpack object that is not a valid request: the daemon answers
    bad_request with msgid (or 0 when None) and keeps the connection."""
    add("invalid", name, description, raw if raw is not None else pack(obj), msgid=msgid)


# --- shared sample data -----------------------------------------------------------

TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ECHO = '{"action":"echo","message":"hello"}'
RECORD = {
    "code": 1006, "reason": "", "initiator": "none", "clean": False, "cause": "reset",
    "detail": "ECONNRESET", "closed_at_ms": 1718000045123, "age_us": 45012345,
    "since_sent_us": 45000456, "since_recv_us": 44999000, "since_ping_us": None,
    "since_pong_us": None, "open_conns": 156, "msgs_in": 3, "msgs_out": 2,
    "bytes_in": 412, "bytes_out": 97, "source": "127.0.0.3", "address": "127.0.0.1:8080",
    "summary": "1006 reset by peer 45.0 s after the last client frame, 156 open",
}
CLEAN_RECORD = dict(RECORD, code=1000, reason="done", initiator="client", clean=True,
                    cause="local_close", detail="", since_sent_us=120, since_recv_us=80,
                    open_conns=150,
                    summary="1000 closed by client (done) after 12.0 s, 150 open")
TIMINGS = {"queued_us": 0, "dns_us": 120, "connect_us": 310, "proxy_us": 0, "tls_us": 2450,
           "upgrade_us": 890, "session_us": 0, "total_us": 3770}

# --- requests: one or more per method in PROTOCOL.md §5 ---------------------------

request("hello", "hello with client name and TCP token", 1, "hello",
        {"client": "wsfleet-jmeter/0.1.0", "token": TOKEN})
request("hello_no_params", "hello with an empty params array (same as an empty map)", 2,
        "hello", None)
request("open_minimal", "open with only the required fields", 3, "open",
        {"conn": "vu-1", "url": "ws://127.0.0.1:8080/chat"})
request("open_full", "open with every field: nested headers, inbox, keepalive and tls maps",
        4, "open", {
            "conn": "vu-42",
            "url": "wss://webchat.example.com:8443/webchat/v1?org=7",
            "headers": {"Origin": "https://example.com", "Cookie": "sid=abc123",
                        "Authorization": "Bearer eyJhbGciOi"},
            "subprotocols": ["chat.v2", "chat.v1"],
            "reuse": False,
            "connect_timeout_ms": 10000,
            "max_message_bytes": 16777216,
            "inbox": {"max_messages": 1000, "max_bytes": 1048576},
            "keepalive": {"mode": "text", "interval_ms": 25000, "jitter_ms": 2500,
                          "payload": '{"action":"echo","message":"keepalive"}',
                          "pong_timeout_ms": 0, "reply_contains": "keepalive"},
            "tls": {"verify": True, "ca_file": "/etc/wsfleet/ca.pem",
                    "server_name": "webchat.example.com", "cert_file": "/etc/wsfleet/client.pem",
                    "key_file": "/etc/wsfleet/client.key",
                    "ciphers": "ECDHE-RSA-AES128-GCM-SHA256"},
        })
request("open_keepalive_ping", "open with protocol-ping keepalive, bin payload, insecure tls",
        5, "open", {
            "conn": "vu-7", "url": "wss://[::1]:9443/",
            "keepalive": {"mode": "ping", "interval_ms": 25000, "payload": b"\x00\x01hb",
                          "pong_timeout_ms": 10000},
            "tls": {"verify": False},
        })
request("open_deflate", "open offering permessage-deflate without context takeover", 8, "open", {
    "conn": "vu-9", "url": "ws://127.0.0.1:8080/chat",
    "deflate": {"enabled": True, "client_no_context_takeover": True, "server_no_context_takeover": True,
                "client_max_window_bits": True, "level": 6},
})
request("open_keepalive_reply_deadline", "open with text heartbeats whose replies have a deadline", 10, "open", {
    "conn": "vu-3", "url": "ws://127.0.0.1:8080/chat",
    "keepalive": {"mode": "text", "interval_ms": 20000, "payload": '{"type":"ping"}',
                  "reply_contains": '"type":"pong"', "reply_timeout_ms": 5000},
})
request("open_reuse_any", "open that takes a live connection of that name whatever its URL", 9, "open",
        {"conn": "vu-1", "url": "ws://127.0.0.1:8080/other", "reuse": "any"})
request("open_proxy", "open through an HTTP CONNECT proxy with Basic credentials", 11, "open", {
    "conn": "vu-7", "url": "wss://webchat.example.com/webchat/v1",
    "proxy": "http://alice:s3cret@proxy.corp.example:3128"})
request("open_no_proxy", "open that goes direct whatever --proxy and the environment say", 12, "open", {
    "conn": "vu-8", "url": "ws://127.0.0.1:8080/chat", "proxy": "none"})
request("open_source", "open from a named source address (PROTOCOL.md §4 source)", 13, "open",
        {"conn": "vu-7", "url": "ws://127.0.0.1:8080/", "source": "127.0.0.7"})
request("open_unicode_name", "open with a non-ASCII connection name", 6, "open",
        {"conn": "vu-\u00fc-\u2713", "url": "ws://localhost/"})
request("send_text", "send a text message (str data); the typical hot-path request", 7,
        "send", {"conn": "vu-1", "data": ECHO})
request("send_bin", "send a binary message (bin data)", 8, "send",
        {"conn": "vu-1", "data": bytes(range(16))})
request("send_str_as_binary", "send str data as a binary message via type", 9, "send",
        {"conn": "vu-1", "data": "raw", "type": "binary"})
request("send_str8", "send with a 40-byte str (str8 encoding)", 10, "send",
        {"conn": "vu-1", "data": "x" * 40})
request("send_str16", "send with a 300-byte str (str16 encoding)", 11, "send",
        {"conn": "vu-1", "data": "y" * 300})
request("send_bin16", "send with a 300-byte bin (bin16 encoding)", 12, "send",
        {"conn": "vu-1", "data": bytes(i & 0xFF for i in range(300))})
request("recv_match", "recv with every matching field", 13, "recv", {
    "conn": "vu-1", "timeout_ms": 5000, "contains": "SessionResponse",
    "regex": "^\\{.*\"type\":\"message\".*\\}$", "json_field": "body.type",
    "json_value": "message", "discard_unmatched": True})
request("recv_inbox_only", "recv that only looks at the inbox (timeout_ms 0)", 14, "recv",
        {"conn": "vu-1", "timeout_ms": 0})
request("request_echo", "request: send then recv in one round trip", 15, "request",
        {"conn": "vu-1", "data": ECHO, "timeout_ms": 3000, "json_field": "action",
         "json_value": "echo"})
request("ping", "ping with an explicit bin payload", 16, "ping",
        {"conn": "vu-1", "data": b"\xde\xad\xbe\xef", "timeout_ms": 2000})
request("ping_default", "ping with defaults", 17, "ping", {"conn": "vu-1"})
request("close", "close with code, reason and timeout", 18, "close",
        {"conn": "vu-1", "code": 1000, "reason": "done", "timeout_ms": 5000})
request("close_nil_reason", "close with reason nil: same as absent", 19, "close",
        {"conn": "vu-1", "reason": None})
request("close_empty_reason", "close with an empty reason str", 28, "close",
        {"conn": "vu-1", "reason": "", "data": b""})
request("status", "status of one connection", 20, "status", {"conn": "vu-1"})
request("list", "list open connections, limited", 21, "list", {"state": "open", "limit": 100})
request("list_page", "list the page that starts at offset 10000", 29, "list", {"offset": 10000})
request("stats", "stats with an empty params array", 22, "stats", None)
request("stats_empty_map", "stats with an empty params map", 23, "stats", {})
request("reset", "reset with code and reason", 24, "reset", {"code": 1001, "reason": "reset"})
request("subscribe", "subscribe to every event", 25, "subscribe",
        {"events": ["open", "close", "handshake_failed", "drop"]})
request("subscribe_none", "subscribe to nothing (empty list)", 26, "subscribe", {"events": []})
request("msgid_zero", "smallest msgid", 0, "stats", {})
request("msgid_uint16", "msgid needing uint16", 65535, "stats", {})
request("msgid_max", "largest msgid, 2^32-1 (uint32)", 4294967295, "stats", {})
request("unknown_method", "a well-formed request for a method the daemon does not know "
        "(the codec accepts it; the daemon answers unknown_method)", 27, "frobnicate",
        {"x": 1})

# --- responses ----------------------------------------------------------------------

response("hello_ok", "hello result", 1, result={
    "server": "wsfleetd", "version": "0.1.0", "protocol": 1, "pid": 4242,
    "limits": {"max_request_bytes": 1048576, "max_connections": 19000, "max_name_bytes": 256,
               "max_message_bytes": 16777216, "inbox_max_messages": 1000,
               "inbox_max_bytes": 1048576, "max_auto_reply_rules": 32, "max_session_steps": 16,
               "max_captures": 16, "max_reply_bytes": 65536},
    "methods": ["hello", "open", "send", "recv", "request", "ping", "close", "status", "list",
                "stats", "reset", "subscribe"],
    "events": ["open", "close", "handshake_failed", "drop"]})
response("hello_unauthorized", "hello with a wrong token on TCP control", 1,
         error={"code": "unauthorized", "message": "wrong or missing token"})
response("open_ok", "open result with timings, headers and tls", 4, result={
    "conn": "vu-42", "reused": False, "source": None, "address": "[2001:db8::7]:443", "status": 101, "subprotocol": "chat.v2",
    "headers": {"upgrade": "websocket", "connection": "Upgrade",
                "sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                "sec-websocket-protocol": "chat.v2"},
    "timings": TIMINGS,
    "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "verified": True}})
response("open_deflate_ok", "open result with the permessage-deflate parameters agreed", 8, result={
    "conn": "vu-9", "reused": False,
    "deflate": {"client_max_window_bits": 15, "server_max_window_bits": 15,
                "client_no_context_takeover": True, "server_no_context_takeover": True},
    "status": 101, "subprotocol": None,
    "headers": {"sec-websocket-extensions": "permessage-deflate; server_no_context_takeover; "
                                            "client_no_context_takeover"},
    "timings": TIMINGS, "tls": None})
response("open_reused", "open that returned a live connection (ws://: tls nil)", 3, result={
    "conn": "vu-1", "reused": True, "source": "127.0.0.4", "address": "127.0.0.1:8080", "status": 101, "subprotocol": None, "headers": {},
    "timings": dict(TIMINGS, tls_us=0, total_us=1320), "tls": None})
response("open_handshake_failed", "open refused by the server with HTTP 403", 4, error={
    "code": "handshake_failed", "message": "server answered 403 Forbidden instead of 101",
    "http_status": 403, "body": "<html>Forbidden</html>", "phase": "upgrade"})
response("open_proxy_refused", "open refused by the HTTP proxy (407: credentials missing)", 11, error={
    "code": "handshake_failed",
    "message": "proxy 10.0.0.5:3128 refused CONNECT webchat.example.com:443: HTTP 407 Proxy Authentication Required",
    "conn": "vu-7", "record": None, "http_status": 407, "body": "", "phase": "proxy"})
response("open_proxied", "open through an HTTP proxy: the proxy phase in the timings", 11, result={
    "conn": "vu-7", "reused": False, "deflate": None, "status": 101, "subprotocol": None, "headers": {},
    "timings": dict(TIMINGS, proxy_us=640, total_us=4410),
    "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "verified": True}})
response("open_refused_retry_after", "open refused with 503 and a Retry-After header", 4, error={
    "code": "handshake_failed", "message": "server answered HTTP 503 instead of 101",
    "http_status": 503, "body": "", "retry_after": "30", "phase": "upgrade"})
response("open_timeout", "open timed out in the TLS phase", 4, error={
    "code": "timeout", "message": "connect_timeout_ms 10000 elapsed", "phase": "tls"})
response("open_tls_error", "certificate verification failed", 4, error={
    "code": "tls_error", "message": "certificate has expired",
    "detail": "error:0A000086:SSL routines::certificate verify failed"})
response("open_connect_error", "TCP connect refused", 3, error={
    "code": "connect_error", "message": "connection refused", "detail": "ECONNREFUSED"})
response("open_ports_exhausted", "connect failed: the source address has no ephemeral port left", 3,
         error={"code": "connect_error",
                "message": "ephemeral ports exhausted for 127.0.0.1 \u2192 127.0.0.1:8080 (EADDRNOTAVAIL): add "
                           "source addresses (--source-addresses)"})
response("open_conn_exists", "open with reuse false on a live name", 4, error={
    "code": "conn_exists", "message": "connection vu-42 is open", "conn": "vu-42"})
response("open_url_mismatch", "open with reuse true on a live name whose URL differs", 4, error={
    "code": "url_mismatch",
    "message": "connection 'vu-1' is open to ws://gw.example:8080/a, not to ws://gw.example:8080/b "
               "(reuse: \"any\" would return it anyway)",
    "conn": "vu-1", "url": "ws://gw.example:8080/a", "requested_url": "ws://gw.example:8080/b"})
response("send_ok", "send result", 7, result={"bytes": 35})
response("send_conn_closed", "send on a connection that ended: conn_closed with its record", 7,
         error={"code": "conn_closed", "message": RECORD["summary"], "record": RECORD})
response("send_limit_exceeded", "unsent output over max_output_bytes", 7, error={
    "code": "limit_exceeded", "message": "the connection's unsent output is over max_output_bytes",
    "limit": "max_output_bytes"})
response("recv_text", "recv result with a text message", 13, result={
    "type": "text", "data": '{"class":"SessionResponse","body":{"type":"message"}}',
    "waited_us": 1520, "age_us": 35, "inbox": 0, "discarded": 2})
response("recv_binary", "recv result with a binary message", 14, result={
    "type": "binary", "data": b"\x01\x02\x03", "waited_us": 0, "age_us": 812345, "inbox": 4,
    "discarded": 0})
response("recv_timeout", "recv that waited timeout_ms in vain", 13, error={
    "code": "timeout", "message": "no matching message within 5000 ms"})
response("request_ok", "request result: recv's fields plus bytes and rtt_us", 15, result={
    "type": "text", "data": ECHO, "waited_us": 950, "age_us": 12, "inbox": 0, "discarded": 0,
    "bytes": 35, "rtt_us": 962})
response("ping_ok", "ping result", 16, result={"rtt_us": 412})
response("ping_no_such_conn", "ping on an unknown name", 16, error={
    "code": "no_such_conn", "message": "no connection named vu-1", "conn": "vu-1"})
response("status_forgotten", "status of a name whose close record was forgotten over --max-records", 17,
         error={"code": "no_such_conn",
                "message": "connection 'iter-7' ended and its close record was forgotten (over --max-records)",
                "forgotten": True, "conn": "iter-7"})
response("close_ok", "clean close started by the client", 18, result={
    "code": 1000, "reason": "done", "initiator": "client", "clean": True,
    "record": CLEAN_RECORD})
response("close_bad_code", "close with a code that may not be sent", 18, error={
    "code": "bad_request", "message": "close code 1005 may not be sent"})
response("status_ok", "status of an open connection (no close record yet)", 20, result={
    "conn": "vu-1", "state": "open", "url": "ws://127.0.0.1:8080/chat", "subprotocol": None,
    "reused_count": 2, "opened_at_ms": 1718000000000, "age_us": 45000123, "msgs_in": 10,
    "msgs_out": 9, "bytes_in": 1200, "bytes_out": 980, "since_sent_us": 20000,
    "since_recv_us": 19000, "since_ping_us": None, "since_pong_us": None, "ping_rtt_us": None,
    "inbox": {"messages": 1, "bytes": 52, "dropped": 0},
    "keepalive": {"mode": "ping", "interval_ms": 25000, "jitter_ms": 2500,
                  "pong_timeout_ms": 10000, "sent": 1, "late_us_max": 310},
    "record": None})
response("status_closed", "status of a closed connection carries its record", 20, result={
    "conn": "vu-1", "state": "closed", "url": "ws://127.0.0.1:8080/chat", "record": RECORD})
response("list_ok", "list result", 21, result={
    "conns": [{"conn": "vu-1", "state": "open", "url": "ws://127.0.0.1:8080/chat",
               "age_us": 45000123},
              {"conn": "vu-2", "state": "closed", "url": "ws://127.0.0.1:8080/chat",
               "age_us": 300}],
    "total": 2, "next_offset": None})
response("list_paged", "a list page with more to come: next_offset says where", 29, result={
    "conns": [{"conn": "vu-10001", "state": "open", "url": "ws://127.0.0.1:8080/chat", "age_us": 77}],
    "total": 10002, "next_offset": 10001})
response("stats_ok", "stats result with per-code and per-cause maps", 22, result={
    "open": 150, "connecting": 0, "closing": 0, "closed": 5, "opened_total": 155,
    "reused_total": 310, "failed_total": 0, "closed_total": 5,
    "closes_by_code": {"1006": 5}, "closes_by_cause": {"eof": 3, "reset": 2},
    "msgs_in": 40210, "msgs_out": 40000, "bytes_in": 4021000, "bytes_out": 1400000,
    "inbox_dropped": 0, "control_clients": 1, "heartbeats_sent": 930,
    "heartbeat_late_us": {"p50": 210, "p99": 4100, "max": 9800}, "uptime_us": 61000000})
response("reset_ok", "reset result", 24, result={"closed": 155, "forgotten": 160})
response("subscribe_ok", "subscribe result", 25, result={
    "events": ["open", "close", "handshake_failed", "drop"]})
response("unknown_method_error", "error for an unknown method", 27, error={
    "code": "unknown_method", "message": "no method frobnicate", "method": "frobnicate"})
response("bad_request_field", "a required field is missing", 20, error={
    "code": "bad_request", "message": "missing field conn"})
response("limit_exceeded_msgid0", "oversized request: msgid 0, then the daemon closes", 0,
         error={"code": "limit_exceeded", "message": "request exceeds max_request_bytes 1048576",
                "limit": "max_request_bytes"})
response("limit_exceeded_objects", "a request of more than 65,536 objects: msgid 0, then the daemon closes",
         0, error={"code": "limit_exceeded", "message": "request larger than max_request_objects; closing",
                   "limit": "max_request_objects"})
response("limit_exceeded_waits", "too many requests waiting on one connection", 31, error={
    "code": "limit_exceeded", "message": "this connection has 64 requests waiting",
    "limit": "max_waits_per_conn"})
response("bad_request_malformed", "bytes that are not msgpack: msgid 0, then the daemon closes",
         0, error={"code": "bad_request", "message": "bytes are not msgpack"})
response("shutting_down", "the daemon is stopping", 4294967295, error={
    "code": "shutting_down", "message": "wsfleetd is stopping"})
response("internal", "a bug", 65536, error={"code": "internal", "message": "assertion failed"})

# --- notifications ----------------------------------------------------------------

notification("event_close", "close event with the close record", "event", {
    "event": "close", "conn": "vu-1", "at_ms": 1718000045123, "url": "ws://127.0.0.1:8080/chat",
    "record": RECORD})
notification("event_open", "open event with url and timings", "event", {
    "event": "open", "conn": "vu-1", "at_ms": 1718000000000, "url": "ws://127.0.0.1:8080/chat",
    "timings": TIMINGS})
notification("event_handshake_failed", "handshake_failed event with the open error", "event", {
    "event": "handshake_failed", "conn": "vu-3", "at_ms": 1718000000500,
    "url": "ws://127.0.0.1:8080/chat",
    "error": {"code": "handshake_failed", "message": "server answered 503", "http_status": 503,
              "body": "", "retry_after": "30"}})
notification("event_drop", "inbox overflow event", "event", {
    "event": "drop", "conn": "vu-1", "at_ms": 1718000001000, "dropped": 12})

# --- reconnect policy and rate_limit (PROTOCOL.md §5 open: "Reconnect", "Rate limit") ----------

RECONNECT_RECORD = dict(RECORD, code=1001, reason="going away", initiator="server", clean=True,
                        cause="server_close", detail=None,
                        summary="1001 closed by the server \"going away\" 12.0 s after the last client frame, "
                                "150 open")
request("open_reconnect_rate_limit", "open with a reconnect policy and a send rate limit", 40, "open", {
    "conn": "vu-5", "url": "ws://127.0.0.1:8080/chat",
    "reconnect": {"max": 5, "backoff_ms": 1000, "backoff_max_ms": 30000, "jitter_ms": 500},
    "rate_limit": {"messages": 10, "per_ms": 1000, "margin_ms": 50}})
request("subscribe_reconnect", "subscribe to every event, reconnect included", 41, "subscribe",
        {"events": ["open", "close", "handshake_failed", "drop", "reconnect"]})
response("send_paced", "send held by the rate limit on a connection reopened twice", 7,
         result={"bytes": 35, "paced_us": 250000, "reconnects": 2})
response("send_reconnecting", "send while the reconnect policy reopens the connection", 7, error={
    "code": "conn_closed", "message": RECONNECT_RECORD["summary"], "conn": "vu-5",
    "record": RECONNECT_RECORD, "reconnecting": True})
response("recv_after_reconnect", "recv that waited across a reopen: reconnects says so", 13, result={
    "type": "text", "data": '{"type":"welcome"}', "waited_us": 1650000, "age_us": 40, "inbox": 0,
    "discarded": 0, "reconnects": 1})
response("request_paced", "request held by the rate limit: the expected wait, part of rtt_us", 15, result={
    "type": "text", "data": ECHO, "waited_us": 406950, "age_us": 12, "inbox": 0, "discarded": 0,
    "bytes": 35, "rtt_us": 406962, "paced_us": 406000})
response("ping_after_reconnect", "ping on a reopened connection", 16, result={"rtt_us": 412, "reconnects": 1})
response("status_reconnecting", "status between a drop and the reopen, with the rate limit", 20, result={
    "conn": "vu-5", "state": "connecting", "url": "ws://127.0.0.1:8080/chat", "record": RECONNECT_RECORD,
    "reconnect": {"max": 5, "backoff_ms": 1000, "backoff_max_ms": 30000, "jitter_ms": 500, "count": 1,
                  "attempts": 2, "gave_up": False, "reconnecting": True, "last_at_ms": 1718000046100,
                  "last_record": RECORD},
    "rate_limit": {"messages": 10, "per_ms": 1000, "margin_ms": 50, "delayed": 42, "max_delay_us": 910000, "held": 0,
                   "held_bytes": 0, "dropped": 3}})
response("status_gave_up", "status after the reconnect policy spent its attempts: the record names the limit", 20,
         result={"conn": "vu-5", "state": "closed", "url": "ws://127.0.0.1:8080/chat",
                 "record": dict(RECONNECT_RECORD,
                                detail="reconnect gave up: 5 of max 5 attempts spent (4 reopened)",
                                summary="1001 closed by the server: reconnect gave up: 5 of max 5 attempts spent "
                                        "(4 reopened) \"going away\" 12.0 s after the last client frame, 150 open"),
                 "reconnect": {"max": 5, "backoff_ms": 1000, "backoff_max_ms": 30000, "jitter_ms": 500,
                               "count": 4, "attempts": 5, "gave_up": True, "reconnecting": False,
                               "last_at_ms": 1718000046100}})  # last_record left out: the vector fits 1 KiB
response("stats_reconnects", "stats counters of reopens, failed attempts and paced messages", 22, result={
    "open": 149, "connecting": 1, "closing": 0, "closed": 0, "opened_total": 152, "failed_total": 1,
    "closed_total": 3, "reconnects_total": 2, "reconnect_failures_total": 1,
    "output": {"max_bytes": 33554432, "stall_ms": 10000, "heartbeats_skipped": 0, "pongs_coalesced": 0,
               "reads_paused": 0, "paced": 42}})
notification("event_close_reconnect", "close event of a drop the reconnect policy reopens (still a drop)",
             "event", {"event": "close", "conn": "vu-5", "url": "ws://127.0.0.1:8080/chat",
                       "at_ms": 1718000045123, "record": RECONNECT_RECORD, "reconnect": {"attempt": 2}})
notification("event_reconnect", "a reopen: the attempt, the record of the ending it replaced, timings",
             "event", {"event": "reconnect", "conn": "vu-5", "url": "ws://127.0.0.1:8080/chat",
                       "at_ms": 1718000046100, "record": RECONNECT_RECORD, "timings": TIMINGS, "attempt": 2})
notification("event_handshake_failed_reconnect", "a reopen attempt that failed", "event", {
    "event": "handshake_failed", "conn": "vu-5", "url": "ws://127.0.0.1:8080/chat", "at_ms": 1718000047000,
    "record": dict(RECORD, cause="connect_error", detail="connect to 127.0.0.1:8080 failed: ECONNREFUSED"),
    "error": {"code": "connect_error", "message": "connect to 127.0.0.1:8080 failed: ECONNREFUSED",
              "http_status": 0, "body": ""},
    "reconnect_attempt": 3})

# --- invalid: well-formed msgpack, not a valid request ---------------------------

invalid("params_not_array", "params is a map, not an array", [0, 30, "status", {"conn": "vu-1"}],
        msgid=30)
invalid("params_array_of_2", "params array with two elements",
        [0, 31, "status", [{"conn": "a"}, {"conn": "b"}]], msgid=31)
invalid("params_element_str", "params element is a str, not a map", [0, 32, "status", ["vu-1"]],
        msgid=32)
invalid("params_element_nil", "params element is nil", [0, 33, "status", [None]], msgid=33)
invalid("params_int_key", "params map with an int key", [0, 34, "status", [{1: "vu-1"}]],
        msgid=34)
invalid("params_bin_key", "params map with a bin key", [0, 35, "status", [{b"conn": "vu-1"}]],
        msgid=35)
invalid("params_nil", "params is nil", [0, 36, "stats", None], msgid=36)
invalid("msgid_negative", "msgid -1", [0, -1, "stats", []])
invalid("msgid_2_32", "msgid 2^32 (not below 2^32)", [0, 4294967296, "stats", []])
invalid("msgid_str", "msgid is a str", [0, "1", "stats", []])
invalid("msgid_nil", "msgid is nil", [0, None, "stats", []])
invalid("method_int", "method is an int", [0, 37, 7, []], msgid=37)
invalid("method_bin", "method is bin, not str", [0, 38, b"stats", []], msgid=38)
invalid("array_of_3", "request array of 3 elements (no params)", [0, 39, "stats"], msgid=39)
invalid("array_of_5", "request array of 5 elements", [0, 40, "stats", [], None], msgid=40)
invalid("array_empty", "empty array", [])
invalid("type_1_from_client", "a response (type 1) sent by a client", [1, 41, None, {}],
        msgid=41)
invalid("type_2_from_client", "a notification (type 2) sent by a client",
        [2, "event", [{"event": "open"}]])
invalid("type_3", "unknown message type 3", [3, 42, "stats", []], msgid=42)
invalid("type_str", "message type is a str", ["0", 43, "stats", []])
invalid("not_array_map", "a map instead of an array", {"method": "stats"})
invalid("not_array_int", "a bare integer", 0)

# --- malformed: not msgpack ------------------------------------------------------

add("malformed", "byte_c1", "0xc1, the one byte msgpack never uses", b"\xc1")
head = pack([0, 50, "send", [{"conn": "vu-1", "data": 0}]])
assert head.endswith(b"\x00")
add("malformed", "c1_inside_params", "a request whose data value is 0xc1", head[:-1] + b"\xc1")

# --- too large, relative to MAX_REQUEST_BYTES --------------------------------------


def too_large(name, description, raw):
    add("too_large", name, description, raw, max_request_bytes=MAX_REQUEST_BYTES)


big = pack([0, 60, "send", [{"conn": "vu-1", "data": "z" * 2000}]])
assert len(big) > MAX_REQUEST_BYTES
too_large("send_2000_bytes", "a complete send request of %d bytes; the str16 header already "
          "tells it cannot fit" % len(big), big)
events = pack([0, 61, "subscribe", [{"events": ["open"] * 250}]])
assert len(events) > MAX_REQUEST_BYTES
too_large("many_small_elements", "%d bytes of small array elements, each header fine alone"
          % len(events), events)
prefix = pack([0, 62, "send", [{"conn": "vu-1", "data": 0}]])[:-1]
too_large("str32_header_1mib", "prefix only: a str32 header declaring 1 MiB of data; "
          "reject at the header, do not wait for the payload",
          prefix + b"\xdb\x00\x10\x00\x00" + b"a" * 16)
too_large("array32_header_4g", "prefix only: an array32 header declaring 2^32-1 elements; "
          "reject without allocating", prefix + b"\xdd\xff\xff\xff\xff")
too_large("map32_header_2g", "prefix only: params map32 header declaring 2^31 pairs",
          b"\x94" + pack(0) + pack(63) + pack("stats") + b"\x91\xdf\x80\x00\x00\x00")


# --- the protocol layer: framing, session steps, auto-reply, presets (PROTOCOL.md §5b) ---

request("open_preset_socketio", "open with the socketio4 preset: namespace and auth", 180, "open", {
    "conn": "sio-1", "url": "ws://127.0.0.1:3000/socket.io/", "preset": "socketio4",
    "preset_options": {"namespace": "/chat", "auth": '{"token":"abc"}'}})
request("open_preset_stomp", "open with the stomp12 preset: credentials and heart-beat", 181, "open", {
    "conn": "stomp-1", "url": "ws://127.0.0.1:15674/ws", "preset": "stomp12",
    "preset_options": {"host": "/", "login": "guest", "passcode": "guest", "heart_beat": [10000, 10000]}})
request("open_preset_signalr", "open with the signalr-json preset after the negotiate POST", 182, "open", {
    "conn": "hub-1", "url": "ws://127.0.0.1:5000/chathub?id=Yx2f9", "preset": "signalr-json",
    "preset_options": {"interval_ms": 15000}})
request("open_preset_echo", "open with the echo-heartbeat preset and its rate limit", 183, "open", {
    "conn": "gw-1", "url": "ws://127.0.0.1:8080/chat", "preset": "echo-heartbeat",
    "preset_options": {"payload": '{"action":"echo","data":"hb"}', "reply_contains": "hb",
                       "interval_ms": 25000, "reply_timeout_ms": 10000,
                       "rate_limit": {"messages": 5, "per_ms": 1000}}})
request("open_session_auto_reply", "open with framing, session steps (captures) and auto-reply rules",
        184, "open", {
            "conn": "app-1", "url": "ws://127.0.0.1:8080/app", "framing": "record_separator",
            "session": [
                {"expect": {"regex": "^HELLO"}, "capture": {"version": {"regex": "v([0-9]+)", "group": 1}}},
                {"send": "LOGIN ${version}", "expect": {"json_field": "ok", "json_value": "true"},
                 "timeout_ms": 5000, "skip_unmatched": True,
                 "capture": {"token": {"json_field": "token"}}}],
            "auto_reply": [
                {"name": "app-ping", "match": {"regex": "^PING ([0-9]+)$", "type": "text"},
                 "reply": "PONG $1 ${token}"},
                {"name": "bin-ping", "match": {"type": "binary", "contains": "\u0001"}, "reply": b"\x02",
                 "reply_type": "binary"},
                {"match": {"json_field": "type", "json_value": "6"}, "keep_in_inbox": False}]})
response("open_session_ok", "open result after session steps: session_us in the timings", 184, result={
    "conn": "app-1", "reused": False, "source": None, "address": "127.0.0.1:8080", "deflate": None,
    "status": 101, "subprotocol": None, "headers": {"upgrade": "websocket"},
    "timings": {"queued_us": 0, "dns_us": 0, "connect_us": 210, "proxy_us": 0, "tls_us": 0,
                "upgrade_us": 640, "session_us": 1320, "total_us": 2170},
    "tls": None})
response("open_session_failed", "a session step got a message that does not match", 180, error={
    "code": "handshake_failed",
    "message": 'session step 1: expected regex "^40/chat,"; the server sent something else (body)',
    "conn": "sio-1", "record": None, "http_status": 101, "body": '44/chat,{"message":"Not authorized"}',
    "phase": "session", "step": 1})
response("open_session_timeout", "a session step got no matching message in time", 181, error={
    "code": "timeout", "message": 'session step 0: no message matching regex "^CONNECTED\r?\n" in time',
    "conn": "stomp-1", "record": None, "phase": "session", "step": 0})
response("status_protocol_layer", "status with the protocol layer: captures and auto-reply counters", 185,
         result={
             "conn": "sio-1", "state": "open", "url": "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket",
             "framing": "message", "preset": "socketio4",
             "session": {"sid": "Lbo5JLzTotvW3g2LAAAA", "pingInterval": "25000", "pingTimeout": "20000"},
             "auto_reply": [{"name": "engineio-ping", "matched": 12, "replied": 12, "failed": 0}],
             "keepalive": {"mode": "none", "interval_ms": 0, "jitter_ms": 0, "pong_timeout_ms": 0, "sent": 0,
                           "replies": 0, "reply_timeout_ms": 0, "late_us_max": 0, "skipped": 0},
             "record": None})
response("stats_auto_replies", "stats counters of the protocol layer", 186, result={
    "auto_replies": {"engineio-ping": 12000, "other": 3}, "auto_reply_failures": 1, "session_failures": 2,
    "captures_cut": 0, "closes_by_cause": {"session_failed": 2}})
notification("event_handshake_failed_session", "handshake_failed event of a failed session step", "event", {
    "event": "handshake_failed", "conn": "stomp-1", "at_ms": 1718000000500, "url": "ws://127.0.0.1:15674/ws",
    "error": {"code": "handshake_failed",
              "message": 'session step 0: expected regex "^CONNECTED\r?\n"; the server sent something else (body)',
              "http_status": 101, "body": "ERROR\nmessage:Access refused\n\nBad credentials",
              "phase": "session", "step": 0}})
notification("event_close_signalr", "close event: a SignalR close message ended the connection", "event", {
    "event": "close", "conn": "hub-1", "at_ms": 1718000045123, "url": "ws://127.0.0.1:5000/chathub?id=Yx2f9",
    "record": dict(RECORD, code=1000, initiator="server", cause="server_close",
                   detail="SignalR close message: Server is shutting down",
                   summary="1000 closed by the server after 45.0 s, 150 open")})

# --- output ------------------------------------------------------------------------

def tsv_line(v):
    kind = v["kind"]
    msgid = "-" if v["msgid"] is None else str(v["msgid"])
    method = v["method"] if v["method"] is not None else "-"
    assert not any(c in method for c in "\t\n ")
    code, flat = "-", []
    if kind in ("request", "notification"):
        flat = fields(v["params"] or {})
    elif kind == "response":
        if v["error"] is not None:
            code = v["error"]["code"]
            flat = fields(v["error"])
        else:
            flat = fields(v["result"])
    return "\t".join([kind, v["name"], msgid, method, code, v["hex"], " ".join(flat) or "-"])


def main():
    out = [{k: (to_json(val) if k in ("params", "error", "result") else val)
            for k, val in v.items()} for v in VECTORS]
    with open(os.path.join(HERE, "vectors.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(HERE, "vectors.tsv"), "w", encoding="utf-8") as f:
        f.write("# wsfleet protocol vectors, generated by gen_vectors.py; format: README.md\n")
        f.write("# kind\tname\tmsgid\tmethod\terror\thex\tfields\n")
        f.write("@max_request_bytes\t%d\n" % MAX_REQUEST_BYTES)
        for v in VECTORS:
            f.write(tsv_line(v) + "\n")
    # Seeds for tests/fuzz/fuzz_codec.c: each vector alone, and all requests back to back.
    corpus = os.path.join(HERE, "..", "..", "tests", "fuzz", "corpus", "codec")
    os.makedirs(corpus, exist_ok=True)
    for v in VECTORS:
        with open(os.path.join(corpus, "vec-" + v["name"]), "wb") as f:
            f.write(bytes.fromhex(v["hex"]))
    with open(os.path.join(corpus, "pipeline-requests"), "wb") as f:
        f.write(b"".join(bytes.fromhex(v["hex"]) for v in VECTORS if v["kind"] == "request"))
    print("%d vectors" % len(VECTORS), file=sys.stderr)


if __name__ == "__main__":
    main()
