"""pytest setup for the real-JMeter e2e tests: import paths and the JMeter home (fetched once)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
for p in (HERE, os.path.join(SOURCE_DIR, "tests", "lib"), os.path.join(SOURCE_DIR, "daemon", "cli")):
    if p not in sys.path:
        sys.path.insert(0, p)

import pytest  # noqa: E402

import jmeter_harness  # noqa: E402


@pytest.fixture(scope="session")
def jmeter():
    """The JMeter home, with the current wsfleet jar in lib/ext."""
    return jmeter_harness.jmeter_home()
