"""`ptb eval` and `ptb score` on arith, and tiny-qwen3 itself."""

import hashlib
import json

from conftest import ptb
from ptb import models
from ptb.benchmarks import arith


def test_tiny_qwen3_is_deterministic_and_small(tmp_path, monkeypatch, tiny_model):
    monkeypatch.setenv("PTB_CACHE", str(tmp_path))
    again = models.tiny_qwen3()
    assert again != tiny_model
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert hashlib.sha256((again / name).read_bytes()).digest() == \
            hashlib.sha256((tiny_model / name).read_bytes()).digest(), name
    assert sum(f.stat().st_size for f in again.iterdir()) < 3_000_000


def test_arith_split_is_fixed_and_disjoint():
    test, train = arith.load("test"), arith.load("train")
    assert len(test) == 100 and len(train) == 9_900
    assert not {r["question"] for r in test} & {r["question"] for r in train}
    assert test[0] == arith.load("test")[0] and test[0]["answer"].startswith("#### ")


def test_eval_untrained_model(tmp_path, tiny_model):
    out = tmp_path / "m.json"
    samples = tmp_path / "s.jsonl"
    res = ptb("eval", "--model", tiny_model, "--benchmark", "arith", "--limit", "8", "--engine", "transformers",
              "--json-output-file", out, "--samples-file", samples)
    assert res.returncode == 0, res.stderr
    m = json.loads(out.read_text())
    assert m["n"] == 8 and m["score"] == 0.0 and len(m["samples"]) == 8
    rec = json.loads(samples.read_text().splitlines()[0])
    assert {"index", "score", "answer", "target", "output", "messages"} <= rec.keys()


def test_eval_rejects_bad_input(tmp_path):
    res = ptb("eval", "--model", tmp_path, "--benchmark", "arith")
    assert res.returncode == 2 and "not a model folder" in res.stderr
    res = ptb("eval", "--model", tmp_path, "--benchmark", "nope")
    assert res.returncode == 2


def test_score_recorded_outputs(tmp_path):
    rows = arith.load("test")[:4]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = [r["answer"].split()[-1] for r in rows]
    outputs = [f"#### {answers[0]}", f"The sum is {int(answers[1]):,}.", "#### 100000", f"{answers[3]} #### 7"]
    (tmp_path / "out.jsonl").write_text("".join(json.dumps({"index": i, "output": o}) + "\n"
                                                for i, o in enumerate(outputs)))
    res = ptb("score", "arith", "--dataset", tmp_path / "rows.jsonl", "--responses", tmp_path / "out.jsonl",
              "--json-output-file", tmp_path / "score.json")
    assert res.returncode == 0, res.stderr
    got = json.loads((tmp_path / "score.json").read_text())
    assert json.loads(res.stdout) == got
    assert [s["score"] for s in got["samples"]] == [1.0, 1.0, 0.0, 0.0] and got["score"] == 0.5 and got["n"] == 4

    (tmp_path / "bad.jsonl").write_text('{"index": 9, "output": "x"}\n')
    res = ptb("score", "arith", "--dataset", tmp_path / "rows.jsonl", "--responses", tmp_path / "bad.jsonl")
    assert res.returncode == 2 and "bad.jsonl:1" in res.stderr


def test_sampling_models_are_averaged_over_seeds_greedy_ones_not(tmp_path, tiny_model):
    import shutil

    sampler = tmp_path / "sampler"
    shutil.copytree(tiny_model, sampler)
    cfg = json.loads((sampler / "generation_config.json").read_text())
    (sampler / "generation_config.json").write_text(json.dumps(cfg | {"do_sample": True, "temperature": 1.5}))
    for model, seeds in ((tiny_model, [3]), (sampler, [3, 4, 5, 6, 7])):
        out, samples = tmp_path / f"{model.name}.json", tmp_path / f"{model.name}.jsonl"
        res = ptb("eval", "--model", model, "--benchmark", "arith", "--limit", "4", "--engine", "transformers",
                  "--seed", "3", "--json-output-file", out, "--samples-file", samples)
        assert res.returncode == 0, res.stderr
        m = json.loads(out.read_text())
        assert m["seeds"] == seeds and m["n"] == 4 and len(m["samples"]) == 4
        records = [json.loads(line) for line in samples.read_text().splitlines()]
        assert len(records) == 4 * len(seeds)
    outputs = {(r["seed"], r["index"]): r["output"] for r in records}
    assert len({outputs[(s, 0)] for s in seeds}) > 1  # the seeds really sampled differently
    assert m["seed_scores"] and m["score"] == sum(m["seed_scores"]) / 5


def test_run_records_the_protocol_options_and_sampling(tmp_path, tiny_model):
    res = ptb("run", "--agent", "zero-shot", "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", "0.05",
              "--engine", "transformers", "--eval-limit", "4", "--experiment", "p", "--out", tmp_path,
              "--protocol", "v1", "--option", "exact-numeric")
    assert res.returncode == 0, res.stderr[-3000:]
    cell = next((tmp_path / "p").glob("zero-shot__*"))
    result = json.loads((cell / "result.json").read_text())
    assert (result["protocol"], result["options"]) == ("v1", ["exact-numeric"])
    # arith is ptb's own: decoded as transformers reads tiny-qwen3's config (greedy), one seed under v1.
    assert result["sampling"] == {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0,
                                  "repetition_penalty": 1.0, "max_tokens": 32}
    assert result["eval"]["protocol"] == "v1" and result["eval"]["seeds"] == [0]


def test_a_scorer_bug_is_a_traceback_and_a_configuration_error_one_line(tmp_path, tiny_model, failing_scorer):
    args = ("eval", "--model", tiny_model, "--benchmark", "arith", "--limit", "2", "--engine", "transformers",
            "--json-output-file", tmp_path / "m.json")
    failing_scorer("bug")
    res = ptb(*args)
    assert res.returncode == 1 and "Traceback" in res.stderr and "TypeError" in res.stderr.splitlines()[-1]
    failing_scorer("config")
    res = ptb(*args)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == "ptb eval: error: the scorer's judge is not configured"
