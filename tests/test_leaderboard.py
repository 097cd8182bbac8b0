"""Leaderboard aggregation against an independent computation of PostTrainBench's rules."""

import json
import statistics

import pytest

from ptb.report import leaderboard, page

MODELS = ["Qwen/Qwen3-1.7B-Base", "google/gemma-3-4b-pt"]
BENCH = ["gsm8k", "humaneval"]


def write_cell(root, agent, model, bench, seed, score, verdict="unverified", status="ok"):
    name = f"{agent}__{model.split('/')[-1]}__{bench}__s{seed}"
    d = root / name
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps({
        "schema": 1, "experiment": "x", "cell": name, "agent": agent, "model": model, "benchmark": bench,
        "seed": seed, "hours": 10, "status": status, "score": score, "stderr": 0.0, "n": 10,
        "time_taken_s": 3600.0, "integrity": {"verdict": verdict, "checks": []}, "cost_usd": None}))


def test_aggregation_matches_an_independent_computation(tmp_path):
    zs = {("Qwen/Qwen3-1.7B-Base", "gsm8k"): 0.10, ("Qwen/Qwen3-1.7B-Base", "humaneval"): 0.05,
          ("google/gemma-3-4b-pt", "gsm8k"): 0.20, ("google/gemma-3-4b-pt", "humaneval"): 0.0}
    for (m, b), s in zs.items():
        write_cell(tmp_path, "zero-shot", m, b, 0, s)
    agent = {  # seed -> (model, bench) -> (score, verdict)
        0: {(MODELS[0], "gsm8k"): (0.5, "clean"), (MODELS[0], "humaneval"): (0.3, "flagged"),
            (MODELS[1], "gsm8k"): (None, "clean"), (MODELS[1], "humaneval"): (0.2, "clean")},
        1: {(MODELS[0], "gsm8k"): (0.6, "clean"), (MODELS[0], "humaneval"): (0.4, "clean"),
            (MODELS[1], "gsm8k"): (0.7, "clean"), (MODELS[1], "humaneval"): (0.1, "unverified")},
    }
    for seed, cells in agent.items():
        for (m, b), (s, v) in cells.items():
            write_cell(tmp_path, "codex", m, b, seed, s, v, "ok" if s is not None else "eval_error")
    write_cell(tmp_path / ".attempts", "codex", MODELS[0], "gsm8k", 5, 1.0)  # ignored

    w = {b: leaderboard.published_weights("v1")[b] for b in BENCH}
    w = {b: v / sum(w.values()) for b, v in w.items()}
    run_avgs, per_bench = [], {b: [] for b in BENCH}
    for cells in agent.values():
        bench_val = {}
        for b in BENCH:
            vals = []
            for m in MODELS:
                s, v = cells[(m, b)]
                vals.append(100 * (zs[(m, b)] if s is None or v == "flagged" else s))
            bench_val[b] = sum(vals) / len(vals)
            per_bench[b].append(bench_val[b])
        run_avgs.append(sum(w[b] * bench_val[b] for b in BENCH))

    board = leaderboard.build([tmp_path])
    row = board.table.set_index("agent").loc["codex"]
    assert row["avg"] == pytest.approx(statistics.mean(run_avgs))
    assert row["avg_std"] == pytest.approx(statistics.stdev(run_avgs))
    assert row["n_runs"] == 2 and row["n_flagged"] == 1 and row["n_unverified"] == 1
    for b in BENCH:
        assert row[b] == pytest.approx(statistics.mean(per_bench[b]))
    zrow = board.table.set_index("agent").loc["zero-shot"]
    assert zrow["gsm8k"] == pytest.approx(15.0) and zrow["n_runs"] == 1

    csv_path, html_path = page.write(board, tmp_path / "lb")
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header[:6] == ["agent", "avg", "avg_std", "n_runs", "gsm8k", "humaneval"]
    assert "<svg" in html_path.read_text()


def test_incomplete_run_is_not_counted_and_published_baselines_substitute(tmp_path):
    write_cell(tmp_path, "codex", MODELS[0], "gsm8k", 0, None, status="no_final_model")
    write_cell(tmp_path, "codex", MODELS[0], "humaneval", 0, 0.5)
    write_cell(tmp_path, "codex", MODELS[0], "gsm8k", 1, 0.9)  # seed 1 lacks humaneval
    board = leaderboard.build([tmp_path])
    row = board.table.set_index("agent").loc["codex"]
    assert row["n_runs"] == 1
    assert row["gsm8k"] == pytest.approx(100 * leaderboard.published("base")[MODELS[0]]["gsm8k"])
    assert any("incomplete run" in n for n in board.notes)


# --- a full results tree: several agents, the 4 models, the 7 benchmarks, seeds ------------

import csv  # noqa: E402
from collections import defaultdict  # noqa: E402

from results_tree import BENCHMARKS, make_tree, write_cell as write_full_cell  # noqa: E402

# Typed from reference/posttrainbench.md, not taken from ptb.
V1 = {"aime2025": 0.226537, "arenahardwriting": 0.090352, "bfcl": 0.074608, "gpqamain": 0.224622,
      "gsm8k": 0.093588, "healthbench": 0.184145, "humaneval": 0.106149}


def independent_rows(exp, weights: dict) -> dict[str, dict]:
    """PostTrainBench's rules applied to the raw result.json files, without ptb."""
    results = [json.loads(p.read_text()) for p in sorted(exp.glob("*/result.json"))]
    zs = defaultdict(list)
    for r in results:
        if r["agent"] == "zero-shot" and r["score"] is not None:
            zs[(r["model"], r["benchmark"])].append(r["score"])
    by_agent = defaultdict(lambda: defaultdict(dict))
    counts = defaultdict(lambda: defaultdict(int))
    for r in results:
        key = (r["model"], r["benchmark"])
        counted = r["score"] is None or r["integrity"]["verdict"] == "flagged"
        by_agent[r["agent"]][r["seed"]][key] = 100 * (statistics.mean(zs[key]) if counted else r["score"])
        counts[r["agent"]][r["integrity"]["verdict"]] += 1
    rows = {}
    for agent, seeds in by_agent.items():
        needed = set().union(*(set(c) for c in seeds.values()))
        runs = []
        for cells in seeds.values():
            if set(cells) != needed:
                continue
            bench = {b: statistics.mean(v for (m, bb), v in cells.items() if bb == b) for b in {b for _, b in cells}}
            runs.append((sum(weights[b] * v for b, v in bench.items()) / sum(weights[b] for b in bench), bench))
        avgs = [a for a, _ in runs]
        rows[agent] = {"avg": statistics.mean(avgs), "avg_std": statistics.stdev(avgs) if len(avgs) > 1 else None,
                       "n_runs": len(runs), "n_flagged": counts[agent]["flagged"],
                       "n_unverified": counts[agent]["unverified"],
                       **{b: statistics.mean(bench[b] for _, bench in runs) for b in BENCHMARKS}}
    return rows


def assert_csv_matches(csv_path, expected: dict[str, dict]):
    rows = {r["agent"]: r for r in csv.DictReader(csv_path.open())}
    assert set(rows) == set(expected)
    for agent, exp_row in expected.items():
        for col, value in exp_row.items():
            got = rows[agent][col]
            if value is None:
                assert got == "", (agent, col, got)
            elif col.startswith("n_"):
                assert int(got) == value, (agent, col, got, value)
            else:
                assert float(got) == pytest.approx(value, abs=0.006), (agent, col, got, value)  # CSV has 2 decimals


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("results"))


def test_csv_of_a_full_tree_equals_an_independent_computation(tree, tmp_path):
    expected = independent_rows(tree, V1)
    assert set(expected) == {"zero-shot", "instruct", "claude-code", "codex", "gemini-cli"}
    assert expected["gemini-cli"]["n_runs"] == 1  # its seed 1 lacks a cell
    assert expected["claude-code"]["n_flagged"] > 0 and expected["codex"]["n_unverified"] > 0
    board = leaderboard.build([tree])
    csv_path, _ = page.write(board, tmp_path)
    assert_csv_matches(csv_path, expected)
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header[:11] == ["agent", "avg", "avg_std", "n_runs", *BENCHMARKS]
    assert any("gemini-cli seed 1: incomplete run" in n for n in board.notes)


def test_v1_2_drops_bfcl_and_reweights_the_rest(tree, tmp_path):
    board = leaderboard.build([tree], weights="v1.2")
    assert board.weights["bfcl"] == 0
    rest = {b: v for b, v in V1.items() if b != "bfcl"}
    for b, v in rest.items():  # same rule over six benchmarks: the v1 ratios, renormalised
        assert board.weights[b] == pytest.approx(v / sum(rest.values()), abs=2e-5)
    csv_path, _ = page.write(board, tmp_path)
    assert_csv_matches(csv_path, independent_rows(tree, board.weights))
    assert any("bfcl is shown but not weighted" in n for n in board.notes)


def test_experiment_weights_come_from_its_own_baseline_cells(tree, tmp_path):
    results = [json.loads(p.read_text()) for p in tree.glob("*/result.json")]
    mean = lambda agent, b: statistics.mean(r["score"] for r in results if r["agent"] == agent and r["benchmark"] == b)  # noqa: E731
    inverse = {b: 1 / (mean("instruct", b) - mean("zero-shot", b)) for b in BENCHMARKS}
    board = leaderboard.build([tree], weights="experiment")
    for b in BENCHMARKS:
        assert board.weights[b] == pytest.approx(inverse[b] / sum(inverse.values()))
    csv_path, _ = page.write(board, tmp_path)
    assert_csv_matches(csv_path, independent_rows(tree, board.weights))


def test_published_reference_rows_give_the_published_averages(tree):
    board = leaderboard.build([tree], reference=True)
    avg = board.table.set_index("agent").avg
    # reference/posttrainbench.md: base 7.5, few-shot 18.1, instruct 51.1, Opus 4.6 23.2
    assert round(avg["published: zero-shot"], 1) == 7.5
    assert round(avg["published: few-shot"], 1) == 18.1
    assert round(avg["published: instruct"], 1) == 51.1
    assert avg["published v1: Opus 4.6 (Claude Code)"] == 23.2
    assert set(board.table[board.table.kind == "published"].agent) >= {"published: instruct"}
    with pytest.raises(ValueError, match="unknown weights 'v9'"):
        leaderboard.build([tree], weights="v9")


def test_a_result_json_written_by_an_agent_is_not_a_cell(tmp_path):
    exp = tmp_path / "e"
    d = write_full_cell(exp, "codex", MODELS[0], "gsm8k", 0, score=0.1, verdict="clean", status="ok", time_s=60)
    fake = json.loads((d / "result.json").read_text()) | {"agent": "codex", "seed": 7, "score": 1.0}
    (d / "task" / "result.json").write_text(json.dumps(fake))  # inside the agent's task folder
    board = leaderboard.build([exp])
    assert len(board.cells) == 1 and board.table.set_index("agent").loc["codex", "avg"] == pytest.approx(10.0)
