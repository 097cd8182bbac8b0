"""arenahardwriting: the 250 creative-writing prompts of Arena-Hard v2.0, judged pairwise against
Qwen3-1.7B's answers (Li et al., "From Crowdsourced Data to High-Quality Benchmarks: Arena-Hard and
BenchBuilder Pipeline", 2024; lmarena/arena-hard-auto, Apache-2.0).

Data, judge prompt and judge settings all come from the reference at run time (ptb/eval/reference.py:
aisa-group/PostTrainBench at commit 9082063, under `src/eval/tasks/arenahardwriting/`, offline from
`$PTB_DATA_DIR/aisa-group/PostTrainBench/<path>`): the prompts (`evaluation_code/data/arena-hard-v2.0/
question.jsonl`) and the stored Qwen3-1.7B answers (`.../model_answer/Qwen3-1.7B.jsonl`, not
regenerated); the judge's user-prompt template and verdict patterns from `evaluation_code/config/
arena-hard-v2.0.yaml`; its system prompt from `JUDGE_SETTINGS` in `evaluation_code/utils/
judge_utils.py`; its completion budget and reasoning effort from `evaluate.py`. The rows come in the
order the reference evaluates them (shuffled with `random.Random(42)`), so `--limit N` takes the same
N prompts as the reference's `evaluate.py --limit N`.
A question row:
    {"uid": "0a055d8b33ca49b1", "category": "creative_writing", "subcategory": "creative_writing",
     "prompt": "Can you write a thuggish rap about an AI that ..."}
A reference answer row: {"uid": ..., "model": "Qwen3-1.7B", "messages": [{"role": "user", ...},
    {"role": "assistant", "content": {"answer": "..."}}], ...}

Prompt: the question as the only user message. Scoring, as the reference: the judge (gpt-5-mini,
reasoning effort medium) sees the prompt and two answers twice, once with the reference answer as
assistant A and the model's as B, once swapped, and ends each judgement with a label of A>>B, A>B,
A=B, B>A, B>>A (the last match of the first verdict pattern that matches). Each game gives the model
votes: a slight win 1, a tie 0.5, a slight loss 0; a strong win or loss gives three votes of 1 or 0.
The benchmark score is the mean over all votes of all questions (so strong verdicts weigh 3x), its
stderr the standard error over those votes; a sample's own score is the mean of its votes. A
question whose two judgements are not both usable is left out of the score, as the reference drops
it, and counted in the metrics. The judge gets the model's output as the reference prepares it
(`judge.judged_answer`: a leading `<think>` block dropped, loops cut to 5 repetitions).
"""

from __future__ import annotations

import math
import random
import re
from functools import cache

from ptb.errors import ConfigError
from ptb.eval import judge, reference
from ptb.benchmarks.base import Baseline, BatchScore, Sample, Score, judged
from ptb.benchmarks.data import read_jsonl

_TASK = "src/eval/tasks/arenahardwriting/"
QUESTIONS = reference.file(_TASK + "evaluation_code/data/arena-hard-v2.0/question.jsonl")
REFERENCE_ANSWERS = reference.file(_TASK + "evaluation_code/data/arena-hard-v2.0/model_answer/Qwen3-1.7B.jsonl")
JUDGE_CONFIG = reference.file(_TASK + "evaluation_code/config/arena-hard-v2.0.yaml")
JUDGE_SETTINGS = reference.file(_TASK + "evaluation_code/utils/judge_utils.py")
EVALUATE = reference.file(_TASK + "evaluate.py")
ORDER_SEED = 42  # evaluate.py shuffles the questions with random.Random(42) before taking --limit


@cache
def judge_setup() -> dict:
    """The reference's judge: user-prompt template, verdict patterns, system prompt, budget, effort."""
    config = reference.yaml_file(JUDGE_CONFIG)
    return {"prompt_template": config["prompt_template"],
            "patterns": [re.compile(p) for p in config["regex_patterns"]],
            "system_prompt": reference.python_constant(JUDGE_SETTINGS, "JUDGE_SETTINGS")["creative_writing"]["system_prompt"],
            "max_tokens": reference.python_constant(EVALUATE, "JUDGE_MAX_COMPLETION"),
            "reasoning_effort": reference.python_constant(EVALUATE, "REASONING_EFFORT")}


# Votes for assistant A per verdict label (labels written either way round).
_VOTES_FOR_A = {"A>>B": [1.0] * 3, "A>B": [1.0], "A=B": [0.5], "A<B": [0.0], "A<<B": [0.0] * 3,
                "B<<A": [1.0] * 3, "B<A": [1.0], "B=A": [0.5], "B>A": [0.0], "B>>A": [0.0] * 3}


def verdict_label(text: str) -> str | None:
    """The verdict of a judgement as the reference reads it: the last non-empty match of the first
    pattern that matches at all (`[[X]]`, else `[X]`); None if there is none or it is no label
    (the reference would stop with an error there)."""
    for pattern in judge_setup()["patterns"]:
        found = [m for m in pattern.findall(text.upper()) if m]
        if found:
            label = found[-1].strip("\n")
            return label if label in _VOTES_FOR_A else None
    return None


def model_votes(label_model_b: str, label_model_a: str) -> list[float]:
    """The model's votes from its two games: first as assistant B (reference answer as A), then as A."""
    return [1.0 - v for v in _VOTES_FOR_A[label_model_b]] + _VOTES_FOR_A[label_model_a]


def _reference_answers() -> dict[str, str]:
    return _answers_from(str(reference.local(REFERENCE_ANSWERS)))


@cache
def _answers_from(file: str) -> dict[str, str]:  # keyed by the file it was read from
    return {r["uid"]: r["messages"][-1]["content"]["answer"] for r in read_jsonl(file)}


def load(split: str) -> list[dict]:
    if split != "test":
        raise ValueError(f"arenahardwriting has only a 'test' split, not '{split}'")
    rows = read_jsonl(reference.local(QUESTIONS))
    random.Random(ORDER_SEED).shuffle(rows)
    return rows


def to_sample(row: dict, index: int) -> Sample:
    if not isinstance(row.get("uid"), str) or not isinstance(row.get("prompt"), str):
        raise ConfigError(f"arenahardwriting row {index}: needs 'uid' and 'prompt' (Arena-Hard's question schema)")
    answers = _reference_answers()
    if row["uid"] not in answers:
        raise ConfigError(f"arenahardwriting row {index}: no reference answer for uid {row['uid']}")
    return Sample(index=index, messages=[{"role": "user", "content": row["prompt"]}], target=answers[row["uid"]],
                  metadata={"uid": row["uid"], "category": row.get("category")})


def judge_messages(question: str, answer_a: str, answer_b: str) -> list[dict]:
    setup = judge_setup()
    user = setup["prompt_template"].format(QUESTION=question, ANSWER_A=answer_a, ANSWER_B=answer_b)
    return [{"role": "system", "content": setup["system_prompt"]}, {"role": "user", "content": user}]


def score_batch(samples: list[Sample], outputs: list[str]) -> BatchScore:
    config, setup = judge.from_env(), judge_setup()
    requests = []
    for sample, output in zip(samples, outputs, strict=True):
        question, model_answer = sample.messages[-1]["content"], judge.judged_answer(output)
        for a, b in ((sample.target, model_answer), (model_answer, sample.target)):
            requests.append(judge.Request(judge_messages(question, a, b), verdict_label, setup["max_tokens"],
                                          reasoning_effort=setup["reasoning_effort"]))
    verdicts = judge.Judge(config).ask_many(requests)
    scores = []
    for i in range(len(samples)):
        games = verdicts[2 * i: 2 * i + 2]
        labels = [g.value for g in games]
        if all(g.status == "ok" for g in games):
            votes = model_votes(*labels)
            scores.append(Score(sum(votes) / len(votes), f"{labels[0]} | {labels[1]}",
                                f"as B: {labels[0]}; as A: {labels[1]}; votes {votes}"))
        else:
            why = "; ".join(f"game {n + 1} {g.status}: {g.error}" for n, g in enumerate(games) if g.status != "ok")
            scores.append(Score(None, None, why))
    return BatchScore(scores, judge.counts(config, verdicts))


def aggregate(scores: list[Score]) -> tuple[float, float]:
    """Mean and standard error over every vote of every scored question, as the reference."""
    votes = [v for s in scores for v in model_votes(*s.answer.split(" | "))]
    n = len(votes)
    mean = sum(votes) / n
    var = sum((v - mean) ** 2 for v in votes) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


BENCHMARK = judged(
    score_batch,
    id="arenahardwriting",
    load=load,
    to_sample=to_sample,
    aggregate=aggregate,
    names=r"arena[-_ ]?hard",
    contaminated=("lmarena-ai/arena-hard-auto", "lmarena-ai/arena-hard-auto-v2.0"),
    weight_v1=0.090352,
    published=(
        Baseline("Qwen/Qwen3-1.7B-Base", 0.00914, 0.5, 0.05315),
        Baseline("Qwen/Qwen3-4B-Base", 0.03418, 0.86839, 0.19168),
        Baseline("HuggingFaceTB/SmolLM3-3B-Base", 0.00423, 0.492, 0.03249),
        Baseline("google/gemma-3-4b-pt", 0.00285, 0.948, 0.01257),
    ),
)
