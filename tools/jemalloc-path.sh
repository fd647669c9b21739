#!/usr/bin/env bash
# Prints the path of Debian's jemalloc (package libjemalloc2), or nothing if it is not installed.
# tools/start.sh and tools/bench.sh (MALLOC=jemalloc) run the broker with it as LD_PRELOAD.
# A file lookup, not `ldconfig -p`: ldconfig lives in /usr/sbin, outside a normal user's PATH.
for f in /usr/lib/*-linux-gnu*/libjemalloc.so.2 /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
  if [ -e "$f" ]; then echo "$f"; exit 0; fi
done
exit 0
