"""wss:// through the daemon against real TLS servers: python3-websockets (ssl.SSLContext), node `ws`
over https, and a hand-driven Python TLS server for alerts. Certificates come from tests/lib/certs.py."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from certs import make_certs
from wsf_fixtures import PYTHON, NODE_DIR, RpcError, _Peer, ensure_node_modules, wait_state

# python3-websockets over TLS. Modes: echo; reset (RST after the first message); close_notify
# (TLS close_notify and FIN after the first message, no close frame).
PY_TLS_SERVER = r'''
import argparse, asyncio, json, socket, ssl, struct, sys, threading, time
import websockets
p = argparse.ArgumentParser()
p.add_argument("--cert"); p.add_argument("--key"); p.add_argument("--mode", default="echo")
a = p.parse_args()
def emit(**r):
    r["t"] = time.monotonic(); print(json.dumps(r), flush=True)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)
async def handler(ws, path):
    emit(ev="connect", path=path)
    async for msg in ws:
        emit(ev="message", data=msg if isinstance(msg, str) else msg.hex())
        if a.mode == "reset":
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.transport.abort()
            emit(ev="reset_sent"); return
        if a.mode == "close_notify":
            ws.transport.close()  # asyncio's SSL transport: close_notify, then FIN
            emit(ev="close_notify_sent"); return
        await ws.send(msg)
async def main():
    server = await websockets.serve(handler, "127.0.0.1", 0, ssl=ctx)
    print("READY %d" % server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.get_running_loop().create_future()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.get_loop().call_soon_threadsafe(stop.set_result, None)), daemon=True).start()
    await stop
asyncio.run(main())
'''

# A TLS server driven by hand over memory BIOs, so the test decides what goes on the wire:
#   corrupt:      completes the TLS handshake and the WebSocket upgrade, then flips one byte of the client's
#                 next record; its OpenSSL fails to decrypt it and sends a fatal bad_record_mac alert.
#   require_cert: requires a client certificate from --client-ca; a refused client gets OpenSSL's alert, and
#                 the server reads on until the client closes (closing with unread data would send an RST,
#                 and an RST makes the client's kernel drop the alert before the daemon reads it).
# It serves connections one after another and prints what happened to each.
MANUAL_TLS_SERVER = r'''
import argparse, base64, hashlib, json, os, socket, ssl, sys, threading, time
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()  # parent gone: exit
p = argparse.ArgumentParser()
p.add_argument("--cert"); p.add_argument("--key"); p.add_argument("--client-ca"); p.add_argument("--mode")
a = p.parse_args()
def emit(**r):
    r["t"] = time.monotonic(); print(json.dumps(r), flush=True)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)
if a.client_ca:
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(a.client_ca)
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8); ls.settimeout(60)
print("READY %d" % ls.getsockname()[1], flush=True)

class Eof(Exception):
    pass

def serve(conn):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_side=True)
    def flush():
        data = out.read()
        if data: conn.sendall(data)
    def feed():
        data = conn.recv(65536)
        if not data: raise Eof()
        inc.write(data)
    def drain():
        conn.settimeout(5)
        try:
            while conn.recv(65536): pass
        except OSError:
            pass
    def read_some():
        while True:
            try: return tls.read(65536)
            except ssl.SSLWantReadError: flush(); feed()
    try:
        while True:
            try: tls.do_handshake(); break
            except ssl.SSLWantReadError: flush(); feed()
        flush()
        req = b""
        while b"\r\n\r\n" not in req:
            req += read_some()
    except ssl.SSLError as e:  # TLS 1.3 reports a refused client certificate here, after its Finished
        flush()
        emit(ev="refused", reason=e.reason)
        drain()
        return
    key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    tls.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    flush()
    emit(ev="upgraded", client_cert=tls.getpeercert() is not None)
    if a.mode != "corrupt":
        drain()
        return
    record = bytearray(conn.recv(65536))
    record[-1] ^= 0xFF  # inside the AEAD tag
    inc.write(bytes(record))
    try:
        tls.read(65536)
        emit(ev="unexpected_ok")
    except ssl.SSLError as e:
        emit(ev="tls_error", reason=e.reason)
    flush()  # the alert OpenSSL queued
    emit(ev="alert_sent")
    drain()

while True:
    conn, _ = ls.accept()
    conn.settimeout(10)
    try:
        serve(conn)
    except (Eof, OSError) as e:
        emit(ev="conn_error", error=repr(e))
    conn.close()
'''

NODE_TLS_SERVER = r'''
const fs = require('fs'), https = require('https');
const { WebSocketServer } = require('ws');
const [cert, key, clientCa] = process.argv.slice(1);
const opts = { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
if (clientCa) Object.assign(opts, { ca: fs.readFileSync(clientCa), requestCert: true, rejectUnauthorized: true });
const server = https.createServer(opts);
const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  process.stdout.write(JSON.stringify({ ev: 'connect', client_cert: req.socket.authorized === true }) + '\n');
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => process.stdout.write('READY ' + server.address().port + '\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
'''


class TlsPeer(_Peer):
    def __init__(self, cmd, cwd=None, host="localhost"):
        super().__init__(cmd, cwd)
        self.host = host

    def __enter__(self):
        super().__enter__()
        self.url = "wss://%s:%d/" % (self.host, self.port)
        return self


def py_server(certs, cert="server", mode="echo", host="localhost"):
    cmd = [PYTHON, "-c", PY_TLS_SERVER, "--cert", certs.path(cert + ".pem"), "--key", certs.path(cert + ".key"),
           "--mode", mode]
    return TlsPeer(cmd, host=host)


def manual_server(certs, mode, client_ca=None):
    cmd = [PYTHON, "-c", MANUAL_TLS_SERVER, "--cert", certs.server, "--key", certs.server_key, "--mode", mode]
    return TlsPeer(cmd + (["--client-ca", client_ca] if client_ca else []))


def node_server(certs, cert="server", host="localhost", client_ca=None):
    ensure_node_modules()
    node = shutil.which("node") or "/usr/bin/node"
    cmd = [node, "-e", NODE_TLS_SERVER, certs.path(cert + ".pem"), certs.path(cert + ".key")]
    return TlsPeer(cmd + ([client_ca] if client_ca else []), cwd=NODE_DIR, host=host)


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="wsf-certs-")
    try:
        yield make_certs(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def open_fails(ctl, conn, url, **params):
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn=conn, url=url, **params)
    return e.value


def assert_tls_result(res, verified=True):
    assert res["tls"]["version"] in ("TLSv1.3", "TLSv1.2")
    assert res["tls"]["cipher"]
    assert res["tls"]["verified"] is verified
    t = res["timings"]
    assert t["tls_us"] > 0 and t["connect_us"] > 0 and t["upgrade_us"] > 0
    assert t["total_us"] >= t["tls_us"] + t["upgrade_us"]


def echo_round_trip(ctl, conn, text):
    ctl.call("send", conn=conn, data=text)
    assert ctl.call("recv", conn=conn, timeout_ms=5000)["data"] == text


def test_echo_over_tls_with_python_websockets(ctl, certs):
    with py_server(certs) as srv:
        res = ctl.call("open", conn="py", url=srv.url, tls={"ca_file": certs.ca})
        assert_tls_result(res)
        echo_round_trip(ctl, "py", "hello over TLS")
        ctl.call("send", conn="py", data=b"\x00\x01binary\xff")
        assert ctl.call("recv", conn="py", timeout_ms=5000)["data"] == b"\x00\x01binary\xff"


def test_echo_over_tls_with_node_ws(ctl, certs):
    with node_server(certs) as srv:
        res = ctl.call("open", conn="node", url=srv.url, tls={"ca_file": certs.ca})
        assert_tls_result(res)
        big = "x" * 200_000  # many TLS records each way
        echo_round_trip(ctl, "node", big)


def test_ip_literal_url_is_verified_against_the_certificate_ip(ctl, certs):
    with node_server(certs, host="127.0.0.1") as srv:
        res = ctl.call("open", conn="ip", url=srv.url, tls={"ca_file": certs.ca})
        assert res["tls"]["verified"] is True
        echo_round_trip(ctl, "ip", "by address")


def test_server_name_overrides_the_url_host(ctl, certs):
    with py_server(certs, cert="other", host="127.0.0.1") as srv:
        res = ctl.call("open", conn="sni", url=srv.url, tls={"ca_file": certs.ca, "server_name": "other.example"})
        assert res["tls"]["verified"] is True


@pytest.mark.parametrize("cert,ca,words", [
    ("unknown", "ca", "unable to get local issuer certificate"),   # issued by a CA we do not trust
    ("server", None, "unable to get local issuer certificate"),    # system store: our test CA is not in it
    ("other", "ca", "Hostname mismatch"),
    ("expired", "ca", "certificate has expired"),
])
def test_verification_failure_is_a_tls_error_in_openssl_words(ctl, certs, cert, ca, words):
    with py_server(certs, cert=cert) as srv:
        tls = {"ca_file": certs.ca} if ca else {}
        err = open_fails(ctl, "bad", srv.url, tls=tls)
    assert err.code == "tls_error"
    assert words.lower() in err.message.lower(), err.message
    rec = wait_state(ctl, "bad", "closed")["record"]
    assert rec["cause"] == "tls_error" and rec["code"] == 1006
    assert words.lower() in rec["detail"].lower(), rec


def test_verify_false_connects_to_an_untrusted_server(ctl, certs):
    with py_server(certs, cert="expired") as srv:
        res = ctl.call("open", conn="insecure", url=srv.url, tls={"verify": False})
        assert_tls_result(res, verified=False)
        echo_round_trip(ctl, "insecure", "trust me")


def test_client_certificate_required_refusals_are_tls_errors(ctl, certs):
    with manual_server(certs, "require_cert", client_ca=certs.ca) as srv:
        # No certificate: in TLS 1.3 our handshake is over before the server checks, so the refusal
        # arrives as its alert during the upgrade, and still ends the open as a tls_error.
        err = open_fails(ctl, "nocert", srv.url, tls={"ca_file": certs.ca})
        assert err.code == "tls_error", err
        assert "certificate required" in err.message, err.message
        # A certificate from a CA the server does not trust.
        err = open_fails(ctl, "untrusted", srv.url, tls={"ca_file": certs.ca, "cert_file": certs.untrusted_client,
                                                         "key_file": certs.untrusted_client_key})
        assert err.code == "tls_error", err
        assert "unknown ca" in err.message.lower(), err.message
        assert len(srv.wait_for("refused", count=2)) == 2
        rec = wait_state(ctl, "untrusted", "closed")["record"]
        assert rec["cause"] == "tls_error" and "unknown ca" in rec["detail"].lower(), rec


def test_client_certificate_accepted_by_node_https(ctl, certs):
    with node_server(certs, client_ca=certs.ca) as srv:
        res = ctl.call("open", conn="cert", url=srv.url,
                       tls={"ca_file": certs.ca, "cert_file": certs.client, "key_file": certs.client_key})
        assert_tls_result(res)
        echo_round_trip(ctl, "cert", "with my certificate")
        assert srv.wait_for("connect", client_cert=True)


def test_unreadable_client_key_is_refused_at_open(ctl, certs):
    with py_server(certs) as srv:
        err = open_fails(ctl, "nokey", srv.url, tls={"ca_file": certs.ca, "cert_file": certs.client,
                                                     "key_file": os.path.join(certs.dir, "missing.key")})
    assert "missing.key" in err.message, err.message


def test_fatal_alert_mid_session_is_recorded_as_tls_alert(ctl, certs):
    with manual_server(certs, "corrupt") as srv:
        ctl.call("open", conn="alert", url=srv.url, tls={"ca_file": certs.ca})
        assert srv.wait_for("upgraded")
        ctl.call("send", conn="alert", data="this record gets corrupted")
        assert srv.wait_for("alert_sent"), srv.stderr()
        rec = wait_state(ctl, "alert", "closed")["record"]
    assert srv.records("tls_error")[0]["reason"] in ("DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "BAD_RECORD_MAC")
    assert (rec["cause"], rec["detail"], rec["code"]) == ("tls_alert", "bad record mac", 1006), rec


def test_reset_mid_session_is_recorded_as_reset(ctl, certs):
    with py_server(certs, mode="reset") as srv:
        ctl.call("open", conn="rst", url=srv.url, tls={"ca_file": certs.ca})
        ctl.call("send", conn="rst", data="bye")
        assert srv.wait_for("reset_sent")
        rec = wait_state(ctl, "rst", "closed")["record"]
    assert (rec["cause"], rec["code"], rec["initiator"]) == ("reset", 1006, "none"), rec


def test_close_notify_mid_session_is_recorded_as_tls_close_notify(ctl, certs):
    with py_server(certs, mode="close_notify") as srv:
        ctl.call("open", conn="cn", url=srv.url, tls={"ca_file": certs.ca})
        ctl.call("send", conn="cn", data="bye")
        assert srv.wait_for("close_notify_sent")
        rec = wait_state(ctl, "cn", "closed")["record"]
    assert (rec["cause"], rec["code"], rec["initiator"]) == ("tls_close_notify", 1006, "none"), rec


def test_idle_wss_connections_stay_within_the_memory_budget(daemon, ctl, certs):
    """ARCHITECTURE.md "Targets": <= 24 KiB of daemon RSS per idle wss:// connection. node's server sends TLS 1.3
    session tickets after the handshake, which is what once left a 16 KiB read buffer on every
    idle session."""
    with open(daemon.binary, "rb") as f:
        if b"__asan_init" in f.read():  # linked against the ASan runtime
            pytest.skip("a sanitized daemon's memory says nothing about the budget")
    n = 1000
    with node_server(certs) as srv:
        ctl.call("open", conn="warm", url=srv.url, tls={"ca_file": certs.ca})
        echo_round_trip(ctl, "warm", "warm up")
        before = daemon.rss_kb()
        for i in range(n):
            ctl.call("open", conn="idle%d" % i, url=srv.url, tls={"ca_file": certs.ca})
        time.sleep(0.5)  # tickets and the last responses are read
        per_conn = (daemon.rss_kb() - before) * 1024 / n
        assert ctl.call("status", conn="idle%d" % (n - 1))["state"] == "open"
    assert per_conn <= 24 * 1024, "%.0f bytes of RSS per idle wss connection" % per_conn


def test_a_tls_configuration_is_freed_with_its_last_connection(daemon, ctl, certs, tmp_path):
    """Each distinct TLS option set builds an SSL_CTX (~840 KiB with a store as large as the system's);
    it lives only while a connection uses it. 40 configurations used one after the other must not pile
    up, as they did when every one was kept for the daemon's life."""
    with open(daemon.binary, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("a sanitized daemon's memory says nothing about the budget")
    system_store = "/etc/ssl/certs/ca-certificates.crt"  # from ca-certificates (.ci/install-deps)
    bundle = tmp_path / "bundle.pem"  # the system store plus the test CA: a realistically large store
    with open(system_store, "rb") as a, open(certs.ca, "rb") as b:
        bundle.write_bytes(a.read() + b.read())
    with py_server(certs) as srv:
        def use(i):  # a distinct 'ciphers' string is a distinct configuration (TLS 1.3 is unaffected)
            ctl.call("open", conn="cfg%d" % i, url=srv.url,
                     tls={"ca_file": str(bundle), "ciphers": "DEFAULT" + ":!NULL" * (i + 1)})
            echo_round_trip(ctl, "cfg%d" % i, "hello %d" % i)
            ctl.call("close", conn="cfg%d" % i)
        for i in range(3):  # warm up the allocator with a few contexts built and freed
            use(i)
        before = daemon.rss_kb()
        for i in range(3, 43):
            use(i)
        grown_kb = daemon.rss_kb() - before
    assert grown_kb < 4 * 1024, "%d KiB kept by 40 closed TLS configurations" % grown_kb


# ---- what `open` names must not fool verification or block the daemon (issue 14) ---------------------

def test_empty_server_name_means_the_url_host_not_no_name_check(ctl, certs):
    """Before: server_name "" switched the host-name check off, and the result said verified: true
    for a certificate of other.example served at localhost."""
    with py_server(certs, cert="other") as srv:
        err = open_fails(ctl, "empty-sni", srv.url, tls={"ca_file": certs.ca, "server_name": ""})
        assert err.code == "tls_error" and "hostname mismatch" in err.message.lower(), err.message
    with py_server(certs) as srv:
        res = ctl.call("open", conn="empty-ok", url=srv.url, tls={"ca_file": certs.ca, "server_name": ""})
        assert res["tls"]["verified"] is True
        echo_round_trip(ctl, "empty-ok", "named by the URL")


def test_a_fifo_named_as_a_tls_file_is_refused_without_blocking_the_daemon(ctl, certs, tmp_path):
    """Before: the daemon opened and read the FIFO on its event loop and hung, every connection with it."""
    fifo = str(tmp_path / "ca.fifo")
    os.mkfifo(fifo)
    with py_server(certs) as srv:
        ctl.call("open", conn="alive", url=srv.url, tls={"ca_file": certs.ca})
        for field in ("ca_file", "cert_file"):
            tls = {"ca_file": certs.ca, field: fifo}
            if field == "cert_file":
                tls["key_file"] = certs.client_key
            t0 = time.monotonic()
            err = open_fails(ctl, "fifo-" + field, srv.url, tls=tls)
            assert time.monotonic() - t0 < 2
            assert err.code == "tls_error" and "not a regular file" in err.message, err.message
        err = open_fails(ctl, "dev", srv.url, tls={"ca_file": "/dev/zero"})
        assert "not a regular file" in err.message, err.message
        echo_round_trip(ctl, "alive", "the loop never stopped")


def test_a_passphrase_protected_key_is_an_error_never_a_prompt(ctl, certs, tmp_path):
    enc = str(tmp_path / "enc.key")
    subprocess.run(["openssl", "pkey", "-in", certs.client_key, "-aes256", "-passout", "pass:secret", "-out", enc],
                   check=True, capture_output=True, timeout=30)
    with py_server(certs) as srv:
        t0 = time.monotonic()
        err = open_fails(ctl, "enc", srv.url, tls={"ca_file": certs.ca, "cert_file": certs.client, "key_file": enc})
        assert time.monotonic() - t0 < 2
        assert err.code == "tls_error" and "passphrase" in err.message, err.message
        # The same key decrypted works.
        res = ctl.call("open", conn="plain", url=srv.url,
                       tls={"ca_file": certs.ca, "cert_file": certs.client, "key_file": certs.client_key})
        assert res["tls"]["verified"] is True
