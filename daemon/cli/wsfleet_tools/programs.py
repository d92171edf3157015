"""Where the programs wsfleet starts live: wsfleetd and the mock gateway (tests/mockgw).

One lookup for every caller (`wsfleet repro`, the Python tests' mockgw_runner), in this order:
    1. the environment: $WSFLEETD, $WSF_MOCKGW (meson sets both for the tests); when set, it is
       the answer even if nothing is there, so a wrong setting is reported rather than bypassed
    2. a build tree: $WSF_BUILD_DIR, else build/ of the source tree this package sits in
       (daemon/wsfleetd, tests/mockgw/mockgw)
    3. an installed prefix: beside the running `wsfleet` (meson installs wsfleetd and the gateway,
       as wsfleet-mockgw, into the same bin/ as the launcher)
    4. $PATH (wsfleetd, wsfleet-mockgw), e.g. after `pip install ./daemon/cli` in a venv
An explicit path (repro's --daemon, --mockgw) comes before all of them.
"""

import os
import shutil
import sys

# program -> (environment variable, path in a build tree, installed name)
PROGRAMS = {
    "wsfleetd": ("WSFLEETD", os.path.join("daemon", "wsfleetd"), "wsfleetd"),
    "mockgw": ("WSF_MOCKGW", os.path.join("tests", "mockgw", "mockgw"), "wsfleet-mockgw"),
}


def source_dir():
    """The source tree this package sits in (daemon/cli/wsfleet_tools), or None when installed."""
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    if os.path.isfile(os.path.join(root, "meson.build")) and os.path.isdir(os.path.join(root, "daemon", "cli")):
        return root
    return None


def build_dirs():
    out = []
    if os.environ.get("WSF_BUILD_DIR"):
        out.append(os.environ["WSF_BUILD_DIR"])
    src = source_dir()
    if src:
        out.append(os.path.join(src, "build"))
    return out


def _executable(path):
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def candidates(program):
    """The places looked at for `program` ("wsfleetd" or "mockgw") after the environment, in order."""
    env_name, build_rel, installed = PROGRAMS[program]
    out = [os.path.join(b, build_rel) for b in build_dirs()]
    if sys.argv and sys.argv[0]:
        out.append(os.path.join(os.path.dirname(os.path.realpath(sys.argv[0])), installed))
    on_path = shutil.which(installed)
    if on_path:
        out.append(on_path)
    return out


def find(program, explicit=None):
    """The path of `program`, or None. An explicit path or the environment's is returned as given
    (the caller checks it is executable)."""
    if explicit:
        return explicit
    env_name = PROGRAMS[program][0]
    if os.environ.get(env_name):
        return os.environ[env_name]
    for p in candidates(program):
        if _executable(p):
            return os.path.abspath(p)
    return None


def not_found(program):
    """Words for a failed lookup: what was looked for and how to fix it."""
    env_name, build_rel, installed = PROGRAMS[program]
    return ("cannot find %s (looked at $%s, build/%s, %s beside wsfleet and on PATH); build it (ninja -C build), "
            "install it (meson install), or pass its path" % (installed, env_name, build_rel, installed))
