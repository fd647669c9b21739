#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, run and test mosquitto-mqdb. Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(cmake g++ make pkg-config mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev
          librocksdb-dev libcjson-dev libpaho-mqttpp-dev libpaho-mqtt-dev libgtest-dev spin gcc
          clang libclang-rt-14-dev libjemalloc2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  had_mosquitto=1
  dpkg-query -W -f='${Status}' mosquitto 2>/dev/null | grep -q "install ok installed" || had_mosquitto=0
  echo "Installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian starts a stock mosquitto service on 127.0.0.1:1883 when the package is first installed;
  # it would take the port of the quick start. Stop it only if this script installed it.
  if [ "$had_mosquitto" = 0 ] && command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
  fi
fi
