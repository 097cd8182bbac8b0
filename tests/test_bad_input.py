"""Bad input, one class per test (grid YAML and flags, agent definition, model folder, score
rows, results tree), through the real `ptb` command: exit code 2 and one line that names the
file, key, flag or path, no traceback, and nothing half-written that looks finished."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ptb
from ptb.run import cell as cell_stage
from ptb.run.params import Cell
from results_tree import write_cell

GRID = "experiment: t\nagents: [zero-shot]\nmodels: [tiny-qwen3]\nbenchmarks: [arith]\n"


def one_line(res, *needles: str) -> str:
    """The single line of a bad-input error; asserts exit 2 and that it names every needle."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and len(lines[0]) < 700, lines[0][:700]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("text, needles", [
    (GRID + "benchmarks: [gsm8k]\n", ["line 5", "'benchmarks' appears twice"]),
    (GRID + "hours: 1.0e+9\n", ["key 'hours'", "(0, 240]"]),
    (GRID + "hours: .nan\n", ["key 'hours'", "nan"]),
    (GRID + "hours: .inf\n", ["key 'hours'"]),
    (GRID + "eval_limit: -3\n", ["key 'eval_limit'", "> 0"]),
    (GRID + "seeds: [0, -1]\n", ["key 'seeds'", ">= 0"]),
    (GRID + "cpus: 0\n", ["key 'cpus'"]),
    (GRID + "pids_limit: -2\n", ["key 'pids_limit'"]),
    (GRID.replace("[arith]", "[" + "x" * 10_000_000 + "]"), ["key 'benchmarks'", "characters)"]),
    (GRID.replace("experiment: t", "experiment: " + "x" * 300), ["key 'experiment'", "characters)"]),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe", ["not a YAML text file"]),
])
def test_grid_yaml_and_flags(tmp_path, text, needles):
    path = tmp_path / "grid.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    one_line(ptb("grid", path, "--out", tmp_path / "out"), str(path), *needles)
    assert not (tmp_path / "out").exists()  # nothing started

    # `ptb run` flags: the flag is named, the prefix appears once.
    run = ["run", "--agent", "zero-shot", "--model", "tiny-qwen3", "--benchmark", "arith", "--out", tmp_path / "out"]
    if "hours" in needles[0]:
        value = {"1.0e+9": "1e9", ".nan": "nan", ".inf": "inf"}[text.split("hours: ")[1].strip()]
        one_line(ptb(*run, "--hours", value), "--hours", "(0, 240]")
    if "seeds" in needles[0]:
        line = one_line(ptb(*run, "--seed", "-1"), "--seed", ">= 0")
        assert line.count("ptb run") == 2 and line.startswith("ptb run: error: ")  # the prefix, then --help
        line = one_line(ptb(*run[:-4], "--benchmark", "nope"), "--benchmark: unknown benchmark 'nope'")
        assert "key 'benchmarks'" not in line and line.count("ptb run:") == 1
    if "eval_limit" in needles[0]:
        one_line(ptb(*run, "--eval-limit", "-3"), "--eval-limit")


def test_run_help_gives_every_flag_a_text_and_the_hours_default():
    from ptb.cli import parser

    run = parser()._subparsers._group_actions[0].choices["run"]
    assert [a.option_strings[0] for a in run._actions if not a.help] == []
    res = ptb("run", "--help")
    assert res.returncode == 0 and "the agent's time budget, in (0, 240] (default 10)" in " ".join(res.stdout.split())


def test_run_cell_json(tmp_path):
    out = ["--out", tmp_path / "out"]
    one_line(ptb("run", "--model", "tiny-qwen3", *out), "needs --agent, --model and --benchmark, or --cell")
    cell = tmp_path / "cell.json"
    one_line(ptb("run", "--cell", cell, *out), str(cell), "not a readable cell JSON")
    base = {"experiment": "t", "agent": "zero-shot", "model": "tiny-qwen3", "benchmark": "arith"}
    for data, needle in ((base | {"cpu": 2}, "unknown key 'cpu'"), ({"agent": "zero-shot"}, "missing key 'experiment'"),
                         (base | {"hours": 1e9}, "key 'hours'"), (base | {"benchmark": "nope"}, "unknown benchmark")):
        cell.write_text(json.dumps(data))
        one_line(ptb("run", "--cell", cell, *out), needle)
    one_line(ptb("run", "--cell", cell, "--agent", "zero-shot", *out), "--cell is the whole cell")
    assert not (tmp_path / "out").exists()


def test_agent_definition(tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_AGENT_PATH", str(tmp_path))
    (tmp_path / "typo.yaml").write_text('name: typo\ncommand: [echo, "{modle}", "${HOME}", "{base_model}"]\n')
    run = ["run", "--model", "tiny-qwen3", "--benchmark", "arith", "--out", tmp_path / "out"]
    one_line(ptb(*run, "--agent", "typo"), str(tmp_path / "typo.yaml"), "key 'command'",
             "unknown placeholder '{modle}'", "{model_id}", "{base_model}")
    (tmp_path / "twice.yaml").write_text("name: twice\ncommand: [echo]\nnetwork: false\nnetwork: true\n")
    one_line(ptb(*run, "--agent", "twice"), str(tmp_path / "twice.yaml"), "'network' appears twice")
    (tmp_path / "vars.yaml").write_text('name: vars\ncommand: [echo, "{effort}"]\nvars: {effort: high}\n')
    from ptb.run import params

    assert params.load_agent("vars@effort=low").vars == {"effort": "low"}  # a declared variable is a placeholder
    assert not (tmp_path / "out").exists()


def test_model_folder(tmp_path, tiny_model):
    garbage, truncated = tmp_path / "garbage", tmp_path / "truncated"
    shutil.copytree(tiny_model, garbage)
    shutil.copytree(tiny_model, truncated)
    (garbage / "config.json").write_text('{"model_type": "qwen3", ')
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    for model, needle in ((garbage, "config.json: not a readable JSON config"), (truncated, "truncated")):
        one_line(ptb("eval", "--model", model, "--benchmark", "arith"), "--model", str(model), needle)
        one_line(ptb("run", "--agent", "zero-shot", "--model", model, "--benchmark", "arith", "--out",
                     tmp_path / "out"), "--model", str(model), needle)
    assert not (tmp_path / "out").exists()
    # A base model that breaks after the grid was checked: the cell is an infra_error with the reason.
    run = cell_stage.prepare(Cell("t", "zero-shot", str(truncated), "arith"), tmp_path / "cell")
    agent = cell_stage.run_agent(run)
    final = cell_stage.check_final_model(run)
    status, reason = cell_stage.status_of(agent, final, cell_stage.evaluate(run, final))
    assert status == "infra_error" and "truncated" in reason and str(weights) in reason


def test_score_rows(tmp_path, monkeypatch):
    rows, outs = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    outs.write_text('{"index": 0, "output": "ANSWER: 2"}\n{"index": 1, "output": "2"}\n')
    rows.write_text('{"question": "1+1", "answer": "2"}\n{"q": "1+1", "answer": "2"}\n')
    one_line(ptb("score", "arith", "--dataset", rows, "--responses", outs), str(rows), "row 1", "'question'",
             "['answer', 'q']")
    rows.write_text('{"question": "1+1", "answer": "2"}\n[1, 2]\n')
    one_line(ptb("score", "arith", "--dataset", rows, "--responses", outs), "row 1 is not a JSON object")
    # gsm8k's prompt carries a few-shot block from its train split: offline and without a local copy, say so.
    rows.write_text('{"question": "1+1?", "answer": "1+1=2\\n#### 2"}\n' * 2)
    monkeypatch.delenv("PTB_DATA_DIR", raising=False)
    one_line(ptb("score", "gsm8k", "--dataset", rows, "--responses", outs, env={"HF_HUB_OFFLINE": "1"}),
             "gsm8k", "split train", "PTB_DATA_DIR")
    # A binary file; and what used to end in a traceback or exit 1: a responses line that is no
    # object, rows in another benchmark's schema, a BFCL ground truth that is no call.
    binary, listed = tmp_path / "binary.jsonl", tmp_path / "listed.jsonl"
    binary.write_bytes(b"\x7fELF\x02\x01\xff\xfe\n")
    listed.write_text('[0, "2"]\n')
    one_line(ptb("score", "arith", "--dataset", binary, "--responses", outs), str(binary), "not a UTF-8 text file")
    one_line(ptb("score", "arith", "--dataset", rows, "--responses", listed), f"{listed}:1", '"index"')
    for bench in ("healthbench", "arenahardwriting"):
        one_line(ptb("score", bench, "--dataset", rows, "--responses", outs), f"{bench} row 0: needs")
    call = {"id": "x", "question": [[{"role": "user", "content": "hi"}]], "function": [], "ground_truth": ["f(1, 2)"]}
    rows.write_text(f"{json.dumps(call)}\n" * 2)
    one_line(ptb("score", "bfcl", "--dataset", rows, "--responses", outs), "ground truth 'f(1, 2)'", "keyword")


def test_rows_that_cannot_be_loaded(tmp_path, tiny_model):
    """No local copy and no hub: one line naming the file to put under PTB_DATA_DIR (it was a traceback)."""
    offline = {"PTB_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    for cmd in (["prompt", "--model", tiny_model], ["eval", "--model", tiny_model, "--engine", "transformers"]):
        one_line(ptb(*cmd, "--benchmark", "aime2025", env=offline), "math-ai/aime25",
                 "PTB_DATA_DIR/math-ai/aime25/test.jsonl")


def test_results_tree(tmp_path):
    exp = tmp_path / "exp"
    for agent, score in (("zero-shot", 0.1), ("sft-baseline", 0.9)):
        write_cell(exp, agent, "tiny-qwen3", "arith", 0, score=score, verdict="clean", status="ok",
                   time_s={"zero-shot": 0.24, "sft-baseline": 0.25}[agent] * 3600,
                   extra={"notes": ["sft-baseline: training stopped by the time budget at step 312 of 900"]}
                   if agent == "sft-baseline" else None)
    broken = write_cell(exp, "broken", "tiny-qwen3", "arith", 0, score=0.5, verdict="clean", status="ok", time_s=1)
    (broken / "result.json").write_text('{"schema": 1, "agent": "bro')
    partial = write_cell(exp, "partial", "tiny-qwen3", "arith", 0, score=0.5, verdict="clean", status="ok", time_s=1)
    (partial / "result.json").write_text(json.dumps({"schema": 1, "agent": "partial"}))

    res = ptb("leaderboard", exp)
    assert res.returncode == 0, res.stderr[-3000:]
    for path in (broken / "result.json", partial / "result.json"):
        assert f"unreadable: {path}" in res.stdout  # listed in the output ...
    html = (exp / "leaderboard.html").read_text()
    assert "Left out: 2 unreadable result.json" in html and str(broken / "result.json") in html  # ... and the page
    assert "training stopped by the time budget at step 312 of 900" in html and "step 312" in res.stdout
    assert "0:14" in html and "0:15" in html  # 0.24 h and 0.25 h, told apart
    assert '<div class="scroll"><table' in html  # the wide table scrolls instead of overflowing the window
    assert "given the mean weight" not in html and "renormalised" in html
    rows = (exp / "leaderboard.csv").read_text()
    assert "sft-baseline" in rows and "broken" not in rows and "partial" not in rows

    # Nothing to rank: one line, and no failed notebook left behind.
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(ptb("leaderboard", empty), str(empty), "no readable result.json")
    assert list(empty.iterdir()) == []
    only_bad = tmp_path / "only-bad"
    shutil.copytree(broken, only_bad / broken.name)
    one_line(ptb("leaderboard", only_bad), "1 unreadable", "result.json")
    assert not (only_bad / "leaderboard.ipynb").exists()
    # ptb regrade over a result.json that ptb did not write: refused in one line (it was exit 1).
    one_line(ptb("regrade", only_bad), str(only_bad / broken.name / "result.json"), "not readable JSON",
             "an experiment folder of `ptb run`'s cells")
    # A folder that is no experiment; a file where the demo's folder should go.
    for cmd in ("status", "cancel"):
        one_line(ptb(cmd, empty), str(empty), "not an experiment folder")
    one_line(ptb("demo", "--out", exp / "leaderboard.csv"), "--out", "not a folder")
