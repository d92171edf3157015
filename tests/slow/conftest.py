"""pytest options for the slow suite: `pytest tests/slow --minutes 10` runs the soak longer."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
for p in (os.path.join(SOURCE_DIR, "tests", "lib"), os.path.join(SOURCE_DIR, "daemon", "cli"),
          os.path.join(SOURCE_DIR, "tests", "mockgw")):
    if p not in sys.path:
        sys.path.insert(0, p)


def pytest_addoption(parser):
    g = parser.getgroup("wsfleet soak")
    g.addoption("--minutes", type=float, default=2.5, help="churn duration (default 2.5)")
    g.addoption("--hold", type=int, default=5000, help="connections kept open (default 5000)")
    g.addoption("--rate", type=int, default=500, help="opens and closes per second, each (default 500)")
