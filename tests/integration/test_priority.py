"""wsfleetd --priority: the scheduling priority the daemon takes at start (README "Scheduling
priority"; measured in tests/bench/bench_saturated.py)."""

import os
import subprocess

import pytest

from wsf_fixtures import Daemon, daemon_binary


def sched_of(pid):
    """(nice, policy, rt_priority) from /proc/PID/stat (fields 19, 41, 40)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[16]), int(fields[38]), int(fields[37])


def test_nice_is_applied_before_the_daemon_listens():
    with Daemon("--priority", "nice:5") as d:  # raising nice needs no privilege
        assert sched_of(d.pid)[0] == 5
        assert d.client().call("stats")["open"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="a real-time policy needs root or CAP_SYS_NICE")
def test_round_robin_policy_with_its_priority():
    with Daemon("--priority", "rr:10") as d:
        nice, policy, rtprio = sched_of(d.pid)
        assert (policy, rtprio) == (os.SCHED_RR, 10)
        assert d.client().call("stats")["open"] == 0


@pytest.mark.parametrize("spec", ["bogus", "nice:20", "nice:", "rr:0", "fifo:100", "rt:5", "nice:-3x"])
def test_a_bad_priority_is_a_usage_error(spec, tmp_path):
    p = subprocess.run([daemon_binary(), "--socket", str(tmp_path / "s.sock"), "--priority", spec],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--priority is nice:N" in p.stderr


def test_a_refused_priority_says_what_it_needs(tmp_path):
    """As a user without CAP_SYS_NICE and RLIMIT_RTPRIO 0, rr is refused with what it needs; as root
    it is only refused where the kernel refuses (then the same message)."""
    if os.geteuid() == 0:
        pytest.skip("root may take any priority")
    p = subprocess.run([daemon_binary(), "--socket", str(tmp_path / "s.sock"), "--priority", "rr:10"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "RLIMIT_RTPRIO" in p.stderr
