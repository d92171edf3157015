"""The example CI pipelines kept in jmeter-plugin-stub/ci/, run as a user's CI would run them,
against the mock gateway through the real daemon:

- maven/: jmeter-maven-plugin 3.8.0 under Maven 3.9 (from Maven Central), the wsfleet jar taken by
  its coordinates after `mvn install`; passes on a clean run, fails on its drop gate when the
  gateway drops idle sessions (TCP FIN -> 1006), and fails on its error-rate gate when samples fail
  for other reasons.
- taurus/: the same plan under bzt (PyPI, in a virtualenv), whose pass/fail criteria fail the run
  on any 1006.
- the JMeter Plugins Manager descriptor names this jar, version and class list.

Every run is bounded: 2 threads x 2 loops, sub-second think times, scaled gateway timeouts."""

import csv
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from jmeter_harness import HERE, SOURCE_DIR, MockGateway
from wsf_fixtures import Daemon

STUB = os.path.join(SOURCE_DIR, "jmeter-plugin-stub")
CI = os.path.join(STUB, "ci")
JAVA_SAMPLER_SERVICE = "org.apache.jmeter.protocol.java.sampler.JavaSamplerClient"
BZT_VENV = os.path.join(SOURCE_DIR, "tests", "e2e", ".jmeter", "bzt-venv")

# Sessions kept alive by daemon pings every 100 ms survive a gateway that drops after 400 ms of
# silence; with no keepalive and 600 ms of think time before each ping, every ping finds its
# session dropped (1006).
GATEWAY = ("--idle-timeout", "400ms", "--drop", "fin")
CLEAN = {"keepalive": "ping", "keepalive_ms": "100", "think_ms": "600"}
DROPS = {"keepalive": "none", "think_ms": "600"}


def maven39():
    out = subprocess.run([os.path.join(HERE, "fetch-maven.sh")], check=True, stdout=subprocess.PIPE, timeout=600)
    return out.stdout.decode().strip().splitlines()[-1]


@pytest.fixture(scope="module")
def installed_jar():
    """`mvn install` of the stub with Maven 3.9: the jar by coordinates, its pom without msgpack."""
    mvn = maven39()
    subprocess.run([mvn, "-B", "-q", "-f", os.path.join(STUB, "pom.xml"), "install", "-DskipTests"],
                   check=True, stdin=subprocess.DEVNULL, timeout=900)
    repo = subprocess.run([mvn, "-B", "-q", "help:evaluate", "-Dexpression=settings.localRepository", "-DforceStdout",
                           "-f", os.path.join(STUB, "pom.xml")], check=True, stdout=subprocess.PIPE,
                          timeout=300).stdout.decode().strip()
    pom = os.path.join(repo, "wsfleet", "wsfleet-jmeter", "0.1.0", "wsfleet-jmeter-0.1.0.pom")
    with open(pom) as f:
        text = f.read()
    deps = re.findall(r"<dependency>.*?</dependency>", text, re.S)
    assert deps and not [d for d in deps if "msgpack" in d], deps  # shaded: not a dependency
    assert all("<scope>provided</scope>" in d or "<scope>test</scope>" in d for d in deps), deps
    return mvn


def run_maven_pipeline(mvn, workdir, daemon, gw, props):
    proj = os.path.join(str(workdir), "maven")
    shutil.copytree(os.path.join(CI, "maven"), proj)
    cmd = [mvn, "-B", "-f", os.path.join(proj, "pom.xml"), "verify", "-Durl=" + gw.url,
           "-Ddaemon_socket=" + daemon.socket, "-Dthreads=2", "-Dloops=2"]
    cmd += ["-D%s=%s" % kv for kv in props.items()]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=900)
    out = proc.stdout.decode(errors="replace")
    rows = []
    for jtl in glob.glob(os.path.join(proj, "target", "jmeter", "results", "*.csv")):
        with open(jtl, newline="") as f:
            rows += list(csv.DictReader(f))
    return proc.returncode, out, rows, proj


def test_maven_pipeline_passes_a_clean_run(installed_jar, tmp_path):
    with Daemon() as d, MockGateway(*GATEWAY) as gw:
        rc, out, rows, proj = run_maven_pipeline(installed_jar, tmp_path, d, gw, CLEAN)
    assert rc == 0, out[-5000:]
    assert "BUILD SUCCESS" in out
    assert len(rows) == 2 * 2 * 3 + 1 and all(r["success"] == "true" for r in rows), rows
    # the jar came by its coordinates, alone: msgpack is inside it, not beside it
    # (the plugin assembles JMeter under target/<uuid>/jmeter)
    libs = [os.path.basename(p) for p in glob.glob(os.path.join(proj, "target", "**", "lib", "**", "*.jar"),
                                                   recursive=True)]
    assert "wsfleet-jmeter-0.1.0.jar" in libs, libs
    assert not [j for j in libs if "msgpack" in j], libs
    # JMeter found the Java Request classes through META-INF/services and skipped scanning the jar
    # (without the manifest entry it logs "Consider exposing JMeter plugins via META-INF/services")
    with open(glob.glob(os.path.join(proj, "target", "jmeter", "logs", "*.log"))[0]) as f:
        log = f.read()
    assert not [line for line in log.splitlines() if "Consider exposing" in line and "wsfleet" in line]


def test_maven_pipeline_fails_on_drops(installed_jar, tmp_path):
    with Daemon() as d, MockGateway(*GATEWAY) as gw:
        # a lenient error rate, so that the drop gate alone fails the build
        rc, out, rows, _ = run_maven_pipeline(installed_jar, tmp_path, d, gw, dict(DROPS, max_error_percent="100"))
    drops = [r for r in rows if r["responseCode"] == "1006"]
    assert len(drops) == 4 and all(r["failureMessage"] == "wsfleet drop" for r in drops), rows
    assert rc != 0 and "BUILD FAILURE" in out, out[-5000:]
    assert "drops" in out[out.index("BUILD FAILURE"):], out[-3000:]  # the failing execution is the drop gate


def test_maven_pipeline_fails_on_its_error_rate(installed_jar, tmp_path):
    with Daemon() as d, MockGateway(*GATEWAY) as gw:
        # drops are not gated here (no code counts as one): only the error rate can fail the build
        rc, out, rows, _ = run_maven_pipeline(installed_jar, tmp_path, d, gw,
                                              dict(DROPS, drop_codes="none", max_error_percent="10"))
    assert [r for r in rows if r["responseCode"] == "1006"], rows
    assert not [r for r in rows if r["failureMessage"] == "wsfleet drop"], rows
    assert rc != 0 and "BUILD FAILURE" in out, out[-5000:]
    assert "error-rate" in out[out.index("BUILD FAILURE"):], out[-3000:]


def bzt():
    exe = os.path.join(BZT_VENV, "bin", "bzt")
    assert os.access(exe, os.X_OK), "bzt missing at %s (.ci/install-deps --test makes that virtualenv)" % exe
    return exe


def run_taurus_pipeline(jmeter, workdir, daemon, gw, props):
    """bzt on a copy of ci/ (the YAML finds the plan by a relative path), with JMeter = our home."""
    work = str(workdir)
    shutil.copytree(CI, os.path.join(work, "ci"))
    # bzt runs bin/jmeter; the assembled home has only the launcher jar (wsfleet jar in lib/ext)
    launcher = os.path.join(work, "jmeter")
    with open(launcher, "w") as f:
        f.write('#!/bin/sh\nexec java -jar "%s" "$@"\n' % os.path.join(jmeter, "bin", "ApacheJMeter.jar"))
    os.chmod(launcher, 0o755)
    cmd = [bzt(), os.path.join(work, "ci", "taurus", "wsfleet.yml"), "-o", "modules.jmeter.path=" + launcher,
           "-o", "settings.artifacts-dir=" + os.path.join(work, "artifacts"),
           "-o", "scenarios.wsfleet.properties.url=" + gw.url,
           "-o", "scenarios.wsfleet.properties.daemon_socket=" + daemon.socket,
           "-o", "scenarios.wsfleet.properties.threads=2", "-o", "scenarios.wsfleet.properties.loops=2"]
    for kv in props.items():
        cmd += ["-o", "scenarios.wsfleet.properties.%s=%s" % kv]
    env = dict(os.environ, HOME=work)  # bzt keeps its state in ~/.bzt and ~/.bzt-rc
    proc = subprocess.run(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=600)
    out = proc.stdout.decode(errors="replace")
    rows = []
    for jtl in glob.glob(os.path.join(work, "artifacts", "kpi.jtl")):
        with open(jtl, newline="") as f:
            rows += list(csv.DictReader(f))
    return proc.returncode, out, rows


def test_taurus_pipeline_passes_a_clean_run(jmeter, tmp_path):
    with Daemon() as d, MockGateway(*GATEWAY) as gw:
        rc, out, rows = run_taurus_pipeline(jmeter, tmp_path, d, gw, CLEAN)
    assert rc == 0, out[-5000:]
    assert len(rows) == 2 * 2 * 3 + 1 and all(r["success"] == "true" for r in rows), rows


def test_taurus_pipeline_fails_on_1006(jmeter, tmp_path):
    with Daemon() as d, MockGateway(*GATEWAY) as gw:
        # drops are not asserted in the plan here: the YAML's criterion on rc1006 alone fails the run
        rc, out, rows = run_taurus_pipeline(jmeter, tmp_path, d, gw, dict(DROPS, drop_codes="none"))
    assert len([r for r in rows if r["responseCode"] == "1006"]) == 4, rows
    assert rc == 3, out[-5000:]  # bzt's exit status for failed criteria
    assert "wsfleet drop (1006" in out, out[-5000:]


def test_plugins_manager_descriptor_describes_the_installed_jar(installed_jar):
    """The JMeter Plugins Manager descriptor: one plugin whose version is the pom's, whose download is
    the jar Maven builds, and whose marker and component classes are the ones in that jar (the
    Add-menu elements, and the Java Request classes its META-INF/services lists)."""
    import zipfile
    with open(os.path.join(CI, "jmeter-plugins-manager.json")) as f:
        repo = json.load(f)
    assert isinstance(repo, list) and len(repo) == 1
    plugin = repo[0]
    for key in ("id", "name", "description", "vendor", "markerClass", "componentClasses", "versions"):
        assert plugin.get(key), key
    with open(os.path.join(STUB, "pom.xml")) as f:
        version = re.search(r"<artifactId>wsfleet-jmeter</artifactId>\s*<version>([^<]+)</version>", f.read()).group(1)
    assert list(plugin["versions"]) == [version]
    release = plugin["versions"][version]
    jar_name = "wsfleet-jmeter-%s.jar" % version
    assert release["downloadUrl"].endswith("/" + jar_name) and release["libs"] == {}  # msgpack is inside
    with zipfile.ZipFile(os.path.join(STUB, "target", jar_name)) as jar:
        names = set(jar.namelist())
        services = jar.read("META-INF/services/" + JAVA_SAMPLER_SERVICE).decode().split()
        manifest = jar.read("META-INF/MANIFEST.MF").decode()
    assert "JMeter-Skip-Class-Scanning: true" in manifest
    classes = {n[:-len(".class")].replace("/", ".") for n in names if n.endswith(".class")}
    assert plugin["markerClass"] in classes
    assert set(plugin["componentClasses"]) <= classes, set(plugin["componentClasses"]) - classes
    gui = {c for c in classes if c + "BeanInfo" in classes}  # the Add-menu elements: TestBeans with a form
    assert set(plugin["componentClasses"]) == gui | set(services)
    assert len(gui) == 10 and len(services) == 9
