#!/usr/bin/env bash
# Quick start: install dependencies, build, and run a broker with the plugin on mosquitto.conf.example
# (listener 127.0.0.1:1883, data in ./mqdb-data). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "Port 1883 on 127.0.0.1 is already in use (another mosquitto?). Stop it, or edit the listener line" >&2
  echo "of mosquitto.conf.example, then run this again." >&2
  exit 1
fi
# jemalloc instead of glibc's allocator: with a database much larger than the block cache, glibc's
# allocator slows reads down (README, Benchmarks: the allocator and large databases).
jemalloc="$(tools/jemalloc-path.sh)"
echo "Starting mosquitto with the mqdb plugin on 127.0.0.1:1883 (data in ./mqdb-data${jemalloc:+, allocator jemalloc}). Ctrl-C stops it."
exec env ${jemalloc:+LD_PRELOAD="$jemalloc"} mosquitto -c mosquitto.conf.example
