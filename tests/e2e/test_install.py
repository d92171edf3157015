"""wsfleet as installed software, used from outside the source tree with a clean environment:
    - `meson install --destdir` gives a prefix whose `wsfleet repro` finds the installed wsfleetd
      and mock gateway (wsfleet-mockgw) beside it and reproduces the drop (phases A and B,
      time-scaled: about 30 s at the default scale of 0.1);
    - the same launcher without the programs beside it says what it could not find;
    - `pip install daemon/cli` in a venv gives a `wsfleet` console command that talks to a daemon.
Nothing here may import from the source tree: the environment has no PYTHONPATH, no WSF_* and a
PATH without the build, and the programs run in a scratch directory."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from wsf_fixtures import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("WSF_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
SCALE = os.environ.get("WSF_REPRO_SCALE", "0.1")
SYSTEM_PYTHON = "/usr/bin/python3"


def clean_env(home):
    """What a user's shell would have: no path into the source or build tree. Sanitizer settings
    pass through, since an ASan build installs ASan binaries."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def project_version():
    with open(os.path.join(SOURCE_DIR, "meson.build"), encoding="utf-8") as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """`meson install --destdir` of this build; returns the staged prefix's bin/."""
    meson = shutil.which("meson")
    if not meson:
        pytest.skip("meson is not on PATH")
    stage = tmp_path_factory.mktemp("stage")
    r = subprocess.run([meson, "install", "-C", BUILD_DIR, "--no-rebuild", "--destdir", str(stage)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    launchers = glob.glob(os.path.join(str(stage), "**", "bin", "wsfleet"), recursive=True)
    assert len(launchers) == 1, launchers
    return os.path.dirname(launchers[0])


def test_meson_install_puts_the_cli_the_daemon_and_the_mock_gateway_in_one_bin(staged):
    for name in ("wsfleet", "wsfleetd", "wsfleet-mockgw"):
        assert os.access(os.path.join(staged, name), os.X_OK), name
    pkg = os.path.join(os.path.dirname(staged), "share", "wsfleet", "wsfleet_tools")
    for module in ("cli", "client", "report", "repro", "programs"):
        assert os.path.isfile(os.path.join(pkg, module + ".py")), module


def test_installed_repro_runs_outside_the_source_tree(staged, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run([os.path.join(staged, "wsfleet"), "repro", "--json", "--phases", "A,B",
                        "--time-scale", SCALE],
                       cwd=str(work), env=clean_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert r.stdout.strip(), "no output; stderr:\n" + r.stderr[-4000:]
    res = json.loads(r.stdout)
    # The programs it ran are the installed ones, found beside the launcher.
    assert res["programs"] == {"wsfleetd": os.path.join(staged, "wsfleetd"),
                               "mockgw": os.path.join(staged, "wsfleet-mockgw")}
    phases = {p["name"]: p for p in res["phases"]}
    assert r.returncode == 0 and res["ok"] is True, [p["check"] for p in phases.values()]
    assert phases["A"]["opened"] == 150 and phases["A"]["drops"] == 0
    assert phases["B"]["drops"] > 0 and all(d["code"] == 1006 for d in phases["B"]["drop_list"])
    assert any("under load" in v for v in res["verdict_ab"])


def test_installed_repro_without_the_programs_says_what_it_cannot_find(staged, tmp_path):
    prefix = tmp_path / "cli-only"
    shutil.copytree(os.path.dirname(staged), str(prefix), symlinks=True)
    for name in ("wsfleetd", "wsfleet-mockgw"):
        os.unlink(str(prefix / "bin" / name))
    r = subprocess.run([str(prefix / "bin" / "wsfleet"), "repro", "--json"], cwd=str(tmp_path),
                       env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and not r.stdout, (r.returncode, r.stdout, r.stderr)
    assert "cannot find wsfleet-mockgw" in r.stderr and "meson install" in r.stderr, r.stderr


def test_a_wrong_program_setting_is_reported_not_bypassed(staged, tmp_path):
    """$WSF_MOCKGW names the gateway to use: when nothing is there, repro says so rather than
    quietly running the installed one beside it."""
    env = dict(clean_env(tmp_path), WSF_MOCKGW=str(tmp_path / "no-such-gateway"))
    r = subprocess.run([os.path.join(staged, "wsfleet"), "repro", "--json"], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and not r.stdout, (r.returncode, r.stdout, r.stderr)
    assert "no-such-gateway is not executable" in r.stderr, r.stderr


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv (with the system's msgpack, setuptools and wheel) into which `pip install` put a copy of
    daemon/cli, offline. The copy keeps pip's build files out of the source tree."""
    base = tmp_path_factory.mktemp("pip")
    if subprocess.run([SYSTEM_PYTHON, "-c", "import ensurepip, setuptools, wheel, msgpack"],
                      capture_output=True).returncode != 0:
        pytest.skip("needs python3-venv, python3-setuptools, python3-wheel, python3-msgpack (.ci/install-deps --test)")
    src = base / "src"
    shutil.copytree(os.path.join(SOURCE_DIR, "daemon", "cli"), str(src),
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    env = clean_env(base)
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(base / "venv")],
                   check=True, env=env, timeout=120)
    py = str(base / "venv" / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--quiet", str(src)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return base / "venv"


def test_pip_install_gives_the_package_with_the_project_version(venv, tmp_path):
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import importlib.metadata as m, wsfleet_tools as w; print(w.__file__); print(m.version('wsfleet'))"],
                       cwd=str(tmp_path), env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    where, version = r.stdout.split()
    assert where.startswith(str(venv)), where
    assert version == project_version()


def test_pip_installed_console_command_talks_to_a_daemon(venv, tmp_path):
    wsfleet = str(venv / "bin" / "wsfleet")
    r = subprocess.run([wsfleet, "--help"], cwd=str(tmp_path), env=clean_env(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "repro" in r.stdout, r.stderr
    with Daemon() as d:
        r = subprocess.run([wsfleet, "--socket", d.socket, "stats"], cwd=str(tmp_path), env=clean_env(tmp_path),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "open" in json.loads(r.stdout)
        r = subprocess.run([wsfleet, "--socket", d.socket, "status", "nobody"], cwd=str(tmp_path),
                           env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "no_such_conn" in r.stderr, (r.returncode, r.stderr)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
