"""The local grid executor: resume after SIGKILL, nothing left running, nothing corrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, survivors
from ptb.paths import CellPaths


def grid_file(tmp_path: Path, agent: str, seeds: list[int], experiment: str, extra: str = "") -> Path:
    p = tmp_path / "grid.yaml"
    p.write_text(f"experiment: {experiment}\nagents: [{agent}]\nmodels: [tiny-qwen3]\nbenchmarks: [arith]\n"
                 f"seeds: {seeds}\nhours: 0.02\neval_limit: 10\nengine: transformers\n{extra}")
    return p


def test_grid_killed_mid_way_resumes_only_missing_cells(tmp_path, make_agent, tiny_model):
    marker = f"sleep 4.{time.time_ns() % 10**6}"  # unique, and 4 s long
    make_agent("slow", f'{marker}; cp -r "$1" final_model')
    experiment = f"kill{time.time_ns() % 10**6}"
    grid = grid_file(tmp_path, "slow", [0, 1, 2], experiment)
    out = tmp_path / "out"
    exp = out / experiment
    cells = [exp / f"slow__tiny-qwen3__arith__s{s}" for s in range(3)]

    proc = subprocess.Popen([sys.executable, "-m", "ptb", "grid", grid, "--out", out], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not ((cells[0] / "result.json").exists() and survivors(marker)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read() if proc.poll() else "slow"
        time.sleep(0.2)
    first = (cells[0] / "result.json").read_bytes()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    assert survivors(marker) == [] and survivors(experiment) == []  # no agent, kernel or `ptb run` left
    assert not (cells[1] / "result.json").exists()

    res = subprocess.run([sys.executable, "-m", "ptb", "grid", grid, "--out", out], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 cells, 1 already finished, 2 to run" in res.stdout
    assert (cells[0] / "result.json").read_bytes() == first  # the finished cell is untouched
    for cell in cells:
        result = json.loads((cell / "result.json").read_text())
        assert result["status"] == "ok" and (cell / "run_cell.ipynb").is_file()
    attempts = list((exp / ".attempts").iterdir())
    assert [a.name.rsplit("-", 3)[0] for a in attempts] == [cells[1].name]  # the interrupted attempt, kept aside
    assert not (attempts[0] / "result.json").exists()


def test_one_cell_per_gpu_at_once_each_pinned_to_its_gpu_with_the_grid_limits(tmp_path, make_agent, tiny_model):
    # Two (fake) GPU indices: the executor runs two cells at once, one per GPU.
    make_agent("gpu-reporter", 'echo "$CUDA_VISIBLE_DEVICES $(date +%s.%N)" > gpu.txt; sleep 3; '
                               'date +%s.%N >> gpu.txt; cp -r "$1" final_model')
    grid = grid_file(tmp_path, "gpu-reporter", [0, 1], "gpus", "cpus: 1.5\nmemory_gb: 3\npids_limit: 0\n")
    res = subprocess.run([sys.executable, "-m", "ptb", "grid", grid, "--out", tmp_path / "out"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 at a time (GPUs 0,1)" in res.stdout
    seen = []
    for seed in (0, 1):
        cell = tmp_path / "out" / "gpus" / f"gpu-reporter__tiny-qwen3__arith__s{seed}"
        first, end = (cell / "task" / "gpu.txt").read_text().split("\n")[:2]
        gpu, start = first.split()
        seen.append((gpu, float(start), float(end)))
        assert json.loads((cell / "result.json").read_text())["gpus"] == [gpu]
        # The grid's sandbox limits reached the cell (pids_limit 0: no limit).
        limits = json.loads(CellPaths(cell).cell_json.read_text())
        assert (limits["cpus"], limits["memory_gb"], limits["pids_limit"]) == (1.5, 3, None)
    assert sorted(g for g, _, _ in seen) == ["0", "1"]
    (_, s0, e0), (_, s1, e1) = seen
    assert s0 < e1 and s1 < e0  # the two agents ran at the same time


def test_every_field_of_a_grid_cell_reaches_the_notebook(tmp_path, make_agent, tiny_model):
    from ptb.run import params

    make_agent("quick", 'cp -r "$1" final_model')
    grid = grid_file(tmp_path, "quick", [3], "fields", "cpus: 2.5\nmemory_gb: 4\npids_limit: 300\nprotocol: v1\n"
                                                      "options: [raw-output, exact-numeric]\n")
    res = subprocess.run([sys.executable, "-m", "ptb", "grid", grid, "--out", tmp_path / "out"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    [planned] = params.expand(params.load_grid(grid))
    cell = CellPaths(tmp_path / "out" / "fields" / planned.name)
    ran = params.Cell.read(cell.cell_json)  # written by the notebook, from the one `cell` parameter
    assert ran == planned and (ran.cpus, ran.memory_gb, ran.pids_limit) == (2.5, 4, 300)
    assert (ran.protocol, ran.options) == ("v1", ("raw-output", "exact-numeric"))
    assert json.loads(cell.result.read_text())["status"] == "ok"
