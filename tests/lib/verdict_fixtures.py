"""Fixtures for the verdict tests: the policy-playing peer (tests/lib/servers/verdict_peers.py) and
`wsfleet report --json` on a log.

    with VerdictPeer("idle", idle=1.2, cap=3) as peer: ...   # options as that script's flags
    summary = report_json(path, "--fail-on", "client", rc=(0, 4))
"""

import json
import os
import subprocess

from wsf_fixtures import PYTHON, SERVERS_DIR, SOURCE_DIR, _Peer

WSFLEET = os.path.join(SOURCE_DIR, "daemon", "cli", "wsfleet")


class VerdictPeer(_Peer):
    def __init__(self, behaviour, **opts):
        super().__init__([PYTHON, os.path.join(SERVERS_DIR, "verdict_peers.py"), "--behaviour", behaviour]
                         + self.flags((), opts))


def report_json(path, *args, rc=(0,)):
    """`wsfleet report PATH --json ARGS...` parsed; asserts the exit status is one of rc."""
    r = subprocess.run([PYTHON, WSFLEET, "report", str(path), "--json"] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode in rc, (r.returncode, r.stderr)
    return json.loads(r.stdout)


def groups_by_code(summary):
    return {g["code"]: g for g in summary["groups"]}
