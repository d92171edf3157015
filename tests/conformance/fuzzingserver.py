# Python 2: runs in the Autobahn|Testsuite virtualenv that .ci/install-deps makes
# (~/.cache/wsfleet/autobahn-venv), not in the project's Python 3.
"""Autobahn|Testsuite fuzzingserver bound to 127.0.0.1 only, with no web port.

    fuzzingserver.py SPEC.json

`wstest -m fuzzingserver` listens on every interface (autobahn's listenWS binds '' by default) and
starts a web server on 8080; this starts the same FuzzingServerFactory on loopback alone. The spec's
url may name port 0: the kernel picks a free port, and the line `READY <port>` on stdout says which
(the Host header check is skipped then, as autobahn does for a factory without a port).
"""
import json
import sys

from autobahntestsuite import choosereactor  # noqa: F401  (installs the epoll reactor: must come first)
from twisted.internet import reactor  # noqa: E402
from autobahn.twisted.websocket import listenWS  # noqa: E402
from autobahntestsuite import fuzzing  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    factory = fuzzing.FuzzingServerFactory(spec)
    port = listenWS(factory, interface="127.0.0.1").getHost().port
    print("READY %d" % port)
    sys.stdout.flush()
    reactor.run()


if __name__ == "__main__":
    main()
