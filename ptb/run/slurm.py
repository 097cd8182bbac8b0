"""The Slurm executor: every unfinished cell of a grid as one Slurm job, through submitit.

Each job executes exactly what the local executor runs for a cell: `ptb run` (the
notebook through papermill, the agent in its sandbox), writing into the same results
tree, which must therefore be on a file system shared by the login and compute nodes.
The cells of one submission form one job array; each job asks for `--gres=gpu:N` and a
time limit of the agent's hours + the evaluation allowance + a margin.

    <experiment>/.slurm/jobs.json         every job submitted, per cell, oldest first
    <experiment>/.slurm/submitit/         submitit's pickles and the jobs' own logs

A cell is finished exactly when its result.json exists (see ptb/run/grid.py): a job killed
mid-cell (time limit, out of memory, node failure, `ptb cancel`) leaves a folder without
one, and the next `ptb grid` moves it aside and runs the cell again. Re-running the grid
submits only cells that are neither finished nor queued or running. While `ptb grid`
follows its jobs it resubmits cells lost to the infrastructure (node failure, preemption)
up to `infra_retries` times; an agent that fails is a result, and a job that fails for
any other reason (a bug, the time limit, memory) is reported, not retried.

Ctrl-C stops following; the jobs keep running (`ptb status`, `ptb cancel`). Cancelled
jobs leave no process behind where the cluster tracks jobs by cgroup
(`ProctrackType=proctrack/cgroup`, the usual setting on GPU clusters); with
proctrack/linuxproc, processes that left the job's process tree can survive.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ptb.run import grid as local
from ptb.run.params import Cell, Grid, ParamError, write_json_atomic
from ptb.paths import ExperimentPaths

# Beyond the agent's hours and the evaluation: papermill and kernel start-up, copying the
# final model, integrity checks, writing the result.
MARGIN_MINUTES = 15
POLL_S = 5.0  # how often `ptb grid` asks Slurm about its jobs while following them

ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
          "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"}
INFRA = {"NODE_FAIL", "PREEMPTED", "BOOT_FAIL"}  # not the cell's fault: worth another try
REASONS = {
    "TIMEOUT": "Slurm time limit", "OUT_OF_MEMORY": "out of memory", "NODE_FAIL": "node failure",
    "PREEMPTED": "preempted", "BOOT_FAIL": "node failed to boot", "CANCELLED": "cancelled",
    "DEADLINE": "deadline reached", "FAILED": "job failed", "COMPLETED": "job ended without result.json",
}
# What slurmstepd writes into a job's log, for jobs Slurm has forgotten (no accounting).
LOG_MARKS = (("DUE TO TIME LIMIT", "TIMEOUT"), ("DUE TO NODE FAILURE", "NODE_FAIL"),
             ("DUE TO PREEMPTION", "PREEMPTED"), ("oom-kill", "OUT_OF_MEMORY"),
             ("Out Of Memory", "OUT_OF_MEMORY"), ("CANCELLED AT", "CANCELLED"))
RESULT_ERRORS = {"agent_error": "agent error", "no_final_model": "no final model", "eval_error": "evaluation error",
                 "infra_error": "infrastructure error in the cell"}


class SlurmError(RuntimeError):
    """Slurm is missing or refused a request: the message says which command and why."""


@dataclass(frozen=True)
class JobState:
    state: str  # a Slurm job state (PENDING, RUNNING, COMPLETED, TIMEOUT...), or UNKNOWN
    reason: str = ""  # Slurm's reason (pending jobs), or where the state was read from


@dataclass(frozen=True)
class CellStatus:
    cell: str
    state: str  # queued, running, done, failed, not run
    job_id: str | None
    detail: str


# ---------------------------------------------------------------------- the jobs' record


def slurm_dir(exp: ExperimentPaths) -> Path:
    return exp.slurm


def submitit_folder(exp: ExperimentPaths) -> Path:
    return slurm_dir(exp) / "submitit" / "%j"  # submitit puts each job's files in its own folder


@contextmanager
def _record(exp: ExperimentPaths) -> Iterator[dict]:
    """The experiment's record of submitted jobs, locked for a read-modify-write."""
    slurm_dir(exp).mkdir(parents=True, exist_ok=True)
    fd = os.open(exp.slurm_lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record = read_record(exp)
        yield record
        write_json_atomic(exp.slurm_jobs, record)
    finally:
        os.close(fd)


def read_record(exp: ExperimentPaths) -> dict:
    """{"cells": {name: Cell as a dict}, "jobs": {name: [{"job_id", "submitted"}, ...]}}."""
    path = exp.slurm_jobs
    return json.loads(path.read_text()) if path.is_file() else {"cells": {}, "jobs": {}}


def last_job(record: dict, cell: str) -> str | None:
    jobs = record["jobs"].get(cell)
    return jobs[-1]["job_id"] if jobs else None


# ------------------------------------------------------------------------- what Slurm says


def _slurm(*cmd: str) -> subprocess.CompletedProcess:
    if shutil.which(cmd[0]) is None:
        raise SlurmError(f"{cmd[0]} not found: run on a Slurm login node (or start one: tests/services/start_slurm.sh)")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _one_line(stderr: str) -> str:
    return "; ".join(line.strip() for line in stderr.splitlines() if line.strip())


def job_states(job_ids: list[str], folder: Path) -> dict[str, JobState]:
    """The state of each job: from squeue (jobs the controller still holds), else sacct
    (clusters with accounting), else the job's own log (clusters without)."""
    wanted = set(job_ids)
    states: dict[str, JobState] = {}
    if not wanted:
        return states
    out = _slurm("squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%r")
    if out.returncode != 0:
        raise SlurmError(f"squeue failed (is SLURM_CONF right?): {_one_line(out.stderr)}")
    for line in out.stdout.splitlines():
        job_id, state, reason = line.strip().split("|", 2)
        if job_id in wanted:
            states[job_id] = JobState(state, "" if reason == "None" else reason)
    missing = sorted(wanted - states.keys())
    if missing and shutil.which("sacct"):
        out = _slurm("sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(missing))
        if out.returncode == 0:  # fails where accounting is off
            for line in out.stdout.splitlines():
                job_id, state = line.split("|", 1)
                if job_id in missing:
                    states[job_id] = JobState(state.split()[0], "sacct")  # "CANCELLED by 0" -> CANCELLED
    for job_id in sorted(wanted - states.keys()):
        states[job_id] = _state_from_log(job_id, folder)
    return states


def _state_from_log(job_id: str, folder: Path) -> JobState:
    from submitit.core.utils import JobPaths, pickle_load

    job = JobPaths(folder, job_id=job_id, task_id=0)
    text = job.stderr.read_text(errors="replace") if job.stderr.is_file() else ""
    for mark, state in LOG_MARKS:
        if mark in text:
            return JobState(state, "from the job's log")
    if job.result_pickle.is_file():
        outcome = pickle_load(job.result_pickle)[0]  # ("success", value) or ("error", traceback)
        return JobState("COMPLETED" if outcome == "success" else "FAILED", "from submitit's result")
    return JobState("UNKNOWN", "Slurm no longer knows this job")


# ------------------------------------------------------------------------------ submitting


def sbatch_options(g: Grid) -> dict:
    """submitit's SlurmExecutor parameters for the grid's cells."""
    if g.slurm_gpus < 0 or g.slurm_eval_minutes < 0 or g.infra_retries < 0:
        raise ParamError("slurm_gpus, slurm_eval_minutes and infra_retries must be >= 0")
    extra: dict[str, str | bool] = {}
    for opt in g.slurm_extra:
        if not opt.startswith("--") or len(opt) < 3:
            raise ParamError(f"slurm_extra: '{opt}' is not a long sbatch option; write it as --name=value or --flag")
        name, sep, value = opt[2:].partition("=")
        extra[name] = value if sep else True
    # Slurm would requeue a job lost to a node failure on its own, without limit: ptb counts those tries.
    extra.setdefault("no-requeue", True)
    options = {
        "time": math.ceil(g.hours * 60) + g.slurm_eval_minutes + MARGIN_MINUTES,
        "partition": g.slurm_partition, "account": g.slurm_account, "qos": g.slurm_qos,
        "gres": f"gpu:{g.slurm_gpus}" if g.slurm_gpus else None,
        "job_name": f"ptb-{g.experiment}", "additional_parameters": extra,
        # No job step: submitit's --signal=USR2 (sent ahead of the time limit, for checkpointing)
        # reaches only job steps, and would kill `ptb run`, the agent and all (USR2 terminates).
        "use_srun": False,
    }
    return {k: v for k, v in options.items() if v is not None}


def run_cell_job(cell: Cell, out_root: str, force: bool) -> dict:
    """What each Slurm job executes: `ptb run` for its cell, as the local executor does."""
    exp = ExperimentPaths(Path(out_root) / cell.experiment)
    log = exp.log(cell.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = local.run_command(cell, Path(out_root)) + (["--force"] if force else [])
    env = os.environ
    job = "slurm job " + (f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if "SLURM_ARRAY_JOB_ID" in env
                          else env.get("SLURM_JOB_ID", "?"))
    with open(log, "ab") as f:
        # Times in the log: bench/slurm_overhead.py reads them.
        f.write(f"[{job} on {os.uname().nodename}, CUDA_VISIBLE_DEVICES="
                f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')}: start {time.time():.3f}]\n".encode())
        f.flush()
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        f.write(f"[{job}: `ptb run` exited {code} at {time.time():.3f}]\n".encode())
    result = exp.cell(cell.name).result
    if code != 0 or not result.is_file():
        raise local.CellFailed(f"{cell.name}: `ptb run` exited {code} without result.json: {_last_words(log)} "
                               f"(see {log})")
    return json.loads(result.read_text())


def _last_words(log: Path) -> str:
    """The last line `ptb run` wrote (its one-line error), skipping the job's own notes."""
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    said = [line for line in lines if line.strip() and not line.startswith("[slurm job")]
    return said[-1].strip() if said else "(nothing in the log)"


def submit(cells: list[Cell], g: Grid, out_root: Path, *, force: bool = False) -> list[str]:
    """Submit the cells as one job array; returns the job ids, in the cells' order."""
    import submitit
    from submitit.core.utils import FailedJobError

    if not cells:
        return []
    if shutil.which("sbatch") is None:
        raise SlurmError("sbatch not found: the slurm executor runs on a Slurm login node")
    exp = ExperimentPaths(out_root / g.experiment)
    executor = submitit.SlurmExecutor(folder=submitit_folder(exp), max_num_timeout=0)
    executor.update_parameters(**sbatch_options(g))
    try:
        # submitit also prints sbatch's complaint to stderr: it goes into the one-line error instead.
        with contextlib.redirect_stderr(io.StringIO()), executor.batch():
            jobs = [executor.submit(run_cell_job, cell, str(out_root), force) for cell in cells]
    except FailedJobError as e:  # sbatch refused (bad partition, account, option): its own words
        words = [line.removeprefix("sbatch: error: ").strip() for line in str(e).strip().splitlines()]
        raise SlurmError(f"sbatch refused the jobs: {'; '.join(w for w in words if w)}") from None
    with _record(exp) as record:
        for cell, job in zip(cells, jobs):
            record["cells"][cell.name] = cell.to_dict()
            record["jobs"].setdefault(cell.name, []).append({"job_id": job.job_id, "submitted": time.time()})
    return [job.job_id for job in jobs]


# ---------------------------------------------------------------------- status and cancel


def cell_statuses(exp_dir: Path) -> list[CellStatus]:
    """Every cell of the experiment (submitted, or with a folder), from Slurm and the cell folders."""
    exp = ExperimentPaths(Path(exp_dir).resolve())
    record = read_record(exp)
    names = set(record["cells"]) | {p.parent.name for p in exp.root.glob("*/cell.json")}
    ids = {name: last_job(record, name) for name in names}
    states = job_states([i for i in ids.values() if i], submitit_folder(exp))
    return [_status(exp, name, ids[name], states.get(ids[name])) for name in sorted(names)]


def _status(exp: ExperimentPaths, name: str, job_id: str | None, job: JobState | None) -> CellStatus:
    cp = exp.cell(name)
    if local.is_finished(cp):
        res = json.loads(cp.result.read_text())
        if res["status"] in RESULT_ERRORS:
            return CellStatus(name, "failed", job_id, f"{RESULT_ERRORS[res['status']]}: {res.get('reason', '')}")
        score = "-" if res["score"] is None else f"{100 * res['score']:.1f}"
        return CellStatus(name, "done", job_id, f"{res['status']}, score {score}")
    if job is None:
        return CellStatus(name, "not run", None, "no Slurm job (folder left by another executor)")
    if job.state == "PENDING":
        return CellStatus(name, "queued", job_id, job.reason)
    if job.state in ACTIVE:
        return CellStatus(name, "running", job_id, job.state.lower())
    reason = REASONS.get(job.state, job.state.lower())
    if job.state in ("FAILED", "COMPLETED"):
        reason += f": {_last_words(exp.root / '.logs' / f'{name}.log')}"
    return CellStatus(name, "failed", job_id, f"{reason}; `ptb grid` runs it again")


def cancel(exp_dir: Path, *, wait_s: float = 120) -> list[str]:
    """Cancel the experiment's queued and running jobs and wait until Slurm has ended them
    (their processes killed); returns the cancelled job ids."""
    exp = ExperimentPaths(Path(exp_dir).resolve())
    record = read_record(exp)
    ids = [j["job_id"] for jobs in record["jobs"].values() for j in jobs]
    active = [i for i, s in job_states(ids, submitit_folder(exp)).items() if s.state in ACTIVE]
    if not active:
        return []
    out = _slurm("scancel", *active)
    if out.returncode != 0:
        raise SlurmError(f"scancel {' '.join(active)} failed: {_one_line(out.stderr)}")
    deadline = time.monotonic() + wait_s
    while any(s.state in ACTIVE for s in job_states(active, submitit_folder(exp)).values()):
        if time.monotonic() > deadline:
            raise SlurmError(f"jobs {' '.join(active)} still not ended {wait_s:.0f} s after scancel: see squeue")
        time.sleep(0.5)
    return active


# ------------------------------------------------------------------------- the executor


def run_grid(g: Grid, cells: list[Cell], out_root: Path, *, force: bool = False, follow: bool = True,
             say: Callable[[str], None] = print) -> dict[str, str]:
    """Submit the unfinished cells and (unless follow=False) wait for them; returns
    {cell name: outcome} as the local executor does ('queued' for cells not followed)."""
    out_root = Path(out_root).resolve()
    exp = ExperimentPaths(out_root / g.experiment)
    sbatch_options(g)  # bad options: an error before anything is submitted
    record = read_record(exp)
    ids = {c.name: last_job(record, c.name) for c in cells}
    states = job_states([i for i in ids.values() if i], submitit_folder(exp))
    outcomes: dict[str, str] = {}
    todo, in_flight = [], {}
    for cell in cells:
        job = states.get(ids[cell.name])
        if job is not None and job.state in ACTIVE:
            in_flight[cell.name] = ids[cell.name]
        elif local.is_finished(exp.cell(cell.name)) and not force:
            outcomes[cell.name] = "skipped"
        else:
            todo.append(cell)
    new_ids = submit(todo, g, out_root, force=force)
    in_flight.update({c.name: i for c, i in zip(todo, new_ids)})
    say(f"grid: {len(cells)} cells, {len(outcomes)} already finished, {len(cells) - len(outcomes) - len(todo)} "
        f"already queued or running, {len(todo)} submitted to Slurm"
        + (f" (jobs {new_ids[0].split('_')[0]}_*)" if new_ids else ""))
    if not follow:
        say(f"grid: not following; `ptb status {exp.root}` shows progress, `ptb cancel {exp.root}` cancels")
        return outcomes | {name: "queued" for name in in_flight}
    try:
        return outcomes | _follow(g, exp, out_root, {c.name: c for c in cells}, in_flight, force, say)
    except KeyboardInterrupt:
        say(f"\ngrid: stopped following; the jobs keep running: `ptb status {exp.root}`, `ptb cancel {exp.root}`")
        raise


def _follow(g: Grid, exp: ExperimentPaths, out_root: Path, cells: dict[str, Cell], in_flight: dict[str, str],
            force: bool, say: Callable[[str], None]) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    retries = dict.fromkeys(in_flight, 0)
    started = time.monotonic()
    seen_running: set[str] = set()
    while in_flight:
        time.sleep(POLL_S)
        states = job_states(list(in_flight.values()), submitit_folder(exp))
        resubmit = []
        for name, job_id in list(in_flight.items()):
            job = states[job_id]
            if job.state == "RUNNING" and name not in seen_running:
                seen_running.add(name)
                say(f"  start  {name} (job {job_id})")
            if job.state in ACTIVE:
                continue
            del in_flight[name]
            cp = exp.cell(name)
            if local.is_finished(cp):
                res = json.loads(cp.result.read_text())
                outcomes[name] = res["status"]
                score = f"{100 * res['score']:.1f}" if res["score"] is not None else "-"
                say(f"  done   {name}: {res['status']}, score {score} ({local._hms(time.monotonic() - started)})")
            elif job.state in INFRA and retries[name] < g.infra_retries:
                retries[name] += 1
                resubmit.append(cells[name])
                say(f"  retry  {name}: job {job_id} {REASONS[job.state]} (retry {retries[name]} of {g.infra_retries})")
            else:
                outcomes[name] = "failed"
                say(f"  FAILED {name}: job {job_id}: {_status(exp, name, job_id, job).detail}")
        for cell, job_id in zip(resubmit, submit(resubmit, g, out_root, force=force)):
            in_flight[cell.name] = job_id
            seen_running.discard(cell.name)
    failed = sum(1 for o in outcomes.values() if o == "failed")
    say(f"grid: done in {local._hms(time.monotonic() - started)}: {len(outcomes) - failed} finished, {failed} failed")
    return outcomes
