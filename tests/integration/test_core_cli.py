"""The `wsfleet` command against a running daemon (daemon/cli/wsfleet)."""

import json
import os
import subprocess

from wsf_fixtures import SOURCE_DIR

WSFLEET = os.path.join(SOURCE_DIR, "daemon", "cli", "wsfleet")


def run(*args, check_rc=None):
    p = subprocess.run([WSFLEET] + list(args), capture_output=True, text=True, timeout=30)
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, p.stdout, p.stderr)
    return p


def test_call_builds_nested_params_and_prints_json(daemon, echo):
    sock = "--socket=" + daemon.socket
    out = run(sock, "call", "open", "conn=cli", "url=" + echo.url + "cli", "keepalive.mode=ping",
              "keepalive.interval_ms=5000", "inbox.max_messages=7", check_rc=0).stdout
    assert json.loads(out)["status"] == 101
    run(sock, "call", "send", "conn=cli", 'data={"$bin":"00ff10"}', check_rc=0)
    got = json.loads(run(sock, "call", "recv", "conn=cli", "timeout_ms=3000", check_rc=0).stdout)
    assert got["type"] == "binary" and got["data"] == {"$bin": "00ff10"}
    st = json.loads(run("--socket", daemon.socket, "status", "cli", check_rc=0).stdout)
    assert st["keepalive"]["mode"] == "ping" and st["keepalive"]["interval_ms"] == 5000
    assert [c["conn"] for c in json.loads(run(sock, "list", check_rc=0).stdout)["conns"]] == ["cli"]
    assert json.loads(run(sock, "stats", check_rc=0).stdout)["open"] == 1


def test_error_responses_go_to_stderr_with_exit_1(daemon):
    p = run("--socket", daemon.socket, "status", "nobody", check_rc=1)
    assert p.stdout == ""
    assert json.loads(p.stderr)["error"]["code"] == "no_such_conn"


def test_unreachable_daemon_and_usage_errors_have_their_own_exit_codes(tmp_path):
    assert "cannot reach" in run("--socket", str(tmp_path / "none.sock"), "stats", check_rc=3).stderr
    run("call", check_rc=2)
    run("frobnicate", check_rc=2)
    run("call", "stats", "novalue", check_rc=2)


def test_subcommand_parser_help_and_errors():
    top = run("--help", check_rc=0).stdout
    for cmd in ("call", "stats", "status", "list", "report", "repro", "watch"):
        assert cmd in top
    assert "--limit" in run("list", "--help", check_rc=0).stdout
    assert "--fail-on" in run("report", "--help", check_rc=0).stdout
    assert "--count" in run("watch", "--help", check_rc=0).stdout
    assert "--limit" in run("list", "--limit", "many", check_rc=2).stderr
    run("status", check_rc=2)
    run("status", "a", "b", check_rc=2)
    run("--timeout", check_rc=2)
    run(check_rc=2)
