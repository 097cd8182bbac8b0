"""The leaderboard, takeaways and explore_run notebooks, executed with papermill on a full
results tree and on the output of a real `ptb run` (a scripted agent on tiny-qwen3/arith)."""

import json

import nbformat
import papermill
import pytest

from conftest import ROOT, ptb
from results_tree import make_tree

CELL = "claude-code__Qwen3-4B-Base__gsm8k__s0"


def execute(name: str, out_dir, **params) -> nbformat.NotebookNode:
    out = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params,
                               cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3",
                               execution_timeout=300)
    return nbformat.read(out, as_version=4)


def output_of(nb: nbformat.NotebookNode, source: str) -> str:
    """Everything the code cell whose source contains SOURCE displayed (text, HTML, SVG)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and source in c.source]
    assert len(cells) == 1, f"{len(cells)} cells contain {source!r}"
    parts = []
    for o in cells[0].outputs:
        parts += [o.get("text", "")] + [v if isinstance(v, str) else json.dumps(v) for v in o.get("data", {}).values()]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("results"))


def test_notebooks_on_a_full_results_tree(tree, tmp_path):
    nb = execute("leaderboard", tmp_path, dirs=[str(tree)], out=str(tmp_path / "board"), weights="v1.2",
                 reference=True)
    assert (tmp_path / "board" / "leaderboard.csv").is_file() and (tmp_path / "board" / "leaderboard.html").is_file()
    shows = [c for c in nb.cells if c.cell_type == "code" and "charts.show(" in c.source]
    assert len(shows) == 9
    for c in shows:
        assert "<svg" in c.outputs[0]["data"]["image/svg+xml"], c.source
    assert "published: instruct" in output_of(nb, "board = leaderboard.build")
    assert "gemini-cli (" in output_of(nb, "charts.main(board)")  # marked: it has unverified cells

    nb = execute("takeaways", tmp_path, dirs=[str(tree)])
    text = output_of(nb, "analysis.summary_markdown")
    for line in ("claude-code methods (of 84 cells): SFT in 84, LoRA in 84", "codex trains on: local json (84)",
                 "stops before half of it in 84 of 84 cells", "beats the instruct model"):
        assert line in text
    assert "GRPO" in output_of(nb, "analysis.methods(board)")
    assert "contamination" in output_of(nb, "analysis.flags(board)")
    assert all(a in output_of(nb, "per_agent = behaviour.per_agent") for a in ("claude-code", "codex", "gemini-cli"))
    budget = analysis_of_budget(tree)
    assert f"gemini-cli uses the most of its budget ({budget['gemini-cli']:.0f}% on average), codex the least " \
           f"({budget['codex']:.0f}%)" in output_of(nb, "behaviour.differences(per_agent)")
    for chart in ("tool_mix", "first_training", "endings", "learning_curves"):
        assert "<svg" in output_of(nb, f"charts.{chart}("), chart

    nb = execute("explore_run", tmp_path, dirs=[str(tree.parent)], cell=CELL, search="evaluate")
    assert "model_id" in output_of(nb, "explore.Explorer")  # the pickers and tabs, as a widget
    state = json.dumps(nb.metadata.widgets)  # what the tabs' Output widgets hold, saved with the notebook
    assert "train.py" in state and "image/svg+xml" in state and "question 0" in state
    assert CELL in output_of(nb, "explore.summary(run)")
    assert "<mark>evaluate</mark>" in output_of(nb, "explore.transcript(run, search)")
    calls = json.loads((tree / CELL / "agent" / "trace.jsonl").read_text().splitlines()[1])["text"]
    score = 100 * json.loads(calls.splitlines()[1])["score"]
    assert f"{score:.1f}" in output_of(nb, "analysis.eval_calls(run)")
    assert "train.py" in output_of(nb, "analysis.files_written(run)")


def test_notebooks_on_a_real_run(tmp_path, make_agent, tiny_model):
    make_agent("scripted", """
        cp -r "$1" final_model
        python evaluate.py --model-path final_model --limit 4
        cat > train.py <<'PY'
        from datasets import load_dataset
        from trl import SFTConfig, SFTTrainer
        data = load_dataset("openai/gsm8k", "main", split="train")
        PY
        python evaluate.py --model-path final_model --limit 6
    """)
    res = ptb("run", "--agent", "scripted", "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", "0.05",
              "--experiment", "real", "--eval-limit", "10", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    exp = tmp_path / "out" / "real"
    result = json.loads((exp / "scripted__tiny-qwen3__arith__s0" / "result.json").read_text())
    assert result["status"] == "ok" and result["n"] == 10

    nb = execute("leaderboard", tmp_path, dirs=[str(exp)], out=str(exp))
    assert "scripted" in (exp / "leaderboard.csv").read_text()
    nb = execute("takeaways", tmp_path, dirs=[str(exp)])
    assert "scripted methods (of 1 cells): SFT in 1, full FT in 1" in output_of(nb, "analysis.summary_markdown")
    assert "openai/gsm8k" in output_of(nb, "analysis.datasets(board)")

    nb = execute("explore_run", tmp_path, dirs=[str(tmp_path / "out")])
    calls = output_of(nb, "analysis.eval_calls(run)")
    assert "arith" in calls and "final_model" in calls
    assert [int(x) for x in _column(nb, "analysis.eval_calls(run)", "n")] == [4, 6]  # its two evaluate.py calls
    assert "train.py" in output_of(nb, "analysis.files_written(run)")
    assert "verdict" in output_of(nb, "analysis.integrity_evidence(run)")
    assert "No mention of a forbidden resource" in output_of(nb, "explore.near_misses(run)")
    profile = output_of(nb, "explore.behaviour_table(run)")
    assert "eval_calls" in profile and "finished early" in profile
    worst = output_of(nb, "analysis.samples(run, worst_first=True)")
    assert "<table" in worst and worst.count("<tr>") == 10  # the 10 evaluated samples (the header row has a style)


def analysis_of_budget(tree) -> dict[str, float]:
    """Mean share of the budget each agent used, in percent, straight from the result files."""
    shares: dict[str, list[float]] = {}
    for p in tree.glob("*/result.json"):
        r = json.loads(p.read_text())
        shares.setdefault(r["agent"], []).append(r["time_taken_s"] / (3600 * r["hours"]))
    return {a: 100 * sum(v) / len(v) for a, v in shares.items()}


def _column(nb, source: str, column: str) -> list[str]:
    """A column of a DataFrame a cell displayed, read back from its text/plain."""
    cells = [c for c in nb.cells if c.cell_type == "code" and source in c.source]
    lines = cells[0].outputs[0]["data"]["text/plain"].splitlines()
    idx = lines[0].split().index(column) + 1  # + the index column
    return [line.split()[idx] for line in lines[1:]]
