"""The leaderboard's files: leaderboard.csv (the table), leaderboard.html (tables and every
chart inline, nothing loaded from elsewhere) and leaderboard.txt (what `ptb leaderboard` prints)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ptb.report.charts import ALL, hm, to_svg
from ptb.report.leaderboard import Leaderboard, counts_as_text, to_text


def write(board: Leaderboard, out: str | Path) -> tuple[Path, Path]:
    """leaderboard.csv, leaderboard.html and leaderboard.txt in OUT; the CSV's and the page's paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / "leaderboard.csv", out / "leaderboard.html"
    board.table.to_csv(csv_path, index=False, float_format="%.2f")
    html_path.write_text(html_page(board))
    (out / "leaderboard.txt").write_text(to_text(board) + "\n")
    return csv_path, html_path


def html_page(board: Leaderboard) -> str:
    """leaderboard.html: tables and every chart inline (SVG), nothing loaded from elsewhere."""
    sections = "\n".join(f'<h2>{html.escape(title)}</h2>\n<div class="chart">{to_svg(make(board))}</div>'
                         for title, make in ALL.items())
    weights = ", ".join(f"{b} {v:.3f}" for b, v in board.weights.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in board.notes)
    # Hours as H:MM: one decimal shows 0.24 h and 0.25 h both as 0.2.
    hours = {c: [hm(v) if not pd.isna(v) else "" for v in board.table[c]]
             for c in ("time_used_h", "time_used_std_h", "budget_h") if c in board.table}
    table = counts_as_text(board.table.assign(**hours), "").to_html(index=False, float_format=lambda v: f"{v:.1f}",
                                                                      na_rep="")
    unreadable = "".join(f"<li>{html.escape(u)}</li>" for u in board.unreadable)
    flagged = board.cells[board.cells.verdict != "clean"][
        ["cell", "status", "verdict", "findings", "score", "value", "source"]]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>PostTrainBench leaderboard</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th{{background:#f3f3f3}}
.chart{{margin:1em 0}} .scroll{{overflow-x:auto;max-width:100%}}</style></head>
<body><h1>PostTrainBench leaderboard</h1>
<p>Scores in percent. Flagged or score-less cells count as the zero-shot score; runs are seeds;
average weighted over benchmarks (weights {html.escape(board.weights_scheme)}: {weights});
± is the sample std across runs; times in H:MM.
Agents with unverified cells are marked in the chart: their integrity could not be checked.</p>
{f"<p><b>Left out: {len(board.unreadable)} unreadable result.json</b></p><ul>{unreadable}</ul>" if unreadable else ""}
<div class="scroll">{table}</div>
{sections}
<h2>Cells not verified clean</h2>
<div class="scroll">{flagged.to_html(index=False, float_format=lambda v: f"{v:.1f}", na_rep="")}</div>
<h2>Notes</h2><ul>{notes}</ul>
</body></html>
"""
