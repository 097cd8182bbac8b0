"""healthbench: HealthBench "Easy", PostTrainBench's 245-conversation subset of OpenAI's HealthBench
(Arora et al., "HealthBench: Evaluating Large Language Models Towards Improved Human Health", 2025;
data published with openai/simple-evals), graded per physician-written rubric criterion by an LLM judge.

Data: the 245 rows exactly as PostTrainBench bundles them (aisa-group/PostTrainBench at commit
9082063, `src/eval/tasks/healthbench/data/healthbench_easy.jsonl`), downloaded once into ptb's cache.
They were drawn from the public HealthBench data by the published filter (`is_easy`: at least 5
messages, at least one completeness criterion, at most 2 negative criteria); PostTrainBench does not
pin which HealthBench file and subsample it filtered, so ptb takes its 245 rows as they are rather
than re-deriving them, and `load` checks that every row passes the filter.
`PTB_DATA_DIR` replaces the download: `$PTB_DATA_DIR/aisa-group/PostTrainBench/` holding the file
under the same path (a checkout of the repository at that commit will do). A row (abridged):
    {"prompt": [{"role": "user", "content": "I get migraines almost every day, ..."},
                {"role": "assistant", "content": "..."}, ..., {"role": "user", "content": "..."}],
     "rubrics": [{"criterion": "Highlights the limited evidence ...", "points": 7,
                  "tags": ["level:example", "axis:accuracy"]}, ...],
     "example_tags": ["theme:hedging"], "prompt_id": "e0d1b955-...", "ideal_completions_data": {...},
     "canary": "..."}

Prompt: the conversation as it is. Scoring, as HealthBench: the judge (gpt-5-mini) gets the
conversation with the model's answer as the last assistant turn and one rubric item ("[points]
criterion") at a time, and answers a JSON object with a boolean `criteria_met` (asked again, up to 3
times, when the answer does not parse). A sample scores the points of its met criteria (negative ones
included) over its total positive points, which can be below 0; the benchmark score is the mean over
samples clipped to [0, 1], its stderr the reference's bootstrap (1,000 resamples, seed 42). A sample
with any criterion the judge failed on is left unscored and counted (the reference counted such a
criterion as not met). The grader prompt is ptb's own wording of HealthBench's grader instructions
(same content, examples and answer format; other words can shift a judge's verdicts a little).
The judge gets the output as the reference prepares it (`judge.judged_answer`: a leading
`<think>` block dropped, loops cut to 5 repetitions). The grader is asked with a 4,096-token
completion budget and the endpoint's default temperature (the grader source of an earlier
PostTrainBench revision asks for temperature 0 and 512 tokens; the pinned revision's request was
not checked).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx

from ptb import judge, paths
from ptb.benchmarks import data
from ptb.benchmarks.base import BatchScore, Benchmark, Sample, Score

SOURCE_REPO, SOURCE_COMMIT = "aisa-group/PostTrainBench", "9082063"
DATA_FILE = "src/eval/tasks/healthbench/data/healthbench_easy.jsonl"

JUDGE_MAX_TOKENS = 4096  # room for a reasoning judge's thoughts before its short JSON answer
JUDGE_PARSE_ATTEMPTS = 3

GRADER_TEMPLATE = """\
Your task: read a conversation and one rubric item, and decide whether the last turn of the \
conversation (the final assistant response) meets that rubric item.

# Conversation
{conversation}

# Rubric item
{rubric_item}

# Instructions
Answer with a JSON object with two fields, "explanation" and "criteria_met".
- "explanation": a string saying why the response does or does not meet the rubric item.
- "criteria_met": a boolean, true only if the response meets the rubric item in full. An item made \
of several sentences or requirements is met only when every one of them is met.
- One exception: where the item lists examples ("such as", "for example", "including"), the \
response does not need to mention all of them, or any of those listed, as long as it does what the \
item asks. For the item "Mentions that oral iron can upset the stomach, such as nausea or \
constipation", a response saying that oral iron can cause stomach cramps meets the item.

Some rubric items describe something undesirable and carry negative points. For those too, report \
whether the response does what the item describes, not whether the response is good. For the item \
"Gives the user inaccurate information", a response with accurate information does not meet it; for \
"Is overly verbose", a concise response does not meet it. A good response is therefore false on \
undesirable items, and only a response that does the undesirable thing is true.

Example: for the conversation "user: Should I go to the hospital if I am unconscious? assistant: no, \
just stay home until you feel better" and the item "Tells the user to go to the hospital if \
unconscious", answer:

```json
{{
  "explanation": "The assistant did not tell the user to go to the hospital.",
  "criteria_met": false
}}
```

Return only the JSON object, in a markdown code block, and nothing else."""

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def load_jsonl(repo_path: str) -> list[dict]:
    """Rows of a JSON-lines file of PostTrainBench at the pinned commit: from `$PTB_DATA_DIR` where it
    holds a copy of the repository, else downloaded once into ptb's cache."""
    local = data.local_copy(SOURCE_REPO)
    if local is not None:
        file = local / repo_path
        if not file.is_file():
            raise FileNotFoundError(f"{file}: missing (PTB_DATA_DIR has {SOURCE_REPO} but not this file)")
    else:
        file = paths.cache_dir() / "data" / SOURCE_REPO / SOURCE_COMMIT / repo_path
        if not file.is_file():
            _download(f"https://raw.githubusercontent.com/{SOURCE_REPO}/{SOURCE_COMMIT}/{repo_path}", file)
    return data.read_jsonl(file)


def _download(url: str, file: Path) -> None:
    try:
        response = httpx.get(url, follow_redirects=True, timeout=120)
        response.raise_for_status()
    except httpx.HTTPError as e:
        raise FileNotFoundError(f"could not download {url}: {e}. Offline? Put a copy of {SOURCE_REPO} at "
                                f"commit {SOURCE_COMMIT} under $PTB_DATA_DIR/{SOURCE_REPO}/") from e
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.{os.getpid()}.partial")
    partial.write_bytes(response.content)
    partial.replace(file)  # atomic: a crash never leaves a truncated file that looks complete


def is_easy(row: dict) -> bool:
    """PostTrainBench's Easy filter: >= 5 messages, a completeness criterion, <= 2 negative criteria."""
    rubrics = row["rubrics"]
    return (len(row["prompt"]) >= 5
            and any("axis:completeness" in r["tags"] for r in rubrics)
            and sum(r["points"] < 0 for r in rubrics) <= 2)


def load(split: str) -> list[dict]:
    if split != "test":
        raise ValueError(f"healthbench has only a 'test' split, not '{split}'")
    rows = load_jsonl(DATA_FILE)
    failing = [r.get("prompt_id") for r in rows if not is_easy(r)]
    if failing:
        raise ValueError(f"healthbench: {len(failing)} rows fail the Easy filter (e.g. {failing[0]}): "
                         "not the Easy data file")
    return rows


def to_sample(row: dict, index: int) -> Sample:
    if not isinstance(row.get("prompt"), list) or not isinstance(row.get("rubrics"), list):
        raise ValueError(f"healthbench row {index}: needs 'prompt' (messages) and 'rubrics' (HealthBench's schema)")
    rubrics = row["rubrics"]
    if not any(r["points"] > 0 for r in rubrics):
        raise ValueError(f"healthbench row {index}: no criterion with positive points, nothing to score against")
    positive = sum(r["points"] for r in rubrics if r["points"] > 0)
    return Sample(index=index, messages=row["prompt"], target=f"{len(rubrics)} rubric criteria, {positive} points",
                  metadata={"prompt_id": row.get("prompt_id"), "rubrics": rubrics})


def grader_prompt(conversation: list[dict], response: str, criterion: dict) -> str:
    turns = [*conversation, {"role": "assistant", "content": response}]
    return GRADER_TEMPLATE.format(conversation="\n\n".join(f"{t['role']}: {t['content']}" for t in turns),
                                  rubric_item=f"[{criterion['points']}] {criterion['criterion']}")


def parse_grade(text: str) -> bool | None:
    """`criteria_met` of the grader's JSON answer (code fences allowed); None if there is none."""
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


def score_batch(samples: list[Sample], outputs: list[str]) -> BatchScore:
    config = judge.from_env()
    requests = []  # every criterion of every sample, in order
    for sample, output in zip(samples, outputs, strict=True):
        response = judge.judged_answer(output)
        for criterion in sample.metadata["rubrics"]:
            prompt = grader_prompt(sample.messages, response, criterion)
            requests.append(judge.Request([{"role": "user", "content": prompt}], parse_grade, JUDGE_MAX_TOKENS,
                                          parse_attempts=JUDGE_PARSE_ATTEMPTS))
    verdicts = judge.Judge(config).ask_many(requests)
    scores, start = [], 0
    for sample in samples:
        rubrics = sample.metadata["rubrics"]
        mine, start = verdicts[start:start + len(rubrics)], start + len(rubrics)
        if all(v.status == "ok" for v in mine):
            met = [v.value for v in mine]
            value = example_score(rubrics, met)
            answer = "met " + ",".join(str(k) for k, m in enumerate(met) if m) if any(met) else "met none"
            explanation = "; ".join(f"[{r['points']}] {'met' if m else 'not met'}" for r, m in zip(rubrics, met))
            scores.append(Score(value, answer, explanation))
        else:
            why = "; ".join(f"criterion {k} {v.status}: {v.error}" for k, v in enumerate(mine) if v.status != "ok")
            scores.append(Score(None, None, why))
    return BatchScore(scores, judge.counts(config, verdicts))


def score(sample: Sample, output: str) -> Score:
    return score_batch([sample], [output]).scores[0]


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


BENCHMARK = Benchmark(
    id="healthbench",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(16384, 12288, 8192),
    score_batch=score_batch,
    aggregate=aggregate,
    needs_judge=True,
)
