"""healthbench: HealthBench "Easy", PostTrainBench's 245-conversation subset of OpenAI's HealthBench
(Arora et al., "HealthBench: Evaluating Large Language Models Towards Improved Human Health", 2025;
data published with openai/simple-evals), graded per physician-written rubric criterion by an LLM judge.

Data and grader prompt come from the reference at run time (ptb/eval/reference.py: aisa-group/PostTrainBench
at commit 9082063, offline from `$PTB_DATA_DIR/aisa-group/PostTrainBench/<path>`): the 245 rows of
`src/eval/tasks/healthbench/evaluation_code/data/healthbench.jsonl`, and `GRADER_TEMPLATE` and
`API_MAX_RETRY` of `.../evaluation_code/grader.py`. The rows were drawn from the public HealthBench
data by the published filter (`is_easy`: at least 5 messages, at least one completeness criterion,
at most 2 negative criteria); `load` checks that every row passes it, and returns them in the order
the reference evaluates them (shuffled with `random.Random(42)`), so `--limit N` takes the reference's
first N and the bootstrap below resamples the same sequence. A row (abridged):
    {"prompt": [{"role": "user", "content": "I get migraines almost every day, ..."},
                {"role": "assistant", "content": "..."}, ..., {"role": "user", "content": "..."}],
     "rubrics": [{"criterion": "Highlights the limited evidence ...", "points": 7,
                  "tags": ["level:example", "axis:accuracy"]}, ...],
     "example_tags": ["theme:hedging"], "prompt_id": "e0d1b955-...", "ideal_completions_data": {...},
     "canary": "..."}

Prompt: the conversation as it is. Scoring, as the reference: the grader (gpt-5-mini) gets the
template filled with the conversation, the model's answer as the last assistant turn, and one rubric
item ("[points] criterion"), and answers a JSON object with a boolean `criteria_met` (asked again
while the answer does not parse, API_MAX_RETRY times in all). A criterion whose grading failed counts
as not met, as in the reference, and is counted in the metrics (`judge_failed`, `judge_unparsed`).
A sample scores the points of its met criteria (negative ones included) over its total positive
points, which can be below 0; the benchmark score is the mean over samples clipped to [0, 1], its
stderr the reference's bootstrap (1,000 resamples, seed 42). Request settings as grader.py: a
reasoning grader (a model name with gpt-5, o1 or o3) gets a 49,152-token completion budget and no
temperature, any other grader temperature 0 and 512 tokens. The grader gets the output as the
reference prepares it (`judge.judged_answer`: a leading `<think>` block dropped, loops cut to 5
repetitions).
"""

from __future__ import annotations

import json
import random
import re
from functools import cache

from ptb.errors import ConfigError
from ptb.eval import judge, reference
from ptb.benchmarks.base import Baseline, BatchScore, Sample, Score, judged
from ptb.benchmarks.data import read_jsonl

_CODE = "src/eval/tasks/healthbench/evaluation_code/"
DATA_FILE = reference.file(_CODE + "data/healthbench.jsonl")
GRADER = reference.file(_CODE + "grader.py")
ORDER_SEED = 42  # evaluate.py shuffles the examples with random.Random(42) before taking --limit

# grader.py's request settings, by the kind of grader model
REASONING_GRADERS = ("gpt-5", "o1", "o3")
REASONING_MAX_TOKENS = 49152
PLAIN_MAX_TOKENS, PLAIN_TEMPERATURE = 512, 0.0

_FENCE = re.compile(r"^```json\s*|\s*```$")  # grader.py strips exactly these before parsing


@cache
def grader_template() -> str:
    return reference.python_constant(GRADER, "GRADER_TEMPLATE")


@cache
def grader_attempts() -> int:
    return reference.python_constant(GRADER, "API_MAX_RETRY")


def is_easy(row: dict) -> bool:
    """PostTrainBench's Easy filter: >= 5 messages, a completeness criterion, <= 2 negative criteria."""
    rubrics = row["rubrics"]
    return (len(row["prompt"]) >= 5
            and any("axis:completeness" in r["tags"] for r in rubrics)
            and sum(r["points"] < 0 for r in rubrics) <= 2)


def load(split: str) -> list[dict]:
    if split != "test":
        raise ValueError(f"healthbench has only a 'test' split, not '{split}'")
    rows = read_jsonl(reference.local(DATA_FILE))
    failing = [r.get("prompt_id") for r in rows if not is_easy(r)]
    if failing:
        raise ConfigError(f"healthbench: {len(failing)} rows fail the Easy filter (e.g. {failing[0]}): "
                         "not the Easy data file")
    random.Random(ORDER_SEED).shuffle(rows)
    return rows


def to_sample(row: dict, index: int) -> Sample:
    if not isinstance(row.get("prompt"), list) or not isinstance(row.get("rubrics"), list):
        raise ConfigError(f"healthbench row {index}: needs 'prompt' (messages) and 'rubrics' (HealthBench's schema)")
    rubrics = row["rubrics"]
    if not any(r["points"] > 0 for r in rubrics):
        raise ConfigError(f"healthbench row {index}: no criterion with positive points, nothing to score against")
    positive = sum(r["points"] for r in rubrics if r["points"] > 0)
    return Sample(index=index, messages=row["prompt"], target=f"{len(rubrics)} rubric criteria, {positive} points",
                  metadata={"prompt_id": row.get("prompt_id"), "rubrics": rubrics})


def grader_prompt(conversation: list[dict], response: str, criterion: dict) -> str:
    turns = [*conversation, {"role": "assistant", "content": response}]
    conversation_text = "\n\n".join(f"{t['role']}: {t['content']}" for t in turns)
    # In the reference's order: a conversation that quotes "<<rubric_item>>" gets it replaced too.
    return (grader_template().replace("<<conversation>>", conversation_text)
            .replace("<<rubric_item>>", f"[{criterion['points']}] {criterion['criterion']}"))


def parse_grade(text: str) -> bool | None:
    """`criteria_met` of the grader's JSON answer (in a ```json fence or bare); None if there is none."""
    try:
        answer = json.loads(_FENCE.sub("", text.strip()))
    except json.JSONDecodeError:
        return None
    met = answer.get("criteria_met") if isinstance(answer, dict) else None
    return met if isinstance(met, bool) else None


def example_score(rubrics: list[dict], met: list[bool]) -> float:
    """Points of the met criteria (negative ones included) over the total positive points."""
    positive = sum(r["points"] for r in rubrics if r["points"] > 0)
    return sum(r["points"] for r, m in zip(rubrics, met, strict=True) if m) / positive


def request_settings(model: str) -> dict:
    if any(name in model for name in REASONING_GRADERS):
        return {"max_tokens": REASONING_MAX_TOKENS}
    return {"max_tokens": PLAIN_MAX_TOKENS, "temperature": PLAIN_TEMPERATURE}


def score_batch(samples: list[Sample], outputs: list[str]) -> BatchScore:
    config = judge.from_env()
    settings = request_settings(config.model)
    requests = []  # every criterion of every sample, in order
    for sample, output in zip(samples, outputs, strict=True):
        response = judge.judged_answer(output)
        for criterion in sample.metadata["rubrics"]:
            prompt = grader_prompt(sample.messages, response, criterion)
            requests.append(judge.Request([{"role": "user", "content": prompt}], parse_grade,
                                          parse_attempts=grader_attempts(), **settings))
    verdicts = judge.Judge(config).ask_many(requests)
    scores, start = [], 0
    for sample in samples:
        rubrics = sample.metadata["rubrics"]
        mine, start = verdicts[start:start + len(rubrics)], start + len(rubrics)
        met = [v.status == "ok" and v.value for v in mine]  # a failed grading is "not met", as the reference
        answer = "met " + ",".join(str(k) for k, m in enumerate(met) if m) if any(met) else "met none"
        explanation = "; ".join(f"[{r['points']}] " + ("met" if m else "not met" if v.status == "ok" else
                                                       f"not met ({v.status}: {v.error})")
                                for r, m, v in zip(rubrics, met, mine))
        scores.append(Score(example_score(rubrics, met), answer, explanation))
    return BatchScore(scores, judge.counts(config, verdicts))


def aggregate(scores: list[Score]) -> tuple[float, float]:
    """HealthBench's rule: the mean clipped to [0, 1]; stderr the std of 1,000 bootstrap means (seed 42)."""
    import numpy as np

    values = np.array([s.value for s in scores], dtype=float)
    mean = float(np.clip(values.mean(), 0, 1))
    if len(values) < 2:
        return mean, 0.0
    rng = np.random.default_rng(42)
    boot = [np.clip(rng.choice(values, size=len(values), replace=True).mean(), 0, 1) for _ in range(1000)]
    return mean, float(np.std(boot))


BENCHMARK = judged(
    score_batch,
    id="healthbench",
    load=load,
    to_sample=to_sample,
    aggregate=aggregate,
    names=r"health[-_ ]?bench",
    contaminated=("openai/healthbench",),
    weight_v1=0.184145,
    published=(
        Baseline("Qwen/Qwen3-1.7B-Base", 0.07538, 0.44919, 0.21101),
        Baseline("Qwen/Qwen3-4B-Base", 0.13384, 0.52724, 0.21794),
        Baseline("HuggingFaceTB/SmolLM3-3B-Base", 0.0, 0.29577, 0.10165),
        Baseline("google/gemma-3-4b-pt", 0.17039, 0.46063, 0.23318),
    ),
)
