"""JMeter's distributed mode without containers: two jmeter-server workers on loopback (distinct RMI
ports), each beside its own wsfleetd, and a controller that runs the chat plan on both against the
mock gateway. The controller's JTL, the daemons' event logs and the gateway's counters must agree:
every worker's samples came back to the controller, and each worker's samplers used its own daemon.

JMeter's RMI listeners bind the wildcard address (JMeter has no bind option); all traffic here goes
over 127.0.0.1."""

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "jmeter"))

from jmeter_harness import EXAMPLES, MockGateway, jmeter_home, read_jtl  # noqa: E402
from wsf_fixtures import Daemon, free_port  # noqa: E402

CHAT = os.path.join(EXAMPLES, "chat.jmx")
THREADS = 3
# RMI without TLS: the keystore JMeter wants otherwise is pointless on loopback.
RMI_PROPS = ["-Jserver.rmi.ssl.disable=true"]


class Worker:
    """`jmeter -s` (what bin/jmeter-server runs) whose samplers talk to `daemon`."""

    def __init__(self, home, workdir, name, daemon):
        self.port = free_port()  # the RMI registry: what the controller's -R names
        self.out_path = os.path.join(workdir, name + ".out")
        cmd = ["java", "-Djava.rmi.server.hostname=127.0.0.1", "-jar", os.path.join(home, "bin", "ApacheJMeter.jar"),
               "-s", "-j", os.path.join(workdir, name + ".log"),
               "-Jserver_port=%d" % self.port, "-Jserver.rmi.localport=%d" % free_port(),
               "-Jwsfleet.transport=unix", "-Jwsfleet.socket=" + daemon.socket] + RMI_PROPS
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.prefix = "127.0.0.1:%d-" % self.port  # JMeter prefixes remote thread names with -R's entry

    def output(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while "Created remote object" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("jmeter-server did not start:\n" + self.output())
            time.sleep(0.2)

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._out.close()


def run_controller(home, workdir, workers, props, timeout=180):
    """A non-GUI controller that runs CHAT on `workers` (-R), sends them `props` (-G) and tells them
    to exit at the end (-X). Returns (exit status, output, JTL rows)."""
    jtl = os.path.join(workdir, "controller.jtl")
    cmd = ["java", "-Djava.rmi.server.hostname=127.0.0.1", "-jar", os.path.join(home, "bin", "ApacheJMeter.jar"),
           "-n", "-t", CHAT, "-l", jtl, "-j", os.path.join(workdir, "controller.log"), "-X",
           "-R", ",".join("127.0.0.1:%d" % w.port for w in workers),
           # no UDP shutdown listener (port 4445 may be another run's); retry a registry not bound yet
           "-Jjmeterengine.nongui.port=0", "-Jclient.tries=5", "-Jclient.retries_delay=1000"] + RMI_PROPS
    cmd += ["-G%s=%s" % kv for kv in props.items()]
    proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = out.decode(errors="replace") if out else ""
    return proc.returncode, out, read_jtl(jtl) if os.path.exists(jtl) else []


def count(rows, label):
    return len([r for r in rows if r["label"] == label])


def test_a_controller_gets_both_workers_samples_and_each_worker_uses_its_own_daemon(tmp_path):
    home = jmeter_home()
    workers = []
    with Daemon() as d1, Daemon() as d2, MockGateway("--agent-delay", "200ms") as gw:
        try:
            workers = [Worker(home, str(tmp_path), "worker%d" % i, d) for i, d in ((1, d1), (2, d2))]
            for w in workers:
                w.wait_ready()
            status, out, rows = run_controller(home, str(tmp_path), workers, {
                "url": gw.url, "threads": THREADS, "rampup": 1, "duration": 6, "think_ms": 300,
                "think_jitter_ms": 200, "heartbeat_ms": 1000, "agent_timeout_ms": 3000})
            # -X: each worker exits once the test is over
            exits = [w.wait_exit() for w in workers]
        finally:
            for w in workers:
                w.kill()
        gw_stats = gw.stop()
        events = [d.events() for d in (d1, d2)]

    assert status == 0, out
    assert exits == [0, 0], [w.output() for w in workers]
    assert rows, out
    failures = [r for r in rows if r["success"] != "true"]
    assert not failures, failures[:3]

    # Every sample came from one of the two workers, and each worker ran the whole plan.
    for w in workers:
        mine = [r for r in rows if r["threadName"].startswith(w.prefix)]
        assert {r["threadName"][len(w.prefix):] for r in mine if r["label"] == "open"} == \
            {"guests 1-%d" % i for i in range(1, THREADS + 1)}, w.prefix
        assert count(mine, "configureSession") == THREADS and count(mine, "open") == THREADS
        asked, answered = count(mine, "send message"), count(mine, "agent reply")
        assert asked >= THREADS and answered >= asked - THREADS, (asked, answered)
        # the tearDown group reset this worker's daemon: its connections, not the other worker's
        resets = [r for r in mine if r["label"] == "reset wsfleet"]
        assert [r["responseMessage"].split(",")[0] for r in resets] == ["closed %d" % THREADS], resets
    assert all(any(r["threadName"].startswith(w.prefix) for w in workers) for r in rows), \
        {r["threadName"] for r in rows}

    # Each daemon opened exactly its own worker's connections (one daemon for both would have
    # reused the shared names vu-1..vu-3), and the gateway saw all of them.
    for evs in events:
        opens = [e for e in evs if e["event"] == "open"]
        assert sorted(e["conn"] for e in opens) == ["vu-%d" % i for i in range(1, THREADS + 1)], opens
        assert {e["url"] for e in opens} == {gw.url}
        assert len([e for e in evs if e["event"] == "close"]) == THREADS
    assert gw_stats["handshakes"] == 2 * THREADS, gw_stats
