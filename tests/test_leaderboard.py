"""Leaderboard aggregation against an independent computation of PostTrainBench's rules."""

import json
import statistics

import pytest

from ptb import leaderboard

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

    w = {b: leaderboard.WEIGHTS_V1[b] for b in BENCH}
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

    csv_path, html_path = leaderboard.write(board, tmp_path / "lb")
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
    assert row["gsm8k"] == pytest.approx(100 * leaderboard.PUBLISHED_BASE[MODELS[0]]["gsm8k"])
    assert any("incomplete run" in n for n in board.notes)
