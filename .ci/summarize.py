#!/usr/bin/env python3
"""Counts test results across meson test logs and prints one line "N passed, N failed".

A meson test that wrote a JUnit file (pytest --junitxml, Maven Surefire) counts as its test
cases; any other meson test counts as one. `--record NAME RC` appends a result line for a step
that is not a meson test (e.g. the fuzzers)."""
import json
import os
import sys
import xml.etree.ElementTree as ET


def junit_counts(path):
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(argv):
    if argv[:1] == ["--record"]:
        name, rc = argv[1], int(argv[2])
        print(json.dumps({"name": name, "result": "OK" if rc == 0 else "FAIL"}))
        return 0
    passed = failed = skipped = 0
    for log in argv:
        if not os.path.exists(log):
            continue
        with open(log) as f:
            for line in f:
                if not line.strip():
                    continue
                t = json.loads(line)
                junit = (t.get("env") or {}).get("WSF_JUNIT")
                result = t.get("result")
                if junit and os.path.exists(junit) and result in ("OK", "FAIL"):
                    p, fl, s = junit_counts(junit)
                    if result == "FAIL" and fl == 0:
                        fl = 1  # the run failed outside any test case (e.g. a crash at collection)
                    passed, failed, skipped = passed + p, failed + fl, skipped + s
                elif result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
