"""The integrity stage: did the agent follow the rules? Evidence, not just a verdict.

Checks (one module each): contamination (test items in the agent's files, test splits its
code asks for, what its processes loaded and read: see audit.py and loads.py), identity
(the final model descends from the given model, is no merge towards the instruct model and
brings no code or template of its own), api_use (LLM APIs in code or trace), tampering
(changes to the files ptb gave), and an optional LLM judge.

Each check ends `clean`, `flagged` (with evidence), `unverified` (it could not run: a
missing record, unreadable files or weights, a judge that failed) or `not_applicable`
(identity without a final model). The verdict fails closed:
- `flagged` if any check flagged;
- else `unverified` if any enabled check could not run;
- else `clean`.
A check that raises is recorded as `unverified` with the error, never skipped.
"""

from __future__ import annotations

import json
import mmap
import os
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

from typing import TYPE_CHECKING

from ptb.run import params
from ptb.run.params import AgentDef, Cell
from ptb.run.records import Check
from ptb.paths import CellPaths

if TYPE_CHECKING:
    from ptb.integrity.contamination import TestIndex
    from ptb.integrity.review import ReviewConfig

# The check modules are imported where used: `python -m ptb.integrity.contamination` (the
# agents' tool) must not find its module already imported by this package.

CODE_SUFFIXES = {".py", ".sh", ".bash", ".ipynb", ".js", ".ts", ".mjs", ".cjs", ".rb", ".go", ".rs", ".r", ".jl",
                 ".pl", ".lua", ".java", ".c", ".cc", ".cpp", ".yaml", ".yml", ".toml", ".cfg", ".env"}
# Not the agent's code: installed packages (their dependencies mention SDKs). Code the agent
# hides elsewhere (.cache/, venv/bin) is its code; files byte-identical to the agent CLI's own
# installation (its `tools` folders: Codex's bundled files under task/.codex/) are not.
NOT_AGENT_CODE = {"site-packages", "dist-packages", "node_modules", ".git", "final_model", "__pycache__"}
MAX_TEXT = 50 << 20
BUNDLE_BYTES = 1 << 20  # installation files searched for whole bundled files (binaries, JS bundles)
MIN_BUNDLED_BYTES = 1024


@dataclass(frozen=True)
class Inputs:
    benchmark: str
    model_id: str
    task_dir: Path
    final_model: Path | None
    reference_model: Path | None  # the model the final model must descend from
    reference_is: str  # "base model", or "instruct model" for the instruct ceiling agent
    other_model: Path | None  # the model it must not be (the official instruct model, where cached)
    traces: tuple[Path, ...]  # the agent's stdout/stderr logs
    given_record: Path  # hashes of the files ptb gave (tampering.record)
    scaffold_env: tuple[str, ...] = ()  # API key names the agent definition receives
    download_layers: tuple[Path, ...] = ()  # the agent's downloads kept outside the task folder
    given_record_sha256: str | None = None  # the record's hash when ptb wrote it (agent.json)
    audit_log: Path = Path("/nonexistent")  # the in-sandbox audit's reports (ptb/integrity/audit.py)
    tools: tuple[Path, ...] = ()  # the agent CLI's installation folders (files shipped there are not its work)
    # When the agent's first tool call started (its trace): files last changed before it were
    # written by the CLI starting up. ctime, which no process can set back, decides.
    first_action: float | None = None
    ctimes: Path = Path("/nonexistent")  # the change times the sandbox recorded before handing files back


def given_record(paths: CellPaths) -> Path:
    return paths.given


def record_given(paths: CellPaths) -> str:
    """Hash the files ptb gave the agent; called just before the agent starts. Returns the
    record's own sha256, which ptb keeps in agent.json: a second place to check it against."""
    from ptb.integrity import tampering

    return tampering.record(paths.task, given_record(paths))


def recorded_given_sha256(paths: CellPaths) -> str | None:
    """The given-files record's hash that ptb kept in agent.json (None: not kept)."""
    import json

    agent_json = paths.agent_json
    return json.loads(agent_json.read_text()).get("given_files_sha256") if agent_json.is_file() else None


def unchanged_given(paths: CellPaths, record_sha256: str | None) -> set[str]:
    """The given files still as given (relative to the task folder); none if the record
    is not the one ptb wrote (`record_sha256`)."""
    from ptb.integrity import tampering

    return tampering.unchanged(paths.task, given_record(paths), record_sha256)


def inputs_for(cell: Cell, paths: CellPaths, final_model: Path | None, base_model: Path | None,
               instruct_model: Path | None, agent: AgentDef | None) -> Inputs:
    """The integrity inputs of one cell. The `instruct` ceiling agent submits the official
    instruct model by definition: its final model must be that one, not the base."""
    from ptb.integrity import identity

    submits_instruct = agent.needs_instruct_model if agent else cell.agent == "instruct"
    if submits_instruct:
        reference, reference_is, other = instruct_model, "instruct model", base_model
    else:
        reference, reference_is, other = base_model, "base model", identity.local_instruct(cell.model)
    return Inputs(cell.benchmark, cell.model, paths.task, final_model, reference, reference_is, other,
                  (paths.stdout, paths.stderr), given_record(paths),
                  tuple(agent.env) if agent else (),
                  tuple(p for p in (paths.hf_upper,) if p.is_dir()),
                  recorded_given_sha256(paths), paths.audit_log,
                  params.agent_tools(agent) if agent else (), first_action(paths.trace),
                  paths.ctimes)


def first_action(trace: Path) -> float | None:
    """The time of the agent's first tool call in its normalised trace (None: none seen)."""
    if not trace.is_file():
        return None
    with open(trace, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("type") == "tool_call" and isinstance(event.get("t"), (int, float)):
                return float(event["t"])
    return None


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(MAX_TEXT)


def _shebang(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"#!"


def shipped(tools: tuple[Path, ...], candidates: list[Path]) -> set[Path]:
    """The candidates the agent CLI shipped: byte-identical to a file in its tools folders
    (sizes compared first), or contained whole in one of its large files. Codex, for one,
    carries its bundled skills inside its native binary and writes them into HOME at start."""
    from ptb.integrity import tampering

    by_size: dict[int, list[Path]] = {}
    for c in candidates:
        by_size.setdefault(c.stat().st_size, []).append(c)
    hashes: set[str] = set()
    bundles: list[Path] = []
    for tool in tools:
        for f in tool.rglob("*") if tool.is_dir() else ():
            try:
                if not f.is_file() or f.is_symlink():
                    continue
                size = f.stat().st_size
            except OSError:
                continue
            if size in by_size:
                hashes.add(tampering.sha256(f))
            if size >= BUNDLE_BYTES:
                bundles.append(f)
    theirs = {c for group in by_size.values() for c in group if hashes and tampering.sha256(c) in hashes}
    # Short files (a line of `from openai import OpenAI`) occur in many bundles: only whole
    # files of some size count as the CLI's own.
    rest = [c for c in candidates if c not in theirs and c.stat().st_size >= MIN_BUNDLED_BYTES]
    for bundle in bundles:
        if not rest:
            break
        with open(bundle, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = {c for c in rest if data.find(c.read_bytes()) >= 0}
        theirs |= found
        rest = [c for c in rest if c not in found]
    return theirs


def code_files(task_dir: Path, exclude: set[str], tools: tuple[Path, ...] = (),
               first_action: float | None = None, ctimes: Path | None = None) -> list[tuple[str, str]]:
    from ptb.integrity import contamination

    found = []
    for rel, real in contamination.agent_files(task_dir, exclude):
        if any(p in NOT_AGENT_CODE for p in Path(rel).parts[:-1]):
            continue
        if real.suffix.lower() in CODE_SUFFIXES or (not real.suffix and _shebang(real)):
            found.append((rel, real))
    theirs = shipped(tools, [real for _, real in found]) if tools else set()
    if first_action is not None:
        recorded = json.loads(ctimes.read_text()) if ctimes and ctimes.is_file() else {}
        theirs |= {real for rel, real in found if recorded.get(rel, real.stat().st_ctime) < first_action}
    return [(rel, _read(real)) for rel, real in found if real not in theirs]


def _run(name: str, fn) -> Check:
    """Run one check module's `check` ({"status", "summary", "evidence"}) and time it."""
    started = time.monotonic()
    try:
        done = Check.from_dict({"name": name, **fn()})
    except Exception as e:  # noqa: BLE001 - fail closed: a crashed check is a check that did not run
        done = Check(name, "unverified", f"check crashed: {type(e).__name__}: {e}",
                     {"traceback": traceback.format_exc()[-4000:]})
    return replace(done, seconds=round(time.monotonic() - started, 2))


def verdict_of(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    if "flagged" in statuses:
        return "flagged"
    if "unverified" in statuses:
        return "unverified"
    return "clean"


def check(inp: Inputs, judge_cfg: ReviewConfig | None = None, use_judge: bool = True,
          index: TestIndex | None = None) -> dict:
    """Every check on one finished cell -> {"verdict", "checks": [...with evidence]}."""
    from ptb.integrity import api_use, audit, contamination, identity, review, tampering

    judge_error = None
    if use_judge and judge_cfg is None:
        try:
            judge_cfg = review.ReviewConfig.from_env()
        except ValueError as e:  # a half-configured judge is an enabled check that cannot run
            judge_error = str(e)
    given = tampering.unchanged(inp.task_dir, inp.given_record, inp.given_record_sha256)
    code = code_files(inp.task_dir, given, inp.tools, inp.first_action, inp.ctimes)
    traces = [(p.name, _read(p)) for p in inp.traces if p.is_file()]
    checks = [
        _run("contamination", lambda: contamination.check(inp.benchmark, inp.task_dir, code, given, index,
                                                          inp.download_layers, audit.read(inp.audit_log))),
        _run("identity", lambda: identity.check(inp.final_model, inp.reference_model, inp.other_model,
                                                inp.reference_is)),
        _run("api_use", lambda: api_use.check(code, traces, api_use.scaffold_vendors(inp.scaffold_env))),
        _run("tampering", lambda: tampering.check(inp.task_dir, inp.given_record, inp.given_record_sha256)),
    ]
    if judge_error:
        checks.append(Check("judge", "unverified", judge_error))
    if judge_cfg is not None:
        findings = {c.name: {"status": c.status, "summary": c.summary} for c in checks}
        checks.append(_run("judge", lambda: review.check(judge_cfg, inp.benchmark, code, traces, findings)))
    return {"verdict": verdict_of(checks), "checks": [c.to_dict() for c in checks],
            "judge": "enabled" if judge_cfg or judge_error else "disabled",
            "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": os.uname().nodename}


def summary(full: dict) -> dict:
    """What result.json keeps: the verdict and one line per check (evidence stays in integrity.json)."""
    return {"verdict": full["verdict"],
            "checks": [{"name": c["name"], "status": c["status"], "summary": c["summary"]} for c in full["checks"]]}
