"""ptb's prompts and scorers against inspect_evals' (the reference ran inspect_evals tasks).

On recorded outputs with awkward formats, ptb's score must equal the score of the real
inspect-ai / inspect_evals functions, called offline. The reference pinned inspect-ai
0.3.150 and inspect_evals at commit 06001a83; the test dependency is the current release
(see pyproject.toml), so where a later release changed behaviour the case says which
side ptb follows. Deliberate differences, asserted below as such:
- gsm8k, aime2025: numbers are compared by exact value; inspect-ai rounds both sides to
  5 significant digits (123457 "equals" 123456). The pinned inspect-ai compared by string
  suffix (711 "equals" 11); the reference fixed that (its issue #44) and ptb follows.
  A number is a word as the pinned inspect-ai saw it: later releases also read "18!",
  "(18)", "\\$18", "1.8e1", which ptb (like the pin) does not.
- aime2025: the pinned inspect_evals read the last number of the whole output; later
  releases read only the last non-blank line. ptb follows the pin.
- gpqamain: the pinned inspect-ai took the first "ANSWER: X" line, the letter as written;
  later releases take the last, accept lowercase and unwrap $X$, **X**, (X). ptb follows the pin.
- humaneval: the pinned inspect_evals took code only from a closed "```python" or "```"
  fence; later releases also read unclosed, "```py" and CRLF fences. ptb follows the pin.
- humaneval: exit()/sys.exit()/os._exit() before the asserts, and return values whose
  __eq__ always answers True, pass inspect_evals' verify() and fail in ptb (the
  reference's v1.2 fix and beyond it; see ptb/benchmarks/humaneval.py).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.dataset import MemoryDataset
from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import Target, choice, match, value_to_float
from inspect_ai.solver import TaskState, multiple_choice, prompt_template
from inspect_evals.utils import aime_common

from ptb.benchmarks import aime2025, gpqamain, gsm8k, humaneval

inspect_gsm8k = importlib.import_module("inspect_evals.gsm8k.gsm8k")  # the modules, not the task functions
inspect_humaneval = importlib.import_module("inspect_evals.humaneval.humaneval")
FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
to_float = value_to_float()


@pytest.fixture(autouse=True)
def fixture_data(monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(FIXTURES))


def rows(rel: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / rel).read_text().splitlines()]


def state(output: str, *, input: str = "", choices: list[str] | None = None, metadata: dict | None = None):
    from inspect_ai.model import ChatMessageUser

    s = TaskState(model="recorded", sample_id=0, epoch=1, input=input, messages=[ChatMessageUser(content=input)],
                  choices=choices,
                  metadata=metadata or {})
    s.output = ModelOutput.from_content("recorded", output)
    return s


def run(coro):
    return asyncio.run(coro)


# Outputs for a target of 18 (the second value: whether the answer is right).
NUMERIC_CASES = [
    ("ANSWER: 18", True), ("ANSWER: $18", True), ("ANSWER: $18.00", True), ("The answer is 18.", True),
    ("ANSWER: 18.", True), ("**ANSWER: 18**", True), ("ANSWER: \\$18", False), ("18 dollars", True),
    ("She makes 9 * 2 = 18 dollars.\nANSWER: 18", True), ("ANSWER: 18\nI hope that helps.", True),
    ("ANSWER: 18 (dollars)", True), ("answer: (18)", False), ("ANSWER: 118", False), ("ANSWER: 1,8", True),
    ("ANSWER: 17", False), ("", False), ("no number here", False), ("ANSWER: eighteen", False),
    ("18 or maybe 19", False), ("ANSWER: 18!", False), ("ANSWER: 18%", False), ("ANSWER: -18", False),
    ("ANSWER: 18e0", False), ("ANSWER: 1.8e1", False), ("ANSWER: ١٨", True), ("ANSWER: 18/1", False),
    ("ANSWER: 18_", True), ("ANSWER: 18\n\n", True), ("The total is $9+9=18$.", False), ("ANSWER:18", False),
    ("ANSWER: 18.0.", True), ("18\n17", False),
]
# (output, target): other targets, signs and thousands separators.
NUMERIC_TARGET_CASES = [
    ("ANSWER: -13", "-13"), ("ANSWER: 13", "-13"), ("ANSWER: - 13", "-13"), ("ANSWER: 14000", "14,000"),
    ("ANSWER: 14,000", "14,000"), ("ANSWER: 14,000.", "14000"), ("ANSWER: 0.50", "0.5"), ("ANSWER: 3.50", "3.5"),
    ("ANSWER: 711", "11"), ("ANSWER: 149", "49"), ("ANSWER: 5", "15"), ("ANSWER: 1000000", "1,000,000"),
]
# Where ptb deliberately differs from the current inspect-ai (exact value vs 5 significant digits).
NUMERIC_DIFFERENT = [("ANSWER: 123457", "123456"), ("ANSWER: 100001", "100000")]
# Words the pinned inspect-ai did not take for numbers (and the reference's fixed gsm8k scorer,
# which keeps its extraction, neither); later releases trim punctuation and parse exponents.
NUMERIC_PIN_NOT_A_NUMBER = {"ANSWER: \\$18", "answer: (18)", "ANSWER: 18!", "ANSWER: 18e0", "ANSWER: 1.8e1",
                            "\\boxed{18} and \\boxed{19}"}  # the greedy \\boxed{} removal leaves "18}"


def inspect_match(output: str, target: str) -> float:
    return to_float(run(match(numeric=True)(state(output), Target(target))).value)


def ptb_gsm8k(output: str, target: str) -> float:
    sample = gsm8k.to_sample({"question": "q", "answer": f"r\n#### {target}"}, 0)
    return gsm8k.score(sample, output).value


@pytest.mark.parametrize("output,correct", NUMERIC_CASES)
def test_gsm8k_scorer_matches_inspect(output, correct):
    assert ptb_gsm8k(output, "18") == float(correct)
    if output in NUMERIC_PIN_NOT_A_NUMBER:
        assert inspect_match(output, "18") == 1.0 and not correct
    else:
        assert inspect_match(output, "18") == float(correct)


@pytest.mark.parametrize("output,target", NUMERIC_TARGET_CASES)
def test_gsm8k_scorer_matches_inspect_on_targets(output, target):
    assert ptb_gsm8k(output, target) == inspect_match(output, target)


@pytest.mark.parametrize("output,target", NUMERIC_DIFFERENT)
def test_gsm8k_deliberate_difference_exact_value(output, target):
    assert inspect_match(output, target) == 1.0 and ptb_gsm8k(output, target) == 0.0


def test_gsm8k_uses_inspects_numeric_match():
    import inspect as pyinspect

    assert "scorer=match(numeric=True)" in pyinspect.getsource(inspect_gsm8k.gsm8k)


def test_gsm8k_prompt_and_fewshot_match_inspect():
    import datasets

    train = rows("openai/gsm8k/main/train.jsonl")
    shots = datasets.Dataset.from_list(train).shuffle(seed=42).select(range(10)).to_list()
    expected_system = "\n\n".join(inspect_gsm8k.sample_to_fewshot(inspect_gsm8k.record_to_sample(r)) for r in shots)
    row = rows("openai/gsm8k/main/test.jsonl")[0]
    s = state("", input=inspect_gsm8k.record_to_sample(row).input)
    s = run(prompt_template(inspect_gsm8k.MATH_PROMPT_TEMPLATE)(s, None))
    sample = gsm8k.to_sample(row, 0)
    assert sample.messages == [{"role": "system", "content": expected_system},
                               {"role": "user", "content": s.user_prompt.text}]
    assert sample.target == inspect_gsm8k.record_to_sample(row).target


AIME_CASES = NUMERIC_CASES + [
    ("The answer is \\boxed{18}", True), ("$\\boxed{18}$", True), ("\\boxed{18} and \\boxed{19}", False),
    ("ANSWER: \\boxed{18}.", True), ("\\boxed{\\frac{36}{2}}", False),
]
# The pinned inspect_evals read the whole output; later releases only the last non-blank line.
AIME_LAST_LINE_DIFFERENT = {"ANSWER: 18\nI hope that helps."}


def pinned_aime_scorer(output: str, target: str) -> float:
    """inspect_evals' aime scorer of the pinned era (0.3.102): \\boxed{} removed from the whole
    output, then match(numeric=True) (here the installed inspect-ai's)."""
    return inspect_match(aime_common.remove_boxed_from_ans(output), target)


@pytest.mark.parametrize("output,correct", AIME_CASES)
def test_aime_scorer_matches_inspect(output, correct):
    sample = aime2025.to_sample({"problem": "p", "answer": "18", "id": "0"}, 0)
    ours = aime2025.score(sample, output).value
    assert ours == float(correct)
    pinned_release = pinned_aime_scorer(output, "18")
    current = to_float(run(aime_common.aime_scorer()(state(output), Target("18"))).value)
    if output in NUMERIC_PIN_NOT_A_NUMBER:
        assert pinned_release == 1.0 and current == 1.0 and not correct
    elif output in AIME_LAST_LINE_DIFFERENT:
        assert pinned_release == ours and current != ours
    else:
        assert pinned_release == current == ours


def test_aime_prompt_matches_inspect():
    row = rows("math-ai/aime25/test.jsonl")[0]
    s = run(aime_common.aime_solver()[0](state("", input=row["problem"]), None))
    assert aime2025.to_sample(row, 0).messages == [{"role": "user", "content": s.user_prompt.text}]


# (output, correct in ptb): {t} is the right letter, {l} a wrong one, {tl} the right one in lowercase.
GPQA_OUTPUTS = [
    ("ANSWER: {t}", True), ("ANSWER: {l}", False), ("Reasoning...\nANSWER: {t}.", True), ("", False),
    ("The answer is {t}.", False), ("ANSWER: {t}, {l}", False), ("ANSWER: E", False), ("ANSWER: {t}{l}", False),
    ("I think ANSWER: {t} is right", False), ("**ANSWER: {t}**", True), ("ANSWER : {t}", True),
    ("ANSWER: {t} because", False), ("Final ANSWER: {t}\n", True), ("Thinking.\n\nANSWER: {t}\n\n", True),
    # Below: the pinned inspect-ai (0.3.150) took the first ANSWER line and the letter as written;
    # later releases take the last line, uppercase it and unwrap $X$, **X**, (X), "X,". ptb follows the pin.
    ("answer: {tl}", False), ("ANSWER: ${t}$", False), ("ANSWER: **{t}**", False), ("ANSWER: ({t})", False),
    ("ANSWER: {t},", False), ("ANSWER: {l}\nWait, no.\nANSWER: {t}", False),
    ("ANSWER: {t}\nWait, no.\nANSWER: {l}", True),
]
GPQA_PIN_DIFFERENT = {"answer: {tl}", "ANSWER: ${t}$", "ANSWER: **{t}**", "ANSWER: ({t})", "ANSWER: {t},",
                      "ANSWER: {l}\nWait, no.\nANSWER: {t}", "ANSWER: {t}\nWait, no.\nANSWER: {l}"}


def test_gpqa_shuffle_prompt_and_scores_match_inspect():
    source = rows("Idavidrein/gpqa/gpqa_main/train.jsonl")
    dataset = MemoryDataset([InspectSample(input=r["Question"], target="A",
                                           choices=[r["Correct Answer"], r["Incorrect Answer 1"],
                                                    r["Incorrect Answer 2"], r["Incorrect Answer 3"]])
                             for r in source])
    dataset.shuffle_choices(seed=gpqamain.SHUFFLE_SEED)  # what hf_dataset(shuffle_choices=seed) does
    solver = multiple_choice(cot=True)
    checked = 0
    for i, (row, reference) in enumerate(zip(source, dataset)):
        ours = gpqamain.to_sample(row, i)
        assert ours.target == reference.target
        wrong = "ABCD"[("ABCD".index(reference.target) + 1) % 4]
        for template, correct in GPQA_OUTPUTS:
            output = template.format(t=reference.target, l=wrong, tl=reference.target.lower())

            async def generate(s, **_):
                s.output = ModelOutput.from_content("recorded", output)
                return s

            s = run(solver(state("", input=reference.input, choices=list(reference.choices)), generate))
            assert ours.messages[0]["content"] == s.messages[0].text  # the same prompt and choice order
            theirs = to_float(run(choice()(s, Target(reference.target))).value)
            assert gpqamain.score(ours, output).value == float(correct), (i, output)
            assert (theirs != float(correct)) == (template in GPQA_PIN_DIFFERENT), (i, output)
            checked += 1
    assert checked == len(source) * len(GPQA_OUTPUTS)


HUMANEVAL_OUTPUTS = [
    "```python\n{full}```", "```python\n{full}```\nSome explanation.", "```\n{full}```", "{body}",
    "Here you go:\n```python\n{full}```\n```python\nprint('second block')\n```", "```python\n{body}```",
    "```python\n{full}", "{body}\n    return None\n", "```python\ndef wrong():\n    pass\n```",
    "```python\n{prompt}    return 42\n```", "```py\n{full}```", "```python\r\n{full}```",
]
# Fences that the pinned inspect_evals did not recognise (its find_code wanted "```python\n" or
# "```\n" and a closing fence) and later releases do: ptb follows the pin, the code is not extracted.
HUMANEVAL_LATER_RELEASE_DIFFERENT = {"```python\n{full}", "```py\n{full}```", "```python\r\n{full}```"}
# Cheats: inspect_evals' verify() passes them; ptb must not.
HUMANEVAL_CHEATS = [
    "    exit()\n", "    import sys; sys.exit(0)\n", "    import os; os._exit(0)\n", "    quit()\n",
    "    class Yes:\n        def __eq__(self, other):\n            return True\n    return Yes()\n",
    "    class Yes(int):\n        def __eq__(self, other):\n            return True\n    return Yes()\n",
]


def inspect_verify(sample, output: str) -> float:
    """inspect_evals' verify(): the same program, run with `python -c`, correct iff exit code 0."""
    answer = inspect_humaneval.find_code(output)
    code = "".join([sample.metadata["prompt"], answer, "\n", sample.metadata["test"], "\n",
                    f"check({sample.metadata['entry_point']})"])
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode == 0)


def test_humaneval_prompt_matches_inspect():
    row = rows("openai/openai_humaneval/test.jsonl")[0]
    reference = inspect_humaneval.record_to_sample()(row)
    assert humaneval.to_sample(row, 0).messages == [{"role": "user", "content": reference.input}]


def test_humaneval_scores_match_inspect_and_cheats_fail():
    agreed = 0
    for i, row in enumerate(rows("openai/openai_humaneval/test.jsonl")[:3]):
        sample = humaneval.to_sample(row, i)
        full = row["prompt"] + row["canonical_solution"]
        for template in HUMANEVAL_OUTPUTS:
            output = template.format(full=full, body=row["canonical_solution"], prompt=row["prompt"])
            ours, theirs = humaneval.score(sample, output).value, inspect_verify(sample, output)
            if template in HUMANEVAL_LATER_RELEASE_DIFFERENT:
                assert (ours, theirs) == (0.0, 1.0), (i, template)
            else:
                assert ours == theirs, (i, template)
                agreed += 1
        assert humaneval.score(sample, f"```python\n{full}```").value == 1.0
        for cheat in HUMANEVAL_CHEATS:
            if "__eq__" not in cheat or "abs(candidate" not in row["test"]:  # tests with abs() defeat __eq__ alone
                assert inspect_verify(sample, cheat) == 1.0, cheat
            assert humaneval.score(sample, cheat).value == 0.0, cheat
    assert agreed == 3 * (len(HUMANEVAL_OUTPUTS) - len(HUMANEVAL_LATER_RELEASE_DIFFERENT))


def test_bfcl_tools_as_inspect_sends_them():
    from inspect_evals.bfcl.utils.tool_parsing import create_tool_info_from_dict

    from ptb.benchmarks import bfcl

    functions = [f for row in rows("gorilla-llm/Berkeley-Function-Calling-Leaderboard/exec_simple/train.jsonl")
                 for f in row["function"]]
    assert len(functions) >= 5
    for function in functions:
        info = create_tool_info_from_dict(function)  # what the task offers; the parameters go out as this dump
        sent = {"type": "function", "function": {"name": info.name, "description": info.description,
                                                 "parameters": info.parameters.model_dump(exclude_none=True)}}
        assert bfcl.tool(function) == sent
