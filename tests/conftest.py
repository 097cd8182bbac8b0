"""Shared test fixtures: a private ptb cache (tiny-qwen3 built once per session), a
helper to run the real `ptb` command, and scripted test agents."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def ptb_cache(tmp_path_factory):
    cache = os.environ.get("PTB_TEST_CACHE") or str(tmp_path_factory.mktemp("ptb-cache"))
    os.environ["PTB_CACHE"] = cache
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    return Path(cache)


@pytest.fixture(scope="session")
def tiny_model(ptb_cache) -> Path:
    from ptb import models

    return models.tiny_qwen3()


def ptb(*args: str, timeout: float = 600, env: dict | None = None, cwd: Path | None = None):
    """Run the real `ptb` command line."""
    return subprocess.run([sys.executable, "-m", "ptb", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


@pytest.fixture
def make_agent(tmp_path, monkeypatch):
    """Write a scripted agent (a bash script) as an agent definition on PTB_AGENT_PATH."""
    agents_dir = tmp_path / "agents"
    agents_dir.mkdir()
    monkeypatch.setenv("PTB_AGENT_PATH", str(agents_dir))

    def make(name: str, script: str, env: list[str] = (), network: bool = False, trace: str | None = None) -> str:
        # The script is inline: the sandbox hides the host's /tmp, where tests keep their files.
        definition = {"name": name, "command": ["bash", "-c", textwrap.dedent(script), name, "{base_model}"],
                      "env": list(env), "network": network} | ({"trace": trace} if trace else {})
        (agents_dir / f"{name}.yaml").write_text(yaml.safe_dump(definition))
        return name

    return make


def survivors(marker: str) -> list[str]:
    """Command lines of live processes containing `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "pytest" not in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found
