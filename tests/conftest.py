"""Shared test fixtures: a private ptb cache (tiny-qwen3 built once per session), the
reference's files offline (from ../shared), a helper to run the real `ptb` command, and
scripted test agents."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """../shared beside the project (where CI puts it); for a git worktree, beside its main checkout."""
    beside = ROOT.parent / "shared"
    if beside.is_dir():
        return beside
    common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True).stdout.strip()
    return Path(common).parent.parent / "shared" if common else beside


SHARED = _shared()
SHARED_DATA = SHARED / "data" / "posttrainbench"
# The judged benchmarks' data files in ../shared, by their paths in the reference repository.
_SHARED_AS = {
    "healthbench_easy.jsonl": "src/eval/tasks/healthbench/evaluation_code/data/healthbench.jsonl",
    "arenahardwriting_questions.jsonl": "src/eval/tasks/arenahardwriting/evaluation_code/data/arena-hard-v2.0/question.jsonl",
    "arenahardwriting_reference_answers_qwen3-1.7b.jsonl":
        "src/eval/tasks/arenahardwriting/evaluation_code/data/arena-hard-v2.0/model_answer/Qwen3-1.7B.jsonl",
}


@pytest.fixture(scope="session", autouse=True)
def ptb_cache(tmp_path_factory):
    cache = os.environ.get("PTB_TEST_CACHE") or str(tmp_path_factory.mktemp("ptb-cache"))
    os.environ["PTB_CACHE"] = cache
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    return Path(cache)


@pytest.fixture(scope="session", autouse=True)
def reference_data(ptb_cache, tmp_path_factory) -> Path:
    """An offline PTB_DATA_DIR holding the reference's files (`<dir>/aisa-group/PostTrainBench/<path>`),
    built from ../shared; every file ptb reads from the reference is also put into the session's ptb
    cache, so tests that point PTB_DATA_DIR elsewhere (at benchmark rows) still find them."""
    import ptb.benchmarks  # noqa: F401  (with ptb.eval.chat: the modules that declare reference files)
    from ptb.eval import chat, reference  # noqa: F401

    root = tmp_path_factory.mktemp("reference-data")
    repo = root / reference.REPO
    sources = {str(f.relative_to(SHARED_DATA / "reference-9082063")): f
               for f in (SHARED_DATA / "reference-9082063" / "src").rglob("*") if f.is_file()}
    sources |= {path: SHARED_DATA / name for name, path in _SHARED_AS.items()}
    for path, src in sources.items():
        if src.is_file():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).symlink_to(src)
    for path in reference.PATHS:
        if (repo / path).is_file():
            reference.store(path, (repo / path).read_bytes())
    return root


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


@pytest.fixture
def failing_scorer(tmp_path, monkeypatch):
    """Make arith's scorer raise `kind` ("bug": a TypeError, "config": a ConfigError, as a judge
    scorer with no judge does) in every `ptb` process this test starts."""
    site = tmp_path / "failing-scorer"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent("""
        import dataclasses, os
        from ptb.benchmarks import BENCHMARKS
        from ptb.errors import ConfigError

        def score(sample, output):
            if os.environ["PTB_TEST_SCORER"] == "config":
                raise ConfigError("the scorer's judge is not configured")
            return len(None)

        BENCHMARKS["arith"] = dataclasses.replace(BENCHMARKS["arith"], score=score)
    """))

    def make(kind: str) -> None:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
        monkeypatch.setenv("PTB_TEST_SCORER", kind)
    return make
