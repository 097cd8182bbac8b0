#!/usr/bin/env bash
# Start the Docker engine for the tests if it is not already answering. Idempotent.
# Needs root and the Debian packages docker.io containerd runc iptables (setup.sh --test).
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || { echo "dockerd missing: bash .devcontainer/setup.sh --test" >&2; exit 1; }
log=${PTB_DOCKERD_LOG:-/var/log/ptb-dockerd.log}
# setsid: the engine must outlive the test session that started it.
setsid dockerd >"$log" 2>&1 < /dev/null &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "dockerd did not answer within 30 s: see $log" >&2
exit 1
