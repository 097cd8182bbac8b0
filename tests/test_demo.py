"""`ptb demo`: tiny-qwen3 post-trained on arith by the sft-baseline, end to end."""

import csv
import json

from conftest import ptb
from ptb import paths
from ptb.run import params


def test_demo_trains_evaluates_and_ranks(tmp_path):
    out = tmp_path / "demo"
    # Room for both cells to use their whole budget (a loaded host), then evaluation and the leaderboard.
    budget_s = params.load_grid(paths.PARAMETERS / "demo.yaml").hours * 3600
    res = ptb("demo", "--out", out, timeout=2 * budget_s + 900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rows = {r["agent"]: r for r in csv.DictReader(open(out / "leaderboard.csv"))}
    assert float(rows["sft-baseline"]["arith"]) > 90
    assert float(rows["zero-shot"]["arith"]) < 10
    assert "sft-baseline" in res.stdout and "leaderboard.csv" in res.stdout  # the table is printed
    cells = sorted(p.parent for p in out.glob("*/result.json"))
    assert [c.name for c in cells] == ["sft-baseline__tiny-qwen3__arith__s0", "zero-shot__tiny-qwen3__arith__s0"]
    for cell in cells:
        assert (cell / "run_cell.ipynb").is_file()
        result = json.loads((cell / "result.json").read_text())
        assert result["status"] == "ok" and result["notes"] == []  # the training was not cut short
    html = (out / "leaderboard.html").read_text()
    assert "<svg" in html and "sft-baseline" in html and "cdn" not in html.lower()
    assert (out / "leaderboard.ipynb").is_file()

    # The summary notebooks on the demo's own output.
    from test_notebooks import execute, output_of

    nb = execute("takeaways", tmp_path, dirs=[str(out)])
    assert "sft-baseline" in output_of(nb, "analysis.summary_markdown")
    nb = execute("explore_run", tmp_path, dirs=[str(out.parent)])
    assert "__tiny-qwen3__arith__s0" in output_of(nb, "explore.summary(run)")
