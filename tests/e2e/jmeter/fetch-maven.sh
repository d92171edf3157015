#!/bin/sh
# Unpacks Apache Maven 3.9 (org.apache.maven:apache-maven:VERSION:bin:tar.gz from Maven Central,
# fetched by the system's Maven) into tests/e2e/.jmeter/apache-maven-VERSION (git-ignored) and
# prints its bin/mvn. The example jmeter-maven-plugin 3.8.0 pipeline (jmeter-plugin-stub/ci/maven)
# needs Maven 3.9; Debian 12's 3.8.7 only fetches it. Idempotent.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
VERSION=${WSF_MAVEN_VERSION:-3.9.9}
DEST="$SRC/tests/e2e/.jmeter"
MVN_HOME="$DEST/apache-maven-$VERSION"
if [ ! -x "$MVN_HOME/bin/mvn" ]; then
  mkdir -p "$DEST"
  mvn -B -q dependency:copy -Dartifact="org.apache.maven:apache-maven:$VERSION:tar.gz:bin" \
    -DoutputDirectory="$DEST" -Dmdep.overWriteIfNewer=true >&2
  tar -xzf "$DEST/apache-maven-$VERSION-bin.tar.gz" -C "$DEST"
  rm -f "$DEST/apache-maven-$VERSION-bin.tar.gz"
fi
echo "$MVN_HOME/bin/mvn"
