"""The live view (ptb/report/live.py, `ptb status --watch`, notebooks/live.ipynb) on real running
cells: the demo grid, a scripted agent that calls evaluate.py, the local sandbox's monitor."""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import time
import yaml
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import papermill

from conftest import ROOT, ptb
from ptb.paths import CellPaths
from ptb.report import live
from ptb.run import task
from ptb.run.params import Cell

FAKE_KEY = "sk-ant-" + "x9" * 12  # key-shaped: the live view must never show it


def _result(cell_dir: Path) -> dict:
    return json.loads((cell_dir / "result.json").read_text())


def _pct(score: float) -> str:
    return f"{100 * score:.1f}"


def test_demo_grid_seen_running_then_finished(tmp_path, tiny_model):
    out = tmp_path / "out"
    exp = out / "demo"
    grid = subprocess.Popen([sys.executable, "-m", "ptb", "grid", "parameters/demo.yaml", "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while not exp.is_dir():
            assert grid.poll() is None, grid.stdout.read()
            time.sleep(0.2)
        watch_log = tmp_path / "watch.log"
        with open(watch_log, "w") as f:
            watcher = subprocess.Popen([sys.executable, "-m", "ptb", "status", str(exp), "--watch", "--interval", "2"],
                                       cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        # The notebook, blocking until every cell is finished, as papermill runs it.
        nb_out = tmp_path / "live.ipynb"
        notebook = ThreadPoolExecutor(1).submit(
            papermill.execute_notebook, str(ROOT / "notebooks" / "live.ipynb"), str(nb_out),
            parameters={"experiment": str(exp), "interval": 2, "until_done": True},
            cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
        view = live.LiveView(exp, interval=1)
        seen: list[live.CellView] = []
        while True:  # one last refresh after the grid has exited: the cell may finish between two polls
            exited = grid.poll() is not None
            seen += [r for r in view.refresh() if r.agent == "sft-baseline"]
            if exited:
                break
            time.sleep(1)
        said = grid.stdout.read()
        assert grid.returncode == 0, said
        print(said)  # the cells' times (pytest -s)
    finally:
        grid.kill()
    running = [r for r in seen if r.state == "agent"]
    assert running, [r.state for r in seen]
    hours = yaml.safe_load((ROOT / "parameters" / "demo.yaml").read_text())["hours"]
    assert all(0 < r.time_left_s <= hours * 3600 for r in running)
    assert any(r.last_action for r in running) and any(r.mem_mib for r in running)  # training logs, monitor samples
    assert {"waiting", "agent", "done"} <= {r.state for r in seen}
    assert seen[0].state == "waiting"  # the grid's plan lists it while zero-shot runs first
    assert seen.index(running[0]) < next(i for i, r in enumerate(seen) if r.state == "done")

    final = {r.agent: r for r in view.refresh()}
    assert set(final) == {"zero-shot", "sft-baseline"}
    for r in final.values():
        result = _result(exp / r.cell)
        assert (r.state, r.status, r.score) == ("done", "ok", result["score"]) and r.score is not None
        assert r.time_left_s is None and r.gpu_util_pct is None
    assert "sft-baseline" in view.widget.value and _pct(final["sft-baseline"].score) in view.widget.value

    assert watcher.wait(timeout=60) == 0
    text = watch_log.read_text()
    assert re.search(r"^sft-baseline__\S+ +agent +\d+:\d\d:\d\d ", text, re.MULTILINE), text
    assert text.rstrip().endswith("every cell is finished") and "2 cells: 0 queued, 0 running, 2 done" in text, text

    notebook.result(timeout=120)  # its error, if it raised
    outputs = json.loads(nb_out.read_text())["cells"][-1]["outputs"]
    shown = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "2 done" in shown and all(_pct(r.score) in shown and r.cell in shown for r in final.values()), shown

    once = ptb("status", exp)
    assert once.returncode == 0 and "2 cells: 0 queued, 0 running, 2 done, 0 failed" in once.stdout, once.stderr
    assert f"ok, score {_pct(final['sft-baseline'].score)}" in once.stdout


def test_running_agent_shows_last_action_eval_score_and_gpu(tmp_path, make_agent, tiny_model):
    """A CLI-like agent (claude stream-json) calls evaluate.py, then waits for the test; a
    stand-in nvidia-smi (no GPU on this host) answers for the GPU the cell was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text('#!/bin/bash\n'
                                        'while [ $# -gt 0 ]; do [ "$1" = -i ] && idx=$2; shift; done\n'
                                        'echo "$idx, 37, 1234, 81559"\n')
    (bin_dir / "nvidia-smi").chmod(0o755)
    make_agent("cli-like", f"""
        ev() {{ printf '%s\\n' "$1"; }}
        ev '{{"type":"system","subtype":"init","model":"scripted"}}'
        ev '{{"type":"assistant","message":{{"content":[{{"type":"tool_use","id":"t1","name":"Bash","input":{{"command":"cp -r base final_model"}}}}]}}}}'
        cp -r "$1" final_model
        ev '{{"type":"user","message":{{"content":[{{"type":"tool_result","tool_use_id":"t1","content":"copied"}}]}}}}'
        ev '{{"type":"assistant","message":{{"content":[{{"type":"tool_use","id":"t2","name":"Bash","input":{{"command":"python evaluate.py --limit 5"}}}}]}}}}'
        said=$(python evaluate.py --model-path final_model --limit 5 --json-output-file dev_eval.json 2>&1 | tail -1)
        python -c 'import json, sys; print(json.dumps({{"type": "user", "message": {{"content": [
            {{"type": "tool_result", "tool_use_id": "t2", "content": sys.argv[1]}}]}}}}))' "$said"
        ev '{{"type":"assistant","message":{{"content":[{{"type":"text","text":"Waiting; my key is {FAKE_KEY}\\nsecond line"}}]}}}}'
        for i in $(seq 1200); do [ -f release ] && break; sleep 0.1; done
        ev '{{"type":"result","subtype":"success","result":"done","total_cost_usd":0.01,"usage":{{"input_tokens":5,"output_tokens":2}}}}'
    """, trace="claude-stream-json")
    out = tmp_path / "out"
    cell_dir = out / "live" / "cli-like__tiny-qwen3__arith__s0"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CUDA_VISIBLE_DEVICES": "3"}
    run = subprocess.Popen([sys.executable, "-m", "ptb", "run", "--agent", "cli-like", "--model", "tiny-qwen3",
                            "--benchmark", "arith", "--hours", "0.1", "--engine", "transformers", "--eval-limit", "5",
                            "--experiment", "live", "--out", str(out)], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while not cell_dir.is_dir():
            assert run.poll() is None, run.stdout.read()
            time.sleep(0.2)
        view = live.LiveView(cell_dir.parent, interval=1)
        deadline = time.monotonic() + 150
        while True:
            assert run.poll() is None and time.monotonic() < deadline, run.stdout.read() if run.poll() is not None else view.rows
            (row,) = view.refresh()
            if row.state == "agent" and row.last_action.startswith("Waiting") and row.gpu_util_pct is not None:
                break
            time.sleep(0.5)
        dev_eval = json.loads((cell_dir / "task" / "dev_eval.json").read_text())
        assert (row.eval_calls, row.last_eval) == (1, dev_eval["score"])
        assert row.last_action == "Waiting; my key is [REDACTED]"  # first line only, redacted
        assert FAKE_KEY not in view.widget.value
        assert (row.gpu_util_pct, row.gpu_mem_mib, row.gpu_mem_total_mib) == (37.0, 1234.0, 81559.0)
        assert 0 < row.time_left_s < 0.1 * 3600
        assert "37%" in view.widget.value and "1.2/79.6 GiB" in view.widget.value
        (cell_dir / "task" / "release").touch()
        assert run.wait(timeout=180) == 0, run.stdout.read()
    finally:
        run.kill()
    samples = [json.loads(line) for line in (cell_dir / "sandbox" / "monitor.jsonl").read_text().splitlines()]
    assert samples and all(s["gpus"] == [{"index": "3", "util_pct": 37.0, "mem_used_mib": 1234.0,
                                          "mem_total_mib": 81559.0}] for s in samples)
    assert all(s["pids"] >= 1 and s["disk_free_gib"] > 0 for s in samples)
    (row,) = view.refresh()
    result = _result(cell_dir)
    assert (row.state, row.status, row.score) == ("done", "ok", result["score"])
    assert (row.eval_calls, row.last_eval, row.last_action) == (1, dev_eval["score"], "Waiting; my key is [REDACTED]")


def _cell(exp: Path, agent: str, deadline: float | None) -> Path:
    cell = Cell("exp", agent, "tiny-qwen3", "arith", hours=1.0)
    cell_dir = exp / cell.name
    (cell_dir / "agent").mkdir(parents=True)
    (cell_dir / "cell.json").write_text(json.dumps(cell.to_dict()))
    (cell_dir / "task").mkdir()
    task.write_timer(CellPaths(cell_dir), 0)
    if deadline is not None:  # the agent has started
        task.start_clock(CellPaths(cell_dir), deadline, cell.hours * 3600)
    (exp / f".{cell.name}.lock").touch()
    return cell_dir


def test_lock_decides_running_or_interrupted_and_logs_are_read_incrementally(tmp_path):
    exp = tmp_path / "exp"
    running = _cell(exp, "zero-shot", time.time() + 1800)
    _cell(exp, "sft-baseline", time.time() + 1800)  # nobody holds its lock: interrupted
    starting = _cell(exp, "instruct", None)
    log = running / "agent" / "stdout.log"
    log.write_text(f"step 1 with {FAKE_KEY}\nstep 2 still being wri")  # raw, as logs of older runs are
    watch = live.Watch(exp)
    fds = []
    for cell_dir in (running, starting):
        fds.append(os.open(exp / f".{cell_dir.name}.lock", os.O_RDWR))
        fcntl.flock(fds[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `ptb run` holds it
    try:
        rows = {r.agent: r for r in watch.snapshot()}
        assert rows["zero-shot"].state == "agent" and 1700 < rows["zero-shot"].time_left_s <= 1800
        assert rows["zero-shot"].last_action == "step 1 with [REDACTED]"  # the unfinished line waits for its newline
        assert rows["instruct"].state == "starting"
        assert rows["sft-baseline"].state == "interrupted" and "`ptb grid` runs it again" in rows["sft-baseline"].detail
        with open(log, "a") as f:
            f.write("tten\n" + '{"benchmark": "arith", "score": 0.25, "n": 4}\n')
        (row,) = [r for r in watch.snapshot() if r.agent == "zero-shot"]
        assert (row.last_action, row.eval_calls, row.last_eval) == ('{"benchmark": "arith", "score": 0.25, "n": 4}', 1, 0.25)
        assert watch._traces[running.name].offset == log.stat().st_size
        log.write_text("fresh\n")  # rewritten shorter (older ptb versions redacted logs in place): read again
        (row,) = [r for r in watch.snapshot() if r.agent == "zero-shot"]
        assert (row.last_action, row.eval_calls) == ("fresh", 0)
        status = ptb("status", exp)
        assert status.returncode == 0 and "3 cells: 0 queued, 2 running, 0 done, 0 failed, 1 interrupted" in status.stdout
        assert re.search(r"^zero-shot__\S+ +agent +0:(29|30):\d\d .* fresh$", status.stdout, re.MULTILINE), status.stdout
    finally:
        for fd in fds:
            os.close(fd)
    assert {r.state for r in watch.snapshot()} == {"interrupted"}
    assert not watch.settled

    # A local grid's plan: its cells not started yet wait while the grid process lives.
    later = Cell("exp", "later", "tiny-qwen3", "arith").name
    plan = {"cells": [running.name, later], "pid": os.getpid(), "host": socket.gethostname()}
    (exp / ".grid.json").write_text(json.dumps(plan))
    rows = {r.cell: r for r in watch.snapshot()}
    assert (rows[later].state, rows[later].phase) == ("waiting", "queued")
    assert rows[running.name].state == "waiting"  # interrupted, and the grid will run it again
    gone = subprocess.Popen(["true"])  # a pid that no longer runs: the grid has gone
    gone.wait()
    (exp / ".grid.json").write_text(json.dumps(plan | {"pid": gone.pid}))
    rows = {r.cell: r for r in watch.snapshot()}
    assert rows[later].state == "interrupted" and rows[later].detail.startswith("not started")


def test_status_errors_are_one_line(tmp_path):
    res = ptb("status", tmp_path / "nowhere")
    assert res.returncode == 2 and res.stderr.strip() == f"ptb status: error: {tmp_path / 'nowhere'}: no such folder"
    res = ptb("status", tmp_path, "--watch", "--interval", "0")
    assert res.returncode == 2 and "--interval must be > 0 seconds, got 0.0" in res.stderr
