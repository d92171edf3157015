"""The wsfleet test elements (Add -> Sampler / Config Element) in JMeter 5.6.3's own GUI classes on
a virtual display, then the plan built through their forms in non-GUI JMeter against the mock
gateway.

Step 1 runs GuiRoundTripTest (jmeter-plugin-stub/src/test/java/wsfleet/jmeter/gui) under Xvfb:
every form is made by TestBeanGUI with its labels, gives back what it shows, the elements are in
the Add menu, one form is photographed, and a plan built through the forms is saved by
SaveService. Step 2 runs that .jmx: the wsfleet Defaults in it says where the daemon is (no
-Jwsfleet.socket is given), supplies the gateway URL to an Open whose URL is empty, and sets the
daemon's text heartbeat. Its wsfleet Drop Monitor thread group records, as one failed sample each,
the drops of connections no sampler touches again; an Open whose Reuse live connection was saved
as a boolean (as a checkbox saved it) still reuses."""

import json
import os
import shutil
import subprocess

from jmeter_harness import SOURCE_DIR, MockGateway, run_plan
from wsf_fixtures import Daemon

POM = os.path.join(SOURCE_DIR, "jmeter-plugin-stub", "pom.xml")


def build_plan_in_the_gui(home, out):
    assert shutil.which("xvfb-run"), "xvfb-run missing (.ci/install-deps --test installs xvfb)"
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24",
           "mvn", "-B", "-q", "-f", POM, "test", "-Dtest=GuiRoundTripTest", "-Dsurefire.failIfNoSpecifiedTests=false",
           "-Dwsfleet.jmeter_home=" + home, "-Dwsfleet.gui_out=" + out]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=600)
    report = os.path.join(SOURCE_DIR, "jmeter-plugin-stub", "target", "surefire-reports",
                          "wsfleet.jmeter.gui.GuiRoundTripTest.txt")
    summary = open(report).read() if os.path.exists(report) else ""
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-4000:]
    assert "Tests run: 5, Failures: 0, Errors: 0, Skipped: 0" in summary, summary
    return os.path.join(out, "gui-built.jmx")


def test_gui_built_plan_runs_in_non_gui_jmeter(jmeter, tmp_path):
    out = str(tmp_path / "gui")
    jmx = build_plan_in_the_gui(jmeter, out)
    png = os.path.join(out, "wsfleet-open.png")
    assert os.path.getsize(png) > 10_000  # the photographed form (kept with the test's files)

    # "reopen" as a plan saved while Reuse live connection was a checkbox: a boolProp
    with open(jmx) as f:
        text = f.read()
    tag = 'testname="reopen"'
    assert text.count(tag) == 1 and '<boolProp name="reuse">' not in text
    start = text.rindex("<", 0, text.index(tag))
    end = text.index(">", start) + 1
    element = text[start + 1:text.index(" ", start)]
    prop = '<boolProp name="reuse">true</boolProp>'
    if text[end - 2] == "/":  # no field saved: <X .../> becomes <X ...>prop</X>
        text = text[:end - 2] + ">" + prop + "</" + element + ">" + text[end:]
    else:
        text = text[:end] + prop + text[end:]
    with open(jmx, "w") as f:
        f.write(text)

    threads = 3
    with Daemon() as d, MockGateway("--agent-delay", "1s") as gw, \
            MockGateway("--max-age", "300ms", "--drop", "fin") as doomed:
        run = run_plan(jmx, str(tmp_path), {"daemon_socket": d.socket, "url": gw.url, "threads": threads,
                                            "heartbeat_ms": 200, "doomed_url": doomed.url}, xml=True, home=jmeter)
        opens = d.events("open")
        gwstats = gw.stop()
    assert run.returncode == 0, run.output
    drops = run.by_label("wsfleet drops")
    assert not [r for r in run.failures() if r not in drops], run.describe() + "\n" + repr(run.failures()[:3])
    # nothing went wrong quietly either (e.g. TestBeanHelper failing to set a field logs an ERROR)
    assert not [line for line in run.log().splitlines() if " ERROR " in line], run.log()[-3000:]
    labels = ["doomed", "open", "reopen", "configureSession", "ask", "agent reply", "ping", "status", "close"]
    for label in labels:
        assert len(run.by_label(label)) == threads, run.describe()
    assert len(run.by_label("reset")) == 1, run.describe()
    assert len(run.rows) == threads * len(labels) + 1 + threads, run.describe()

    # every doomed connection dropped while no sampler used it: one Drop Monitor sample each, with
    # the close code and the stable message (one dashboard error row), from the monitor's thread
    assert len(drops) == threads, run.describe()
    assert {r["responseCode"] for r in drops} == {"1006"}, drops
    assert {r["responseMessage"] for r in drops} == {"1006 eof: dropped by peer (TCP FIN, no close frame)"}, drops
    assert {json.loads(r["responseData"])["conn"] for r in drops} == \
        {r["threadName"] + " doomed" for r in run.by_label("doomed")}, drops
    assert {r["threadName"] for r in drops} == {"wsfleet drop monitor 1-1"}, drops
    # the boolean-saved reuse reused the thread's live connection
    for r in run.by_label("reopen"):
        assert r["responseMessage"].startswith("reused live connection"), r

    # the Open had no URL and no keepalive of its own: both came from the Defaults
    for r in run.by_label("open"):
        assert r["responseCode"] == "101" and r["responseMessage"].startswith("Switching Protocols"), r
    for r in run.by_label("configureSession"):
        assert '"class":"SessionResponse"' in r["responseData"], r["responseData"]
    for r in run.by_label("agent reply"):
        n = r["threadName"].rsplit("-", 1)[1]
        assert "agent reply to: hi from %s" % n in r["responseData"], r["responseData"]
    for r in run.by_label("status"):
        status = json.loads(r["responseData"])
        assert status["state"] == "open", status
        assert status["url"] == gw.url, status
        assert status["keepalive"]["mode"] == "text" and status["keepalive"]["interval_ms"] == 200, status
    for r in run.by_label("close"):
        assert r["responseCode"] == "1000", r
    # Every connection was made through the daemon the Defaults named (its event log has them all).
    assert sorted(e["url"] for e in opens) == sorted([gw.url] * threads + [doomed.url] * threads), opens
    reset = run.by_label("reset")[0]
    assert json.loads(reset["responseData"])["forgotten"] == 2 * threads, reset
    assert gwstats["handshakes"] == threads, gwstats
    # The heartbeat was the daemon's, on the Defaults' clock: more messages reached the gateway than
    # the plan sent (2 per thread), and none of the echo answers reached a Receive.
    assert gwstats["msgs_in"] > 2 * threads, gwstats
