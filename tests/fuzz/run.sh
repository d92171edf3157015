#!/bin/sh
# Usage: tests/fuzz/run.sh SECONDS
# Builds every libFuzzer target (tests/fuzz/fuzz_*.c) with clang, ASan and UBSan in a
# separate build dir, then runs each for SECONDS on a scratch copy of its corpus
# (the committed corpus is never written). Fails if any target crashes; crash
# inputs are left in $BUILD/fuzz-artifacts/<name>/ — fix the bug, then copy the
# input into tests/fuzz/corpus/<name>/ as a regression file.
set -eu
secs=${1:?usage: run.sh SECONDS}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${WSF_FUZZ_BUILD:-$root/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
  # Coverage and sanitizers on every library the targets link, not only the targets;
  # FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION turns on internal consistency checks.
  CC=clang meson setup "$build" "$root" --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
fi

# Targets the build knows (tests/fuzz/meson.build registers them); a fuzz_*.c that is
# not registered there is reported and skipped.
names=$(meson introspect --targets "$build" | /usr/bin/python3 -c '
import json, sys
print(" ".join(sorted(t["name"][5:] for t in json.load(sys.stdin)
                      if t["name"].startswith("fuzz_") and t["type"] == "executable")))')
for src in "$root"/tests/fuzz/fuzz_*.c; do
  n=$(basename "$src" .c)
  case " $names " in *" ${n#fuzz_} "*) ;; *) echo "note: $n.c is not registered in tests/fuzz/meson.build, skipped";; esac
done
[ -n "$names" ] || { echo "no fuzz targets"; exit 1; }

targets=""
for n in $names; do targets="$targets tests/fuzz/fuzz_$n"; done
# Only the fuzz targets (and what they link): other parts of the tree may be mid-change.
ninja -C "$build" $targets

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM
failed=""
for n in $names; do
  corpus="$scratch/corpus-$n"
  mkdir -p "$corpus" "$build/fuzz-artifacts/$n"
  if [ -d "$root/tests/fuzz/corpus/$n" ]; then cp -R "$root/tests/fuzz/corpus/$n/." "$corpus/"; fi
  echo "== fuzz_$n for ${secs}s ($(ls "$corpus" | wc -l) seeds)"
  if ! "$build/tests/fuzz/fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$n/" "$corpus"; then
    failed="$failed $n"
  fi
done
if [ -n "$failed" ]; then
  echo "FAILED:$failed (inputs in $build/fuzz-artifacts/)"
  exit 1
fi
echo "fuzz: all targets clean for ${secs}s each:$names"
