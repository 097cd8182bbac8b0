"""Aggregate result.json files into the PostTrainBench leaderboard.

Semantics (CONTRACT, reference/posttrainbench.md):
- a cell that is flagged, or has no score, counts as the zero-shot score of the same base
  model on the same benchmark: from this experiment's `zero-shot` cells (mean over their
  seeds), else the published baselines;
- a run is one seed of one agent; per run, a benchmark's value is the mean over models, and
  the run's average is the weighted sum over benchmarks (weights renormalised over the
  benchmarks present); a run counts only if it has every (model, benchmark) of its agent;
- per agent: mean and sample standard deviation of the run averages. Scores in percent.
- `unverified` cells count with their score, and are counted (`n_unverified`) and marked.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ptb.benchmarks import BENCHMARKS, Benchmark
from ptb.errors import ConfigError
from ptb.paths import CellPaths
from ptb.run.records import Result


def _ranked() -> list[Benchmark]:
    """The benchmarks of the published leaderboard (those with a v1 weight), by id."""
    return sorted((b for b in BENCHMARKS.values() if b.weight_v1 is not None), key=lambda b: b.id)


def benchmark_order() -> list[str]:
    return [b.id for b in _ranked()]


def published(kind: str) -> dict[str, dict[str, float]]:
    """Model -> benchmark -> its published `kind` score ("base": zero-shot, "instruct", "fewshot"),
    fraction correct, from each benchmark's `published` baselines (few-shot has no BFCL)."""
    table = defaultdict(dict)
    for bench in _ranked():
        for row in bench.published:
            if getattr(row, kind) is not None:
                table[row.model][bench.id] = getattr(row, kind)
    return dict(table)


# Published v1 leaderboard, weighted average % (reference/posttrainbench.md); std where published.
PUBLISHED_AGENTS = {
    "Opus 4.6 (Claude Code)": (23.2, 1.8), "Gemini 3.1 Pro (OpenCode)": (21.6, None),
    "GPT-5.2 (Codex)": (21.4, None), "GPT 5.4": (20.2, None), "GPT 5.1 Codex Max": (19.7, None),
    "Gemini 3 Pro": (18.1, None), "Opus 4.5": (17.1, None), "Sonnet 4.6": (16.4, None),
    "GLM 5": (13.9, None), "Sonnet 4.5": (9.9, None),
}


def derived_weights(base: dict[str, dict[str, float]], instruct: dict[str, dict[str, float]],
                    benchmarks: list[str]) -> dict[str, float]:
    """w_b = 1 / (mean over models of instruct_b - base_b), normalised to sum 1."""
    inverse = {}
    for b in benchmarks:
        models = [m for m in base if b in base[m] and b in instruct.get(m, {})]
        gap = statistics.mean(instruct[m][b] for m in models) - statistics.mean(base[m][b] for m in models)
        if gap <= 0:
            raise ValueError(f"{b}: the instruct models do not beat the base models; no weight can be derived")
        inverse[b] = 1 / gap
    return {b: v / sum(inverse.values()) for b, v in inverse.items()}


def published_weights(scheme: str) -> dict[str, float]:
    """The published weights: v1's, w_b = 1 / (mean instruct_b - mean base_b) normalised; v1.2
    dropped BFCL and re-weighted by the same rule (the reference's scripts/compute_factors.py)
    over the remaining benchmarks, on its published baselines (scripts/baselines.json, which has
    no BFCL). A dropped benchmark keeps its column but gets weight 0."""
    if scheme == "v1":
        return {b.id: b.weight_v1 for b in _ranked()}
    kept = [b.id for b in _ranked() if b.weighted_v1_2]
    return derived_weights(published("base"), published("instruct"), kept) | {
        b.id: 0.0 for b in _ranked() if not b.weighted_v1_2}


WEIGHT_SCHEMES = ("v1", "v1.2", "experiment")
# Baseline rows; the chart puts them at the ends: instruct on top, zero-shot at the bottom.
BASELINE_AGENTS = ("zero-shot", "few-shot", "instruct")


@dataclass
class Leaderboard:
    table: pd.DataFrame  # one row per agent: agent, avg, avg_std, n_runs, <benchmarks>, counts, time, cost,
    # gain over zero-shot and its cost per point
    weights: dict[str, float]
    notes: list[str] = field(default_factory=list)
    cells: pd.DataFrame | None = None  # one row per cell, with the value that counted
    weights_scheme: str = "v1"
    unreadable: list[str] = field(default_factory=list)  # "path: why" of result.json files left out

    @property
    def benchmarks(self) -> list[str]:
        return list(self.weights)


def cell_folders(root: str | Path) -> list[Path]:
    """Cell folders under ROOT (holding cell.json or result.json). The walk does not enter a
    cell folder, so a result.json an agent writes in its task folder is never read as a
    cell; hidden folders (.attempts/, .logs/) are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    found = []
    for here, subdirs, files in os.walk(root):
        if "cell.json" in files or "result.json" in files:
            found.append(Path(here))
            subdirs.clear()
        else:
            subdirs[:] = sorted(s for s in subdirs if not s.startswith("."))
    return sorted(found)


def load_results(dirs: list[str | Path], unreadable: list[str] | None = None) -> list[dict]:
    """Every cell's result under DIRS (Result.read: a file without the fields every result.json
    has is not read); files that cannot be read go to UNREADABLE as "path: why"."""
    results = []
    for d in dirs:
        for cell in cell_folders(d):
            result = CellPaths(cell).result
            if result.is_file():
                try:
                    results.append(Result.read(result).to_dict() | {"_path": str(cell)})
                except ValueError as e:
                    if unreadable is None:
                        raise
                    unreadable.append(str(e))
    return results


def weights_for(benchmarks: list[str], scheme: str, results: list[dict]) -> tuple[dict[str, float], list[str]]:
    notes = []
    if scheme in ("v1", "v1.2"):
        table = published_weights(scheme)
    elif scheme == "experiment":
        table = _experiment_weights(results)
    else:
        raise ConfigError(f"unknown weights '{scheme}' (known: {', '.join(WEIGHT_SCHEMES)})")
    unknown = [b for b in benchmarks if b not in table]
    if unknown:
        known = [v for v in table.values() if v > 0]
        fill = statistics.mean(known) if known else 1.0
        notes.append(f"no {scheme} weight for {', '.join(unknown)}: given the mean of the {scheme} weights, "
                     "before the weights are renormalised over the benchmarks present")
        table |= {b: fill for b in unknown}
    total = sum(table[b] for b in benchmarks)
    if total <= 0:
        raise ConfigError(f"weights {scheme}: every benchmark present ({', '.join(benchmarks)}) has weight 0")
    if scheme == "v1.2":
        notes += [f"weights v1.2: {b} is shown but not weighted (dropped in v1.2)" for b in benchmarks if table[b] == 0]
    return {b: table[b] / total for b in benchmarks}, notes


def _experiment_weights(results: list[dict]) -> dict[str, float]:
    """w_b = 1 / (instruct_b - zero-shot_b) from this experiment's own baseline cells."""
    by = defaultdict(list)
    for r in results:
        if r["agent"] in ("zero-shot", "instruct") and r.get("score") is not None:
            by[(r["agent"], r["benchmark"])].append(r["score"])
    weights = {}
    for (agent, b) in list(by):
        if agent == "instruct" and ("zero-shot", b) in by:
            gap = statistics.mean(by[("instruct", b)]) - statistics.mean(by[("zero-shot", b)])
            if gap > 0:
                weights[b] = 1 / gap
    return weights


def zero_shot_scores(results: list[dict]) -> dict[tuple[str, str], float]:
    by = defaultdict(list)
    for r in results:
        if r["agent"] == "zero-shot" and r.get("score") is not None:
            by[(r["model"], r["benchmark"])].append(r["score"])
    return {k: statistics.mean(v) for k, v in by.items()}


def trace_summary(r: dict) -> dict:
    """The totals read from the agent's trace (agent/trace_summary.json), where there is one."""
    path = CellPaths(Path(r.get("_path", ""))).trace_summary
    return json.loads(path.read_text()) if r.get("_path") and path.is_file() else {}


def tokens_of(r: dict) -> float | None:
    """Tokens the agent used, where its scaffold reported them: the usage record's total
    (input, cached input and output; ptb.agents.traces.usage), else input + output tokens from
    result.json or the trace's totals (older results)."""
    for source in (r.get("usage") or {}, trace_summary(r)):
        if source.get("total_tokens") is not None:
            return float(source["total_tokens"])
    for source in (r, trace_summary(r)):
        parts = [source.get(k) for k in ("input_tokens", "output_tokens")]
        if any(p is not None for p in parts):
            return float(sum(p for p in parts if p is not None))
    return None


def cost_of(r: dict) -> float | None:
    if r.get("cost_usd") is not None:
        return float(r["cost_usd"])
    cost = trace_summary(r).get("cost_usd")
    return float(cost) if cost is not None else None


def findings_of(integrity: dict) -> list[str]:
    """Names of the integrity checks that found something (the reasons a cell is flagged)."""
    found = [c.get("name", "?") for c in integrity.get("checks", []) if c.get("status") == "flagged"]
    if integrity.get("verdict") == "flagged" and not found:
        found = ["flagged (no check named)"]
    return found


def unverified_of(integrity: dict) -> list[str]:
    """Names of the integrity checks that could not run (why a cell is unverified)."""
    return [c.get("name", "?") for c in integrity.get("checks", []) if c.get("status") in ("unverified", "not_run")]


def _cell_row(r: dict, value: float, source: str) -> dict:
    return {"experiment": r.get("experiment"), "cell": r.get("cell"), "agent": r["agent"], "model": r["model"],
            "benchmark": r["benchmark"], "seed": r["seed"], "status": r["status"],
            "verdict": r["integrity"]["verdict"], "findings": ", ".join(findings_of(r["integrity"])),
            "unverified_checks": ", ".join(unverified_of(r["integrity"])),
            "score": r.get("score"), "value": 100 * value, "source": source,
            "time_taken_s": r.get("time_taken_s"), "hours": r.get("hours"), "n_gpus": len(r.get("gpus") or []),
            "cost_usd": cost_of(r),
            "tokens": tokens_of(r), "path": r.get("_path")}


def build(dirs: list[str | Path], weights: str = "v1", reference: bool = False) -> Leaderboard:
    """The leaderboard of every result.json under DIRS; `reference` adds the published rows."""
    unreadable: list[str] = []
    results = load_results(dirs, unreadable)
    if not results:
        bad = f" ({len(unreadable)} unreadable: {unreadable[0]}{', ...' if len(unreadable) > 1 else ''})" if unreadable else ""
        raise ConfigError(f"no readable result.json under {', '.join(map(str, dirs))}{bad}: nothing to rank "
                         "(`ptb grid` or `ptb demo` makes some)")
    zs = zero_shot_scores(results)
    notes: list[str] = [f"left out, unreadable: {u}" for u in unreadable]
    cells = []
    for r in results:
        notes += [f"{r['cell']}: {n}" for n in r.get("notes") or [] if isinstance(n, str)]
        flagged = r["integrity"]["verdict"] == "flagged"
        value, source = r.get("score"), "score"
        if flagged or value is None:
            value, source = zero_shot_value(r["model"], r["benchmark"], zs)
            if value is None:
                value = 0.0
                notes.append(f"{r['cell']}: no zero-shot score for {(r['model'], r['benchmark'])} to substitute; "
                             "counted as 0")
        cells.append(_cell_row(r, value, source))
    cells_df = pd.DataFrame(cells)
    order = benchmark_order()
    benchmarks = sorted(cells_df.benchmark.unique(), key=lambda b: (b not in order, order.index(b) if b in order else b))
    w, wnotes = weights_for(benchmarks, weights, results)
    notes += wnotes

    rows = []
    for agent, group in cells_df.groupby("agent", sort=False):
        needed = set(zip(group.model, group.benchmark))
        runs = []
        for seed, run in group.groupby("seed"):
            if set(zip(run.model, run.benchmark)) != needed:
                notes.append(f"{agent} seed {seed}: incomplete run (missing cells), not counted")
                continue
            runs.append(run.groupby("benchmark").value.mean())
        avgs = [_weighted(per_bench, w) for per_bench in runs]
        row = {"agent": agent,
               "avg": statistics.mean(avgs) if avgs else math.nan,
               "avg_std": statistics.stdev(avgs) if len(avgs) > 1 else math.nan,
               "n_runs": len(runs)}
        for b in benchmarks:
            vals = [pb[b] for pb in runs if b in pb]
            row[b] = statistics.mean(vals) if vals else math.nan
        rows.append(row | _agent_extras(agent, group) | _cost_per_point(row["avg"], group, zs, w))
    table = pd.DataFrame(rows).sort_values("avg", ascending=False, na_position="last").reset_index(drop=True)
    if reference:
        table = pd.concat([table, published_rows(benchmarks, w)], ignore_index=True)
    counts = ["n_runs", "n_cells", "n_flagged", "n_unverified", "n_no_score"]
    table[counts] = table[counts].astype("Int64")  # published rows have no counts: empty, not 0.00
    if (table.n_unverified > 0).any():
        notes.append("n_unverified > 0: cells whose integrity could not be checked (not shown as clean)")
    return Leaderboard(table, w, notes, cells_df, weights, unreadable)


def zero_shot_value(model: str, benchmark: str, zs: dict[tuple[str, str], float]) -> tuple[float | None, str]:
    """What a flagged or score-less cell counts as: this experiment's zero-shot cells, else published."""
    if (model, benchmark) in zs:
        return zs[(model, benchmark)], "zero-shot cells"
    base = published("base")
    if benchmark in base.get(model, {}):
        return base[model][benchmark], "published zero-shot"
    return None, "no zero-shot score: 0"


def _cost_per_point(avg: float, group: pd.DataFrame, zs: dict[tuple[str, str], float], w: dict[str, float]) -> dict:
    """The agent's gain over the zero-shot row (the same weighting over its own (model,
    benchmark) cells) per dollar of API cost and per GPU-hour of the agent's time, both per
    run; NaN where the cost is unknown or no GPU was used."""
    if group.agent.iloc[0] in BASELINE_AGENTS:
        return {}
    pairs = group[["model", "benchmark"]].drop_duplicates()
    zero = pairs.assign(value=[zero_shot_value(m, b, zs)[0] for m, b in zip(pairs.model, pairs.benchmark)])
    gain = avg - 100 * _weighted(zero.dropna().groupby("benchmark").value.mean(), w)
    seeds = group.seed.nunique()
    cost = group.cost_usd.sum() / seeds if group.cost_usd.notna().any() else math.nan
    gpu_h = (group.time_taken_s.fillna(0) * group.n_gpus).sum() / 3600 / seeds
    return {"gain": gain, "gpu_h": gpu_h if gpu_h > 0 else math.nan,
            "pts_per_usd": gain / cost if cost > 0 else math.nan,
            "pts_per_gpu_h": gain / gpu_h if gpu_h > 0 else math.nan}


def _weighted(per_bench: pd.Series | dict, w: dict[str, float]) -> float:
    present = [b for b in w if b in per_bench]
    total = sum(w[b] for b in present)
    return sum(w[b] * per_bench[b] for b in present) / total if total else math.nan  # e.g. only bfcl under v1.2


def _agent_extras(agent: str, group: pd.DataFrame) -> dict:
    seeds = group.seed.nunique()
    times = group.time_taken_s.dropna() / 3600
    cost, tokens = group.cost_usd.dropna(), group.tokens.dropna()
    return {"kind": "baseline" if agent in BASELINE_AGENTS else "agent",
            "n_cells": len(group), "n_flagged": int((group.verdict == "flagged").sum()),
            "n_unverified": int((group.verdict == "unverified").sum()),
            "n_no_score": int(group.score.isna().sum()),
            "time_used_h": times.mean() if len(times) else math.nan,
            "time_used_std_h": times.std() if len(times) > 1 else math.nan,  # across cells
            "budget_h": group.hours.max(),
            # per run (seed): the sum over its cells, where the scaffold reported it
            "cost_usd": cost.sum() / seeds if len(cost) else math.nan,
            "tokens": tokens.sum() / seeds if len(tokens) else math.nan}


def published_rows(benchmarks: list[str], w: dict[str, float]) -> pd.DataFrame:
    """The published reference rows, for comparison: base, few-shot, instruct (computed with
    these weights over these benchmarks, where the four models are among the published ones)
    and the published agents (their published average only)."""
    rows, base = [], published("base")
    for name, kind in (("published: zero-shot", "base"), ("published: few-shot", "fewshot"),
                       ("published: instruct", "instruct")):
        # Few-shot has no BFCL score: like any score-less cell it counts as zero-shot (this
        # gives the published 18.1 with the v1 weights).
        table = {m: base[m] | scores for m, scores in published(kind).items()}
        per_bench = {b: 100 * statistics.mean(table[m][b] for m in table) for b in benchmarks
                     if all(b in table[m] for m in table)}
        rows.append({"agent": name, "avg": _weighted(per_bench, w) if per_bench else math.nan, "avg_std": math.nan,
                     **per_bench, "kind": "published"})
    for name, (avg, std) in PUBLISHED_AGENTS.items():
        rows.append({"agent": f"published v1: {name}", "avg": avg, "avg_std": std if std is not None else math.nan,
                     "kind": "published"})
    return pd.DataFrame(rows)


def counts_as_text(table: pd.DataFrame, na: str) -> pd.DataFrame:
    """A copy with the count columns as text, NA where there are none (published rows):
    pandas' na_rep does not reach the NA of integer columns."""
    table = table.copy()
    for c in table:
        if str(table[c].dtype) == "Int64":
            table[c] = [na if pd.isna(v) else str(int(v)) for v in table[c]]
    return table


def to_text(board: Leaderboard) -> str:
    """The main columns as plain text (what `ptb leaderboard` prints), then the notes."""
    cols = ["agent", "avg", "avg_std", "n_runs", *board.weights, "n_unverified"]
    text = counts_as_text(board.table[cols], "-").to_string(index=False, float_format=lambda v: f"{v:.1f}", na_rep="-")
    return text + "".join(f"\nnote: {n}" for n in board.notes)
