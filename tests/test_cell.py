"""One cell end to end through `ptb run` (papermill, local sandbox, final evaluation),
with scripted agents that time out, crash, leave nothing or cheat with symlinks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import transformers
import yaml

from conftest import ptb, survivors
from ptb.run import params


def run_cell(tmp_path: Path, agent: str, *extra: str, hours: float = 0.01) -> dict:
    res = ptb("run", "--agent", agent, "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", hours,
              "--experiment", "t", "--eval-limit", "20", "--out", tmp_path / "out", *extra)
    assert res.returncode == 0, res.stderr
    cell_dir = tmp_path / "out" / "t" / f"{agent}__tiny-qwen3__arith__s0"
    assert (cell_dir / "run_cell.ipynb").is_file()
    return json.loads((cell_dir / "result.json").read_text()) | {"_dir": cell_dir}


def test_timeout_kills_everything_and_still_evaluates_the_final_model(tmp_path, make_agent, tiny_model):
    marker = f"sleep 41{time.time_ns() % 10**6}"
    make_agent("stubborn", f"""
        cp -r "$1" final_model
        setsid {marker}1 &
        ( ( {marker}2 & ) & )
        bash timer.sh > timer_at_start.txt
        {marker}3
    """)
    result = run_cell(tmp_path, "stubborn", hours=0.003)  # 10.8 s
    assert result["status"] == "timeout"
    assert result["score"] is not None and result["n"] == 20  # the final model left was evaluated
    assert 10 <= result["time_taken_s"] < 14
    assert survivors(marker) == []
    left = (result["_dir"] / "task" / "timer_at_start.txt").read_text()
    assert left.startswith("Time left: 0:00:1"), left  # counted from the agent's start
    nb = nbformat.read(result["_dir"] / "run_cell.ipynb", as_version=4)
    assert nb.metadata.papermill.parameters["cell"]["agent"] == "stubborn"  # the cell, one parameter
    assert result["integrity"]["verdict"] == "clean"  # the base model, nothing planted: every check ran


def test_agent_error_no_final_model_and_symlinks(tmp_path, make_agent, tiny_model):
    make_agent("crasher", 'cp -r "$1" final_model; exit 3')
    r = run_cell(tmp_path, "crasher")
    assert (r["status"], r["agent_exit_code"]) == ("agent_error", 3) and r["score"] is not None

    make_agent("idle", "echo thinking")
    r = run_cell(tmp_path, "idle")
    assert (r["status"], r["score"]) == ("no_final_model", None)

    make_agent("linker", 'ln -s "$1" final_model')  # a symlink out of the task folder
    r = run_cell(tmp_path, "linker")
    assert r["status"] == "no_final_model" and "outside the task folder" in r["reason"]

    make_agent("inner-linker", 'cp -r "$1" model_v2; ln -s model_v2 final_model')
    r = run_cell(tmp_path, "inner-linker")
    final = r["_dir"] / "task" / "final_model"
    assert r["status"] == "ok" and final.is_dir() and not final.is_symlink()  # copied out as real files


def test_granted_variables_reach_the_agent_and_others_do_not(tmp_path, make_agent, monkeypatch, tiny_model):
    monkeypatch.setenv("PTB_TEST_GRANTED", "granted-value")
    monkeypatch.setenv("PTB_TEST_SECRET", "secret-value")
    make_agent("envy", 'env; [ "$PTB_TEST_GRANTED" = granted-value ] && echo GRANTED-OK; cp -r "$1" final_model',
               env=["PTB_TEST_GRANTED"])
    r = run_cell(tmp_path, "envy")
    out = (r["_dir"] / "agent" / "stdout.log").read_text()
    # The granted value reached the agent; saved logs show it redacted (granted values are secrets).
    assert "GRANTED-OK" in out and "PTB_TEST_GRANTED=[REDACTED]" in out and "granted-value" not in out
    assert "secret-value" not in out
    assert r["status"] == "ok"


def test_finished_cell_is_not_run_again(tmp_path, make_agent, tiny_model):
    make_agent("quick", 'cp -r "$1" final_model')
    first = run_cell(tmp_path, "quick")
    # The agent's interpreter and the evaluator's `ptb eval` each report their transformers: equal.
    assert first["transformers_sandbox"] == first["transformers_evaluator"] == transformers.__version__
    assert (first["engine"], first["engine_requested"]) == ("transformers", "auto")  # no GPU here
    assert first["engine_reason"].startswith("auto: no GPU")
    res = ptb("run", "--agent", "quick", "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", "0.01",
              "--experiment", "t", "--eval-limit", "20", "--out", tmp_path / "out")
    assert res.returncode == 0 and "already finished" in res.stdout
    assert json.loads((first["_dir"] / "result.json").read_text())["finished_at"] == first["finished_at"]


def test_a_variant_with_a_path_is_one_cell_folder(tmp_path, monkeypatch, tiny_model):
    """`agent@bin=/usr/bin/cp`: the cell is one folder named by a hash, cell.json holds the variant,
    `ptb status` lists it, and the agent sees none of the experiment's other cells."""
    agents = tmp_path / "agents"
    agents.mkdir()
    monkeypatch.setenv("PTB_AGENT_PATH", str(agents))
    script = 'ls "$PWD/../.." > experiment.txt; cat "$PWD/../../sibling/secret.txt" > stolen.txt; "$2" -r "$1" final_model'
    (agents / "pathy.yaml").write_text(yaml.safe_dump({"name": "pathy", "network": False, "vars": {"bin": "cp"},
                                                       "command": ["bash", "-c", script, "pathy", "{base_model}", "{bin}"]}))
    sibling = tmp_path / "out" / "t" / "sibling"
    sibling.mkdir(parents=True)
    (sibling / "secret.txt").write_text("another cell's file")
    spec = "pathy@bin=/usr/bin/cp"
    res = ptb("run", "--agent", spec, "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", "0.01",
              "--experiment", "t", "--eval-limit", "20", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    cells = sorted(p.parent for p in (tmp_path / "out" / "t").rglob("cell.json"))
    assert [c.parent for c in cells] == [tmp_path / "out" / "t"]  # one folder, directly in the experiment
    cell = cells[0]
    assert cell.name == params.Cell("t", spec, "tiny-qwen3", "arith").name and "/" not in cell.name
    assert json.loads((cell / "cell.json").read_text())["agent"] == spec
    assert json.loads((cell / "result.json").read_text())["status"] == "ok"
    assert (cell / "task" / "stolen.txt").read_text() == ""  # the experiment folder was hidden
    assert "sibling" not in (cell / "task" / "experiment.txt").read_text()
    status = ptb("status", tmp_path / "out" / "t")
    assert status.returncode == 0 and cell.name in status.stdout, status.stdout


def test_a_scorer_bug_or_a_configuration_error_is_evaluated_once(tmp_path, make_agent, tiny_model, failing_scorer):
    make_agent("quick", 'cp -r "$1" final_model')
    failing_scorer("bug")
    result = run_cell(tmp_path, "quick")
    log = (result["_dir"] / "eval" / "eval.log").read_text()
    assert result["status"] == "eval_error" and len(result["eval_attempts"]) == 1
    assert "Traceback" in log and "not retried: TypeError" in result["reason"]
    failing_scorer("config")
    result = run_cell(tmp_path, "quick", "--force")
    assert result["status"] == "eval_error" and len(result["eval_attempts"]) == 1
    assert "not retried: ptb eval: error: the scorer's judge is not configured" in result["reason"]
