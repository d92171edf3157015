"""Who may talk to the daemon and what it trusts (PROTOCOL.md 1; ARCHITECTURE.md "Trust"): the
private socket directory, other users, the loopback-only TCP control with its token, the metrics
port, and TLS verification that stays on unless a request turns it off.

The tests run as root (CI and this machine); another user is simulated with setpriv as `nobody`."""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import msgpack
import pytest

from certs import make_certs
from wsf_fixtures import Client, Daemon, RpcError, closed_port, daemon_binary, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mockgw"))
from mockgw_runner import MockGw  # noqa: E402

NOBODY = pwd.getpwnam("nobody")
SETPRIV = shutil.which("setpriv")
needs_root = pytest.mark.skipif(os.geteuid() != 0 or not SETPRIV, reason="needs root and setpriv to act as nobody")


# ---- helpers -------------------------------------------------------------------------------------

@contextlib.contextmanager
def private_tmp():
    d = tempfile.mkdtemp(prefix="wsf-sec-")
    try:
        yield d
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", d], check=False)
        shutil.rmtree(d, ignore_errors=True)


def start_refused(*args, env=None, timeout=5):
    """Runs the daemon expecting it to refuse to start: returns (exit status, its output). A daemon
    still running after `timeout` s has started: it is killed (SIGKILL, so it unlinks nothing) and
    the status is "still running"."""
    proc = subprocess.Popen([daemon_binary()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=5)
        status = "still running"
    return status, out.decode("utf-8", "replace")


@contextlib.contextmanager
def daemon_process(*args, env=None, preexec_fn=None):
    """The daemon with exactly these arguments; waits for its `ready PATH` line."""
    proc = subprocess.Popen([daemon_binary()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec_fn)
    try:
        line = b""
        deadline = time.monotonic() + 10
        while not line.startswith(b"ready ") and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise AssertionError("wsfleetd exited with %s at start" % proc.returncode)
        assert line.startswith(b"ready "), line
        proc.ready_path = line.split(None, 1)[1].strip().decode()
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


CONNECT_AS_OTHER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print("connected")
except OSError as e:
    print(__import__("errno").errorcode.get(e.errno, str(e.errno)))
"""


def connect_as_nobody(path):
    r = subprocess.run([SETPRIV, "--reuid=%d" % NOBODY.pw_uid, "--regid=%d" % NOBODY.pw_gid, "--clear-groups",
                        sys.executable, "-c", CONNECT_AS_OTHER, path],
                       capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def tcp_listeners(pid):
    """The TCP addresses `pid` listens on, from /proc/net/tcp{,6} and its descriptors: [(host, port)]."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    out = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            cols = row.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hexaddr, hexport = local.split(":")
            raw = bytes.fromhex(hexaddr)
            # /proc prints the address as 32-bit words in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.append((socket.inet_ntop(family, raw), int(hexport, 16)))
    return out


def raw_tcp_exchange(port, data, timeout=3):
    """Sends data on a fresh TCP control connection; returns (messages received, closed by the daemon)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    u = msgpack.Unpacker(raw=False)
    out, closed = [], False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        u.feed(chunk)
        out.extend(u)
    s.close()
    return out, closed


# ---- the control socket and its directory ------------------------------------------------------------

def test_missing_socket_directory_is_created_0700_and_the_socket_is_0600():
    with private_tmp() as tmp:
        path = os.path.join(tmp, "made-by-daemon", "ctl.sock")
        # A permissive umask must not loosen either mode.
        with daemon_process("--socket", path, preexec_fn=lambda: os.umask(0)) as proc:
            dir_st, sock_st = os.stat(os.path.dirname(path)), os.lstat(path)
            assert stat.S_ISDIR(dir_st.st_mode) and stat.S_IMODE(dir_st.st_mode) == 0o700
            assert dir_st.st_uid == os.geteuid()
            assert stat.S_ISSOCK(sock_st.st_mode) and stat.S_IMODE(sock_st.st_mode) == 0o600
            assert Client(path).call("hello")["pid"] == proc.pid


def test_default_socket_lives_in_a_private_wsfleet_directory_under_xdg_runtime_dir():
    with private_tmp() as tmp:
        env = dict(os.environ, XDG_RUNTIME_DIR=tmp)
        with daemon_process(env=env) as proc:
            path = os.path.join(tmp, "wsfleet", "wsfleetd.sock")
            assert proc.ready_path == path
            assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
            assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
            assert Client(path).call("hello")["pid"] == proc.pid


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o701, 0o777, 0o710])
def test_group_or_world_accessible_socket_directory_stops_the_daemon_at_start(mode):
    with private_tmp() as tmp:
        d = os.path.join(tmp, "shared")
        os.mkdir(d)
        os.chmod(d, mode)
        status, out = start_refused("--socket", os.path.join(d, "ctl.sock"))
        assert status not in (0, "still running"), out
        assert d in out and "chmod 700" in out, out
        assert os.listdir(d) == [], "a socket was created in the open directory"
        assert stat.S_IMODE(os.stat(d).st_mode) == mode, "the daemon must refuse, not fix the mode"


@needs_root
def test_socket_directory_owned_by_another_user_stops_the_daemon_at_start():
    with private_tmp() as tmp:
        d = os.path.join(tmp, "theirs")
        os.mkdir(d, 0o700)
        os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
        status, out = start_refused("--socket", os.path.join(d, "ctl.sock"))
        assert status not in (0, "still running") and d in out and "owned by this user" in out, out


@needs_root
def test_another_user_cannot_connect_to_the_control_socket(daemon, ctl):
    assert os.geteuid() == 0 and NOBODY.pw_uid != 0
    # The private directory stops them first ...
    assert connect_as_nobody(daemon.socket) == "EACCES"
    # ... and the socket's own 0600 stops them where a directory's mode is not honoured.
    os.chmod(daemon.dir, 0o711)
    try:
        assert connect_as_nobody(daemon.socket) == "EACCES"
    finally:
        os.chmod(daemon.dir, 0o700)
    assert ctl.call("stats")["control_clients"] == 1


def test_a_second_daemon_does_not_take_over_a_live_daemons_socket(daemon, ctl):
    # Two daemons on one path: the second must refuse, or the first (and all its connections)
    # becomes unreachable, and vanishes for good when the second unlinks the path at exit.
    status, out = start_refused("--socket", daemon.socket, timeout=3)
    assert status not in (0, "still running"), \
        "a second wsfleetd started on the live socket %s:\n%s" % (daemon.socket, out)
    assert daemon.socket in out, out  # says which path is taken
    assert Client(daemon.socket).call("hello")["pid"] == daemon.pid


def test_a_stale_socket_left_by_a_killed_daemon_is_replaced():
    with private_tmp() as tmp:
        path = os.path.join(tmp, "ctl.sock")
        os.chmod(tmp, 0o700)
        with daemon_process("--socket", path) as first:
            first.kill()
            first.wait(5)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)  # left behind
        with daemon_process("--socket", path) as second:
            assert Client(path).call("hello")["pid"] == second.pid


# ---- TCP control ---------------------------------------------------------------------------------

@pytest.fixture
def tcp_daemon(tmp_path):
    port = closed_port()
    token_file = tmp_path / "token"
    with Daemon("--control-tcp", "127.0.0.1:%d" % port, "--token-file", str(token_file)) as d:
        assert wait_until(lambda: (("127.0.0.1", port) in tcp_listeners(d.pid)), 5)
        d.tcp_port, d.token_file = port, token_file
        d.token = token_file.read_text()
        yield d
        assert d.alive()
        assert d.stop(signal.SIGTERM, timeout=15) == 0, d.log()[-4000:]


def test_tcp_control_listens_on_the_loopback_address_and_nothing_else(tcp_daemon):
    assert tcp_listeners(tcp_daemon.pid) == [("127.0.0.1", tcp_daemon.tcp_port)]


def test_without_tcp_control_or_metrics_the_daemon_listens_on_no_tcp_port(daemon):
    assert tcp_listeners(daemon.pid) == []


@pytest.mark.parametrize("addr", ["0.0.0.0", "::", "[::]", "192.0.2.1", "localhost", "128.0.0.1"])
def test_tcp_control_on_a_non_loopback_address_stops_the_daemon_at_start(tmp_path, addr):
    token = tmp_path / "token"
    with private_tmp() as tmp:
        status, out = start_refused("--socket", os.path.join(tmp, "s"), "--control-tcp",
                                    "%s:%d" % (addr, closed_port()), "--token-file", token)
    assert status not in (0, "still running") and "--control-tcp" in out, out
    assert not token.exists(), "a token was written for a daemon that did not start"


def test_tcp_control_accepts_the_ipv6_loopback(tmp_path):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    port = closed_port()
    # "only loopback addresses (127.0.0.0/8, ::1)", in the form --metrics takes too
    with Daemon("--control-tcp", "[::1]:%d" % port, "--token-file", str(tmp_path / "token")) as d:
        assert wait_until(lambda: tcp_listeners(d.pid) == [("::1", port)], 5), tcp_listeners(d.pid)
        c = Client(tcp="[::1]:%d" % port, token=(tmp_path / "token").read_text(), timeout=5)
        assert c.hello_result["pid"] == d.pid
        c.close()


def test_token_file_is_created_0600_even_under_a_permissive_umask_and_reused_on_restart(tmp_path):
    token_file = tmp_path / "token"
    port = closed_port()
    args = ("--control-tcp", "127.0.0.1:%d" % port, "--token-file", token_file)
    with private_tmp() as tmp:
        with daemon_process("--socket", os.path.join(tmp, "s"), *args, preexec_fn=lambda: os.umask(0)):
            assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
            token = token_file.read_text()
            assert re.fullmatch("[0-9a-f]{64}", token)
        with daemon_process("--socket", os.path.join(tmp, "s"), *args) as again:
            assert token_file.read_text() == token
            c = Client(tcp="127.0.0.1:%d" % port, token=token, timeout=5)
            assert c.hello_result["pid"] == again.pid
            c.close()


def test_two_daemons_get_different_tokens(tmp_path):
    tokens = []
    for i in range(2):
        port = closed_port()
        with Daemon("--control-tcp", "127.0.0.1:%d" % port, "--token-file", str(tmp_path / str(i))) as d:
            # The Unix socket listens before the token is written: wait for the TCP listener.
            assert wait_until(lambda: tcp_listeners(d.pid), 5)
            tokens.append((tmp_path / str(i)).read_text())
    assert tokens[0] != tokens[1]


def bad_first_requests(token):
    wrong = "%064x" % (int(token, 16) ^ 1)  # one bit off
    return {
        "no_hello": [0, 1, "list", []],
        "hello_without_token": [0, 1, "hello", [{}]],
        "one_bit_off": [0, 1, "hello", [{"token": wrong}]],
        "prefix": [0, 1, "hello", [{"token": token[:63]}]],
        "longer": [0, 1, "hello", [{"token": token + "0"}]],
        "as_bin": [0, 1, "hello", [{"token": token.encode()}]],
        "upper_case": [0, 1, "hello", [{"token": token.upper()}]] if token != token.upper() else None,
        "empty": [0, 1, "hello", [{"token": ""}]],
    }


@pytest.mark.parametrize("case", ["no_hello", "hello_without_token", "one_bit_off", "prefix", "longer", "as_bin",
                                  "upper_case", "empty"])
def test_wrong_first_request_is_unauthorized_closed_and_nothing_after_it_runs(tcp_daemon, case):
    req = bad_first_requests(tcp_daemon.token)[case]
    if req is None:
        pytest.skip("this token has no letters to change the case of")
    # Pipelined behind the bad hello: an open that must never happen.
    follow = [0, 2, "open", [{"conn": "intruder", "url": "ws://127.0.0.1:%d/" % closed_port()}]]
    msgs, closed = raw_tcp_exchange(tcp_daemon.tcp_port, msgpack.packb(req) + msgpack.packb(follow))
    assert closed, "the daemon kept an unauthorized connection open"
    assert len(msgs) == 1 and msgs[0][0] == 1 and msgs[0][1] == 1, msgs
    assert msgs[0][2]["code"] == "unauthorized" and msgs[0][3] is None
    ctl = tcp_daemon.client()
    with pytest.raises(RpcError) as e:
        ctl.call("status", conn="intruder")
    assert e.value.code == "no_such_conn"
    assert ctl.call("stats")["failed_total"] == 0


def test_right_token_authorizes_only_its_own_connection(tcp_daemon):
    port, token = tcp_daemon.tcp_port, tcp_daemon.token
    good = Client(tcp="127.0.0.1:%d" % port, token=token, timeout=5)
    assert good.hello_result["pid"] == tcp_daemon.pid
    assert "uptime_us" in good.call("stats")
    # Another TCP connection is not authorized by the first one's hello.
    msgs, closed = raw_tcp_exchange(port, msgpack.packb([0, 5, "stats", []]))
    assert closed and msgs[0][2]["code"] == "unauthorized"
    # Garbage before any hello is refused too, and never reaches the methods.
    msgs, closed = raw_tcp_exchange(port, b"\xc1\xc1")
    assert closed
    assert "uptime_us" in good.call("stats")
    good.close()


# ---- metrics ---------------------------------------------------------------------------------------

def test_metrics_port_listens_on_loopback_only():
    port = closed_port()
    with Daemon("--metrics", "127.0.0.1:%d" % port) as d:
        assert wait_until(lambda: tcp_listeners(d.pid), 5)
        assert tcp_listeners(d.pid) == [("127.0.0.1", port)]


# ---- TLS verification --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="wsf-sec-certs-")
    try:
        yield make_certs(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def wss(certs):
    """A wss:// echo gateway whose certificate chains to certs.ca (not in the system store)."""
    with MockGw("--tls", certs.server, certs.server_key, "--echo") as gw:
        yield gw


def open_err(ctl, **params):
    with pytest.raises(RpcError) as e:
        ctl.call("open", **params)
    return e.value


def test_turning_verification_off_for_one_open_leaves_it_on_for_the_others(ctl, certs, wss):
    url = wss.url
    sequence = [("off-1", {"verify": False}, False), ("default-1", None, "error"),
                ("ca-1", {"ca_file": certs.ca}, True), ("off-2", {"verify": False, "ca_file": certs.ca}, False),
                ("default-2", None, "error"), ("explicit-on", {"verify": True}, "error"),
                ("ca-2", {"ca_file": certs.ca, "verify": True}, True)]
    for name, tls, expect in sequence:
        params = {"conn": name, "url": url}
        if tls is not None:
            params["tls"] = tls
        if expect == "error":
            e = open_err(ctl, **params)
            assert e.code == "tls_error" and "unable to get local issuer certificate" in e.message, (name, e)
        else:
            r = ctl.call("open", **params)
            assert r["tls"]["verified"] is expect, (name, r["tls"])
            assert ctl.call("request", conn=name, data=name, timeout_ms=3000)["data"] == name


def test_a_daemon_wide_ca_file_keeps_verification_on(certs, wss):
    with MockGw("--tls", certs.unknown, certs.unknown_key, "--echo") as untrusted, \
            Daemon("--tls-ca-file", certs.ca) as d:
        ctl = d.client()
        assert ctl.call("open", conn="ok", url=wss.url)["tls"]["verified"] is True
        e = open_err(ctl, conn="bad", url=untrusted.url)
        assert e.code == "tls_error" and "unable to get local issuer certificate" in e.message
        assert d.stop() == 0


def test_tls_insecure_is_reported_as_unverified_and_a_request_can_turn_verification_back_on(certs, wss):
    with Daemon("--tls-insecure") as d:
        ctl = d.client()
        assert ctl.call("open", conn="insecure", url=wss.url)["tls"]["verified"] is False
        e = open_err(ctl, conn="strict", url=wss.url, tls={"verify": True})
        assert e.code == "tls_error", e
        assert ctl.call("open", conn="strict-ca", url=wss.url, tls={"verify": True, "ca_file": certs.ca}
                        )["tls"]["verified"] is True
        assert d.stop() == 0


# ---- files and sockets another user could plant (issue 14) -------------------------------------------

def test_a_symlink_where_the_socket_directory_should_be_is_refused_not_followed():
    """Before: with XDG_RUNTIME_DIR unset the daemon stat()ed /tmp/wsfleet-$UID, so a symlink planted
    there led it (and its socket) into whatever directory the link named."""
    with private_tmp() as tmp:
        target = os.path.join(tmp, "target")
        os.mkdir(target, 0o700)  # passes every check once the link is followed
        link = os.path.join(tmp, "wsfleet-link")
        os.symlink(target, link)
        status, out = start_refused("--socket", os.path.join(link, "ctl.sock"))
        assert status not in (0, "still running") and "symbolic link" in out, (status, out)
        assert os.listdir(target) == []


@needs_root
@pytest.mark.parametrize("how", ["theirs", "open", "symlink"])
def test_the_client_does_not_connect_to_a_socket_another_user_could_have_planted(how):
    """Before: the CLI and Client connected to whatever listened at the path, and sent it every
    open's headers (Authorization, Cookie)."""
    with private_tmp() as tmp:
        d = os.path.join(tmp, "wsfleet-planted")
        os.mkdir(d, 0o755)
        path = os.path.join(d, "wsfleetd.sock")
        planted = socket.socket(socket.AF_UNIX)
        planted.bind(path)
        planted.listen(4)
        planted.settimeout(0.3)
        if how == "theirs":
            os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
            os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
        elif how == "open":
            os.chmod(d, 0o777)
        else:
            link = os.path.join(tmp, "wsfleet-link")
            os.symlink(d, link)
            os.chmod(d, 0o700)
            path = os.path.join(link, "wsfleetd.sock")
        with pytest.raises(PermissionError) as e:
            Client(path, timeout=2)
        assert "another user" in str(e.value) or "symbolic link" in str(e.value), e.value
        with pytest.raises(socket.timeout):
            planted.accept()
        planted.close()
        # The CLI says why and connects to nothing either.
        r = subprocess.run([sys.executable, "-m", "wsfleet_tools.cli", "--socket", path, "stats"],
                           capture_output=True, timeout=20)
        assert r.returncode != 0 and (b"another user" in r.stderr or b"symbolic link" in r.stderr), r


def _tcp_args(tmp, token_file):
    return ("--socket", os.path.join(tmp, "s", "ctl.sock"), "--control-tcp", "127.0.0.1:%d" % closed_port(),
            "--token-file", token_file)


@pytest.mark.parametrize("problem", ["readable_by_others", "owned_by_another_user", "bad_content", "short",
                                     "symlink", "fifo"])
def test_a_token_file_that_is_not_ours_private_and_a_token_is_refused(problem):
    """Before: an existing token file was used whatever its owner, mode or content (and a FIFO
    there hung the daemon at start)."""
    if problem == "owned_by_another_user" and os.geteuid() != 0:
        pytest.skip("needs root to give a file to nobody")
    with private_tmp() as tmp:
        token_file = os.path.join(tmp, "token")
        token = "ab" * 32
        if problem == "fifo":
            os.mkfifo(token_file, 0o600)
        elif problem == "symlink":
            real = os.path.join(tmp, "real")
            with open(real, "w") as f:
                f.write(token)
            os.chmod(real, 0o600)
            os.symlink(real, token_file)
        else:
            with open(token_file, "w") as f:
                f.write({"bad_content": "zz" * 32, "short": token[:40]}.get(problem, token))
            os.chmod(token_file, 0o644 if problem == "readable_by_others" else 0o600)
            if problem == "owned_by_another_user":
                os.chown(token_file, NOBODY.pw_uid, NOBODY.pw_gid)
        status, out = start_refused(*_tcp_args(tmp, token_file))
        assert status not in (0, "still running"), (problem, status, out)
        assert "token file" in out, out
        expect = {"readable_by_others": "chmod 600", "owned_by_another_user": "another user",
                  "bad_content": "64 hex", "short": "64 hex", "symlink": "symbolic link",
                  "fifo": "not a regular file"}[problem]
        assert expect in out, out


def test_a_private_token_file_of_ours_is_used_with_or_without_a_final_newline(tmp_path):
    token = "0123456789abcdef" * 4
    for content in (token, token + "\n"):
        token_file = tmp_path / "token"
        token_file.write_text(content)
        os.chmod(token_file, 0o600)
        port = closed_port()
        with Daemon("--control-tcp", "127.0.0.1:%d" % port, "--token-file", str(token_file)) as d:
            assert wait_until(lambda: ("127.0.0.1", port) in tcp_listeners(d.pid), 5)
            c = Client(tcp="127.0.0.1:%d" % port, token=token, timeout=5)
            assert c.call("stats")["control_clients"] == 1
            c.close()
        token_file.unlink()


def test_the_event_log_is_created_0600_and_never_through_a_symlink_or_fifo():
    with private_tmp() as tmp:
        sock = os.path.join(tmp, "s", "ctl.sock")
        events = os.path.join(tmp, "events.jsonl")
        # Before: fopen(path, "a") made it 0644 under the usual umask (0666 under umask 0).
        with daemon_process("--socket", sock, "--events", events, preexec_fn=lambda: os.umask(0)):
            assert wait_until(lambda: os.path.exists(events), 5)
            assert stat.S_IMODE(os.stat(events).st_mode) == 0o600
        # A symlink at the path (someone else's file, or /etc/...) is not followed.
        victim = os.path.join(tmp, "victim")
        with open(victim, "w") as f:
            f.write("untouched\n")
        link = os.path.join(tmp, "link.jsonl")
        os.symlink(victim, link)
        status, out = start_refused("--socket", sock, "--events", link)
        assert status not in (0, "still running") and "symbolic link" in out, out
        assert open(victim).read() == "untouched\n"
        fifo = os.path.join(tmp, "fifo.jsonl")
        os.mkfifo(fifo, 0o600)
        status, out = start_refused("--socket", sock, "--events", fifo)
        assert status not in (0, "still running") and "not a regular file" in out, out
