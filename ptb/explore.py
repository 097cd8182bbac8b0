"""The run explorer behind notebooks/explore_run.ipynb: pick an experiment, then a cell,
and see its transcript (scrollable, searchable), timeline, evaluate.py calls and scores,
the files the agent wrote, the integrity evidence and the per-sample results."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from ptb import analysis, charts, leaderboard

MAX_TRANSCRIPT_CHARS = 400_000  # the tail of longer traces: a browser tab stays responsive


def find_cells(dirs: list[str | Path]) -> dict[str, list[Path]]:
    """Experiments under DIRS (folders holding cell folders) -> their cells, by name."""
    found: dict[str, set[Path]] = {}
    for d in dirs:
        for cell in leaderboard.cell_folders(d):
            found.setdefault(str(cell.parent), set()).add(cell)
    if not found:
        raise ValueError(f"no cells (cell.json or result.json) under {', '.join(map(str, dirs))}")
    return {exp: sorted(cells) for exp, cells in sorted(found.items())}


def summary(cell_dir: str | Path) -> pd.DataFrame:
    """The cell's record (result.json, else cell.json while it runs), one field per row."""
    paths = analysis.cell_paths(cell_dir)
    source = paths.result if paths.result.is_file() else paths.cell_json
    record = json.loads(source.read_text()) if source.is_file() else {"status": "no cell.json or result.json"}
    return pd.DataFrame([{"field": k, "value": v if isinstance(v, str) else json.dumps(v)}
                         for k, v in record.items() if k != "packages"])


def transcript(cell_dir: str | Path, search: str = ""):
    """The agent's trace (the readable transcript.md where the trace was parsed, else the raw
    stdout; then stderr) in a scrollable box; with SEARCH, only the matching lines (numbered,
    matches highlighted)."""
    from IPython.display import HTML

    agent = analysis.cell_paths(cell_dir).agent
    parts = []
    for name in ("transcript.md" if (agent / "transcript.md").is_file() else "stdout.log", "stderr.log"):
        path = agent / name
        text = path.read_text(errors="replace") if path.is_file() else ""
        if len(text) > MAX_TRANSCRIPT_CHARS:
            cut = len(text) - MAX_TRANSCRIPT_CHARS
            text = f"[... first {cut} characters not shown ...]\n" + text[-MAX_TRANSCRIPT_CHARS:]
        lines = text.splitlines()
        if search:
            hits = [(i, line) for i, line in enumerate(lines, 1) if search.lower() in line.lower()]
            pattern = re.compile(re.escape(html.escape(search)), re.IGNORECASE)
            body = "\n".join(f"{i:6d}  " + pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", html.escape(line))
                             for i, line in hits)
            head = f"{name}: {len(hits)} line(s) with '{html.escape(search)}' of {len(lines)}"
        else:
            body, head = html.escape(text), f"{name}: {len(lines)} line(s)"
        parts.append(f"<b>{head}</b><pre style='max-height:420px;overflow:auto;border:1px solid #ddd;"
                     f"padding:6px;white-space:pre-wrap'>{body}</pre>")
    return HTML("".join(parts))


class Explorer:
    """ipywidgets pickers (experiment -> cell), a transcript search box and one tab per view."""

    TABS = ("Summary", "Transcript", "Timeline", "evaluate.py", "Files", "Integrity", "Samples")

    def __init__(self, dirs: list[str | Path], experiment: str | None = None, cell: str | None = None):
        import ipywidgets as w

        self.cells = find_cells(dirs)
        experiment = self._pick(experiment, list(self.cells), "experiment")
        self.experiment = w.Dropdown(options=list(self.cells), value=experiment, description="experiment",
                                     layout=w.Layout(width="95%"))
        names = [c.name for c in self.cells[experiment]]
        self.cell = w.Dropdown(options=names, value=self._pick(cell, names, "cell"), description="cell",
                               layout=w.Layout(width="95%"))
        self.search = w.Text(description="search", placeholder="text to find in the transcript",
                             continuous_update=False)
        self.outputs = {t: w.Output() for t in self.TABS}
        tabs = w.Tab(children=list(self.outputs.values()))
        for i, t in enumerate(self.TABS):
            tabs.set_title(i, t)
        self.widget = w.VBox([self.experiment, self.cell, self.search, tabs])
        self.experiment.observe(self._on_experiment, names="value")
        self.cell.observe(lambda _: self.render(), names="value")
        self.search.observe(lambda _: self._render_transcript(), names="value")
        self.render()

    @staticmethod
    def _pick(wanted: str | None, options: list[str], what: str) -> str:
        if wanted is None:
            return options[0]
        matches = [o for o in options if o == wanted or Path(o).name == wanted]
        if not matches:
            raise ValueError(f"{what} '{wanted}' not found (have: {', '.join(Path(o).name for o in options)})")
        return matches[0]

    @property
    def cell_dir(self) -> Path:
        return Path(self.experiment.value) / self.cell.value

    def _on_experiment(self, _) -> None:
        self.cell.options = [c.name for c in self.cells[self.experiment.value]]

    def _render_transcript(self) -> None:
        from IPython.display import display

        out = self.outputs["Transcript"]
        out.clear_output()
        with out:
            display(transcript(self.cell_dir, self.search.value))

    def render(self) -> None:
        """Fill every tab for the chosen cell."""
        from IPython.display import display

        run = self.cell_dir
        views = {
            "Summary": lambda: [summary(run)],
            "Timeline": lambda: [charts.show(charts.timeline(run)), analysis.timeline(run)],
            "evaluate.py": lambda: [charts.show(charts.eval_curve(run)), analysis.eval_calls(run)],
            "Files": lambda: [analysis.files_written(run)],
            "Integrity": lambda: [analysis.integrity_evidence(run)],
            "Samples": lambda: [_caption("worst first"), analysis.samples(run, worst_first=True),
                                _caption("best first"), analysis.samples(run, worst_first=False)],
        }
        for tab, view in views.items():
            out = self.outputs[tab]
            out.clear_output()
            with out:
                for item in view():
                    display(item)
        self._render_transcript()


def _caption(text: str):
    from IPython.display import HTML

    return HTML(f"<b>{html.escape(text)}</b>")
