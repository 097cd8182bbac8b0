"""The Slurm executor against a real single-node Slurm with two fake GPUs
(tests/services/start_slurm.sh): same leaderboard as the local executor, one GPU per job,
cancel then resume, retries after a node failure."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, ptb, survivors
from ptb.run import params
from ptb.paths import CellPaths

CELL = "{agent}__tiny-qwen3__arith__s{seed}"


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    res = subprocess.run(["bash", str(ROOT / "tests/services/start_slurm.sh")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    conf = res.stdout.strip().splitlines()[-1].removeprefix("SLURM_CONF=")
    os.environ["SLURM_CONF"] = conf  # the jobs inherit it, and so do `ptb` and submitit's sbatch/squeue
    return conf


def grid_file(tmp_path: Path, agent: str, seeds: list[int], experiment: str, hours: float = 0.02, **extra) -> Path:
    p = tmp_path / f"{experiment}.yaml"
    lines = [f"experiment: {experiment}", f"agents: [{agent}]", "models: [tiny-qwen3]", "benchmarks: [arith]",
             f"seeds: {seeds}", f"hours: {hours}", "eval_limit: 10", "engine: transformers", "executor: slurm"]
    p.write_text("\n".join(lines + [f"{k}: {json.dumps(v)}" for k, v in extra.items()]) + "\n")
    return p


def scontrol(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True)
    return dict(field.split("=", 1) for field in out.stdout.split() if "=" in field)


def wait_for(predicate, what: str, timeout: float = 240, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert proc is None or proc.poll() is None, f"the grid ended while waiting for {what}"
        time.sleep(0.3)


def test_demo_grid_same_leaderboard_as_local_executor(tmp_path, slurm_cluster, tiny_model):
    # The demo grid: the sft-baseline runs a fixed 900 steps, well inside its budget even on a
    # loaded host, so the scores differ only by float noise. Room for both cells' whole budgets.
    boards = {}
    budget_s = params.load_grid(ROOT / "parameters/demo.yaml").hours * 3600
    for executor in ("local", "slurm"):
        out = tmp_path / executor
        res = ptb("grid", ROOT / "parameters/demo.yaml", "--executor", executor, "--out", out,
                  timeout=2 * budget_s + 900)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        res = ptb("leaderboard", out / "demo", timeout=300)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        boards[executor] = {r["agent"]: r for r in csv.DictReader(open(out / "demo" / "leaderboard.csv"))}
    local, slurm = boards["local"], boards["slurm"]
    assert local.keys() == slurm.keys() and {"zero-shot", "sft-baseline"} <= local.keys()
    assert float(slurm["sft-baseline"]["arith"]) > 80  # the recipe really trained under Slurm
    for agent, row in local.items():
        assert row.keys() == slurm[agent].keys()
        for col, value in row.items():
            # How long the agents took (load, not results), and GPU-hours: Slurm gives each job
            # a (fake) GPU, the local executor on this CPU host none.
            if col.startswith("time_used") or col in ("gpu_h", "pts_per_gpu_h"):
                continue
            try:
                a, b = float(value), float(slurm[agent][col])
            except ValueError:
                assert value == slurm[agent][col], (agent, col)
                continue
            # Same cells, same seeds, same code: equal except for float noise in training,
            # which may flip a few of the 100 greedy answers (1 point each).
            assert abs(a - b) <= (0 if agent == "zero-shot" else 3), (agent, col, a, b)
    job = json.loads((tmp_path / "slurm/demo/.slurm/jobs.json").read_text())
    assert sorted(job["jobs"]) == ["sft-baseline__tiny-qwen3__arith__s0", "zero-shot__tiny-qwen3__arith__s0"]


def test_each_job_sees_only_its_own_gpu_and_the_grid_options(tmp_path, slurm_cluster, make_agent, tiny_model):
    # Both cells run at once (two fake GPUs, two cores): the agent records what it sees.
    make_agent("gpuprobe", 'echo "$CUDA_VISIBLE_DEVICES" > seen_gpus; sleep 3; cp -r "$1" final_model')
    experiment = f"gpus{time.time_ns() % 10**6}"
    grid = grid_file(tmp_path, "gpuprobe", [0, 1], experiment, slurm_partition="debug",
                     slurm_extra=["--comment=ptb-test"], slurm_eval_minutes=30, cpus=1.5, memory_gb=3, pids_limit=777)
    res = ptb("grid", grid, "--out", tmp_path / "out", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    exp = tmp_path / "out" / experiment
    seen = []
    for seed in (0, 1):
        cell = exp / CELL.format(agent="gpuprobe", seed=seed)
        result = json.loads((cell / "result.json").read_text())
        assert result["status"] == "ok"
        seen.append((cell / "task/seen_gpus").read_text().strip())
        assert result["gpus"] == [seen[-1]]
        limits = json.loads(CellPaths(cell).cell_json.read_text())  # the grid's sandbox limits reached the cell
        assert (limits["cpus"], limits["memory_gb"], limits["pids_limit"]) == (1.5, 3, 777)
    assert sorted(seen) == ["0", "1"]
    record = json.loads((exp / ".slurm/jobs.json").read_text())
    ids = [record["jobs"][CELL.format(agent="gpuprobe", seed=s)][0]["job_id"] for s in (0, 1)]
    assert ids[0].split("_")[0] == ids[1].split("_")[0]  # one job array
    job = scontrol(ids[0])
    assert job["Partition"] == "debug" and job["Comment"] == "ptb-test"
    assert "gpu:1" in job["TresPerNode"]
    assert job["TimeLimit"] == "00:47:00"  # 0.02 h -> 2 min, + 30 min evaluation + 15 min margin
    assert job["Requeue"] == "0"  # infrastructure retries are ptb's, counted


def test_cancel_mid_grid_then_resume_runs_only_missing_cells(tmp_path, slurm_cluster, make_agent, tiny_model):
    marker = f"sleep 300.{time.time_ns() % 10**6}"  # unique in the process table
    # Seed 0 finishes at once; the others wait until cancelled. The task folder's path names the cell.
    make_agent("hang", f'case "$PWD" in *__s0/*) ;; *) touch started; {marker} ;; esac; cp -r "$1" final_model')
    experiment = f"cancel{time.time_ns() % 10**6}"
    grid = grid_file(tmp_path, "hang", [0, 1, 2], experiment)
    out = tmp_path / "out"
    exp = out / experiment
    cells = [exp / CELL.format(agent="hang", seed=s) for s in range(3)]

    res = ptb("grid", grid, "--out", out, "--detach", timeout=120)
    assert res.returncode == 0 and "3 submitted to Slurm" in res.stdout, res.stdout + res.stderr
    again = ptb("grid", grid, "--out", out, "--detach", timeout=120)  # no double submission
    assert "3 already queued or running, 0 submitted" in again.stdout, again.stdout + again.stderr
    wait_for(lambda: (cells[0] / "result.json").exists() and all((c / "task/started").exists() for c in cells[1:]),
             "seed 0 finished and seeds 1, 2 running")
    assert survivors(marker)
    status = ptb("status", exp)
    assert "1 done" in status.stdout and "2 running" in status.stdout, status.stdout + status.stderr
    first = (cells[0] / "result.json").read_bytes()

    res = ptb("cancel", exp, timeout=180)
    assert res.returncode == 0 and "cancelled 2 jobs" in res.stdout, res.stdout + res.stderr
    assert survivors(marker) == [] and survivors(experiment) == []  # no agent, kernel or `ptb run` left
    assert not (cells[1] / "result.json").exists() and not (cells[2] / "result.json").exists()
    status = ptb("status", exp)
    assert "1 done" in status.stdout and "2 failed" in status.stdout and "cancelled" in status.stdout, status.stdout

    make_agent("hang", 'cp -r "$1" final_model')  # the resumed cells need not wait
    res = ptb("grid", grid, "--out", out, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 cells, 1 already finished, 0 already queued or running, 2 submitted" in res.stdout, res.stdout
    assert (cells[0] / "result.json").read_bytes() == first  # the finished cell is untouched
    for cell in cells:
        assert json.loads((cell / "result.json").read_text())["status"] == "ok"
    attempts = sorted(a.name.rsplit("-", 3)[0] for a in (exp / ".attempts").iterdir())
    assert attempts == [cells[1].name, cells[2].name]  # the cancelled attempts, kept aside, unfinished
    assert not any((a / "result.json").exists() for a in (exp / ".attempts").iterdir())
    assert "3 done" in ptb("status", exp).stdout


def test_a_job_lost_to_a_node_failure_is_retried_and_a_failing_agent_is_not(tmp_path, slurm_cluster, make_agent,
                                                                             tiny_model):
    marker = f"sleep 301.{time.time_ns() % 10**6}"
    # Seed 1's agent fails (a result); seed 0's waits until its node fails.
    make_agent("fragile", f'case "$PWD" in *__s1/*) cp -r "$1" final_model; exit 3 ;; esac; '
                          f'touch started; {marker}; cp -r "$1" final_model')
    experiment = f"nodefail{time.time_ns() % 10**6}"
    grid = grid_file(tmp_path, "fragile", [0, 1], experiment, infra_retries=1)
    exp = tmp_path / "out" / experiment
    cells = [exp / CELL.format(agent="fragile", seed=s) for s in (0, 1)]
    proc = subprocess.Popen([sys.executable, "-m", "ptb", "grid", grid, "--out", tmp_path / "out"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def seed1_job_state() -> str:
            record = json.loads((exp / ".slurm/jobs.json").read_text())
            job_id = record["jobs"][cells[1].name][0]["job_id"]
            out = subprocess.run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"], capture_output=True,
                                 text=True)
            return out.stdout.strip()

        wait_for(lambda: (cells[0] / "task/started").exists() and (cells[1] / "result.json").exists()
                 and seed1_job_state() == "COMPLETED", "seed 0 running, seed 1's job ended", proc=proc)
        make_agent("fragile", 'cp -r "$1" final_model')  # the retry need not wait
        node = subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=down", "reason=ptb-test"], check=True)
        try:
            wait_for(lambda: survivors(marker) == [], "the node failure to end the job")
        finally:
            # The node is back at once (ReturnToService=2, slurmd answers); resume it if not.
            subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], capture_output=True)
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert f"retry  {cells[0].name}: job" in out and "node failure (retry 1 of 1)" in out, out
    assert f"retry  {cells[1].name}" not in out  # the agent's exit 3 is a result, not an infrastructure failure
    assert json.loads((cells[0] / "result.json").read_text())["status"] == "ok"
    assert json.loads((cells[1] / "result.json").read_text())["status"] == "agent_error"
    record = json.loads((exp / ".slurm/jobs.json").read_text())
    assert len(record["jobs"][cells[0].name]) == 2 and len(record["jobs"][cells[1].name]) == 1
    status = ptb("status", exp).stdout
    assert "1 done" in status and "1 failed" in status and "agent error" in status, status


def test_a_cell_killed_by_the_slurm_time_limit_is_reported_and_left_unfinished(tmp_path, slurm_cluster, make_agent,
                                                                               tiny_model):
    marker = f"sleep 170.{time.time_ns() % 10**6}"  # within the agent's 3-minute budget, past Slurm's 1 minute
    make_agent("overrun", f'{marker}; cp -r "$1" final_model')
    experiment = f"overrun{time.time_ns() % 10**6}"
    grid = grid_file(tmp_path, "overrun", [0], experiment, hours=0.05, slurm_extra=["--time=1"], infra_retries=1)
    res = ptb("grid", grid, "--out", tmp_path / "out", timeout=300)
    cell = CELL.format(agent="overrun", seed=0)
    assert res.returncode == 1 and f"FAILED {cell}" in res.stdout and "Slurm time limit" in res.stdout, res.stdout
    assert "retry" not in res.stdout  # a time limit is no infrastructure failure
    assert survivors(marker) == [] and survivors(experiment) == []
    exp = tmp_path / "out" / experiment
    assert (exp / cell).is_dir() and not (exp / cell / "result.json").exists()  # unfinished, never looks finished
    status = ptb("status", exp).stdout
    assert "1 failed" in status and "Slurm time limit; `ptb grid` runs it again" in status, status



def test_bad_slurm_parameters_are_one_line_errors(tmp_path, slurm_cluster):
    grid = grid_file(tmp_path, "zero-shot", [0], "bad", slurm_extra=["-C h100"])
    res = ptb("grid", grid, "--out", tmp_path / "out")
    assert res.returncode == 2 and "slurm_extra: '-C h100' is not a long sbatch option" in res.stderr, res.stderr
    assert not (tmp_path / "out/bad/.slurm").exists()  # nothing submitted
    grid = grid_file(tmp_path, "zero-shot", [0], "bad", slurm_partition="nosuchpartition")
    res = ptb("grid", grid, "--out", tmp_path / "out")
    assert res.returncode == 1 and "sbatch refused the jobs" in res.stderr and "partition" in res.stderr.lower()
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = ptb("status", tmp_path / "nowhere")
    assert res.returncode == 2 and "no such folder" in res.stderr
