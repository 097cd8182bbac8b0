"""gpqamain: GPQA main set, 448 graduate-level multiple-choice questions (Rein et al. 2023,
arXiv 2311.12022).

Source: Hugging Face `Idavidrein/gpqa` (gated: accept its terms on the hub first), config
`gpqa_main`, split `train` (the only split; all of it is evaluation data, nothing may be
trained on). The reference named no revision; ptb pins none either (REVISION = None reads
the hub's current main), so record the hub commit when you publish numbers. A raw row
(columns used; the source has about 30 more):
    {"Question": "A large gene has dozens of exons, of which the central ones code for
      folded triple helical repeats ...", "Correct Answer": "R-loops",
     "Incorrect Answer 1": "lariat", "Incorrect Answer 2": "polyA tail",
     "Incorrect Answer 3": "antisense", "Record ID": "rec06pnAkLOr2t2mp", ...}

As the reference's final evaluation (inspect-ai's `multiple_choice(cot=True)` and
`choice()`): the correct answer is listed first in the source, so the four choices are
shuffled: one `random.Random(seed)` shuffles the rows' choice positions in row order,
exactly as inspect-ai's `shuffle_choices=seed`. The seed is the protocol's (ptb/eval/protocol.py):
v1.2 fixed it (72332, the reference's first final-evaluation seed); v1 shuffled without
one, so each run saw a different exam (ptb draws one per evaluation and records it).
The prompt is inspect-ai's chain-of-thought template; the answer is the letter of the first "ANSWER: X" line, else of the first "ANSWER: X" anywhere, as the
pinned inspect-ai (0.3.150) parses it: an upper-case A-D alone, a trailing period allowed.
Later inspect-ai releases also accept lowercase, `$X$`, `**X**`, `(X)`, "X," and take the
last line; ptb follows the pin (tests/test_fidelity.py lists these cases). Correct iff
the letter is the shuffled position of the correct answer.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from functools import cache, partial

from ptb.benchmarks.base import Baseline, Benchmark, Sample, Score, reasoning_removed
from ptb.benchmarks.data import load_rows
from ptb.eval.protocol import GPQA_SEED as SHUFFLE_SEED

HUB_ID = "Idavidrein/gpqa"
CONFIG = "gpqa_main"
REVISION = None
LETTERS = "ABCD"

PROMPT = """Answer the following multiple choice question. The last line of your response should be of the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of {letters}. Think step by step before answering.

{question}

{choices}"""


def load(split: str) -> list[dict]:
    return load_rows(HUB_ID, split, revision=REVISION, config=CONFIG)


@cache
def _orders(seed: int, upto: int) -> tuple[tuple[int, ...], ...]:
    # One generator for the whole dataset, drawn row by row: row i's order depends on every
    # row before it, so replay from the start (448 shuffles of four items: microseconds).
    rand = random.Random(seed)
    out = []
    for _ in range(upto + 1):
        positions = [0, 1, 2, 3]
        rand.shuffle(positions)
        out.append(tuple(positions))
    return tuple(out)


def choice_order(index: int, seed: int = SHUFFLE_SEED) -> tuple[int, ...]:
    """Source positions (0 = correct answer) in the order shown for row `index`."""
    return _orders(seed, max(index, 447))[index]


def to_sample(row: dict, index: int, seed: int = SHUFFLE_SEED) -> Sample:
    source = [str(row["Correct Answer"]), str(row["Incorrect Answer 1"]), str(row["Incorrect Answer 2"]),
              str(row["Incorrect Answer 3"])]
    order = choice_order(index, seed)
    choices = "\n".join(f"{LETTERS[i]}) {source[j]}" for i, j in enumerate(order))
    prompt = PROMPT.format(letters=",".join(LETTERS), question=row["Question"], choices=choices)
    return Sample(index=index, messages=[{"role": "user", "content": prompt}], target=LETTERS[order.index(0)],
                  metadata={"id": row.get("Record ID"), "order": list(order)})


def extract_letter(output: str) -> str | None:
    """The letter of the first "ANSWER: X" line (else the first "ANSWER: X" anywhere), as
    inspect-ai 0.3.150 parses it: case kept, so "ANSWER: b" is no answer."""
    found = re.search(r"(?i)^ANSWER\s*:\s*([A-Za-z\d ,]+)\s*(?:$|\n|\.)", output, flags=re.MULTILINE)
    if found is None:
        found = re.search(r"(?i)ANSWER\s*:\s*([A-Za-z\d ,]+)(?:[^\w]|\n|$|\.)", output)
    if found is None:
        return None
    letter = found.group(1).strip().rstrip(".")
    return letter if letter in set(LETTERS) else None


def score(sample: Sample, output: str) -> Score:
    letter = extract_letter(output)
    return Score(float(letter == sample.target), letter,
                 "" if letter else "no 'ANSWER: <letter>' line with one of A-D")


BENCHMARK = Benchmark(
    id="gpqamain",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(16000, 12000, 8000),
    test_split="train",
    sampled_seeds=5,
    visible=reasoning_removed,
    under=lambda p: replace(BENCHMARK, to_sample=partial(to_sample, seed=p.drawn().shuffle_seed)),
    names=r"gpqa",
    contaminated=("Idavidrein/gpqa",),
    weight_v1=0.224622,
    published=(
        Baseline("Qwen/Qwen3-1.7B-Base", 0.14063, 0.35491, 0.25960),
        Baseline("Qwen/Qwen3-4B-Base", 0.13393, 0.44643, 0.29888),
        Baseline("HuggingFaceTB/SmolLM3-3B-Base", 0.04911, 0.33259, 0.13237),
        Baseline("google/gemma-3-4b-pt", 0.01563, 0.31473, 0.21406),
    ),
)
