"""Aggregate result.json files into the PostTrainBench leaderboard.

Semantics (CONTRACT, reference/posttrainbench.md):
- a cell that is flagged, or has no score, counts as the zero-shot score of the same base
  model on the same benchmark: from this experiment's `zero-shot` cells (mean over their
  seeds), else the published baselines;
- a run is one seed of one agent; per run, a benchmark's value is the mean over models, and
  the run's average is the weighted sum over benchmarks (weights renormalised over the
  benchmarks present); a run counts only if it has every (model, benchmark) of its agent;
- per agent: mean and sample standard deviation of the run averages. Scores in percent.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# Published v1 weights: w_b = 1 / (mean instruct_b - mean base_b), normalised.
WEIGHTS_V1 = {
    "aime2025": 0.226537, "arenahardwriting": 0.090352, "bfcl": 0.074608, "gpqamain": 0.224622,
    "gsm8k": 0.093588, "healthbench": 0.184145, "humaneval": 0.106149,
}
BENCHMARK_ORDER = list(WEIGHTS_V1)

# Published zero-shot (base) and instruct scores, fraction correct.
_COLS = ["aime2025", "arenahardwriting", "bfcl", "gpqamain", "gsm8k", "healthbench", "humaneval"]
PUBLISHED_BASE = {
    m: dict(zip(_COLS, v)) for m, v in {
        "Qwen/Qwen3-1.7B-Base": (0.0, 0.00914, 0.0, 0.14063, 0.12661, 0.07538, 0.07927),
        "Qwen/Qwen3-4B-Base": (0.03333, 0.03418, 0.0, 0.13393, 0.41850, 0.13384, 0.36585),
        "HuggingFaceTB/SmolLM3-3B-Base": (0.03333, 0.00423, 0.0, 0.04911, 0.21077, 0.0, 0.06098),
        "google/gemma-3-4b-pt": (0.0, 0.00285, 0.06, 0.01563, 0.06141, 0.17039, 0.00610),
    }.items()
}
PUBLISHED_INSTRUCT = {
    m: dict(zip(_COLS, v)) for m, v in {
        "Qwen/Qwen3-1.7B-Base": (0.26667, 0.5, 0.94, 0.35491, 0.88476, 0.44919, 0.68902),
        "Qwen/Qwen3-4B-Base": (0.53333, 0.86839, 0.95, 0.44643, 0.93783, 0.52724, 0.77439),
        "HuggingFaceTB/SmolLM3-3B-Base": (0.26667, 0.492, 0.84, 0.33259, 0.82183, 0.29577, 0.70122),
        "google/gemma-3-4b-pt": (0.1, 0.948, 0.67, 0.31473, 0.83548, 0.46063, 0.69512),
    }.items()
}
BASELINE_AGENTS = ("zero-shot", "instruct")


@dataclass
class Leaderboard:
    table: pd.DataFrame  # one row per agent: agent, avg, avg_std, n_runs, <benchmarks>, ...
    weights: dict[str, float]
    notes: list[str] = field(default_factory=list)
    cells: pd.DataFrame | None = None  # one row per cell, with the value that counted


def load_results(dirs: list[str | Path]) -> list[dict]:
    results = []
    for d in dirs:
        d = Path(d)
        if not d.exists():
            raise FileNotFoundError(f"{d}: no such folder")
        for f in sorted(d.rglob("result.json")):
            if any(part.startswith(".") for part in f.relative_to(d).parts):
                continue  # .attempts/ and other hidden folders
            results.append(json.loads(f.read_text()) | {"_path": str(f.parent)})
    return results


def weights_for(benchmarks: list[str], scheme: str, results: list[dict]) -> tuple[dict[str, float], list[str]]:
    notes = []
    if scheme == "v1":
        table = dict(WEIGHTS_V1)
    elif scheme == "experiment":
        table = _experiment_weights(results)
    else:
        raise ValueError(f"unknown weights '{scheme}' (known: v1, experiment)")
    unknown = [b for b in benchmarks if b not in table]
    if unknown:
        fill = statistics.mean(table.values()) if table else 1.0
        notes.append(f"no {scheme} weight for {', '.join(unknown)}: given the mean weight")
        table |= {b: fill for b in unknown}
    total = sum(table[b] for b in benchmarks)
    return {b: table[b] / total for b in benchmarks}, notes


def _experiment_weights(results: list[dict]) -> dict[str, float]:
    """w_b = 1 / (instruct_b - zero-shot_b) from this experiment's own baseline cells."""
    by = defaultdict(list)
    for r in results:
        if r["agent"] in BASELINE_AGENTS and r.get("score") is not None:
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


def build(dirs: list[str | Path], weights: str = "v1") -> Leaderboard:
    results = load_results(dirs)
    if not results:
        raise ValueError(f"no result.json under {', '.join(map(str, dirs))}")
    zs = zero_shot_scores(results)
    notes: list[str] = []
    cells = []
    for r in results:
        flagged = r["integrity"]["verdict"] == "flagged"
        value, source = r.get("score"), "score"
        if flagged or value is None:
            key = (r["model"], r["benchmark"])
            if key in zs:
                value, source = zs[key], "zero-shot cells"
            elif r["benchmark"] in PUBLISHED_BASE.get(r["model"], {}):
                value, source = PUBLISHED_BASE[r["model"]][r["benchmark"]], "published zero-shot"
            else:
                value, source = 0.0, "no zero-shot score: 0"
                notes.append(f"{r['cell']}: no zero-shot score for {key} to substitute; counted as 0")
        cells.append({"agent": r["agent"], "model": r["model"], "benchmark": r["benchmark"], "seed": r["seed"],
                      "status": r["status"], "verdict": r["integrity"]["verdict"], "score": r.get("score"),
                      "value": 100 * value, "source": source, "time_taken_s": r.get("time_taken_s"),
                      "hours": r.get("hours")})
    cells_df = pd.DataFrame(cells)
    benchmarks = sorted(cells_df.benchmark.unique(), key=lambda b: (b not in BENCHMARK_ORDER, BENCHMARK_ORDER.index(b) if b in BENCHMARK_ORDER else b))
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
            per_bench = run.groupby("benchmark").value.mean()
            present = [b for b in benchmarks if b in per_bench]
            wsum = sum(w[b] for b in present)
            runs.append((sum(w[b] * per_bench[b] for b in present) / wsum, per_bench))
        avgs = [a for a, _ in runs]
        row = {"agent": agent,
               "avg": statistics.mean(avgs) if avgs else math.nan,
               "avg_std": statistics.stdev(avgs) if len(avgs) > 1 else math.nan,
               "n_runs": len(runs)}
        for b in benchmarks:
            vals = [pb[b] for _, pb in runs if b in pb]
            row[b] = statistics.mean(vals) if vals else math.nan
        row |= {"n_cells": len(group), "n_flagged": int((group.verdict == "flagged").sum()),
                "n_unverified": int((group.verdict == "unverified").sum()),
                "n_no_score": int(group.score.isna().sum()),
                "time_used_h": group.time_taken_s.mean() / 3600}
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("avg", ascending=False, na_position="last").reset_index(drop=True)
    if (table.n_unverified > 0).any():
        notes.append("n_unverified > 0: cells whose integrity could not be checked (not shown as clean)")
    return Leaderboard(table, w, notes, cells_df)


def chart(board: Leaderboard):
    """Weighted average per agent: sorted bars with std error bars, baseline rows marked."""
    import altair as alt

    df = board.table.assign(
        lo=lambda d: d.avg - d.avg_std.fillna(0), hi=lambda d: d.avg + d.avg_std.fillna(0),
        kind=lambda d: d.agent.map(lambda a: "baseline" if a in BASELINE_AGENTS else "agent"),
    )
    order = list(df.agent)
    base = alt.Chart(df).encode(y=alt.Y("agent:N", sort=order, title=None))
    bars = base.mark_bar().encode(
        x=alt.X("avg:Q", title="weighted average score (%)"),
        color=alt.Color("kind:N", scale=alt.Scale(domain=["agent", "baseline"], range=["#4c78a8", "#bab0ac"]),
                        legend=alt.Legend(title=None)),
        tooltip=["agent", alt.Tooltip("avg:Q", format=".1f"), alt.Tooltip("avg_std:Q", format=".1f"), "n_runs"],
    )
    errors = base.mark_errorbar().encode(x="lo:Q", x2="hi:Q")
    labels = base.mark_text(align="left", dx=4).encode(x="hi:Q", text=alt.Text("avg:Q", format=".1f"))
    return (bars + errors + labels).properties(width=520, height=28 * len(df), title="PostTrainBench leaderboard")


def to_svg(chart_obj) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart_obj.to_json())


def write(board: Leaderboard, out: str | Path) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / "leaderboard.csv", out / "leaderboard.html"
    board.table.to_csv(csv_path, index=False, float_format="%.2f")
    svg = to_svg(chart(board))
    weights = ", ".join(f"{b} {v:.3f}" for b, v in board.weights.items())
    notes = "".join(f"<li>{n}</li>" for n in board.notes)
    html_path.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>PostTrainBench leaderboard</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th{{background:#f3f3f3}}</style></head>
<body><h1>PostTrainBench leaderboard</h1>
<div class="chart">{svg}</div>
{board.table.to_html(index=False, float_format=lambda v: f"{v:.1f}", na_rep="")}
<p>Weights: {weights}</p><ul>{notes}</ul>
</body></html>
""")
    return csv_path, html_path
