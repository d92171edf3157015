"""`wsfleet repro --json`, time-scaled: the 150-vs-155 reproduction behaves as the model predicts,
seen through the daemon's close records (PROTOCOL.md section 7) that the repro reads from its
event log. About 70 s at the default scale of 0.1."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("WSF_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SCALE = float(os.environ.get("WSF_REPRO_SCALE", "0.1"))


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    r = subprocess.run([PYTHON, os.path.join(SOURCE_DIR, "daemon", "cli", "wsfleet"), "repro", "--json",
                        "--time-scale", str(SCALE), "--html", str(out / "repro.html")],
                       capture_output=True, text=True, timeout=600)
    assert r.stdout.strip(), "no output; stderr:\n" + r.stderr[-4000:]
    res = json.loads(r.stdout)
    res["returncode"] = r.returncode
    res["phases"] = {p["name"]: p for p in res["phases"]}
    res["html_path"] = out / "repro.html"
    return res


def test_repro_reports_success_when_every_phase_matches_the_model(repro):
    assert repro["returncode"] == 0 and repro["ok"] is True, [p["check"] for p in repro["phases"].values()]
    assert list(repro["phases"]) == ["A", "B", "C", "D1", "D2"]


def test_150_thread_driven_sessions_are_not_dropped(repro):
    a = repro["phases"]["A"]
    assert a["sessions"] == 150 and a["opened"] == 150 and a["drops"] == 0
    # Their quiet spells were longer than the overload timeout, and harmless below the threshold.
    assert a["driver"]["max_quiet_survived_s"] > repro["options"]["overload_idle_timeout"]


def test_155_thread_driven_sessions_drop_with_1006_after_the_overload_timeout(repro):
    b = repro["phases"]["B"]
    opts = repro["options"]
    assert b["drops"] > 0 and len(b["drop_list"]) == b["drops"]
    for d in b["drop_list"]:
        assert d["code"] == 1006 and d["cause"] in ("eof", "reset"), d
        # since_sent_real_s is the daemon's own clock, not rescaled
        assert d["since_sent_real_s"] >= opts["overload_idle_timeout"] * SCALE, d
        assert d["open_conns"] > opts["overload_above"], d
    assert b["gateway"]["drops"]["idle_overload"] == b["drops"]
    assert b["gateway"]["drops"]["idle"] == 0
    assert any("under load" in v for v in repro["verdict_ab"])
    assert repro["verdict_codes_ab"] == ["idle_timeout_under_load"]


def test_daemon_ping_keepalive_prevents_the_drops(repro):
    c = repro["phases"]["C"]
    assert c["sessions"] == 155 and c["keepalive"] == "ping"
    assert c["opened"] == 155 and c["drops"] == 0
    assert c["gateway"]["overload_engaged"] >= 1  # the short timeout was in force all along


def test_with_data_only_activity_pings_do_not_help_but_an_echo_heartbeat_does(repro):
    d1, d2 = repro["phases"]["D1"], repro["phases"]["D2"]
    assert d1["activity"] == d2["activity"] == "data"
    assert d1["drops"] > 0 and all(d["code"] == 1006 for d in d1["drop_list"])
    assert d1["verdict_codes"] == ["idle_timeout_data_only"] and d2["verdict_codes"] == []
    # Dropped although the client had sent a frame (a ping) well inside the idle timeout.
    assert min(d["since_sent_s"] for d in d1["drop_list"]) < repro["options"]["overload_idle_timeout"]
    assert d2["drops"] == 0 and d2["opened"] == 155
    assert d2["gateway"]["msgs_in"] >= 155 * 3  # the heartbeats reached the gateway as data


def test_repro_html_has_the_chart(repro):
    html = repro["html_path"].read_text()
    assert 'id="chart"' in html and html.count('class="drop"') == sum(p["drops"] for p in repro["phases"].values())
