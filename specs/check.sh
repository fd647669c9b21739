#!/usr/bin/env bash
# Model-checks with SPIN (Debian package "spin"):
# specs/outbox.pml in these variants:
#   design             must hold: no assertion violated in any reachable state
#   WITNESS            must fail: the interesting histories exist (the proof is not vacuous)
#   RESET_TO_ZERO      must fail: NoDoubleDelivery counterexample (MQDB's original bug)
#   NON_ATOMIC_COMMIT  must fail: DataImpliesOutboxOrDelivered counterexample
# specs/changefeed.pml (a subscriber that misses events at a crash and recovers by replay):
#   design             must hold: EveryCommittedEventIsSeen
#   WITNESS            must fail: a crash that lost queued events is reachable, and replay recovered them
#   NO_RETENTION       must fail: events deleted once handed to the broker cannot be replayed
#   RESUME_FROM_MAX    must fail: resuming after the highest sequence seen skips events
# Exits non-zero if a design fails or a negative variant passes. Prints each counterexample.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/outbox.pml" "$here/changefeed.pml" "$work/"
cd "$work"

violated() {  # which monitor fired in the last run
  case "$(grep -m1 'assertion violated' "pan-$1.out")" in
    *failures*) echo witness ;;
    *run_count*) echo NoDoubleDelivery ;;
    *outbox*) echo DataImpliesOutboxOrDelivered ;;
    *) echo unknown ;;
  esac
}

# check MODEL TRAIL_STEPS NAME [-DVARIANT]: model-checks MODEL.pml, prints the pan summary (and the
# last steps of a counterexample whose statements match TRAIL_STEPS), returns the number of errors.
check() {
  local model="$1" steps="$2" name="$3"; shift 3
  spin -a "$@" "$model.pml" >/dev/null
  gcc -O2 -DSAFETY -o pan pan.c 2>/dev/null
  ./pan -m100000 > "pan-$name.out" 2>&1 || true
  local errors states
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "pan-$name.out" | head -1)
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "pan-$name.out" | head -1)
  echo "$name: errors=$errors states=$states${errors:+$( [ "$errors" != 0 ] && [ "$model" = outbox ] && echo " violated=$(violated "$name")")}"
  if [ "${errors:-1}" != 0 ] && [ -f "$model.pml.trail" ]; then
    echo "--- counterexample ($name), the last steps:"
    spin -t -p "$@" "$model.pml" 2>/dev/null | grep -E "$steps|assertion violated" | tail -14 | sed 's/^/    /'
    rm -f "$model.pml.trail"
  fi
  return "${errors:-1}"
}
run() { check outbox "broker:1\).*\[(run_count|ever|data|outbox|progress|half|crashes|failures|idx = 0|mem_progress)" "$@"; }
run_feed() { check changefeed "system:1\).*\[(queue|see|seen|feed|crashes|connected|pos = |replaying)" "$@"; }

status=0
if run design; then echo "design: NoDoubleDelivery and DataImpliesOutboxOrDelivered hold"; else echo "FAIL: the design violates an invariant"; status=1; fi
if run witness -DWITNESS && true; then echo "FAIL: no history with failure, crash and full delivery: the model is vacuous"; status=1
elif [ "$(violated witness)" = witness ]; then echo "witness: failure + crash + full delivery is reachable, so the proof is not vacuous"
else echo "FAIL: witness run violated $(violated witness)"; status=1; fi
if run reset-to-zero -DRESET_TO_ZERO; then echo "FAIL: reset-to-zero variant passed; the model no longer catches MQDB's bug"; status=1
elif [ "$(violated reset-to-zero)" = NoDoubleDelivery ]; then echo "reset-to-zero: NoDoubleDelivery counterexample, as expected"
else echo "FAIL: reset-to-zero violated $(violated reset-to-zero), expected NoDoubleDelivery"; status=1; fi
if run non-atomic -DNON_ATOMIC_COMMIT; then echo "FAIL: non-atomic variant passed; the model no longer catches it"; status=1
elif [ "$(violated non-atomic)" = DataImpliesOutboxOrDelivered ]; then echo "non-atomic: DataImpliesOutboxOrDelivered counterexample, as expected"
else echo "FAIL: non-atomic violated $(violated non-atomic), expected DataImpliesOutboxOrDelivered"; status=1; fi
feed_violation() { grep -m1 'assertion violated' "pan-$1.out"; }
if run_feed feed-design; then echo "feed design: EveryCommittedEventIsSeen holds"; else echo "FAIL: the change feed design loses an event"; status=1; fi
if run_feed feed-witness -DWITNESS; then echo "FAIL: no history where a crash lost events that replay recovered: the model is vacuous"; status=1
elif feed_violation feed-witness | grep -q 'lost'; then echo "feed witness: a crash lost queued events and replay recovered them"
else echo "FAIL: the feed witness run violated something else"; status=1; fi
for v in NO_RETENTION RESUME_FROM_MAX; do
  if run_feed "feed-$v" "-D$v"; then echo "FAIL: $v passed; the model no longer catches it"; status=1
  elif feed_violation "feed-$v" | grep -q 'seen'; then echo "feed $v: EveryCommittedEventIsSeen counterexample, as expected"
  else echo "FAIL: $v violated something else"; status=1; fi
done
exit $status
