"""What the takeaways and the run explorer read from a results tree: methods and datasets
from the agent's code, evaluate.py calls from its trace, budget use, flags, instruct wins."""

import json
import statistics

import pytest

from ptb.report import analysis, charts, explore, leaderboard
from results_tree import CODE, MODELS, make_tree, write_cell


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def board(tree):
    return leaderboard.build([tree])


def results(tree) -> list[dict]:
    return [json.loads(p.read_text()) for p in tree.glob("*/result.json")]


def test_methods_and_datasets_are_detected_from_the_code_the_agent_wrote(board):
    m = analysis.methods(board).set_index("agent")
    n = m["cells"]
    assert (m.loc["claude-code", ["SFT", "LoRA"]] == n["claude-code"]).all()
    assert m.loc["claude-code", "full FT"] == 0 and m.loc["claude-code", "GRPO"] == 0
    assert (m.loc["codex", ["GRPO", "full FT"]] == n["codex"]).all() and m.loc["codex", "LoRA"] == 0
    # gemini-cli's code mentions LoRA in a comment only: a DPO full fine-tune
    assert (m.loc["gemini-cli", ["DPO", "full FT"]] == n["gemini-cli"]).all() and m.loc["gemini-cli", "LoRA"] == 0
    ds = {(r.agent, r.dataset) for r in analysis.datasets(board).itertuples()}
    assert ds == {("claude-code", "openai/gsm8k"), ("codex", "local json"),
                  ("gemini-cli", "HuggingFaceH4/ultrafeedback_binarized")}


def test_method_patterns_on_small_snippets():
    assert analysis.methods_in({"a.py": "model.train()\nloss.backward()\n"}) == ["SFT", "full FT"]
    assert analysis.methods_in({"a.py": "cfg = BitsAndBytesConfig(load_in_4bit=True)\nLoraConfig(r=8)\nSFTTrainer("}) \
        == ["SFT", "LoRA", "QLoRA"]
    assert analysis.methods_in({"notes.py": "# we could try GRPO or LoRA later"}) == []
    assert analysis.datasets_in(CODE["grpo_full"]) == ["local json"]


def test_code_in_a_notebook_the_agent_wrote_is_read(tmp_path):
    cell = write_cell(tmp_path, "codex", MODELS[0], "gsm8k", 0, score=0.5, verdict="clean", status="ok", time_s=60)
    source = 'from trl import DPOTrainer\nds = load_dataset("Anthropic/hh-rlhf")\n'
    (cell / "task" / "explore.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": [source]}]}))
    (cell / "task" / ".cache" / "x").mkdir(parents=True)
    (cell / "task" / ".cache" / "x" / "train.py").write_text("GRPOTrainer(")  # a cache, not the agent's code
    code = analysis.agent_code(cell)
    assert list(code) == ["explore.ipynb"]
    assert analysis.methods_in(code) == ["DPO", "full FT"] and analysis.datasets_in(code) == ["Anthropic/hh-rlhf"]


def test_evaluate_calls_are_parsed_from_the_trace(tmp_path):
    plain = write_cell(tmp_path, "codex", MODELS[0], "gsm8k", 0, score=0.5, verdict="clean", status="ok",
                       time_s=3600, eval_scores=(0.25, 0.5, 0.125))
    calls = analysis.eval_calls(plain)
    assert list(calls.score) == [25.0, 50.0, 12.5] and list(calls.n) == [50] * 3
    assert calls.minute.isna().all()  # a plain stdout log has no clock
    timed = write_cell(tmp_path, "claude-code", MODELS[0], "gsm8k", 0, score=0.5, verdict="clean", status="ok",
                       time_s=3600, eval_scores=(0.1, 0.2), trace_events=True)
    calls = analysis.eval_calls(timed)
    assert list(calls.score) == [10.0, 20.0]
    assert list(calls.minute) == [20.0, 40.0]  # events at 1/3 and 2/3 of the hour, from the agent's start
    assert "<svg" in charts.to_svg(charts.eval_curve(timed))
    assert analysis.eval_calls(tmp_path / "nothing").empty


def test_budget_use_flags_and_instruct_wins_match_the_results(tree, board):
    rs = results(tree)
    budget = analysis.budget_use(board).set_index("agent")
    codex = [r for r in rs if r["agent"] == "codex"]
    assert budget.loc["codex", "stopped_early"] == len(codex)  # it uses about 30% of its budget
    assert budget.loc["codex", "share_used"] == pytest.approx(
        statistics.mean(r["time_taken_s"] / (3600 * r["hours"]) for r in codex))
    assert budget.loc["gemini-cli", "ran_out"] == sum(r["agent"] == "gemini-cli" and r["status"] == "timeout" for r in rs)
    assert budget.index[0] == "gemini-cli" and budget.index[-1] == "codex"  # most budget used first

    flags = analysis.flags(board).set_index("agent")
    for agent in ("claude-code", "codex", "gemini-cli"):
        mine = [r for r in rs if r["agent"] == agent]
        flagged = [r for r in mine if r["integrity"]["verdict"] == "flagged"]
        assert flags.loc[agent, "flagged"] == len(flagged)
        assert flags.loc[agent, "flag_rate"] == pytest.approx(len(flagged) / len(mine))
        names = {c["name"] for r in flagged for c in r["integrity"]["checks"] if c["status"] == "flagged"}
        assert {x.split(" (")[0] for x in flags.loc[agent, "reasons"].split(", ")} == names

    instruct = {(r["model"], r["benchmark"]): 100 * r["score"] for r in rs if r["agent"] == "instruct"}
    zs = {(r["model"], r["benchmark"]): r["score"] for r in rs if r["agent"] == "zero-shot"}
    wins = set()
    for agent in ("claude-code", "codex", "gemini-cli"):
        for key in instruct:
            vals = [100 * (zs[key] if r["score"] is None or r["integrity"]["verdict"] == "flagged" else r["score"])
                    for r in rs if r["agent"] == agent and (r["model"], r["benchmark"]) == key]
            if statistics.mean(vals) > instruct[key]:
                wins.add((agent, *key))
    got = analysis.beats_instruct(board)
    assert wins and {(r.agent, r.model, r.benchmark) for r in got.itertuples()} == wins

    text = analysis.summary_markdown(board)
    for agent in ("claude-code", "codex", "gemini-cli"):
        assert f"- {agent} uses" in text and f"{agent} beats the instruct model" in text


def test_run_views_of_one_cell(tree):
    cell = tree / "claude-code__Qwen3-4B-Base__gsm8k__s0"
    worst, best = analysis.samples(cell, worst_first=True), analysis.samples(cell, worst_first=False)
    assert list(worst.score) == sorted(worst.score) and list(best.score) == sorted(best.score, reverse=True)
    assert best.score.iloc[0] == 1.0 and worst.score.iloc[0] == 0.0
    files = analysis.files_written(cell).set_index("path")
    assert files.loc["train.py", "by"] == "agent" and files.loc["evaluate.py", "by"] == "ptb"
    assert 0 < files.loc["train.py", "minute"] < 600  # written during the run
    tl = analysis.timeline(cell)
    assert set(tl.phase) >= {"budget", "agent", "final evaluation", "file written"}
    ev = analysis.integrity_evidence(cell)
    assert ev.iloc[0].check == "verdict"

    html = explore.transcript(cell, search="EVALUATE.py").data
    assert "<mark>evaluate.py</mark>" in html and "line(s) with" in html
    cells = explore.find_cells([tree.parent])
    assert list(cells) == [str(tree)] and cell in cells[str(tree)]
    ui = explore.Explorer([tree.parent], cell=cell.name)
    assert ui.cell_dir == cell
    ui.cell.value = "codex__Qwen3-4B-Base__gsm8k__s1"  # picking another cell re-renders every tab
    assert ui.cell_dir.name == "codex__Qwen3-4B-Base__gsm8k__s1"
    with pytest.raises(ValueError, match="cell 'nope' not found"):
        explore.Explorer([tree.parent], cell="nope")
