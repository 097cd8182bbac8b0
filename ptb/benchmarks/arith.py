"""arith: two-number addition in GSM8K's answer format; ptb's offline, synthetic benchmark.

Not part of PostTrainBench. It exists so that the whole pipeline (agent, sandbox,
evaluation, leaderboard) runs on a laptop CPU in minutes with `tiny-qwen3`, through
exactly the code path of the real benchmarks.

Items: every "What is a + b?" with a, b in 0..99 (10,000), shuffled with a fixed seed;
the first 100 are the test split, the other 9,900 the train split (agents may train on
it). A row, in GSM8K's schema:
    {"question": "What is 47 + 18?", "answer": "#### 65"}
Scoring: the last number in the output must equal the answer (GSM8K-style numeric match).
"""

from __future__ import annotations

import random
from functools import cache

from ptb.benchmarks.base import Benchmark, Sample, Score, last_number, same_number

TEST_SIZE = 100


@cache
def _rows() -> tuple[dict, ...]:
    pairs = [(a, b) for a in range(100) for b in range(100)]
    random.Random(0).shuffle(pairs)
    return tuple({"question": f"What is {a} + {b}?", "answer": f"#### {a + b}"} for a, b in pairs)


def load(split: str) -> list[dict]:
    if split == "test":
        return list(_rows()[:TEST_SIZE])
    if split == "train":
        return list(_rows()[TEST_SIZE:])
    raise ValueError(f"arith has splits 'train' and 'test', not '{split}'")


def to_sample(row: dict, index: int) -> Sample:
    return Sample(index=index, messages=[{"role": "user", "content": row["question"]}], target=last_number(row["answer"]))


def score(sample: Sample, output: str) -> Score:
    answer = last_number(output)
    return Score(float(same_number(answer, sample.target)), answer)


def train_pairs() -> list[tuple[list[dict], str]]:
    return [(to_sample(r, i).messages, r["answer"]) for i, r in enumerate(load("train"))]


def corpus_lines() -> list[str]:
    """Every item as ptb's ChatML template renders it (tiny-qwen3's tokenizer corpus)."""
    return [
        f"<|im_start|>user\n{r['question']}<|im_end|>\n<|im_start|>assistant\n{r['answer']}<|im_end|>\n"
        for r in _rows()
    ]


BENCHMARK = Benchmark(
    id="arith",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(32, 24, 16),
    train_pairs=train_pairs,
    sampled_seeds=5,
    chat_template="model",  # tiny-qwen3's own ChatML: arith is ptb's, and `ptb demo` needs no download
    reference=False,  # ptb's own: decoded as transformers reads generation_config, so the demo is deterministic
    names=r"arith",
)
