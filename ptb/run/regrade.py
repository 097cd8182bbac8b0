"""`ptb regrade`: the integrity stage and the final evaluation again, on finished cells,
without running the agents again (new checks, a fixed evaluator, a judge now reachable).

Each cell is taken under its lock (a cell being run is left alone) and its result.json
replaced atomically, as `ptb run` writes it; integrity.json holds the new evidence.
Cells that ended in infra_error never ran their agent and are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from ptb.run import cell as stages
from ptb import models
from ptb.errors import ConfigError
from ptb.run import grid, params
from ptb.run.records import AgentOutcome, EvalOutcome, Result
from ptb.paths import CellPaths


def cell_dirs(experiment_dir: Path) -> list[Path]:
    return sorted(p.parent for p in experiment_dir.glob("*/result.json") if not p.parent.name.startswith("."))


def _agent_outcome(paths: CellPaths, old: Result) -> AgentOutcome:
    recorded = paths.agent_json
    if recorded.is_file():
        return AgentOutcome(**json.loads(recorded.read_text()))
    return AgentOutcome(old.agent_exit_code, old.status == "timeout", old.time_taken_s)


def regrade_cell(cell_dir: Path, evaluate: bool = True) -> Result | str:
    """The new result.json, or why the cell was skipped."""
    paths = CellPaths(cell_dir.resolve())
    with grid.cell_lock(paths):
        return _regrade_locked(paths, evaluate)


def _regrade_locked(paths: CellPaths, evaluate: bool) -> Result | str:
    try:
        old = Result.read(paths.result)
    except ValueError as e:  # not a result.json that ptb wrote: the folder given is not (only) ptb's cells
        raise ConfigError(f"{e}; ptb regrade takes an experiment folder of `ptb run`'s cells") from None
    if old.status == "infra_error":
        return "skipped: infra_error (the agent never ran; run the cell again with --force)"
    cell = params.Cell.from_dict(json.loads(paths.cell_json.read_text()))
    try:
        agent = params.load_agent(cell.agent)
    except params.ParamError:
        agent = None  # a scripted or removed agent: integrity still runs, without its API-key names
    base = models.resolve(cell.model)
    submits_instruct = agent.needs_instruct_model if agent else cell.agent == "instruct"
    instruct = models.resolve_instruct(cell.model) if submits_instruct else None
    run = stages.CellRun(cell, paths, agent, stages.assigned_gpus(), base, instruct)
    final = stages.check_final_model(run)
    verdict = stages.check_integrity(run, final)
    if evaluate:
        ev = stages.evaluate(run, final)
    else:
        error = old.reason if old.status in ("eval_error", "no_final_model") else None
        ev = EvalOutcome(old.score, old.stderr, old.n, old.eval_attempts or [], error=error or None, metrics=old.eval)
    return stages.write_result(run, _agent_outcome(paths, old), final, verdict, ev)


def regrade(experiment_dir: Path, evaluate: bool = True, say=print) -> dict[str, str]:
    dirs = cell_dirs(experiment_dir)
    if not dirs:
        raise FileNotFoundError(f"{experiment_dir}: no finished cells (no */result.json)")
    outcomes = {}
    for d in dirs:
        try:
            out = regrade_cell(d, evaluate)
        except grid.CellBusy as e:
            out = f"skipped: {e}"
        if isinstance(out, str):
            outcomes[d.name] = out
        else:
            score = "-" if out.score is None else f"{100 * out.score:.1f}"
            outcomes[d.name] = f"status {out.status}, score {score}, integrity {out.integrity['verdict']}"
        say(f"{d.name}: {outcomes[d.name]}")
    return outcomes
