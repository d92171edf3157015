#!/bin/sh
# Assembles Apache JMeter 5.6.3 (plus the luminis WebSocket samplers) from Maven Central into
# tests/e2e/.jmeter/apache-jmeter-5.6.3 (git-ignored), and builds the wsfleet sampler jar into its
# lib/ext. Idempotent: a complete home is reused (remove tests/e2e/.jmeter to start over).
# Needs: java (8+; 17 here), mvn (3.6.3+; Debian's 3.8.7 works). Prints the JMeter home.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
VERSION=5.6.3
HOME_DIR="$SRC/tests/e2e/.jmeter/apache-jmeter-$VERSION"
MVN="mvn -B -q"

if [ ! -f "$HOME_DIR/.complete" ]; then
  rm -rf "$HOME_DIR"
  $MVN -f "$HERE/pom.xml" generate-resources >&2
  # JMeter's distribution ships these directories; the launcher expects them.
  mkdir -p "$HOME_DIR/lib/junit" "$HOME_DIR/extras"
  touch "$HOME_DIR/.complete"
fi

# The plugin is rebuilt whenever its sources are newer than the installed jar.
JAR="$HOME_DIR/lib/ext/wsfleet-jmeter.jar"
if [ ! -f "$JAR" ] || [ -n "$(find "$SRC/jmeter-plugin-stub/src/main" "$SRC/jmeter-plugin-stub/pom.xml" -newer "$JAR" 2>/dev/null | head -1)" ]; then
  $MVN -f "$SRC/jmeter-plugin-stub/pom.xml" -DskipTests package >&2
  cp "$SRC/jmeter-plugin-stub/target/wsfleet-jmeter-0.1.0.jar" "$JAR"
fi
echo "$HOME_DIR"
