"""A small msgpack-RPC client for the wsfleetd control protocol (protocol/PROTOCOL.md).

    from wsfleet_tools.client import Client, RpcError
    with Client() as c:                      # default socket path, PROTOCOL.md section 1
        c.call("open", conn="a", url="ws://127.0.0.1:8080/")
        c.call("send", conn="a", data="hi")
        print(c.call("recv", conn="a", timeout_ms=1000)["data"])

Transport: a Unix socket path, or `tcp="127.0.0.1:PORT"` plus `token=` (sent in a first `hello`).
Text is msgpack str, binary is msgpack bin: Python str and bytes map onto them both ways.

Pipelining: `send(method, params) -> msgid` writes a request without waiting; `recv_response()`
returns the next response as `(msgid, error, result)` in the order the daemon sends them (which
may differ from the request order). `call()` may be mixed with pipelining: responses that belong
to other msgids are kept and handed out by later `recv_response()`/`wait_response()` calls.
Notifications (`[2, "event", [params]]`, after `subscribe`) are queued on `notifications` and
taken with `next_notification(timeout)`.
"""

import collections
import itertools
import os
import socket
import stat
import time

import msgpack

__all__ = ["Client", "RpcError", "ProtocolViolation", "UnsafeSocketError", "check_socket_path",
           "default_socket_path"]

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2


def default_socket_path():
    """$XDG_RUNTIME_DIR/wsfleet/wsfleetd.sock, else /tmp/wsfleet-$UID/wsfleetd.sock (PROTOCOL.md 1)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "wsfleet", "wsfleetd.sock")
    return "/tmp/wsfleet-%d/wsfleetd.sock" % os.getuid()


class UnsafeSocketError(PermissionError):
    """The control socket's directory could have been planted by another user: the client does not
    connect (it would send them the open requests, Authorization and Cookie headers included)."""


def check_socket_path(path):
    """Raises UnsafeSocketError unless the socket's directory is a real directory (not a symlink)
    owned by this user (or root) that no one else can write to, and the socket is ours (or root's).
    The daemon creates its directory 0700 and refuses any other (PROTOCOL.md 1)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return  # connect() will say so
    me = os.geteuid()
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeSocketError("%s is a symbolic link, not the daemon's directory" % directory)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeSocketError("%s is not a directory" % directory)
    if st.st_uid not in (me, 0) or st.st_mode & 0o022:
        raise UnsafeSocketError("%s is owned by uid %d with mode %o: another user could have put the socket "
                                "there (the daemon's directory is 0700 and yours)"
                                % (directory, st.st_uid, stat.S_IMODE(st.st_mode)))
    try:
        sst = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(sst.st_mode) or sst.st_uid not in (me, 0):
        raise UnsafeSocketError("%s is not a socket of this user" % path)


class RpcError(Exception):
    """An error response: `code` (e.g. "conn_closed"), `message`, and the other fields in `details`."""

    def __init__(self, code, message, details=None, msgid=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.details = details or {}
        self.msgid = msgid

    @classmethod
    def from_error(cls, error, msgid=None):
        if not isinstance(error, dict):
            return cls("internal", "error is not a map: %r" % (error,), {}, msgid)
        details = {k: v for k, v in error.items() if k not in ("code", "message")}
        return cls(error.get("code"), error.get("message"), details, msgid)

    def as_dict(self):
        d = {"code": self.code, "message": self.message}
        d.update(self.details)
        return d


class ProtocolViolation(Exception):
    """The daemon sent something that is not msgpack-RPC as PROTOCOL.md describes it."""


class Client:
    def __init__(self, path=None, *, tcp=None, token=None, timeout=30.0, client_name=None):
        """Connects at once. `timeout` (seconds) bounds every socket wait; calls whose request
        carries `timeout_ms` wait that long plus `timeout`."""
        self.timeout = timeout
        self.notifications = collections.deque()
        self._pending = {}  # msgid -> (error, result) received while waiting for another msgid
        self._order = collections.deque()  # msgids of _pending in arrival order
        self._ids = itertools.count(1)
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                          unicode_errors="surrogateescape",
                                          max_buffer_size=256 * 1024 * 1024)
        self._packer = msgpack.Packer(use_bin_type=True)
        self.closed_by_peer = False
        if tcp:
            host, _, port = tcp.rpartition(":")
            self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self.path = path or default_socket_path()
            check_socket_path(self.path)
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(self.path)
            except OSError:
                self.sock.close()
                raise
        if tcp or token is not None or client_name is not None:
            params = {}
            if token is not None:
                params["token"] = token
            if client_name is not None:
                params["client"] = client_name
            self.hello_result = self.call("hello", params)

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- writing --------------------------------------------------------------------------------
    def send(self, method, params=None, msgid=None):
        """Writes one request; returns its msgid. `params` is a dict (None = no params)."""
        if msgid is None:
            msgid = next(self._ids) & 0xFFFFFFFF
        body = [] if params is None else [params]
        self.send_raw(self._packer.pack([REQUEST, msgid, method, body]))
        return msgid

    def send_many(self, requests):
        """Writes [(method, params), ...] in one write; returns their msgids."""
        out, ids = [], []
        for method, params in requests:
            msgid = next(self._ids) & 0xFFFFFFFF
            ids.append(msgid)
            out.append(self._packer.pack([REQUEST, msgid, method, [] if params is None else [params]]))
        self.send_raw(b"".join(out))
        return ids

    def send_raw(self, data):
        """Writes bytes as they are (tests use it for malformed input)."""
        self.sock.sendall(data)

    # -- reading --------------------------------------------------------------------------------
    def read_message(self, timeout=None):
        """Returns the next msgpack object from the daemon, whatever it is.
        Raises EOFError when the daemon closed the connection, socket.timeout on timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                return next(self._unpacker)
            except StopIteration:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no message from the daemon")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed_by_peer = True
                raise EOFError("the daemon closed the control connection")
            self._unpacker.feed(chunk)

    def _read_one(self, timeout, until_notification=False):
        """Reads until a response arrives (queuing notifications); returns (msgid, error, result).
        With until_notification, returns None as soon as a notification has been queued."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self.read_message(max(0.0, deadline - time.monotonic()))
            if not isinstance(msg, list) or not msg:
                raise ProtocolViolation("not an array: %r" % (msg,))
            if msg[0] == NOTIFICATION and len(msg) == 3:
                self.notifications.append(self._notification(msg))
                if until_notification:
                    return None
                continue
            if msg[0] == RESPONSE and len(msg) == 4:
                _, msgid, error, result = msg
                if error is not None and result is not None:
                    raise ProtocolViolation("both error and result set: %r" % (msg,))
                return msgid, error, result
            raise ProtocolViolation("not a response or notification: %r" % (msg,))

    @staticmethod
    def _notification(msg):
        _, method, params = msg
        if not isinstance(params, list) or len(params) > 1:
            raise ProtocolViolation("notification params not an array of at most one: %r" % (msg,))
        p = dict(params[0]) if params else {}
        p.setdefault("_method", method)
        return p

    def recv_response(self, timeout=None):
        """The next response, as (msgid, error, result): first any kept aside by call()."""
        if self._order:
            msgid = self._order.popleft()
            error, result = self._pending.pop(msgid)
            return msgid, error, result
        return self._read_one(timeout)

    def wait_response(self, msgid, timeout=None):
        """Waits for the response to msgid; returns (error, result). Others are kept aside."""
        if msgid in self._pending:
            self._order.remove(msgid)
            return self._pending.pop(msgid)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            got, error, result = self._read_one(max(0.0, deadline - time.monotonic()))
            if got == msgid:
                return error, result
            self._pending[got] = (error, result)
            self._order.append(got)

    def call(self, method, params=None, /, **fields):
        """Sends one request and waits for its response. Returns the result map or raises RpcError.
        Fields come from `params` (a dict) and/or keyword arguments."""
        p = dict(params or {})
        p.update(fields)
        t_ms = p.get("timeout_ms")
        wait = self.timeout + (t_ms / 1000.0 if isinstance(t_ms, (int, float)) and t_ms > 0 else 0.0)
        msgid = self.send(method, p)
        error, result = self.wait_response(msgid, timeout=wait)
        if error is not None:
            raise RpcError.from_error(error, msgid)
        return result

    def try_call(self, method, params=None, /, **fields):
        """Like call() but returns (error dict or None, result) instead of raising."""
        try:
            return None, self.call(method, params, **fields)
        except RpcError as e:
            return e.as_dict(), None

    def next_notification(self, timeout=None):
        """The next notification's params map (with `_method` added), waiting up to timeout s."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.notifications:
            got = self._read_one(max(0.0, deadline - time.monotonic()), until_notification=True)
            if got is not None:
                msgid, error, result = got
                self._pending[msgid] = (error, result)
                self._order.append(msgid)
        return self.notifications.popleft()
