"""gsm8k: grade-school math word problems (Cobbe et al. 2021, arXiv 2110.14168).

Source: Hugging Face `openai/gsm8k`, config `main`, revision
cc7b047b6e5bb11b4f1af84efc572db110a51b3c (the revision inspect_evals pins for its gsm8k
task); test split (1,319 items) evaluated, train split (7,473) for few-shot examples and
for training. A raw row:
    {"question": "Janet's ducks lay 16 eggs per day. She eats three for breakfast every
      morning and bakes muffins for her friends every day with four. She sells the
      remainder at the farmers' market daily for $2 per fresh duck egg. How much in
      dollars does she make every day at the farmers' market?",
     "answer": "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\\nShe makes 9 * 2 =
      $<<9*2=18>>$18 every day at the farmer's market.\\n#### 18"}

As inspect_evals' gsm8k task (the reference): a system message holds 10 worked examples
from the train split (the split shuffled as `datasets` shuffles with seed 42, first 10),
each "question, Reasoning:, worked solution, ANSWER: n"; the user message is the
question in the step-by-step template below. Scoring: inspect-ai's numeric match of the
output's last number, by suffix (`ptb.benchmarks.numeric`); the option `exact-numeric`
compares by value.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import cache

from ptb.benchmarks import numeric
from ptb.benchmarks.base import Baseline, Benchmark, Sample, Score, reasoning_removed
from ptb.benchmarks.data import load_rows

HUB_ID = "openai/gsm8k"
CONFIG = "main"
REVISION = "cc7b047b6e5bb11b4f1af84efc572db110a51b3c"
FEWSHOT = 10
FEWSHOT_SEED = 42  # inspect_evals' default few-shot seed

PROMPT = """Solve the following math problem step by step. The last line of your response should be of the form "ANSWER: $ANSWER" (without quotes) where $ANSWER is the answer to the problem.

{question}

Remember to put your answer on its own line at the end in the form "ANSWER: $ANSWER" (without quotes) where $ANSWER is the answer to the problem, and you do not need to use a \\boxed command.

Reasoning:"""


def load(split: str) -> list[dict]:
    return load_rows(HUB_ID, split, revision=REVISION, config=CONFIG)


def split_answer(answer: str) -> tuple[str, str]:
    """(worked reasoning, final answer) of a row's "answer" field."""
    *reasoning, final = answer.split("####")
    return "####".join(reasoning).strip(), final.strip()


def shuffled_order(n: int, seed: int) -> list[int]:
    """The row order of `datasets.Dataset.shuffle(seed=seed)` on n rows (what inspect's hf_dataset uses)."""
    import numpy as np

    return np.random.default_rng(seed).permutation(n).tolist()


def fewshot_system_message() -> str:
    return _fewshot(os.environ.get("PTB_DATA_DIR"))


@cache
def _fewshot(data_dir: str | None) -> str:  # keyed on the data source, which tests switch
    train = load("train")
    shots = []
    for i in shuffled_order(len(train), FEWSHOT_SEED)[:FEWSHOT]:
        reasoning, final = split_answer(train[i]["answer"])
        shots.append(f"{train[i]['question']}\n\nReasoning:\n{reasoning}\n\nANSWER: {final}")
    return "\n\n".join(shots)


def user_prompt(question: str) -> str:
    return PROMPT.format(question=question)


def to_sample(row: dict, index: int) -> Sample:
    messages = [{"role": "system", "content": fewshot_system_message()},
                {"role": "user", "content": user_prompt(row["question"])}]
    return Sample(index=index, messages=messages, target=split_answer(row["answer"])[1])


def score(sample: Sample, output: str) -> Score:
    answer, correct = numeric.suffix_match(output, sample.target)
    return Score(float(correct), answer)


def score_exact(sample: Sample, output: str) -> Score:
    answer, correct = numeric.exact_match(output, sample.target)
    return Score(float(correct), answer)


def train_pairs() -> list[tuple[list[dict], str]]:
    """The train split as zero-shot prompts with the answer in the evaluated format."""
    pairs = []
    for row in load("train"):
        reasoning, final = split_answer(row["answer"])
        pairs.append(([{"role": "user", "content": user_prompt(row["question"])}], f"{reasoning}\n\nANSWER: {final}"))
    return pairs


BENCHMARK = Benchmark(
    id="gsm8k",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(4000, 3000, 2000),
    train_pairs=train_pairs,
    sampled_seeds=5,
    visible=reasoning_removed,
    under=lambda p: replace(BENCHMARK, score=score_exact) if p.has("exact-numeric") else BENCHMARK,
    names=r"gsm8k",
    # no contaminated source: its train split is allowed (its test items are caught by the overlap scan)
    weight_v1=0.093588,
    published=(
        Baseline("Qwen/Qwen3-1.7B-Base", 0.12661, 0.88476, 0.46679),
        Baseline("Qwen/Qwen3-4B-Base", 0.41850, 0.93783, 0.74382),
        Baseline("HuggingFaceTB/SmolLM3-3B-Base", 0.21077, 0.82183, 0.52987),
        Baseline("google/gemma-3-4b-pt", 0.06141, 0.83548, 0.05838),
    ),
)
