"""The run explorer behind notebooks/explore_run.ipynb: pick an experiment, then a cell,
and see its behaviour profile, transcript (scrollable, searchable, each event a link
target), timeline, evaluate.py calls and scores, the files the agent wrote, the integrity
evidence with the run's near misses (each linked into the transcript) and the per-sample
results."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from ptb.errors import ConfigError
from ptb.report import analysis, behaviour, charts, leaderboard

MAX_TRANSCRIPT_CHARS = 400_000  # the tail of longer traces: a browser tab stays responsive


def find_cells(dirs: list[str | Path]) -> dict[str, list[Path]]:
    """Experiments under DIRS (folders holding cell folders) -> their cells, by name."""
    found: dict[str, set[Path]] = {}
    for d in dirs:
        for cell in leaderboard.cell_folders(d):
            found.setdefault(str(cell.parent), set()).add(cell)
    if not found:
        raise ConfigError(f"no cells (cell.json or result.json) under {', '.join(map(str, dirs))}")
    return {exp: sorted(cells) for exp, cells in sorted(found.items())}


def summary(cell_dir: str | Path) -> pd.DataFrame:
    """The cell's record (result.json, else cell.json while it runs), one field per row."""
    paths = analysis.cell_paths(cell_dir)
    source = paths.result if paths.result.is_file() else paths.cell_json
    record = json.loads(source.read_text()) if source.is_file() else {"status": "no cell.json or result.json"}
    return pd.DataFrame([{"field": k, "value": v if isinstance(v, str) else json.dumps(v)}
                         for k, v in record.items() if k != "packages"])


def event_anchor(cell_dir: str | Path, event: int) -> str:
    """The HTML id of an event's heading in a cell's transcript (unique across cells)."""
    return "ptb-" + re.sub(r"[^\w-]", "-", Path(cell_dir).name) + f"-event-{event}"


def _anchored(cell_dir: str | Path, escaped: str) -> str:
    """transcript.md's event headings ('### 12. tool_call ...') as link targets."""
    return re.sub(r"^### (\d+)\.", lambda m: f'<a id="{event_anchor(cell_dir, int(m.group(1)))}"></a>### {m.group(1)}.',
                  escaped, flags=re.MULTILINE)


def transcript(cell_dir: str | Path, search: str = "", around: int | None = None):
    """The agent's trace (the readable transcript.md where the trace was parsed, else the raw
    stdout; then stderr) in a scrollable box, each event's heading a link target; with SEARCH,
    only the matching lines (numbered, matches highlighted); with AROUND, the events around
    that one (it highlighted)."""
    from IPython.display import HTML

    if around is not None:
        return HTML(_events_around(cell_dir, around))
    paths = analysis.cell_paths(cell_dir)
    parts = []
    for path in (paths.transcript if paths.transcript.is_file() else paths.stdout, paths.stderr):
        name = path.name
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
            body, head = _anchored(cell_dir, html.escape(text)), f"{name}: {len(lines)} line(s)"
        parts.append(f"<b>{head}</b><pre style='max-height:420px;overflow:auto;border:1px solid #ddd;"
                     f"padding:6px;white-space:pre-wrap'>{body}</pre>")
    return HTML("".join(parts))


def behaviour_table(cell_dir: str | Path) -> pd.DataFrame:
    """The run's behaviour profile (ptb/report/behaviour.py), one measure per row."""
    return pd.DataFrame([{"measure": k, "value": v if isinstance(v, str) else json.dumps(v, default=str)}
                         for k, v in behaviour.profile(cell_dir).items()])


AROUND_BEFORE, AROUND_AFTER = 3, 8  # events shown around a near miss


def _events_around(cell_dir: str | Path, event: int) -> str:
    events = behaviour.events_of(cell_dir)
    window = [e for e in events if event - AROUND_BEFORE <= e["i"] <= event + AROUND_AFTER]
    if not window:
        return f"<b>event {event}: not in this cell's trace ({len(events)} events)</b>"
    parts = []
    for e in window:
        style = "background:#fff3bf;" if e["i"] == event else ""
        head = f"{e['i']}. {e['type']}" + (f" {e['tool']}" if e["tool"] else "") + (f" ({e['role']})" if e["role"] else "")
        parts.append(f'<div style="{style}padding:2px 4px"><b>{html.escape(head)}</b>'
                     f'<pre style="white-space:pre-wrap;margin:2px 0">{html.escape(e["text"][:4000])}</pre></div>')
    return (f"<b>events {window[0]['i']}-{window[-1]['i']} of {len(events)} around event {event}</b>"
            f"<div style='max-height:420px;overflow:auto;border:1px solid #ddd'>{''.join(parts)}</div>")


def near_misses(cell_dir: str | Path):
    """The run's near misses as a table whose event numbers link into its transcript."""
    from IPython.display import HTML

    nm = behaviour.near_misses(cell_dir)
    if nm.empty:
        return HTML("<i>No mention of a forbidden resource in this trace.</i>")

    def cell(col: str, v) -> str:
        if col in ("event", "action_event") and pd.notna(v) and v != "":
            return f'<a href="#{event_anchor(cell_dir, int(v))}">{int(v)}</a>'
        return html.escape("" if pd.isna(v) else str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in nm.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(c, v)}</td>" for c, v in zip(nm.columns, row)) + "</tr>"
                   for row in nm.itertuples(index=False))
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


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
        self.goto = w.Dropdown(description="near miss", options=[], layout=w.Layout(width="95%"))
        self.outputs = {t: w.Output() for t in self.TABS}
        self.tabs = w.Tab(children=list(self.outputs.values()))
        for i, t in enumerate(self.TABS):
            self.tabs.set_title(i, t)
        self.widget = w.VBox([self.experiment, self.cell, self.search, self.goto, self.tabs])
        self.experiment.observe(self._on_experiment, names="value")
        self.cell.observe(lambda _: self.render(), names="value")
        self.search.observe(lambda _: self._render_transcript(), names="value")
        self.goto.observe(lambda change: change["new"] is not None and self.show_event(change["new"]), names="value")
        self.render()

    @staticmethod
    def _pick(wanted: str | None, options: list[str], what: str) -> str:
        if wanted is None:
            return options[0]
        matches = [o for o in options if o == wanted or Path(o).name == wanted]
        if not matches:
            raise ConfigError(f"{what} '{wanted}' not found (have: {', '.join(Path(o).name for o in options)})")
        return matches[0]

    @property
    def cell_dir(self) -> Path:
        return Path(self.experiment.value) / self.cell.value

    def _on_experiment(self, _) -> None:
        self.cell.options = [c.name for c in self.cells[self.experiment.value]]

    def _render_transcript(self, around: int | None = None) -> None:
        from IPython.display import display

        out = self.outputs["Transcript"]
        out.clear_output()
        with out:
            display(transcript(self.cell_dir, self.search.value, around))

    def show_event(self, event: int) -> None:
        """Open the Transcript tab at an event (the near-miss picker calls this)."""
        self.tabs.selected_index = self.TABS.index("Transcript")
        self._render_transcript(around=event)

    def render(self) -> None:
        """Fill every tab for the chosen cell."""
        from IPython.display import display

        run = self.cell_dir
        nm = behaviour.near_misses(run)
        self.goto.options = [(f"event {r.event}: {r.category} ({r.outcome})", int(r.event)) for r in nm.itertuples()]
        self.goto.value = None
        views = {
            "Summary": lambda: [summary(run), _caption("Behaviour"), behaviour_table(run)],
            "Timeline": lambda: [charts.show(charts.timeline(run)), analysis.timeline(run)],
            "evaluate.py": lambda: [charts.show(charts.eval_curve(run)), analysis.eval_calls(run)],
            "Files": lambda: [analysis.files_written(run)],
            "Integrity": lambda: [analysis.integrity_evidence(run), _caption("Near misses: mentions of a forbidden "
                                  "resource and what the agent did next (pick one above to open the transcript there)"),
                                  near_misses(run)],
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
