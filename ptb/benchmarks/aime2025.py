"""aime2025: the 30 problems of the 2025 American Invitational Mathematics Examination (I and II).

Source: Hugging Face `math-ai/aime25`, test split, revision
563bb8404243c5f09de6ec262f2db674fe5bce9b (the revision inspect_evals pins for its
aime2025 task). No training split: every row is evaluation data. A raw row:
    {"problem": "Find the sum of all integer bases $b>9$ for which $17_b$ is a divisor of
      $97_b$.", "answer": "70", "id": "0"}

As inspect_evals' aime2025 task at the reference's pinned commit: the problem in the
"ANSWER: $ANSWER" template below, no system message. Scoring: `\\boxed{...}` removed from
the whole output (one greedy match, as there), then inspect-ai's numeric match of the last
number, by suffix (`ptb.benchmarks.numeric`); the option `exact-numeric` compares by value.
Later inspect_evals releases look only at the last non-blank line; the pinned one, and
ptb, read the whole output (the fidelity tests list the outputs where the two differ).
"""

from __future__ import annotations

import re
from dataclasses import replace

from ptb.benchmarks import numeric
from ptb.benchmarks.base import Baseline, Benchmark, Sample, Score, reasoning_removed
from ptb.benchmarks.data import load_rows

HUB_ID = "math-ai/aime25"
REVISION = "563bb8404243c5f09de6ec262f2db674fe5bce9b"

PROMPT = """Solve the following math problem step by step.
The last line of your response should be of the form "ANSWER: $ANSWER" (without quotes) where $ANSWER is the answer to the problem.

{problem}

Remember to put your answer on its own line at the end in the form "ANSWER: $ANSWER" (without quotes) where $ANSWER is the answer to the problem, and you do not need to use a \\boxed command."""

_BOXED = re.compile(r"\\boxed\{(.+)\}")


def load(split: str) -> list[dict]:
    return load_rows(HUB_ID, split, revision=REVISION)


def to_sample(row: dict, index: int) -> Sample:
    return Sample(index=index, messages=[{"role": "user", "content": PROMPT.format(problem=row["problem"])}],
                  target=str(row["answer"]), metadata={"id": row.get("id")})


def score(sample: Sample, output: str) -> Score:
    answer, correct = numeric.suffix_match(_BOXED.sub(r"\1", output), sample.target)
    return Score(float(correct), answer)


def score_exact(sample: Sample, output: str) -> Score:
    answer, correct = numeric.exact_match(_BOXED.sub(r"\1", output), sample.target)
    return Score(float(correct), answer)


BENCHMARK = Benchmark(
    id="aime2025",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(16000, 12000, 8000),
    sampled_seeds=5,
    visible=reasoning_removed,
    under=lambda p: replace(BENCHMARK, score=score_exact) if p.has("exact-numeric") else BENCHMARK,
    names=r"aime",
    contaminated=("math-ai/aime25", "opencompass/AIME2025", "MathArena/aime_2025", "yentinglin/aime_2025"),
    weight_v1=0.226537,
    published=(
        Baseline("Qwen/Qwen3-1.7B-Base", 0.0, 0.26667, 0.05333),
        Baseline("Qwen/Qwen3-4B-Base", 0.03333, 0.53333, 0.09),
        Baseline("HuggingFaceTB/SmolLM3-3B-Base", 0.03333, 0.26667, 0.06),
        Baseline("google/gemma-3-4b-pt", 0.0, 0.1, 0.0),
    ),
)
