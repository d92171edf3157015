"""RFC 6455 and RFC 7692 conformance of wsfleetd's client side, judged by Autobahn|Testsuite.

driver.py runs the fuzzingserver's cases through the daemon's control protocol (an echo client);
this test reads the per-case JSON reports the fuzzingserver wrote and asserts that no case FAILED
and that the cases that are not OK are exactly those README.md lists, each with its reason.

WSF_AUTOBAHN_SET picks the cases: `ci` (the bounded subset driver.CI_CASES, suite integration) or
`full` (all 517 cases of groups 1-13, suite slow), or fuzzingserver patterns such as `3.*,12.1.*`. Reports stay in $WSF_BUILD_DIR/autobahn-<set>/
(index.html for a person).
"""

import json
import os
import re
import shutil
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import driver  # noqa: E402

README = os.path.join(HERE, "README.md")
BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")  # autobahntestsuite/case/case.py


def documented_non_ok():
    """{case id: {allowed behaviors}} from README.md's table rows `| 3.2 | NON-STRICT or OK | reason |`."""
    row = re.compile(r"^\|\s*(\d+(?:\.\d+)+)\s*\|\s*([A-Za-z -]+?)\s*\|\s*(\S.*?)\s*\|\s*$")
    out = {}
    with open(README) as f:
        for line in f:
            m = row.match(line)
            if m:
                allowed = set(m.group(2).split(" or "))
                assert allowed <= set(BEHAVIORS) and allowed != {"OK"} and "FAILED" not in allowed, line
                out[m.group(1)] = allowed
    return out


def test_autobahn():
    which = os.environ.get("WSF_AUTOBAHN_SET", "ci")
    patterns = {"ci": driver.CI_CASES, "full": ["*"]}.get(which) or which.split(",")
    outdir = os.path.join(os.environ.get("WSF_BUILD_DIR") or "/tmp", "autobahn-" + re.sub(r"[^\w.-]", "_", which))
    shutil.rmtree(outdir, ignore_errors=True)
    signal.signal(signal.SIGTERM, lambda *_: (driver.kill_peers(), sys.exit("terminated")))  # meson's timeout
    res = driver.run(patterns, outdir, jobs=driver.DEFAULT_JOBS)
    index = res["index"]
    print("%s: %s in %.1f s; fuzzingserver ms per group %s"
          % (which, driver.summarize(index), res["seconds"], driver.group_durations(index)))

    # Every case ran to a report, and our side saw no error other than the connection ending.
    ran = [r["case"] for r in res["records"]]
    assert sorted(index, key=driver.case_key) == ran
    if which == "full":
        assert len(ran) == 517
    assert [r for r in res["records"] if r.get("error") or r.get("send_errors")] == []

    # The per-case reports: each one's verdict on the messages (behavior) and on the close
    # handshake (behaviorClose: OK, or WRONG CODE, UNCLEAN, FAILED BY CLIENT, FAILED, INFORMATIONAL).
    behaviors = {}
    for case_id, summary in index.items():
        with open(os.path.join(outdir, summary["reportfile"])) as f:
            report = json.load(f)
        assert report["id"] == case_id
        close = report["behaviorClose"]
        behaviors[case_id] = report["behavior"] if close in ("OK", "INFORMATIONAL") else "CLOSE " + close
    failed = {c: b for c, b in behaviors.items() if b == "FAILED" or b.startswith("CLOSE ")}
    assert failed == {}, "FAILED cases (see %s/shard-*/index.html)" % outdir

    # Every case README.md does not list is OK; each listed one has one of its documented verdicts.
    documented = documented_non_ok()
    unexpected = {c: b for c, b in behaviors.items() if b not in documented.get(c, {"OK"})}
    assert unexpected == {}, "verdicts that tests/conformance/README.md does not document"

    # NON-STRICT means one thing here (README.md): the daemon failed the connection (1002) on the
    # frame after a message, and our echo of that message was refused with conn_closed. An OK run
    # of the same case is the echo winning that race.
    records = {r["case"]: r for r in res["records"]}
    for case_id, b in behaviors.items():
        rec = records[case_id]
        if b == "NON-STRICT":
            assert (rec["echo_refused"], rec["record"]["cause"], rec["record"]["code"]) == (1, "protocol_error", 1002), \
                (case_id, rec)
