#!/bin/sh
# Runs the sampler stub's JUnit tests (jmeter-plugin-stub/, Maven Surefire) against the built
# daemon, and merges Surefire's reports into one JUnit file at $WSF_JUNIT when it is set
# (.ci/summarize.py counts its test cases). Fails when wsfleetd is missing instead of skipping.
set -eu
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
WSFLEETD=${WSFLEETD:-$SRC/build/daemon/wsfleetd}
POM="$SRC/jmeter-plugin-stub/pom.xml"
REPORTS="$SRC/jmeter-plugin-stub/target/surefire-reports"
rm -rf "$REPORTS"
rc=0
mvn -B -q -f "$POM" test -Dwsfleet.require_daemon=true -Dwsfleet.wsfleetd="$WSFLEETD" || rc=$?
if [ -n "${WSF_JUNIT:-}" ] && [ -d "$REPORTS" ]; then
  mkdir -p "$(dirname "$WSF_JUNIT")"
  /usr/bin/python3 - "$REPORTS" "$WSF_JUNIT" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
out = ET.Element("testsuites")
for f in sorted(glob.glob(sys.argv[1] + "/TEST-*.xml")):
    out.append(ET.parse(f).getroot())
ET.ElementTree(out).write(sys.argv[2], encoding="utf-8", xml_declaration=True)
PY
fi
for f in "$REPORTS"/*.txt; do [ -f "$f" ] && grep -h "Tests run" "$f"; done
exit $rc
