"""pytest setup for the integration tests: import paths and the fixtures most tests share.

Each test gets its own daemon (`daemon`, started with a private socket and event log) and a
control client on it (`ctl`). Peers are started per module where they keep no state that matters.
After each test the daemon must still be alive unless the test stopped it, and must then exit 0 on
SIGTERM: a crash or a shutdown error fails the test that caused it, with the daemon's log attached.
"""

import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
for p in (os.path.join(SOURCE_DIR, "tests", "lib"), os.path.join(SOURCE_DIR, "daemon", "cli")):
    if p not in sys.path:
        sys.path.insert(0, p)

import pytest  # noqa: E402

from wsf_fixtures import Daemon, NodeServer, PyServer  # noqa: E402


@pytest.fixture
def daemon_args():
    """Extra daemon arguments; override in a module or with @pytest.mark.parametrize."""
    return ()


@pytest.fixture
def daemon(daemon_args):
    with Daemon(*daemon_args) as d:
        yield d
        if d.stopped:
            return
        if not d.alive():
            pytest.fail("wsfleetd died during the test (exit %s):\n%s" % (d.proc.returncode, d.log()[-4000:]))
        # A graceful stop after every test: shutdown bugs, and leaks under ASan, fail the test.
        status = d.stop(signal.SIGTERM, timeout=15)
        if status != 0:
            pytest.fail("wsfleetd exited with %s on SIGTERM after the test:\n%s" % (status, d.log()[-4000:]))


@pytest.fixture
def ctl(daemon):
    return daemon.client()


@pytest.fixture(scope="module")
def echo():
    with PyServer("echo") as s:
        yield s


@pytest.fixture(scope="module")
def node_echo():
    with NodeServer("echo") as s:
        yield s
