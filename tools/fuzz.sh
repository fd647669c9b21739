#!/usr/bin/env bash
# Builds the libFuzzer target (clang, ASan + UBSan) in ./build-fuzz and fuzzes the request path for
# FUZZ_SECONDS (default 60), starting from tests/fuzz/corpus with the tokens of tests/fuzz/request.dict. New inputs and crash artifacts go to a
# temporary folder (printed); a crash fails the run. Add a crash input to tests/fuzz/corpus once fixed:
# it then becomes a regression test (FuzzCorpus.Replay, and the seeds of every later run).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DMQDB_FUZZ=ON -DMQDB_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target mqdb_request_fuzzer >/dev/null
work="$(mktemp -d)"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$root"/tests/fuzz/corpus/* "$work/corpus/"
echo "fuzzing for ${FUZZ_SECONDS:-60} s; new inputs and artifacts in $work"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build-fuzz/mqdb_request_fuzzer "$work/corpus" -dict="$root/tests/fuzz/request.dict" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>&1 | tee "$work/fuzz.log" | grep -E "(INITED|DONE) |ERROR|SUMMARY|stat::number_of_executed_units|Done " || true
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ] || ls "$work/artifacts/"* >/dev/null 2>&1; then
  echo "FUZZING FOUND A PROBLEM (exit $status); log and inputs in $work" >&2
  tail -40 "$work/fuzz.log" >&2
  exit 1
fi
echo "fuzzing: no crash"
