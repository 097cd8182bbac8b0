"""What a benchmark is: rows in the source's own schema -> samples -> scores.

A benchmark module in ptb/benchmarks/ defines one `BENCHMARK = Benchmark(...)`: how to load its
rows, a pure row-to-sample function, a scorer, its generation limits, and its facts (how it is
named, the datasets known to hold its test items, its leaderboard weight and published
baselines). The registry finds the module; everything else (engines, evaluation, `ptb score`,
the sft-baseline's training data, integrity, the leaderboard) goes through these fields, the
same for the synthetic `arith` as for the real benchmarks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ptb.eval.protocol import Protocol

# Which chat template renders a benchmark's prompts: the reference's for the model's family (the
# PostTrainBench benchmarks), or the model tokenizer's own (ptb's synthetic arith, offline).
ChatTemplate = Literal["reference", "model"]


@dataclass(frozen=True)
class Sample:
    index: int  # row number in the loaded split
    messages: list[dict]  # the chat sent to the model (few-shot turns included)
    target: str  # what the scorer compares against
    tools: list[dict] | None = None  # OpenAI-style function specs offered to the model
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    # 0..1 (HealthBench's may fall below 0, as its own); None: not scored because the judge failed,
    # counted in the metrics and left out of the mean, never a zero.
    value: float | None
    answer: str | None = None  # what the scorer extracted from the output
    explanation: str = ""


@dataclass(frozen=True)
class BatchScore:
    scores: list[Score]  # one per sample, in order
    metrics: dict  # reported beside the score (judge calls, failures, unparsed answers)


@dataclass(frozen=True)
class Baseline:
    """A base model's published scores on a benchmark, fraction correct (the reference's baselines)."""
    model: str
    base: float  # zero-shot
    instruct: float  # the model's instruct version
    fewshot: float | None = None  # None: not published (BFCL)


@dataclass(frozen=True)
class Benchmark:
    id: str
    load: Callable[[str], list[dict]]  # split name -> rows
    to_sample: Callable[[dict, int], Sample]
    score: Callable[[Sample, str], Score]
    max_tokens: tuple[int, ...]  # the retry ladder: first limit, then lower ones
    test_split: str = "test"
    # Data the rules allow training on, as (prompt messages, completion text) pairs;
    # None where the benchmark has no allowed training split.
    train_pairs: Callable[[], list[tuple[list[dict], str]]] | None = None
    # Judged benchmarks score all samples in one go (concurrent judge calls); `score` stays for one sample.
    score_batch: Callable[[list[Sample], list[str]], BatchScore] | None = None
    # (score, stderr) from the scored samples where the benchmark's rule is not their plain mean.
    aggregate: Callable[[list[Score]], tuple[float, float]] | None = None
    needs_judge: bool = False  # scored by the LLM judge: `ptb eval` checks it is configured before generating
    # Seeds averaged when decoding samples (the reference's v1.2 rule: 5 for GPQA, AIME,
    # GSM8K, HumanEval; 1 for judged benchmarks; always 1 when greedy; see ptb/eval/protocol.py).
    sampled_seeds: int = 1
    chat_template: ChatTemplate = "reference"
    # What the reference's scorer saw of the raw output (`reasoning_removed` for the inspect-ai
    # scorers); None: the whole output (BFCL's tool calls, the judged benchmarks' own rules).
    visible: Callable[[str], str] | None = None
    # The benchmark's variant under a protocol (the release's rules, named options); None: one variant.
    under: Callable[[Protocol], Benchmark] | None = None
    reference: bool = True  # a PostTrainBench benchmark; False: ptb's own (arith), decoded as transformers would
    # How the benchmark is named in prose and code (a regex; behaviour reads a test split named next to it).
    names: str | None = None
    # Public datasets known to contain its test items (Hugging Face ids): loading one is a finding.
    contaminated: tuple[str, ...] = ()
    weight_v1: float | None = None  # its published v1 leaderboard weight; None: not on the leaderboard
    weighted_v1_2: bool = True  # v1.2 derives its weight from the baselines; False: weight 0 (BFCL, dropped)
    published: tuple[Baseline, ...] = ()


_THINK = re.compile(r'<think(?:\s+signature="([^"]*)")?(?:\s+redacted="(true)")?\s*>(.*?)</think>', re.DOTALL)


def reasoning_removed(output: str) -> str:
    """The text inspect-ai 0.3.150 gave its scorers: the first closed <think ...>...</think> block
    (anywhere; the tag may carry signature/redacted attributes) cut out and the rest stripped;
    the output unchanged where there is none (an unclosed <think> stays)."""
    found = _THINK.search(output)
    return (output[:found.start()] + output[found.end():]).strip() if found else output


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def last_number(text: str) -> str | None:
    """The last number in `text`, without thousands separators ('1,234.0' -> '1234.0')."""
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def same_number(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def judged(score_batch: Callable[[list[Sample], list[str]], BatchScore], **fields) -> Benchmark:
    """A benchmark scored by the LLM judge: all samples in one go, `score` the batch of one."""
    def score(sample: Sample, output: str) -> Score:
        return score_batch([sample], [output]).scores[0]
    return Benchmark(score=score, score_batch=score_batch, needs_judge=True, max_tokens=(16384, 12288, 8192), **fields)
