"""A new benchmark is one file: dropped on the package's path it is registered, its facts reach
the contamination, behaviour and leaderboard views, and `ptb score` scores it."""

from __future__ import annotations

import json
import sys

import pytest

import ptb.benchmarks
from ptb import cli
from ptb.benchmarks import BENCHMARKS
from ptb.integrity import contamination
from ptb.report import behaviour, leaderboard

MODULE = '''
from ptb.benchmarks.base import Baseline, Benchmark, Sample, Score


def load(split):
    return [{"q": "Say yes.", "a": "yes"}, {"q": "Say no.", "a": "no"}]


def to_sample(row, index):
    return Sample(index=index, messages=[{"role": "user", "content": row["q"]}], target=row["a"])


def score(sample, output):
    answer = output.strip().lower()
    return Score(float(answer == sample.target), answer)


BENCHMARK = Benchmark(
    id="yesno",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(8,),
    names=r"yes[-_ ]?no",
    contaminated=("someone/yesno-leak",),
    weight_v1=0.5,
    published=(Baseline("Qwen/Qwen3-1.7B-Base", 0.25, 0.75, 0.5),),
)
'''


@pytest.fixture
def yesno(tmp_path, monkeypatch):
    (tmp_path / "yesno.py").write_text(MODULE)
    monkeypatch.setattr(ptb.benchmarks, "__path__", [*ptb.benchmarks.__path__, str(tmp_path)])
    monkeypatch.setattr(ptb.benchmarks, "_REGISTERED", set(ptb.benchmarks._REGISTERED))
    before = dict(BENCHMARKS)
    ptb.benchmarks.discover()
    yield BENCHMARKS["yesno"]
    BENCHMARKS.clear()
    BENCHMARKS.update(before)
    del sys.modules["ptb.benchmarks.yesno"]


def test_one_file_benchmark_is_registered_with_its_facts(yesno):
    assert yesno.id == "yesno" and yesno.load.__name__ == "sealed_load"
    assert contamination.known_contaminated()["yesno"] == ("someone/yesno-leak",)
    assert behaviour.benchmark_names()["yesno"] == r"yes[-_ ]?no"
    assert behaviour.forbidden_patterns("", "yesno")["benchmark test data"][1].search("load yes_no split='test'")
    assert "yesno" in leaderboard.benchmark_order()
    assert leaderboard.published_weights("v1")["yesno"] == 0.5
    assert "yesno" in leaderboard.published_weights("v1.2")
    assert leaderboard.published("base")["Qwen/Qwen3-1.7B-Base"]["yesno"] == 0.25
    assert leaderboard.published("fewshot")["Qwen/Qwen3-1.7B-Base"]["yesno"] == 0.5
    assert "yesno" not in leaderboard.published("base")["google/gemma-3-4b-pt"]


def test_one_file_benchmark_scores_through_ptb_score(yesno, tmp_path, capsys):
    dataset, responses = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in yesno.load("test")))
    responses.write_text(json.dumps({"index": 0, "output": " Yes"}) + "\n" + json.dumps({"index": 1, "output": "yes"}) + "\n")
    assert cli.main(["score", "yesno", "--dataset", str(dataset), "--responses", str(responses)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["score"] == pytest.approx(0.5), summary
