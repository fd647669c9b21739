#!/usr/bin/env bash
# Starts a broker with the plugin (bench_echo on, a temporary database, durability from $DURABILITY,
# default periodic) on a free loopback port and runs mqdb-bench against it:
#   tools/bench.sh                  the suite (echo insert get update delete list ilist mixed echo, ratios to echo)
#                                   at concurrency 1 and 32, then changefeed, unique and cascade
#   tools/bench.sh --smoke          every workload for one second: checks the tool, not the speed
#   tools/bench.sh -- ARGS...       mqdb-bench with ARGS (e.g. -- --workload get --concurrency 8)
# Needs a build (tools/build.sh). BENCH=path/to/mqdb-bench and PLUGIN=path/to/mosquitto_mqdb.so override.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="${BENCH:-build/mqdb-bench}"
PLUGIN="${PLUGIN:-$(pwd)/build/mosquitto_mqdb.so}"
mode="full"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode="smoke" ;;
    --) shift; mode="custom"; extra=("$@"); break ;;
    *) echo "usage: tools/bench.sh [--smoke | -- mqdb-bench args]" >&2; exit 2 ;;
  esac
  shift
done
port=18900
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
work="$(mktemp -d)"
cat > "$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
user root
max_queued_messages 100000
plugin $PLUGIN
plugin_opt_db_path $work/data
plugin_opt_bench_echo true
plugin_opt_admin_users bench
plugin_opt_durability ${DURABILITY:-periodic}
plugin_opt_sys_interval 0
CONF
mosquitto -c "$work/mosquitto.conf" > "$work/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
b() { "$BENCH" --port "$port" --username bench "$@"; }
case "$mode" in
  custom) b "${extra[@]}" ;;
  smoke)
    out=$(b --workload all --duration 1 --concurrency 2 --pipeline 4 --seed 200 --k 20 --write-rate 200 --format csv)
    echo "$out"
    for w in echo insert get update delete list ilist mixed changefeed unique cascade; do
      line=$(echo "$out" | grep -m1 "^$w,") || { echo "smoke: no result for $w" >&2; exit 1; }
      ok=$(echo "$line" | cut -d, -f4)
      [ "$ok" -gt 0 ] || { echo "smoke: $w completed no request" >&2; exit 1; }
    done
    echo "$out" | grep -q '^unique,.*: 1 success(es)' || { echo "smoke: unique must have exactly 1 success" >&2; exit 1; }
    echo "$out" | grep -q '^changefeed,.*, 0 lost' || { echo "smoke: changefeed lost events" >&2; exit 1; }
    echo "$out" | grep -q '^cascade,.*20 child events' || { echo "smoke: cascade events missing" >&2; exit 1; }
    echo "bench smoke: ok" ;;
  full)
    echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')  durability ${DURABILITY:-periodic}"
    b --workload suite --duration "${DURATION:-5}" --concurrency 1 --seed "${SEED:-10000}"
    b --workload suite --duration "${DURATION:-5}" --concurrency 32 --seed "${SEED:-10000}"
    b --workload changefeed --duration "${DURATION:-5}" --write-rate 500
    for k in 4 16 64; do b --workload unique --k $k; done
    b --workload cascade --k 1000 ;;
esac
