"""The protocol peers of tests/lib/servers/proto_peer.py as test fixtures."""

import json
import os
import tempfile

from wsf_fixtures import PYTHON, SERVERS_DIR, _Peer


class ProtoServer(_Peer):
    """proto_peer.py in one mode; script=[{"on": regex, "send": [...]}] is written to a file for it."""

    def __init__(self, mode="script", *args, script=None, **opts):
        self._script_file = None
        if script is not None:
            fd, self._script_file = tempfile.mkstemp(suffix=".json", prefix="proto_script_")
            with os.fdopen(fd, "w") as f:
                json.dump(script, f)
            opts["script"] = self._script_file
        super().__init__([PYTHON, os.path.join(SERVERS_DIR, "proto_peer.py"), "--mode", mode]
                         + self.flags(args, opts))

    def __exit__(self, *exc):
        super().__exit__(*exc)
        if self._script_file:
            os.unlink(self._script_file)
