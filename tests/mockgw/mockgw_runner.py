"""Runs the mock gateway for Python tests: `with MockGw("--idle-timeout", "1") as gw: gw.url`.

The binary is found as `wsfleet repro` finds it (wsfleet_tools/programs.py): $WSF_MOCKGW (set by
meson), else $WSF_BUILD_DIR/tests/mockgw/mockgw, else build/tests/mockgw/mockgw in the source tree,
else an installed wsfleet-mockgw. The process is always killed on exit.
    gw.url          ws://127.0.0.1:PORT/ (wss:// with --tls)
    gw.stats()      the counters now (SIGUSR1 -> one JSON line on stdout)
    gw.drops()      the per-drop log lines parsed into dicts (key=value fields; numbers converted)
    gw.stop()       SIGTERM; returns the counter dump printed at exit
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
if os.path.join(SOURCE_DIR, "daemon", "cli") not in sys.path:
    sys.path.append(os.path.join(SOURCE_DIR, "daemon", "cli"))

from wsfleet_tools import programs  # noqa: E402


def mockgw_binary():
    return programs.find("mockgw") or os.path.join(SOURCE_DIR, "build", "tests", "mockgw", "mockgw")


def _parse_kv(line):
    out = {}
    for tok in line.split()[2:]:
        k, sep, v = tok.partition("=")
        if not sep:
            continue
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


class MockGw:
    def __init__(self, *args, binary=None, start_timeout=10):
        self.args = [str(a) for a in args]
        self.binary = binary or mockgw_binary()
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self._out, self._err = [], []
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def __enter__(self):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("mockgw not found at %s (build it: ninja -C build)" % self.binary)
        self.proc = subprocess.Popen([self.binary, "--port", "0"] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def read(stream, sink):
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._lock:
                    sink.append(line)
                if sink is self._out and line.startswith("listening "):
                    self.port = int(line.split()[1])
                    self._ready.set()
            self._ready.set()

        threading.Thread(target=read, args=(self.proc.stdout, self._out), daemon=True).start()
        threading.Thread(target=read, args=(self.proc.stderr, self._err), daemon=True).start()
        if not self._ready.wait(self.start_timeout) or self.port is None:
            self.__exit__()
            raise RuntimeError("mockgw did not start: %s\n%s" % (self.args, "\n".join(self._err)))
        scheme = "wss" if "--tls" in self.args else "ws"
        host = self.args[self.args.index("--host") + 1] if "--host" in self.args else "127.0.0.1"
        self.url = "%s://%s:%d/" % (scheme, "[%s]" % host if ":" in host else host, self.port)
        return self

    def __exit__(self, exc_type=None, *exc):
        """Stops the gateway with SIGTERM (its clean exit path, so sanitizers and leak checks run),
        killing it after 5 s. Without another exception pending, an unclean exit is an error."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                if exc_type is None:
                    raise AssertionError("mockgw did not exit within 5 s of SIGTERM")
        if exc_type is None and self.proc.returncode != 0:
            time.sleep(0.1)  # let the reader threads take the last lines
            raise AssertionError("mockgw exited with %s:\n%s" % (self.proc.returncode,
                                                                 "\n".join(self.stderr_lines()[-40:])))

    def stdout_lines(self):
        with self._lock:
            return list(self._out)

    def stderr_lines(self):
        with self._lock:
            return list(self._err)

    def _json_lines(self):
        out = []
        for line in self.stdout_lines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def stats(self, timeout=5):
        before = len(self._json_lines())
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self._json_lines()
            if len(lines) > before:
                return lines[-1]
            time.sleep(0.01)
        raise AssertionError("mockgw printed no stats within %ss" % timeout)

    def drops(self, expect=0, timeout=5):
        """The gateway's drop lines; with `expect`, waits up to `timeout` s for that many: the client can
        see a drop before this process's reader thread has taken the line the gateway wrote first."""
        deadline = time.monotonic() + timeout
        while True:
            found = [_parse_kv(line) for line in self.stderr_lines() if line.startswith("mockgw drop ")]
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def stop(self, timeout=10):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # the reader thread may lag the exit
            lines = self._json_lines()
            if lines:
                return lines[-1]
            time.sleep(0.01)
        return None
