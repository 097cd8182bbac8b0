"""arenahardwriting: the 250 creative-writing prompts of Arena-Hard v2.0, judged pairwise against
Qwen3-1.7B's answers (Li et al., "From Crowdsourced Data to High-Quality Benchmarks: Arena-Hard and
BenchBuilder Pipeline", 2024; lmarena/arena-hard-auto, Apache-2.0).

Data: the prompts and the stored Qwen3-1.7B reference answers exactly as PostTrainBench bundles them
(aisa-group/PostTrainBench at commit 9082063, `src/eval/tasks/arenahardwriting/evaluation_code/data/
arena-hard-v2.0/`: `question.jsonl` and `model_answer/Qwen3-1.7B.jsonl`), downloaded once into ptb's
cache; the reference answers are not regenerated. `PTB_DATA_DIR` replaces the download:
`$PTB_DATA_DIR/aisa-group/PostTrainBench/` holding both files under the same paths.
A question row:
    {"uid": "0a055d8b33ca49b1", "category": "creative_writing", "subcategory": "creative_writing",
     "prompt": "Can you write a thuggish rap about an AI that ..."}
A reference answer row: {"uid": ..., "model": "Qwen3-1.7B", "messages": [{"role": "user", ...},
    {"role": "assistant", "content": {"answer": "..."}}], ...}

Prompt: the question as the only user message. Scoring, as the reference: the judge (gpt-5-mini,
reasoning effort medium) sees the prompt and two answers twice, once with the reference answer as
assistant A and the model's as B, once swapped, and ends each judgement with one label of A>>B, A>B,
A=B, B>A, B>>A (the last `[[...]]`, else `[...]`, label in the answer). Each game gives the model
votes: a slight win 1, a tie 0.5, a slight loss 0; a strong win or loss gives three votes of 1 or 0.
The benchmark score is the mean over all votes of all questions (so strong verdicts weigh 3x), its
stderr the standard error over those votes; a sample's own score is the mean of its votes. A
question whose two judgements are not both usable is left unscored and counted (the reference drops
it silently). The judge's system prompt is ptb's own wording of Arena-Hard's creative-writing judge
instructions (same criteria, labels and format; other words can shift a judge's verdicts a little,
the one deliberate difference from the reference); the user prompt keeps its layout. The judge gets
the model's output as the reference prepares it (`judge.judged_answer`: a leading `<think>` block
dropped, loops cut to 5 repetitions).
"""

from __future__ import annotations

import math
import os
import re
from functools import cache

from ptb import judge
from ptb.benchmarks.base import BatchScore, Benchmark, Sample, Score
from ptb.benchmarks.healthbench import load_jsonl

_DATA = "src/eval/tasks/arenahardwriting/evaluation_code/data/arena-hard-v2.0/"
QUESTIONS = _DATA + "question.jsonl"  # paths in aisa-group/PostTrainBench at the pinned commit
REFERENCE_ANSWERS = _DATA + "model_answer/Qwen3-1.7B.jsonl"

JUDGE_MAX_TOKENS = 49152  # the reference's completion budget: reasoning judges need room
JUDGE_REASONING_EFFORT = "medium"

SYSTEM_PROMPT = """\
You are an impartial judge. Two AI assistants, A and B, have each answered the user prompt shown \
below; decide which answer is better.

Compare the two answers with each other, and point out and correct any mistakes or inaccurate \
information.

Then judge whether each answer is helpful, relevant and concise. Helpful: it answers the prompt \
correctly or follows its instructions; where the prompt is ambiguous or can be read in more than \
one way, asking the user for clarification is more helpful than answering on an assumption. \
Relevant: every part of the answer fits what was asked. Concise: clear, neither verbose nor \
excessive.

Where it matters, also weigh the creativity and novelty of the answers, and note any important \
information an answer leaves out that would help the user.

Give your explanation first, then end with exactly one of these verdict labels:

1. Assistant A is significantly better: [[A>>B]]
2. Assistant A is slightly better: [[A>B]]
3. Tie, about the same: [[A=B]]
4. Assistant B is slightly better: [[B>A]]
5. Assistant B is significantly better: [[B>>A]]

For example: "My final verdict is a tie: [[A=B]]"."""

USER_TEMPLATE = ("<|User Prompt|>\n{question}\n\n"
                 "<|The Start of Assistant A's Answer|>\n{answer_a}\n<|The End of Assistant A's Answer|>\n\n"
                 "<|The Start of Assistant B's Answer|>\n{answer_b}\n<|The End of Assistant B's Answer|>")

_LABEL_PATTERNS = (re.compile(r"\[\[([AB<>=]+)\]\]"), re.compile(r"\[([AB<>=]+)\]"))

# Votes for assistant A per verdict label (labels written either way round).
_VOTES_FOR_A = {"A>>B": [1.0] * 3, "A>B": [1.0], "A=B": [0.5], "A<B": [0.0], "A<<B": [0.0] * 3,
                "B<<A": [1.0] * 3, "B<A": [1.0], "B=A": [0.5], "B>A": [0.0], "B>>A": [0.0] * 3}


def verdict_label(text: str) -> str | None:
    """The verdict label of a judgement: the last `[[X]]`, else the last `[X]`; None if none is a label."""
    for pattern in _LABEL_PATTERNS:
        found = pattern.findall(text.upper())
        if found:
            return found[-1] if found[-1] in _VOTES_FOR_A else None
    return None


def model_votes(label_model_b: str, label_model_a: str) -> list[float]:
    """The model's votes from its two games: first as assistant B (reference answer as A), then as A."""
    return [1.0 - v for v in _VOTES_FOR_A[label_model_b]] + _VOTES_FOR_A[label_model_a]


def _reference_answers() -> dict[str, str]:
    return _answers_from(os.environ.get("PTB_DATA_DIR"))


@cache
def _answers_from(data_dir: str | None) -> dict[str, str]:  # keyed by the data folder it was read from
    return {r["uid"]: r["messages"][-1]["content"]["answer"] for r in load_jsonl(REFERENCE_ANSWERS)}


def load(split: str) -> list[dict]:
    if split != "test":
        raise ValueError(f"arenahardwriting has only a 'test' split, not '{split}'")
    return load_jsonl(QUESTIONS)


def to_sample(row: dict, index: int) -> Sample:
    if not isinstance(row.get("uid"), str) or not isinstance(row.get("prompt"), str):
        raise ValueError(f"arenahardwriting row {index}: needs 'uid' and 'prompt' (Arena-Hard's question schema)")
    answers = _reference_answers()
    if row["uid"] not in answers:
        raise ValueError(f"arenahardwriting row {index}: no reference answer for uid {row['uid']}")
    return Sample(index=index, messages=[{"role": "user", "content": row["prompt"]}], target=answers[row["uid"]],
                  metadata={"uid": row["uid"], "category": row.get("category")})


def judge_messages(question: str, answer_a: str, answer_b: str) -> list[dict]:
    user = USER_TEMPLATE.format(question=question, answer_a=answer_a, answer_b=answer_b)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def score_batch(samples: list[Sample], outputs: list[str]) -> BatchScore:
    config = judge.from_env()
    requests = []
    for sample, output in zip(samples, outputs, strict=True):
        question, model_answer = sample.messages[-1]["content"], judge.judged_answer(output)
        for a, b in ((sample.target, model_answer), (model_answer, sample.target)):
            requests.append(judge.Request(judge_messages(question, a, b), verdict_label, JUDGE_MAX_TOKENS,
                                          reasoning_effort=JUDGE_REASONING_EFFORT))
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


def score(sample: Sample, output: str) -> Score:
    return score_batch([sample], [output]).scores[0]


def aggregate(scores: list[Score]) -> tuple[float, float]:
    """Mean and standard error over every vote of every scored question, as the reference."""
    votes = [v for s in scores for v in model_votes(*s.answer.split(" | "))]
    n = len(votes)
    mean = sum(votes) / n
    var = sum((v - mean) ** 2 for v in votes) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


BENCHMARK = Benchmark(
    id="arenahardwriting",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(16384, 12288, 8192),
    score_batch=score_batch,
    aggregate=aggregate,
    needs_judge=True,
)
