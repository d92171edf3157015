"""Runs real JMeter 5.6.3 (non-GUI) on plans and reads what it wrote, for the e2e tests.

JMeter is assembled from Maven Central by fetch-jmeter.sh (cached under tests/e2e/.jmeter/); the
wsfleet sampler jar is rebuilt into its lib/ext when the plugin's sources changed. Set
WSF_JMETER_HOME to use another JMeter home (with wsfleet-jmeter.jar in lib/ext).
"""

import csv
import json
import os
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", "..", ".."))
BUILD_DIR = os.environ.get("WSF_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
EXAMPLES = os.path.join(SOURCE_DIR, "jmeter-plugin-stub", "examples")


def jmeter_home():
    home = os.environ.get("WSF_JMETER_HOME")
    if home:
        return home
    out = subprocess.run([os.path.join(HERE, "fetch-jmeter.sh")], check=True, stdout=subprocess.PIPE,
                         timeout=900)
    return out.stdout.decode().strip().splitlines()[-1]


class Run:
    """One finished JMeter run: the JTL rows (CSV or XML) and JMeter's log."""

    def __init__(self, jtl, log, returncode, seconds, output):
        self.jtl = jtl
        self.log_path = log
        self.returncode = returncode
        self.seconds = seconds
        self.output = output
        self.rows = read_jtl(jtl) if os.path.exists(jtl) else []

    def by_label(self, label):
        return [r for r in self.rows if r["label"] == label]

    def failures(self, label=None):
        return [r for r in self.rows if r["success"] != "true" and (label is None or r["label"] == label)]

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def describe(self):
        counts = {}
        for r in self.rows:
            key = (r["label"], r["success"], r["responseCode"])
            counts[key] = counts.get(key, 0) + 1
        return "\n".join("%-18s success=%-5s code=%-14s x%d" % (k + (v,)) for k, v in sorted(counts.items()))


def read_jtl(path):
    """Rows as dicts with the CSV column names, whichever format JMeter wrote."""
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    if head.startswith(b"<?xml") or head.startswith(b"<testResults"):
        rows = []
        for s in ET.parse(path).getroot():
            rd = s.find("responseData")
            rows.append({
                "timeStamp": s.get("ts"), "elapsed": s.get("t"), "label": s.get("lb"),
                "responseCode": s.get("rc"), "responseMessage": s.get("rm"), "threadName": s.get("tn"),
                "success": s.get("s"), "bytes": s.get("by"), "sentBytes": s.get("sby"),
                "Latency": s.get("lt"), "Connect": s.get("ct"), "dataType": s.get("dt"),
                "responseData": rd.text if rd is not None else None, "xml": s,
            })
        return rows
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def jmeter_command(plan, workdir, props, name="run", xml=False, home=None, jmeter_args=()):
    """The non-GUI JMeter command for `plan` with -J properties and further JMeter options
    (e.g. -H/-P); returns (cmd, jtl, log)."""
    home = home or jmeter_home()
    jtl = os.path.join(workdir, name + (".xml" if xml else ".jtl"))
    log = os.path.join(workdir, name + ".log")
    cmd = ["java", "-jar", os.path.join(home, "bin", "ApacheJMeter.jar"), "-n", "-t", plan, "-l", jtl, "-j", log]
    if xml:
        props = dict(props, **{"jmeter.save.saveservice.output_format": "xml",
                               "jmeter.save.saveservice.response_data": "true",
                               "jmeter.save.saveservice.samplerData": "true",
                               "jmeter.save.saveservice.responseHeaders": "true"})
    cmd += ["-J%s=%s" % (k, v) for k, v in props.items()]
    cmd += list(jmeter_args)
    return cmd, jtl, log


def start_plan(plan, workdir, props, name="run", home=None):
    """Starts JMeter on `plan` in its own session and returns the Popen (output to name.out)."""
    cmd, _, _ = jmeter_command(plan, workdir, props, name=name, home=home)
    out = open(os.path.join(workdir, name + ".out"), "wb")
    try:
        return subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        out.close()


def run_plan(plan, workdir, props, name="run", timeout=300, xml=False, home=None, jmeter_args=()):
    """Runs `plan` in non-GUI mode with -J properties; returns a Run (never raises on JMeter errors)."""
    cmd, jtl, log = jmeter_command(plan, workdir, props, name=name, xml=xml, home=home, jmeter_args=jmeter_args)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError("JMeter ran past %ss:\n%s" % (timeout, out.decode(errors="replace")[-3000:]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return Run(jtl, log, proc.returncode, time.monotonic() - t0, out.decode(errors="replace"))


def generate_dashboard(jtl, outdir, home=None):
    """`jmeter -g JTL -o DIR`: JMeter's HTML report; returns statistics.json as a dict."""
    home = home or jmeter_home()
    subprocess.run(["java", "-jar", os.path.join(home, "bin", "ApacheJMeter.jar"), "-g", jtl, "-o", outdir,
                    "-j", outdir + ".log"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, timeout=300)
    with open(os.path.join(outdir, "statistics.json")) as f:
        return json.load(f)


class MockGateway:
    """build/tests/mockgw/mockgw on an ephemeral loopback port; `stats` is its exit dump."""

    def __init__(self, *args):
        self.args = [str(a) for a in args]
        self.binary = os.path.join(BUILD_DIR, "tests", "mockgw", "mockgw")
        self.stats = None
        self.lines = []

    def __enter__(self):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("mockgw not built at %s (ninja -C build)" % self.binary)
        self.proc = subprocess.Popen([self.binary, "--host", "127.0.0.1", "--port", "0"] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        first = self.proc.stdout.readline().decode()
        if not first.startswith("listening "):
            self.proc.kill()
            raise RuntimeError("mockgw did not start: %r %s" % (first, self.proc.stdout.read().decode()))
        self.port = int(first.split()[1])
        self.url = "ws://127.0.0.1:%d/" % self.port
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    def stop(self):
        """SIGTERM; returns the stats it prints at exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        for line in reversed(self.lines):
            if line.startswith("{") and '"stats"' in line:
                self.stats = json.loads(line)
                break
        return self.stats

    def __exit__(self, *exc):
        self.stop()
