#!/usr/bin/env bash
# Set up ptb on this machine: system packages, a virtual environment in .venv, ptb itself.
#   bash .devcontainer/setup.sh          what `ptb demo` and real runs need
#   bash .devcontainer/setup.sh --test   plus what the tests need
# Safe to re-run. The devcontainer runs it on creation.
set -euo pipefail
cd "$(dirname "$0")/.."

test_deps=0
for arg in "$@"; do
  case "$arg" in
    --test) test_deps=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# bubblewrap: the local sandbox and the per-cell PID namespace.
apt_packages=(bubblewrap)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first and explicitly: TORCH_SPEC picks the build (default: the one this host offers;
# on CPU-only hosts install a CPU wheel, on GPU hosts the CUDA wheel).
.venv/bin/pip install -q "${TORCH_SPEC:-torch==2.13.0}"
extras=""; ((test_deps)) && extras="[test]"
.venv/bin/pip install -q -e ".${extras}"
echo "ptb is set up: .venv/bin/ptb"
