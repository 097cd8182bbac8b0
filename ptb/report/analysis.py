"""What the agents did, read from the results tree: the evaluate.py calls in their traces,
the files they wrote, the methods and datasets their code uses, how they spent their
budget, why they were flagged, and where they beat the instruct model.

Everything here is derived from files a cell leaves behind (see ptb/paths.py); nothing
is written by hand. Method and dataset detection is a plain text search of the code the
agent wrote in its task folder: it finds what the code names, not what actually ran.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from ptb.agents import traces
from ptb.report.leaderboard import BASELINE_AGENTS, Leaderboard, published
from ptb.paths import CellPaths

# What ptb puts in the task folder; everything else there was written by the agent.
PROVIDED = ("prompt.md", "evaluate.py", "timer.sh", "templates")
SKIPPED_DIRS = (".cache", "__pycache__", ".git", "final_model")  # caches, and the model (one row of its own)
CODE_SUFFIXES = (".py", ".sh", ".ipynb", ".yaml", ".yml", ".toml", ".cfg", ".json")
MAX_CODE_BYTES = 2_000_000  # bigger files are data, not code

# What the agent's code names -> the method. Patterns are library APIs, so a comment that
# mentions "LoRA" in prose does not count; `loss.backward()` catches hand-written loops.
METHOD_PATTERNS = {
    "SFT": r"\bSFTTrainer\b|\bSFTConfig\b|\bSeq2SeqTrainer\b|\bTrainer\s*\(|\.backward\s*\(",
    "LoRA": r"\bLoraConfig\b|\bget_peft_model\b|\bPeftModel\b|\bprepare_model_for_kbit_training\b",
    "QLoRA": r"\bBitsAndBytesConfig\b|load_in_4bit\s*=\s*True",
    "GRPO": r"\bGRPOTrainer\b|\bGRPOConfig\b",
    "DPO": r"\bDPOTrainer\b|\bDPOConfig\b",
    "PPO": r"\bPPOTrainer\b|\bPPOConfig\b",
    "ORPO": r"\bORPOTrainer\b|\bORPOConfig\b",
    "KTO": r"\bKTOTrainer\b|\bKTOConfig\b",
}
TRAINING_METHODS = ("SFT", "GRPO", "DPO", "PPO", "ORPO", "KTO")
DATASET_PATTERNS = (
    r"""load_dataset\(\s*["']([^"']+)["']""",
    r"""huggingface\.co/datasets/([\w.-]+/[\w.-]+)""",
    r"""snapshot_download\([^)]*repo_id\s*=\s*["']([^"']+)["'][^)]*repo_type\s*=\s*["']dataset""",
)
LOCAL_LOADERS = {"json", "csv", "parquet", "text", "arrow", "imagefolder"}  # load_dataset("json", data_files=...)
EARLY_FRACTION = 0.5  # "stops early": done before half its budget (and not stopped by the deadline)


def cell_paths(path: str | Path) -> CellPaths:
    return CellPaths(Path(path))


# --- one run -----------------------------------------------------------------------------

def eval_calls(cell_dir: str | Path) -> pd.DataFrame:
    """The agent's own evaluate.py calls, in order: the JSON line `ptb eval` prints, found in
    the agent's trace (agent/trace.jsonl events, which may carry a time; else agent/stdout.log).
    `minute` is the time from the agent's start, where the trace has one."""
    paths = cell_paths(cell_dir)
    if paths.trace.is_file():
        events = [json.loads(line) for line in paths.trace.read_text(errors="replace").splitlines() if line]
        texts = [(e.get("t"), e.get("text") or "") for e in events]
    elif paths.stdout.is_file():
        texts = [(None, paths.stdout.read_text(errors="replace"))]
    else:
        texts = []
    start = agent_start(cell_dir)
    rows = []
    for t, text in texts:
        for line in text.splitlines():
            if (rec := traces.eval_record(line)) is not None:
                minute = round((t - start) / 60, 1) if t is not None and start is not None else None
                rows.append({"call": len(rows) + 1, "minute": minute, "benchmark": rec["benchmark"],
                             "score": 100 * rec["score"], "n": rec.get("n"), "model": rec.get("model"),
                             "seconds": rec.get("seconds")})
    return pd.DataFrame(rows, columns=["call", "minute", "benchmark", "score", "n", "model", "seconds"])


def agent_start(cell_dir: str | Path) -> float | None:
    """When the agent started (epoch seconds), from clock.json; None before it started."""
    clock = cell_paths(cell_dir).clock
    return json.loads(clock.read_text())["start"] if clock.is_file() else None


def task_files(task: Path) -> list[Path]:
    """Regular files of the task folder, relative, without caches, .git and final_model/."""
    found = []
    for here, subdirs, files in os.walk(task):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
        found += [Path(here, f).relative_to(task) for f in files if not Path(here, f).is_symlink()]
    return sorted(found)


def files_written(cell_dir: str | Path) -> pd.DataFrame:
    """Files in the task folder: what the agent wrote (and ptb's own, marked), with size and
    minute of the run (from the agent's start) of the last change; final_model/ as one row."""
    paths = cell_paths(cell_dir)
    task, final = paths.task, paths.final_model
    start = agent_start(cell_dir)
    rows = []
    if not task.is_dir():
        return pd.DataFrame(columns=["path", "bytes", "minute", "by"])

    def minute(p: Path) -> float | None:
        return round((p.stat().st_mtime - start) / 60, 1) if start else None

    for rel in task_files(task):
        rows.append({"path": str(rel), "bytes": (task / rel).stat().st_size, "minute": minute(task / rel),
                     "by": "ptb" if rel.parts[0] in PROVIDED else "agent"})
    if final.is_dir():
        files = [f for f in final.rglob("*") if f.is_file()]
        rows.append({"path": f"final_model/ ({len(files)} files)", "bytes": sum(f.stat().st_size for f in files),
                     "minute": max((minute(f) for f in files), default=None, key=lambda v: v or 0),
                     "by": "agent"})
    return pd.DataFrame(rows, columns=["path", "bytes", "minute", "by"])


def agent_code(cell_dir: str | Path) -> dict[str, str]:
    """Text of the code and config files the agent wrote in its task folder."""
    task = cell_paths(cell_dir).task
    code = {}
    if not task.is_dir():
        return code
    for rel in task_files(task):
        p = task / rel
        if rel.parts[0] not in PROVIDED and p.suffix in CODE_SUFFIXES and p.stat().st_size <= MAX_CODE_BYTES:
            code[str(rel)] = _notebook_source(p) if p.suffix == ".ipynb" else p.read_text(errors="replace")
    return code


def _notebook_source(path: Path) -> str:
    """A notebook's code cells as plain text (in the JSON, quotes are escaped)."""
    try:
        cells = json.loads(path.read_text(errors="replace")).get("cells", [])
    except (json.JSONDecodeError, AttributeError):
        return path.read_text(errors="replace")
    return "\n".join("".join(c.get("source", "")) for c in cells if isinstance(c, dict))


def methods_in(code: dict[str, str]) -> list[str]:
    """Methods the code names: SFT, GRPO, DPO, ... plus how it fine-tunes (LoRA or full)."""
    text = "\n".join(code.values())
    found = [name for name, pattern in METHOD_PATTERNS.items() if re.search(pattern, text)]
    if any(m in found for m in TRAINING_METHODS) and not {"LoRA", "QLoRA"} & set(found):
        found.append("full FT")
    return found


def datasets_in(code: dict[str, str]) -> list[str]:
    """Hugging Face datasets the code loads by name (local files as `local <format>`)."""
    names = set()
    for text in code.values():
        for pattern in DATASET_PATTERNS:
            for name in re.findall(pattern, text):
                names.add(f"local {name}" if name in LOCAL_LOADERS else name)
    return sorted(names)


def timeline(cell_dir: str | Path) -> pd.DataFrame:
    """The run's phases in minutes from the agent's start: the budget, the agent, then the
    final-evaluation attempts; as points, the evaluate.py calls (where the trace has a clock)
    and the files the agent wrote (their last change)."""
    paths = cell_paths(cell_dir)
    rows = []
    result = json.loads(paths.result.read_text()) if paths.result.is_file() else {}
    cell = json.loads(paths.cell_json.read_text()) if paths.cell_json.is_file() else {}
    hours = result.get("hours", cell.get("hours"))
    if hours is not None:
        rows.append({"phase": "budget", "start": 0.0, "end": 60 * float(hours), "what": f"{float(hours):g} h"})
    used = result.get("time_taken_s")
    if used is not None:
        rows.append({"phase": "agent", "start": 0.0, "end": used / 60, "what": result.get("status", "")})
        t = used / 60
        for i, a in enumerate(result.get("eval_attempts", []), 1):
            rows.append({"phase": "final evaluation", "start": t, "end": t + a["seconds"] / 60,
                         "what": f"attempt {i}: max_tokens {a['max_tokens']}, exit {a['exit_code']}"})
            t += a["seconds"] / 60
    for c in eval_calls(cell_dir).itertuples():
        if c.minute is not None and not math.isnan(c.minute):
            rows.append({"phase": "evaluate.py call", "start": c.minute, "end": c.minute,
                         "what": f"call {c.call}: {c.score:.1f} on {c.n}"})
    for f in files_written(cell_dir).itertuples():
        if f.by == "agent" and f.minute is not None and not math.isnan(f.minute):
            rows.append({"phase": "file written", "start": f.minute, "end": f.minute, "what": f.path})
    return pd.DataFrame(rows, columns=["phase", "start", "end", "what"])


def integrity_evidence(cell_dir: str | Path) -> pd.DataFrame:
    """integrity.json as a table: one row per check, with its status and evidence."""
    path = cell_paths(cell_dir).integrity
    if not path.is_file():
        return pd.DataFrame([{"check": "-", "status": "missing", "summary": "no integrity.json (stage not reached)"}])
    data = json.loads(path.read_text())
    rows = [{"check": "verdict", "status": data.get("verdict"), "summary": "", "detail": ""}]
    for c in data.get("checks", []):
        detail = {k: v for k, v in c.items() if k not in ("name", "status", "summary")}
        rows.append({"check": c.get("name", "?"), "status": c.get("status"), "summary": c.get("summary", ""),
                     "detail": json.dumps(detail, default=str)[:2000]})
    return pd.DataFrame(rows)


def samples(cell_dir: str | Path, worst_first: bool = True, limit: int = 20) -> pd.DataFrame:
    """Per-sample results of the final evaluation (eval/samples.jsonl), worst or best first."""
    path = cell_paths(cell_dir).samples
    cols = ["index", "score", "answer", "target", "output", "prompt"]
    if not path.is_file():
        return pd.DataFrame(columns=cols)
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            messages = r.get("messages") or []
            prompt = messages[-1]["content"] if messages and isinstance(messages[-1], dict) else ""
            rows.append({"index": r.get("index"), "score": r.get("score"), "answer": r.get("answer"),
                         "target": r.get("target"), "output": r.get("output"), "prompt": prompt})
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["score", "index"], ascending=[worst_first, True]).head(limit).reset_index(drop=True)


# --- across runs (the takeaways) --------------------------------------------------------

def _agents_only(board: Leaderboard) -> pd.DataFrame:
    return board.cells[~board.cells.agent.isin(BASELINE_AGENTS)]


def budget_use(board: Leaderboard) -> pd.DataFrame:
    """Per agent: the share of its budget used, and how often it stopped early or ran out."""
    rows = []
    for agent, g in _agents_only(board).groupby("agent"):
        g = g.dropna(subset=["time_taken_s", "hours"])
        if g.empty:
            continue
        share = g.time_taken_s / (3600 * g.hours)
        rows.append({"agent": agent, "cells": len(g), "budget_h": g.hours.max(),
                     "used_h": g.time_taken_s.mean() / 3600, "share_used": share.mean(),
                     "stopped_early": int(((share < EARLY_FRACTION) & (g.status != "timeout")).sum()),
                     "ran_out": int((g.status == "timeout").sum())})
    return pd.DataFrame(rows, columns=["agent", "cells", "budget_h", "used_h", "share_used", "stopped_early",
                                       "ran_out"]).sort_values("share_used", ascending=False).reset_index(drop=True)


def cell_methods(board: Leaderboard) -> pd.DataFrame:
    """One row per agent cell: methods and datasets found in the code it wrote."""
    rows = []
    for c in _agents_only(board).itertuples():
        code = agent_code(c.path) if c.path else {}
        rows.append({"agent": c.agent, "cell": c.cell, "benchmark": c.benchmark, "files": len(code),
                     "methods": methods_in(code), "datasets": datasets_in(code)})
    return pd.DataFrame(rows, columns=["agent", "cell", "benchmark", "files", "methods", "datasets"])


def methods(board: Leaderboard) -> pd.DataFrame:
    """Per agent: in how many of its cells the code uses each method."""
    per_cell = cell_methods(board)
    rows = []
    for agent, g in per_cell.groupby("agent"):
        counts = Counter(m for ms in g.methods for m in ms)
        rows.append({"agent": agent, "cells": len(g), "no method found": int((g.methods.str.len() == 0).sum()),
                     **{m: counts.get(m, 0) for m in [*METHOD_PATTERNS, "full FT"]}})
    return pd.DataFrame(rows)


def datasets(board: Leaderboard) -> pd.DataFrame:
    """Datasets the agents' code loads: per agent and dataset, in how many cells."""
    per_cell = cell_methods(board)
    rows = Counter((c.agent, d) for c in per_cell.itertuples() for d in c.datasets)
    return pd.DataFrame([{"agent": a, "dataset": d, "cells": n} for (a, d), n in rows.items()],
                        columns=["agent", "dataset", "cells"]).sort_values(["agent", "cells"], ascending=[True, False],
                                                                            ignore_index=True)


def flags(board: Leaderboard) -> pd.DataFrame:
    """Per agent: how often flagged or unverified, and for what (the checks that found something)."""
    rows = []
    for agent, g in board.cells.groupby("agent"):
        reasons = Counter(r for f in g.findings if f for r in f.split(", "))
        not_run = Counter(r for f in g.unverified_checks if f for r in f.split(", "))
        rows.append({"agent": agent, "cells": len(g), "flagged": int((g.verdict == "flagged").sum()),
                     "flag_rate": (g.verdict == "flagged").mean(), "unverified": int((g.verdict == "unverified").sum()),
                     "clean": int((g.verdict == "clean").sum()),
                     "reasons": ", ".join(f"{r} ({n})" for r, n in reasons.most_common()),
                     "checks_not_run": ", ".join(f"{r} ({n})" for r, n in not_run.most_common())})
    return pd.DataFrame(rows).sort_values("flag_rate", ascending=False, ignore_index=True)


def instruct_scores(board: Leaderboard) -> dict[tuple[str, str], tuple[float, str]]:
    """Instruct score (percent) per (model, benchmark): this experiment's instruct cells, else published."""
    scores = {(m, b): (100 * s, "published") for m, row in published("instruct").items() for b, s in row.items()}
    own = board.cells[(board.cells.agent == "instruct") & board.cells.score.notna()]
    for (m, b), g in own.groupby(["model", "benchmark"]):
        scores[(m, b)] = (100 * g.score.mean(), "instruct cells")
    return scores


def beats_instruct(board: Leaderboard) -> pd.DataFrame:
    """(agent, model, benchmark) where the agent's mean over seeds, as counted, beats instruct."""
    inst = instruct_scores(board)
    rows = []
    for (agent, model, bench), g in _agents_only(board).groupby(["agent", "model", "benchmark"]):
        if (model, bench) in inst and g.value.mean() > inst[(model, bench)][0]:
            rows.append({"agent": agent, "model": model, "benchmark": bench, "agent_score": g.value.mean(),
                         "instruct_score": inst[(model, bench)][0], "instruct_from": inst[(model, bench)][1],
                         "seeds": len(g)})
    return pd.DataFrame(rows, columns=["agent", "model", "benchmark", "agent_score", "instruct_score",
                                       "instruct_from", "seeds"])


def takeaways(board: Leaderboard) -> list[str]:
    """The key findings, one sentence each, computed from the tables above."""
    lines = []
    ranked = board.table[board.table.kind == "agent"].dropna(subset=["avg"])
    if not ranked.empty:
        best = ranked.iloc[0]
        lines.append(f"Best agent: {best.agent} with {best.avg:.1f} (weighted average over {int(best.n_runs)} run(s)).")
    for row in board.table[board.table.agent.isin(("zero-shot", "instruct"))].itertuples():
        lines.append(f"{row.agent} row: {row.avg:.1f}.")
    for b in budget_use(board).itertuples():
        lines.append(f"{b.agent} uses {100 * b.share_used:.0f}% of its {b.budget_h:g} h budget on average; "
                     f"stops before half of it in {b.stopped_early} of {b.cells} cells; runs out in {b.ran_out}.")
    for m in methods(board).to_dict("records"):
        used = [f"{k} in {v}" for k, v in m.items() if k not in ("agent", "cells", "no method found") and v]
        found = ", ".join(used) if used else "none found in its code"
        lines.append(f"{m['agent']} methods (of {m['cells']} cells): {found}.")
    ds = datasets(board)
    for agent, g in ds.groupby("agent"):
        lines.append(f"{agent} trains on: {', '.join(f'{d.dataset} ({d.cells})' for d in g.itertuples())}.")
    for f in flags(board).itertuples():
        if f.flagged or f.unverified:
            lines.append(f"{f.agent}: flagged in {f.flagged} of {f.cells} cells ({100 * f.flag_rate:.0f}%)"
                         f"{': ' + f.reasons if f.reasons else ''}; unverified in {f.unverified}.")
    beats = beats_instruct(board)
    if beats.empty:
        lines.append("No agent beats the instruct model on any (model, benchmark).")
    for agent, g in beats.groupby("agent"):
        lines.append(f"{agent} beats the instruct model on {len(g)} (model, benchmark) pair(s): "
                     + ", ".join(f"{r.model.split('/')[-1]} {r.benchmark}" for r in g.itertuples()) + ".")
    return lines


def summary_markdown(board: Leaderboard) -> str:
    """The takeaways as a Markdown list."""
    return "\n".join(f"- {line}" for line in takeaways(board))
