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
echo "Starting mosquitto with the mqdb plugin on 127.0.0.1:1883 (data in ./mqdb-data). Ctrl-C stops it."
exec mosquitto -c mosquitto.conf.example
