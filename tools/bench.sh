#!/usr/bin/env bash
# Starts a broker with the plugin (bench_echo on, a temporary database, durability from $DURABILITY,
# default periodic) on a free loopback port and runs mqdb-bench against it:
#   tools/bench.sh                  the suite (insert get update delete list ilist mixed, each between two echo
#                                   runs and reported as a ratio to the faster of them)
#                                   at concurrency 1 and 32, then changefeed, unique and cascade
#   tools/bench.sh --smoke          every workload for one second (echo-busy: its broker thread time per
#                                   request must cover the busy time), change-feed replay, the hostile
#                                   corpus (its refusals counted), then a 2-round --ab of the plugin
#                                   against itself, then an indexed list on a broker with jemalloc:
#                                   checks the tool, not the speed
#   tools/bench.sh --scale [N]      get and ilist with 10,000 and with N (1,000,000) records, each on a
#                                   broker of its own, measured in turns for SCALE_ROUNDS (3) rounds;
#                                   prints each round's rates with the broker thread's CPU per request,
#                                   the ratios, their medians and the brokers' RSS; before
#                                   the rounds, SCALE_WARMUP (15) seconds of reads warm each block cache
#   tools/bench.sh -- ARGS...       mqdb-bench with ARGS (e.g. -- --workload get --concurrency 8)
#   tools/bench.sh --ab A.so B.so [ROUNDS] -- ARGS...
#                                   before/after on a noisy machine: ROUNDS (default 5) rounds of
#                                   mqdb-bench ARGS, each round on a fresh broker with plugin A and one
#                                   with plugin B (A first in odd rounds, B first in even ones); prints
#                                   per workload the medians of the ratio to echo, of req/s and of the
#                                   broker thread's CPU time per request (us/rq: what a change to the
#                                   plugin moves, and steadier than req/s on a shared machine), and the
#                                   ratio of each round. ARGS should run echo too (--workload echo,W,echo).
# After each broker: its RSS and database size on stderr. Needs a build (tools/build.sh).
# MALLOC=jemalloc runs the brokers with jemalloc (LD_PRELOAD of Debian's libjemalloc2) instead of
# glibc's allocator (see README, Benchmarks: the allocator and large databases).
# BENCH=path/to/mqdb-bench and PLUGIN=path/to/mosquitto_mqdb.so override; EXTRA_OPTS adds broker
# configuration lines separated by ';' (e.g. EXTRA_OPTS="plugin_opt_block_cache_mb 16").
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="${BENCH:-build/mqdb-bench}"
PLUGIN="${PLUGIN:-$(pwd)/build/mosquitto_mqdb.so}"
mode="full"
extra=()
big=1000000
ab_a=""
ab_b=""
rounds=5
usage() { echo "usage: tools/bench.sh [--smoke | --scale [N] | --ab A.so B.so [ROUNDS] -- mqdb-bench args | -- mqdb-bench args]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode="smoke" ;;
    --scale) mode="scale"; if [ $# -gt 1 ] && [[ "$2" =~ ^[0-9]+$ ]]; then big="$2"; shift; fi ;;
    --ab)
      [ $# -ge 3 ] || usage
      mode="ab"; ab_a="$(realpath "$2")"; ab_b="$(realpath "$3")"; shift 2
      if [ $# -gt 1 ] && [[ "$2" =~ ^[0-9]+$ ]]; then rounds="$2"; shift; fi ;;
    --) shift; [ "$mode" = "ab" ] || mode="custom"; extra=("$@"); break ;;
    *) usage ;;
  esac
  shift
done

broker=""
work=""
port=""
preload=""
case "${MALLOC:-glibc}" in
  glibc) ;;
  jemalloc)
    preload="$(tools/jemalloc-path.sh)"
    [ -n "$preload" ] || { echo "bench: MALLOC=jemalloc needs libjemalloc2 (apt-get install libjemalloc2)" >&2; exit 2; } ;;
  *) echo "bench: MALLOC must be glibc or jemalloc" >&2; exit 2 ;;
esac
stop_broker() {
  [ -n "$broker" ] || return 0
  local rss db
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$broker/status" 2>/dev/null || echo "?")
  db=$(du -sm "$work/data" 2>/dev/null | cut -f1)
  echo "# broker RSS ${rss} MB, database ${db:-?} MB" >&2
  kill "$broker" 2>/dev/null || true
  wait "$broker" 2>/dev/null || true
  rm -rf "$work"
  broker=""
}
trap stop_broker EXIT
start_broker() {
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
  [ -z "${EXTRA_OPTS:-}" ] || printf '%s\n' "$EXTRA_OPTS" | tr ';' '\n' >> "$work/mosquitto.conf"
  env ${preload:+LD_PRELOAD="$preload"} mosquitto -c "$work/mosquitto.conf" > "$work/broker.log" 2>&1 &
  broker=$!
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
}
b() { "$BENCH" --port "$port" --username bench --broker-pid "$broker" "$@"; }
# Waits (up to 10 minutes) until the broker process, RocksDB's threads included, uses < 5 % of a core.
wait_idle() {
  local hz prev cur
  hz=$(getconf CLK_TCK)
  prev=$(awk '{print $14 + $15}' "/proc/$broker/stat")
  for _ in $(seq 600); do
    sleep 1
    cur=$(awk '{print $14 + $15}' "/proc/$broker/stat")
    [ $((cur - prev)) -lt $((hz / 20 + 1)) ] && return 0
    prev=$cur
  done
  echo "# broker still busy after 10 minutes" >&2
}

# awk: the median of a space-separated list of numbers (--ab and --scale).
AWK_MEDIAN='
  function median(list,   a, m, i, j, t) {
    m = split(list, a, " ")
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }'

# Interleaved A/B (see --ab above): run_ab A.so B.so ROUNDS mqdb-bench-args...
run_ab() {
  local so_a="$1" so_b="$2" n="$3" results r v
  shift 3
  [ -f "$so_a" ] && [ -f "$so_b" ] || { echo "bench: no such plugin: $so_a or $so_b" >&2; return 2; }
  results="$(mktemp)"
  for r in $(seq "$n"); do
    local order=(A B)
    [ $((r % 2)) -eq 0 ] && order=(B A)
    for v in "${order[@]}"; do
      if [ "$v" = "A" ]; then PLUGIN="$so_a"; else PLUGIN="$so_b"; fi
      start_broker
      b "$@" --format csv | awk -F, -v v="$v" '$1 != "workload" && $1 != "echo" { print v, $1, $10, $6, $11 }' >> "$results"
      stop_broker
    done
  done
  echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  malloc ${MALLOC:-glibc}  A=$so_a  B=$so_b  $n rounds of: $*"
  awk "$AWK_MEDIAN"'
    { if (!($2 in seen)) { seen[$2] = 1; names[++nw] = $2 }
      ratio[$2, $1] = ratio[$2, $1] " " $3; rate[$2, $1] = rate[$2, $1] " " $4; cpu[$2, $1] = cpu[$2, $1] " " $5 }
    END {
      printf "%-11s %9s %9s %10s %10s %9s %9s %9s %8s   %s\n", "workload", "A x echo", "B x echo", "A req/s", "B req/s",
             "B/A req/s", "A us/rq", "B us/rq", "B/A us", "x echo per round: A | B"
      for (i = 1; i <= nw; i++) {
        w = names[i]; qa = median(rate[w, "A"]); qb = median(rate[w, "B"]); ca = median(cpu[w, "A"]); cb = median(cpu[w, "B"])
        printf "%-11s %9.3f %9.3f %10.0f %10.0f %9.3f %9.2f %9.2f %8.3f  %s |%s\n", w, median(ratio[w, "A"]), median(ratio[w, "B"]),
               qa, qb, (qa > 0 ? qb / qa : 0), ca, cb, (ca > 0 ? cb / ca : 0), ratio[w, "A"], ratio[w, "B"]
      }
    }' "$results"
  rm -f "$results"
}

case "$mode" in
  ab) run_ab "$ab_a" "$ab_b" "$rounds" "${extra[@]}" ;;
  custom) start_broker; b "${extra[@]}" ;;
  smoke)
    start_broker
    out=$(b --workload all --duration 1 --concurrency 2 --pipeline 4 --seed 200 --k 20 --write-rate 200 --format csv)
    echo "$out"
    for w in echo insert get update delete list ilist mixed queue changefeed unique cascade; do
      line=$(echo "$out" | grep -m1 "^$w,") || { echo "smoke: no result for $w" >&2; exit 1; }
      ok=$(echo "$line" | cut -d, -f4)
      [ "$ok" -gt 0 ] || { echo "smoke: $w completed no request" >&2; exit 1; }
      # The main thread's figure (schedstat, ns) is never 0; the process's (clock ticks) can be for a
      # workload shorter than a tick (cascade), but it must have been measured (-1: not).
      echo "$line" | awk -F, '$11 > 0 && $12 >= 0 { found = 1 } END { exit !found }' ||
        { echo "smoke: $w has no broker CPU per request" >&2; exit 1; }
    done
    echo "$out" | grep -q '^unique,.*: 1 success(es)' || { echo "smoke: unique must have exactly 1 success" >&2; exit 1; }
    echo "$out" | grep -q '^changefeed,.*, 0 lost' || { echo "smoke: changefeed lost events" >&2; exit 1; }
    echo "$out" | grep -q '^cascade,.*20 child events' || { echo "smoke: cascade events missing" >&2; exit 1; }
    # echo-busy holds the broker thread: its CPU time per request cannot be below the busy time.
    busy=$(b --workload echo-busy --busy-us 300 --duration 1 --format csv)
    echo "$busy"
    echo "$busy" | awk -F, '$1 == "echo-busy" && $4 > 0 && $5 == 0 && $11 >= 300 { found = 1 } END { exit !found }' ||
      { echo "smoke: echo-busy did not hold the broker thread 300 us per request" >&2; exit 1; }
    # replay: pages of the change feed come back (the seeded records' events are retained).
    replay=$(b --workload replay --duration 1 --seed 1200 --entity smoke-replay --format csv)
    echo "$replay"
    echo "$replay" | awk -F, '$1 == "replay" && $4 > 0 && $5 == 0 && $13 ~ /events\/s/ { found = 1 } END { exit !found }' ||
      { echo "smoke: replay returned no pages" >&2; exit 1; }
    # hostile: every request of the corpus is answered, and exactly its 10 refusals per pass (3
    # passes) are errors: a hostile request that slips through (or a good one refused) fails here.
    hostile=$(b --workload hostile --seed 200 --format csv)
    echo "$hostile"
    echo "$hostile" | awk -F, '$1 == "hostile" && $4 == 36 && $5 == 30 && $13 ~ /longest broker thread/ { found = 1 } END { exit !found }' ||
      { echo "smoke: hostile must answer 36 requests and refuse 30" >&2; exit 1; }
    stop_broker
    # The A/B mode, the plugin against itself: both columns must have figures.
    ab=$(run_ab "$PLUGIN" "$PLUGIN" 2 --workload echo,get,echo --duration 1 --seed 200)
    echo "$ab"
    echo "$ab" | awk '$1 == "get" && $2 > 0 && $3 > 0 && $4 > 0 && $5 > 0 && $7 > 0 && $8 > 0 { found = 1 } END { exit !found }' ||
      { echo "smoke: the A/B printed no figures for get" >&2; exit 1; }
    # A broker on jemalloc, as tools/start.sh and MALLOC=jemalloc run it (tools/install-deps.sh
    # installs libjemalloc2): it must have loaded the library and answer an indexed list.
    preload="$(tools/jemalloc-path.sh)"
    [ -n "$preload" ] || { echo "smoke: libjemalloc2 is not installed (tools/install-deps.sh)" >&2; exit 1; }
    start_broker
    grep -q libjemalloc "/proc/$broker/maps" || { echo "smoke: the broker did not load jemalloc" >&2; exit 1; }
    b --workload ilist --duration 1 --seed 200 --format csv | awk -F, '$1 == "ilist" && $4 > 0 && $5 == 0 { found = 1 } END { exit !found }' ||
      { echo "smoke: the broker on jemalloc answered no indexed list" >&2; exit 1; }
    stop_broker
    preload=""
    echo "bench smoke: ok" ;;
  scale)
    # Both brokers stay up and are measured in turns (the order alternates per round): on a shared
    # machine two measurements minutes apart differ by more than the effect measured here.
    n_rounds="${SCALE_ROUNDS:-3}"
    echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')  malloc ${MALLOC:-glibc}  scale 10000 vs $big, $n_rounds rounds"
    declare -A pid_of port_of work_of
    stop_scale_brokers() {
      for n in 10000 "$big"; do
        broker=${pid_of[$n]:-}; work=${work_of[$n]:-}
        [ -z "$broker" ] || echo "# the broker with $n records:" >&2
        stop_broker
      done
    }
    trap stop_scale_brokers EXIT
    for n in 10000 "$big"; do
      start_broker
      t0=$(date +%s)
      b --workload get,ilist --seed "$n" --duration 1 > /dev/null  # seeds (the index on k first)
      t1=$(date +%s)
      wait_idle  # steady state: RocksDB's flushes and compactions after the load are done
      echo "# seeded $n records in $((t1 - t0)) s, background work done after $(( $(date +%s) - t1 )) s more" >&2
      pid_of[$n]=$broker; port_of[$n]=$port; work_of[$n]=$work
      broker=""  # kept running; stop_scale_brokers stops both
    done
    # Warm-up: random reads until the block cache is in its steady state, so the rounds measure that
    # and not the cache filling (with a cache that holds every block, filling takes minutes of gets).
    for n in 10000 "$big"; do
      broker=${pid_of[$n]}; port=${port_of[$n]}
      b --workload get,ilist --seed "$n" --reuse --concurrency 8 --pipeline 8 --duration "${SCALE_WARMUP:-15}" > /dev/null
    done
    declare -A rate
    ratios=""
    for r in $(seq "$n_rounds"); do
      order=(10000 "$big")
      [ $((r % 2)) -eq 0 ] && order=("$big" 10000)
      for n in "${order[@]}"; do
        broker=${pid_of[$n]}; port=${port_of[$n]}
        rows=$(b --workload get,ilist --seed "$n" --reuse --duration "${DURATION:-5}" --format csv | grep -E '^(get|ilist),')
        while IFS=, read -r w _ _ _ _ thr rest; do
          rate[$w,$n]=$thr
          printf 'round %d  %-6s %8s records %10s req/s  p50/p95/p99 us %s  broker thread us/rq %s\n' "$r" "$w" "$n" "$thr" \
            "$(echo "$rest" | cut -d, -f1-3 | tr ',' '/')" "$(echo "$rest" | cut -d, -f5)"
        done <<< "$rows"
      done
      for w in get ilist; do
        ratios+="$w $(awk -v a="${rate[$w,$big]}" -v b="${rate[$w,10000]}" 'BEGIN { printf "%.3f", a / b }')"$'\n'
      done
    done
    broker=""
    printf '%s' "$ratios" | awk -v n="$big" "$AWK_MEDIAN"'
      { list[$1] = list[$1] " " $2; rounds[$1]++ }
      END {
        split("get ilist", ws, " ")
        for (k = 1; k <= 2; k++) {
          w = ws[k]
          printf "%-6s at %d records = %.3f x at 10000 (median of %d rounds:%s)\n", w, n, median(list[w]), rounds[w], list[w]
        }
      }' ;;
  full)
    start_broker
    echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) cores  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')  durability ${DURABILITY:-periodic}  malloc ${MALLOC:-glibc}"
    b --workload suite --duration "${DURATION:-5}" --concurrency 1 --seed "${SEED:-10000}"
    b --workload suite --duration "${DURATION:-5}" --concurrency 32 --seed "${SEED:-10000}"
    b --workload changefeed --duration "${DURATION:-5}" --write-rate 500
    for k in 4 16 64; do b --workload unique --k $k; done
    b --workload cascade --k 1000 ;;
esac
