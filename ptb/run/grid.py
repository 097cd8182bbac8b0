"""Run cells: one through papermill (`run_cell`), or a whole grid (`run_grid`).

A cell is finished exactly when its result.json exists. Re-running a grid skips finished
cells; an unfinished cell folder (an interrupted attempt) is moved to
`<experiment>/.attempts/` and the cell starts again from scratch. A lock per cell keeps
two processes from running the same cell.

The local executor runs one cell at a time on a CPU host, and up to N at once on a host
with N GPUs, each pinned to its GPU through CUDA_VISIBLE_DEVICES. Each cell runs as a
`ptb run` child in a PID namespace that dies with the grid process: killing the grid
(even with SIGKILL) leaves no cell, kernel or agent behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ptb import paths
from ptb.run.params import Cell, write_json_atomic
from ptb.paths import CellPaths, ExperimentPaths


class CellBusy(RuntimeError):
    pass


class CellFailed(RuntimeError):
    """The run notebook raised (a bug, not an expected failure): no result.json was written."""


@contextmanager
def cell_lock(cell_paths: CellPaths) -> Iterator[None]:
    cell_paths.lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(cell_paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CellBusy(f"cell {cell_paths.root.name} is being run by another process") from None
        yield
    finally:
        os.close(fd)


def is_finished(cell_paths: CellPaths) -> bool:
    return cell_paths.result.is_file()


def move_aside(exp: ExperimentPaths, cell_paths: CellPaths) -> Path | None:
    if not cell_paths.root.exists():
        return None
    exp.attempts.mkdir(parents=True, exist_ok=True)
    dest = exp.attempts / f"{cell_paths.root.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    cell_paths.root.rename(dest)
    return dest


def run_cell(cell: Cell, exp_dir: Path, *, force: bool = False) -> dict | None:
    """Execute notebooks/run_cell.ipynb for one cell; returns its result (None if skipped)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    exp = ExperimentPaths(Path(exp_dir).resolve())
    cp = exp.cell(cell.name)
    with cell_lock(cp):
        if is_finished(cp) and not force:
            return None
        move_aside(exp, cp)
        cp.root.mkdir(parents=True)
        try:
            papermill.execute_notebook(
                str(paths.NOTEBOOKS / "run_cell.ipynb"), str(cp.notebook),
                parameters={"cell": cell.to_dict(), "cell_dir": str(cp.root)},
                cwd=str(paths.NOTEBOOKS), progress_bar=False, log_output=False, kernel_name="python3",
            )
        except PapermillExecutionError as e:
            raise CellFailed(f"{cell.name}: notebook cell {e.exec_count} raised {e.ename}: {e.evalue} "
                             f"(see {cp.notebook})") from None
        if not is_finished(cp):
            raise CellFailed(f"{cell.name}: the notebook ended without writing result.json (see {cp.notebook})")
        return json.loads(cp.result.read_text())


# ------------------------------------------------------------------------ local executor


def visible_gpus() -> list[str]:
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                         text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def run_command(cell: Cell, out_root: Path) -> list[str]:
    """`ptb run --cell` for CELL, its cell JSON written beside the cell's log: every field reaches
    the run (every executor runs this command; the cell folder is moved aside before a run)."""
    spec = out_root / cell.experiment / ".logs" / f"{cell.name}.cell.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    cell.write(spec)
    return [sys.executable, "-m", "ptb", "run", "--cell", str(spec), "--out", str(out_root)]


def _dies_with_parent(cmd: list[str]) -> list[str]:
    # A PID namespace per cell, killed with everything in it when the grid process dies.
    # (No bwrap --proc here: its read-only overmounts would stop the sandbox inside from
    # mounting its own /proc. But /proc must show this namespace's PIDs, or the sandbox's
    # bwrap looks up its child under the host's PID of the same number and fails: a plain
    # proc, mounted by `unshare --mount-proc`.)
    return ["bwrap", "--dev-bind", "/", "/", "--unshare-pid", "--die-with-parent", "--",
            "unshare", "--mount-proc", "--", *cmd]


@dataclass
class _Running:
    cell: Cell
    proc: subprocess.Popen
    slot: str | None
    started: float


def write_plan(cells: list[Cell], out_root: Path) -> None:
    """`<experiment>/.grid.json`: the cells this grid runs, its pid and host, so the live view
    lists the cells not started yet and knows when the grid has gone."""
    for experiment in sorted({c.experiment for c in cells}):
        exp = ExperimentPaths(out_root / experiment)
        exp.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(exp.plan, {"cells": [c.name for c in cells if c.experiment == experiment],
                                     "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})


def run_grid(cells: list[Cell], out_root: Path, *, force: bool = False, say=print) -> dict[str, str]:
    """Run every cell; returns {cell name: outcome}, outcome being the result's status,
    'skipped' (already finished), or 'failed' (no result: see the cell's log)."""
    out_root = Path(out_root).resolve()
    write_plan(cells, out_root)
    slots: list[str | None] = list(visible_gpus()) or [None]
    outcomes: dict[str, str] = {}
    pending = []
    for cell in cells:
        cp = ExperimentPaths(out_root / cell.experiment).cell(cell.name)
        if is_finished(cp) and not force:
            outcomes[cell.name] = "skipped"
        else:
            pending.append(cell)
    say(f"grid: {len(cells)} cells, {len(outcomes)} already finished, {len(pending)} to run, "
        f"{len(slots)} at a time ({'GPUs ' + ','.join(s for s in slots if s) if slots[0] else 'CPU'})")
    running: list[_Running] = []
    started = last_report = time.monotonic()
    while pending or running:
        while pending and len(running) < len(slots):
            cell = pending.pop(0)
            slot = next(s for s in slots if s not in {r.slot for r in running})
            env = dict(os.environ)
            if slot is not None:
                env["CUDA_VISIBLE_DEVICES"] = slot
            log = ExperimentPaths(out_root / cell.experiment).log(cell.name)
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = run_command(cell, out_root) + (["--force"] if force else [])
            with open(log, "ab") as f:
                proc = subprocess.Popen(_dies_with_parent(cmd), stdout=f, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)
            running.append(_Running(cell, proc, slot, time.monotonic()))
            say(f"  start  {cell.name}" + (f" on GPU {slot}" if slot else ""))
        time.sleep(0.5)
        for r in [r for r in running if r.proc.poll() is not None]:
            running.remove(r)
            cp = ExperimentPaths(out_root / r.cell.experiment).cell(r.cell.name)
            if r.proc.returncode == 0 and is_finished(cp):
                res = json.loads(cp.result.read_text())
                outcomes[r.cell.name] = res["status"]
                score = f"{100 * res['score']:.1f}" if res["score"] is not None else "-"
                say(f"  done   {r.cell.name}: {res['status']}, score {score} ({_hms(time.monotonic() - r.started)})")
            else:
                outcomes[r.cell.name] = "failed"
                say(f"  FAILED {r.cell.name}: exit {r.proc.returncode}, see {out_root / r.cell.experiment / '.logs'}")
        if time.monotonic() - last_report > 30 and running:
            last_report = time.monotonic()
            say(f"  [{_hms(time.monotonic() - started)}] {len(outcomes)}/{len(cells)} finished, running: "
                + ", ".join(f"{r.cell.name} ({_hms(time.monotonic() - r.started)})" for r in running))
    failed = sum(1 for o in outcomes.values() if o == "failed")
    say(f"grid: done in {_hms(time.monotonic() - started)}: {len(outcomes) - failed} finished, {failed} failed")
    return outcomes


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
