"""The daemon under valgrind memcheck: a short mixed workload, then SIGTERM, with no memory errors
and no definite leaks. Skipped for sanitizer builds (ASan and valgrind do not mix)."""

import shutil
import signal

import pytest

from wsf_fixtures import Daemon, PyServer, RawServer, RpcError, closed_port, daemon_binary, wait_state, wait_until


def _instrumented(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


pytestmark = pytest.mark.skipif(not shutil.which("valgrind") or _instrumented(daemon_binary()),
                                reason="needs valgrind and a build without sanitizers")


def test_mixed_workload_and_shutdown_are_clean_under_memcheck():
    wrapper = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite", "--track-fds=no"]
    with Daemon(wrapper=wrapper, start_timeout=60) as d, PyServer("echo") as echo, \
            RawServer("fin", delay_ms=100) as fin, RawServer("http_status", status=500, body="boom") as bad, \
            RawServer("invalid_utf8", delay_ms=50) as utf8:
        ctl = d.client(timeout=60)
        ctl.call("subscribe", events=["open", "close", "handshake_failed", "drop"])
        for i in range(5):
            ctl.call("open", conn="v%d" % i, url=echo.url, inbox={"max_messages": 2},
                     keepalive={"mode": "ping", "interval_ms": 100})
        for i in range(5):
            ctl.call("send", conn="v0", data="m%d" % i)  # overflows the inbox
        assert ctl.call("request", conn="v1", data=b"\x01" * 1000, timeout_ms=10000)["data"] == b"\x01" * 1000
        # All five echoes in (under valgrind on a busy machine they can trail the request above): the
        # inbox of 2 then holds m3 and m4, three dropped.
        assert wait_until(lambda: ctl.call("status", conn="v0")["inbox"]["dropped"] == 3, 30)
        assert ctl.call("recv", conn="v0", regex="m[0-9]$", timeout_ms=5000)["data"] == "m3"
        with pytest.raises(RpcError):
            ctl.call("recv", conn="v2", contains="never", timeout_ms=200)
        ctl.call("ping", conn="v2", timeout_ms=10000)
        ctl.call("close", conn="v3", code=4000, reason="bye", timeout_ms=10000)
        for name, url in (("f", fin.url), ("u", utf8.url)):
            try:
                ctl.call("open", conn=name, url=url, reuse=False)
            except RpcError as e:
                assert e.code == "conn_closed"
            wait_state(ctl, name, "closed", 20)
        for name, url in (("h", bad.url), ("r", "ws://127.0.0.1:%d/" % closed_port())):
            with pytest.raises(RpcError):
                ctl.call("open", conn=name, url=url)
        ctl.call("reset", code=1001, reason="midway")
        for i in range(3):  # left open for the shutdown to close
            ctl.call("open", conn="w%d" % i, url=echo.url, keepalive={"mode": "text", "payload": "hb",
                                                                    "interval_ms": 100})
        ctl.send_raw(b"\x94\x00\x01\xa5stats\x91\x81\xa1")  # truncated: the daemon waits for more
        other = d.client(timeout=60)
        other.send_raw(b"\xc1")  # not msgpack: that client is closed
        status = d.stop(signal.SIGTERM, timeout=60)
        assert status == 0, d.log()[-6000:]
