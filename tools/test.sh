#!/usr/bin/env bash
# Runs the whole test suite: installs dependencies, builds, then unit and integration tests (ctest).
# Integration tests start their own brokers on free loopback ports with temporary databases.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
cd build
ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}"
