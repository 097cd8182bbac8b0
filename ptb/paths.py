"""Every path ptb reads or writes, built in one place.

    outputs/<experiment>/                  ExperimentPaths
        <cell>/                            CellPaths
            cell.json                      the Cell, written first
            run_cell.ipynb                 the executed notebook
            task/                          the agent's working folder (all it may write)
                prompt.md  evaluate.py  timer.sh  templates/  final_model/
            agent/stdout.log stdout.times stderr.log agent.json trace.jsonl transcript.md
            sandbox/monitor.jsonl          resource samples while the agent runs (ptb/sandbox/monitor.py)
            eval/metrics.json samples.jsonl eval.log
            given_files.json               hashes of the files ptb gave the agent (tampering check)
            integrity.json
            result.json                    written last: the cell is finished iff it exists
        .attempts/<cell>-<time>-<pid>/     earlier attempts (interrupted, or replaced by --force)
        .logs/<cell>.log                   the grid's log of each cell's `ptb run`
        .logs/<cell>.cell.json             the cell the grid gave that `ptb run` (--cell)
        .grid.json                         the running local grid's plan: its cells, pid and host
        leaderboard.csv leaderboard.html leaderboard.txt   (leaderboard.txt: what `ptb leaderboard` prints)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PARAMETERS = ROOT / "parameters"
AGENTS = PARAMETERS / "agents"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def cache_dir() -> Path:
    """ptb's own cache (built models such as tiny-qwen3); PTB_CACHE overrides."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ptb"
    return Path(os.environ.get("PTB_CACHE", default))


@dataclass(frozen=True)
class CellPaths:
    root: Path

    @property
    def cell_json(self) -> Path:
        return self.root / "cell.json"

    @property
    def notebook(self) -> Path:
        return self.root / "run_cell.ipynb"

    @property
    def task(self) -> Path:
        return self.root / "task"

    @property
    def final_model(self) -> Path:
        return self.task / "final_model"

    @property
    def agent(self) -> Path:
        return self.root / "agent"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def integrity(self) -> Path:
        return self.root / "integrity.json"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def lock(self) -> Path:
        return self.root.parent / f".{self.root.name}.lock"


@dataclass(frozen=True)
class ExperimentPaths:
    root: Path

    def cell(self, name: str) -> CellPaths:
        return CellPaths(self.root / name)

    @property
    def attempts(self) -> Path:
        return self.root / ".attempts"

    @property
    def plan(self) -> Path:
        """The local grid's cells and process (`ptb.run.grid.write_plan`), read by the live view."""
        return self.root / ".grid.json"
