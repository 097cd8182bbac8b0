"""The leaderboard's charts (altair), rendered offline to SVG by vl-convert: no CDN, no
JavaScript, so the HTML page and the notebooks show them anywhere.

Each function takes the Leaderboard (or one cell's folder) and returns an altair chart;
`show` displays one in a notebook; ptb/report/page.py puts them all (`ALL`) into one self-contained page.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import altair as alt
import pandas as pd

from ptb.agents.traces import KINDS
from ptb.report import analysis
from ptb.report.leaderboard import BASELINE_AGENTS, Leaderboard

KIND_COLORS = alt.Scale(domain=["agent", "baseline", "published"], range=["#4c78a8", "#bab0ac", "#f2cf5b"])
VERDICT_COLORS = alt.Scale(domain=["clean", "flagged", "unverified"], range=["#54a24b", "#e45756", "#bab0ac"])


def hm(hours: float) -> str:
    """Hours as H:MM."""
    if hours is None or math.isnan(hours):
        return "-"
    minutes = round(hours * 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _note(text: str):
    """A chart that says why there is nothing to draw (never a blank space)."""
    return alt.Chart(pd.DataFrame({"t": [text]})).mark_text(align="left", fontSize=13).encode(
        text="t:N").properties(width=520, height=30)


def chart_order(board: Leaderboard) -> list[str]:
    """Agents by average, the baseline rows at the ends: instruct first, zero-shot last."""
    t = board.table
    top = [a for a in ("instruct",) if a in set(t.agent)]
    bottom = [a for a in ("few-shot", "zero-shot") if a in set(t.agent)]
    middle = t[~t.agent.isin(BASELINE_AGENTS)].sort_values("avg", ascending=False, na_position="last").agent
    return top + list(middle) + bottom


def _labelled(board: Leaderboard) -> pd.DataFrame:
    """The table with a display label that marks agents with unverified cells."""
    return board.table.assign(
        label=lambda d: [f"{a} ({n} unverified)" if n and n > 0 else a
                         for a, n in zip(d.agent, d.n_unverified.fillna(0).astype(int))])


def main(board: Leaderboard):
    """Weighted average per agent: sorted bars, std error bars, baseline rows at the ends."""
    df = _labelled(board).assign(lo=lambda d: d.avg - d.avg_std.fillna(0), hi=lambda d: d.avg + d.avg_std.fillna(0))
    df = df.dropna(subset=["avg"])
    label = dict(zip(df.agent, df.label))
    order = [label[a] for a in chart_order(board) if a in label]
    title = f"weighted average score (%), weights {board.weights_scheme}"
    # Room right of the longest bar for its label, which would otherwise be clipped.
    scale = alt.Scale(domain=[0, max(float(df.hi.max()) * 1.15 if len(df) else 0, 1.0)])
    base = alt.Chart(df).encode(y=alt.Y("label:N", sort=order, title=None))
    bars = base.mark_bar().encode(
        x=alt.X("avg:Q", title=title, scale=scale),
        color=alt.Color("kind:N", scale=KIND_COLORS, legend=alt.Legend(title=None)),
        tooltip=["agent", alt.Tooltip("avg:Q", format=".1f"), alt.Tooltip("avg_std:Q", format=".1f"), "n_runs"],
    )
    errors = base.mark_errorbar().encode(x=alt.X("lo:Q", title=title, scale=scale), x2="hi:Q")
    text = base.mark_text(align="left", dx=4).encode(x=alt.X("hi:Q", scale=scale), text=alt.Text("avg:Q", format=".1f"))
    return (bars + errors + text).properties(width=520, height=26 * len(df), title="PostTrainBench leaderboard")


def benchmarks(board: Leaderboard):
    """Agent x benchmark: the per-benchmark value (mean over runs and models), as counted."""
    cols = [b for b in board.benchmarks if b in board.table]
    df = board.table.melt(id_vars=["agent"], value_vars=cols, var_name="benchmark", value_name="score").dropna()
    if df.empty:
        return _note("no per-benchmark scores")
    order = [a for a in chart_order(board) if a in set(df.agent)]
    base = alt.Chart(df).encode(x=alt.X("benchmark:N", sort=cols, title=None),
                                y=alt.Y("agent:N", sort=order, title=None))
    cells = base.mark_rect().encode(color=alt.Color("score:Q", scale=alt.Scale(scheme="blues", domain=[0, 100]),
                                                    title="score %"))
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("score:Q", format=".1f"),
        color=alt.condition("datum.score > 60", alt.value("white"), alt.value("black")))
    return (cells + text).properties(width=70 * len(cols), height=24 * len(order), title="Per benchmark (%)")


def models(board: Leaderboard):
    """Per agent: model x benchmark, mean over seeds of the value that counted."""
    df = board.cells.groupby(["agent", "model", "benchmark"], as_index=False).value.mean()
    df["model"] = df.model.map(lambda m: str(m).split("/")[-1])
    base = alt.Chart(df).encode(x=alt.X("benchmark:N", sort=board.benchmarks, title=None),
                                y=alt.Y("model:N", title=None))
    cells = base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(scheme="blues", domain=[0, 100]),
                                                    title="score %"))
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("value:Q", format=".0f"),
        color=alt.condition("datum.value > 60", alt.value("white"), alt.value("black")))
    return (cells + text).properties(width=60 * len(board.benchmarks), height=22 * df.model.nunique()).facet(
        facet=alt.Facet("agent:N", sort=chart_order(board), title=None), columns=2,
    ).properties(title="Per agent: model x benchmark (%)")


def time_used(board: Leaderboard):
    """Time used per agent out of its budget: mean +- std over cells, labelled H:MM +- H:MM."""
    df = board.table.dropna(subset=["time_used_h"]).assign(
        lo=lambda d: (d.time_used_h - d.time_used_std_h.fillna(0)).clip(lower=0),
        hi=lambda d: d.time_used_h + d.time_used_std_h.fillna(0),
        text=lambda d: [f"{hm(m)} ± {hm(s) if not math.isnan(s) else '0:00'}"
                        for m, s in zip(d.time_used_h, d.time_used_std_h)])
    if df.empty:
        return _note("no time recorded")
    order = [a for a in chart_order(board) if a in set(df.agent)]
    base = alt.Chart(df).encode(y=alt.Y("agent:N", sort=order, title=None))
    budget = base.mark_bar(color="#eeeeee").encode(x=alt.X("budget_h:Q", title="hours (grey: budget)"))
    used = base.mark_bar().encode(x="time_used_h:Q", color=alt.Color("kind:N", scale=KIND_COLORS, legend=None),
                                  tooltip=["agent", "text", "budget_h"])
    errors = base.mark_errorbar().encode(x=alt.X("lo:Q", title="hours (grey: budget)"), x2="hi:Q")
    text = base.mark_text(align="left", dx=4).encode(x="hi:Q", text="text:N")
    return (budget + used + errors + text).properties(width=520, height=26 * len(df), title="Time used of the budget")


def cost(board: Leaderboard):
    """Cost (USD) and tokens per run, per agent, where the scaffold reported them."""
    parts = []
    for col, title in (("cost_usd", "cost per run (USD)"), ("tokens", "tokens per run")):
        df = board.table.dropna(subset=[col])
        if not df.empty:
            parts.append(alt.Chart(df).mark_bar().encode(
                x=alt.X(f"{col}:Q", title=title), y=alt.Y("agent:N", sort="-x", title=None),
                tooltip=["agent", alt.Tooltip(f"{col}:Q", format=",.2f")]).properties(width=300, height=26 * len(df)))
    if not parts:
        return _note("no cost or token counts in these results (the scaffolds did not report them)")
    return alt.hconcat(*parts).properties(title="Cost and tokens")


def cost_per_point(board: Leaderboard):
    """Each agent's gain over the zero-shot row per dollar and per GPU-hour (per run), where known."""
    parts = []
    cols = board.table.columns
    for col, title in (("pts_per_usd", "points gained per USD of API cost"),
                       ("pts_per_gpu_h", "points gained per GPU-hour")):
        df = board.table.dropna(subset=[col]) if col in cols else pd.DataFrame()
        if not df.empty:
            parts.append(alt.Chart(df).mark_bar().encode(
                x=alt.X(f"{col}:Q", title=title), y=alt.Y("agent:N", sort="-x", title=None),
                tooltip=["agent", alt.Tooltip("gain:Q", format=".1f", title="gain (points)"),
                         alt.Tooltip(f"{col}:Q", format=",.2f")]).properties(width=300, height=26 * len(df)))
    if not parts:
        return _note("no cost per point: no API cost reported and no GPU time recorded")
    return alt.hconcat(*parts).properties(title="Gain over zero-shot per dollar and per GPU-hour")


def score_vs_time(board: Leaderboard):
    """Each cell: the score that counted against the hours the agent used."""
    df = board.cells.dropna(subset=["time_taken_s"]).assign(hours_used=lambda d: d.time_taken_s / 3600)
    if df.empty:
        return _note("no time recorded")
    return alt.Chart(df).mark_point(size=60, opacity=0.7, filled=True).encode(
        x=alt.X("hours_used:Q", title="hours used"), y=alt.Y("value:Q", title="score (%)"),
        color=alt.Color("agent:N"),
        shape=alt.Shape("verdict:N", scale=alt.Scale(domain=["clean", "flagged", "unverified"])),
        tooltip=["cell", "agent", "model", "benchmark", "seed", alt.Tooltip("value:Q", format=".1f"), "status",
                 "verdict"],
    ).properties(width=520, height=300, title="Score against time used")


def integrity(board: Leaderboard):
    """Integrity verdicts per agent (cells), flagged ones with their findings in the tooltip."""
    df = board.cells.groupby(["agent", "verdict"], as_index=False).agg(
        cells=("cell", "count"), findings=("findings", lambda f: ", ".join(sorted({x for x in f if x}))))
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("cells:Q", title="cells"), y=alt.Y("agent:N", sort=chart_order(board), title=None),
        color=alt.Color("verdict:N", scale=VERDICT_COLORS), tooltip=["agent", "verdict", "cells", "findings"],
    ).properties(width=520, height=26 * df.agent.nunique(), title="Integrity verdicts")


def eval_curve(cell_dir: str | Path):
    """One run: the agent's own evaluate.py scores, call by call (the final score as a rule)."""
    calls = analysis.eval_calls(cell_dir)
    if calls.empty:
        return _note(f"no evaluate.py calls in the trace of {Path(cell_dir).name}")
    calls = calls.astype(object).where(calls.notna(), None)  # JSON has no NaN
    # Minutes from the agent's start where the trace has a clock, else the call's number.
    x = (alt.X("minute:Q", title="minutes from the agent's start") if all(m is not None for m in calls.minute)
         else alt.X("call:Q", title="evaluate.py call", axis=alt.Axis(tickMinStep=1)))
    chart = alt.Chart(calls).mark_line(point=True).encode(
        x=x, y=alt.Y("score:Q", title="score (%)"), tooltip=["call", "minute", "score", "n", "model", "seconds"])
    result = analysis.cell_paths(cell_dir).result
    if result.is_file():
        score = json.loads(result.read_text()).get("score")
        if score is not None:
            final = alt.Chart(pd.DataFrame({"final": [100 * score]})).mark_rule(strokeDash=[4, 3], color="#e45756")
            chart += final.encode(y="final:Q", tooltip=[alt.Tooltip("final:Q", title="final evaluation")])
    return chart.properties(width=420, height=220, title=f"evaluate.py scores: {Path(cell_dir).name}")


def eval_curves(board: Leaderboard):
    """Every agent run's evaluate.py scores, call by call, one line per cell."""
    frames = [analysis.eval_calls(p)[["call", "score", "n"]].assign(cell=c, agent=a)
              for p, c, a in zip(board.cells.path, board.cells.cell, board.cells.agent)
              if p and a not in BASELINE_AGENTS]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return _note("no evaluate.py calls in any trace")
    return alt.Chart(pd.concat(frames, ignore_index=True)).mark_line(point=True, opacity=0.7).encode(
        x=alt.X("call:Q", title="evaluate.py call", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("score:Q", title="score (%)"),
        color="agent:N", detail="cell:N", tooltip=["cell", "call", "score", "n"],
    ).properties(width=520, height=260, title="The agents' own evaluate.py scores per run")


def timeline(cell_dir: str | Path):
    """One run: budget, agent, final-evaluation attempts (bars) and files written (ticks)."""
    df = analysis.timeline(cell_dir)
    if df.empty:
        return _note(f"no timeline for {Path(cell_dir).name} (not run yet?)")
    order = ["budget", "agent", "final evaluation", "evaluate.py call", "file written"]
    points = ["evaluate.py call", "file written"]
    y = alt.Y("phase:N", sort=order, title=None, scale=alt.Scale(domain=order))
    spans = alt.Chart(df[~df.phase.isin(points)]).mark_bar(height=14).encode(
        x=alt.X("start:Q", title="minutes from the agent's start"), x2="end:Q", y=y,
        color=alt.Color("phase:N", scale=alt.Scale(domain=order[:3], range=["#dddddd", "#4c78a8", "#f58518"]),
                        legend=None),
        tooltip=["phase", "what"])
    ticks = alt.Chart(df[df.phase.isin(points)]).mark_tick(thickness=2, size=14, color="#54a24b").encode(
        x="start:Q", y=y, tooltip=["phase", "what", "start"])
    return (spans + ticks).resolve_scale(color="independent").properties(
        width=520, height=150, title=f"Timeline: {Path(cell_dir).name}")


def to_svg(chart_obj) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart_obj.to_json())


def show(chart_obj):
    """Display a chart in a notebook as inline SVG (no JavaScript, no CDN)."""
    from IPython.display import SVG

    return SVG(to_svg(chart_obj))


ALL = {"Weighted average per agent": main, "Per benchmark": benchmarks, "Per agent: model x benchmark": models,
       "Time used": time_used, "Cost and tokens": cost, "Gain per dollar and per GPU-hour": cost_per_point,
       "Score against time used": score_vs_time,
       "Integrity": integrity, "evaluate.py scores per run": eval_curves}


# --- behaviour (ptb/report/behaviour.py): the profiles of agent runs ---------------------------

def tool_mix(runs: pd.DataFrame):
    """Per agent: the share of its tool calls of each kind."""
    df = runs.groupby("agent")[list(KINDS)].sum().reset_index().melt("agent", var_name="kind", value_name="calls")
    if df.calls.sum() == 0:
        return _note("no tool calls in these traces")
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("sum(calls):Q", stack="normalize", title="share of tool calls"), y=alt.Y("agent:N", title=None),
        color=alt.Color("kind:N", sort=list(KINDS)), order="kind:N", tooltip=["agent", "kind", "calls"],
    ).properties(width=480, height=26 * df.agent.nunique(), title="What the agents' tool calls do")


def endings(runs: pd.DataFrame):
    """Per agent: how its runs ended (finished early, finished, ran out of time, crashed)."""
    if runs.empty:
        return _note("no agent runs")
    order = ["finished early", "finished", "ran out of time", "crashed", "infra error", "running"]
    return alt.Chart(runs).mark_bar().encode(
        x=alt.X("count():Q", title="runs"), y=alt.Y("agent:N", title=None),
        color=alt.Color("ending:N", scale=alt.Scale(domain=order)), tooltip=["agent", "ending", "count()"],
    ).properties(width=480, height=26 * runs.agent.nunique(), title="How the runs ended")


def first_training(runs: pd.DataFrame):
    """Per run: minutes from the agent's start to its first training run, and to its first evaluate.py call."""
    df = runs.melt(["agent", "cell"], ["first_training_min", "first_eval_min"], var_name="event",
                   value_name="minute").dropna(subset=["minute"])
    if df.empty:
        return _note("no training run or evaluate.py call with a time in these traces")
    df["event"] = df.event.map({"first_training_min": "first training run", "first_eval_min": "first evaluate.py"})
    return alt.Chart(df).mark_circle(size=70, opacity=0.7).encode(
        x=alt.X("minute:Q", title="minutes from the agent's start"), y=alt.Y("agent:N", title=None),
        color="event:N", tooltip=["cell", "event", "minute"],
    ).properties(width=480, height=30 * df.agent.nunique(), title="When the agents first train and first evaluate")


def learning_curves(board: Leaderboard):
    """Every agent run's evaluate.py scores against the minutes since its start (its own learning curve)."""
    frames = [analysis.eval_calls(p).assign(cell=c, agent=a)
              for p, c, a in zip(board.cells.path, board.cells.cell, board.cells.agent)
              if p and a not in BASELINE_AGENTS]
    df = pd.concat([f for f in frames if not f.empty] or [pd.DataFrame()], ignore_index=True)
    if df.empty or df.minute.isna().all():
        return _note("no timed evaluate.py calls in these traces")
    return alt.Chart(df.dropna(subset=["minute"])).mark_line(point=True, opacity=0.7).encode(
        x=alt.X("minute:Q", title="minutes from the agent's start"), y=alt.Y("score:Q", title="evaluate.py score (%)"),
        color="agent:N", detail="cell:N", tooltip=["cell", "call", "minute", "score", "n"],
    ).properties(width=520, height=260, title="The agents' own learning curves (evaluate.py over time)")
