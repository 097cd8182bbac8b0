"""bfcl: Berkeley Function-Calling Leaderboard v3, category `exec_simple` (100 items): one
user request, one or more offered functions, one correct call.

Source: Hugging Face `gorilla-llm/Berkeley-Function-Calling-Leaderboard`, config
`exec_simple`, split `train` (the hub calls it that, but it is the evaluation data;
nothing may be trained on it), revision 1bf8bbc3c0e35d04d00339c223a3fd653aa195ac (the
pull-request branch inspect_evals pinned because the main branch does not load as a
dataset). The same items ship in the `bfcl-eval` PyPI wheel (questions and answers in
separate files). A raw row:
    {"id": "exec_simple_0", "question": [[{"role": "user", "content": "I've been playing a
      game where rolling a six is somehow more likely than usual ... what are the odds that
      I'll get exactly five sixes?"}]],
     "function": [{"name": "calc_binomial_probability", "description": "Calculates the
      probability of getting k successes in n trials.", "parameters": {"type": "dict",
      "properties": {"n": {"type": "integer", ...}, "k": {...}, "p": {"type": "float", ...}},
      "required": ["n", "k", "p"]}}],
     "execution_result_type": ["exact_match"],
     "ground_truth": ["calc_binomial_probability(n=20, k=5, p=0.6)"]}

As inspect_evals' bfcl task at the reference's pinned commit: the first turn's messages
go to the model with the functions offered as tools, in the form inspect-ai sent them
(parameters as an object schema with `additionalProperties: false`; BFCL's "dict",
"float", "tuple" types become "object", "number", "array"; only the schema keys it
kept). The reference let vLLM's `hermes` tool parser turn the whole output (a `<think>`
block included: no reasoning parser ran) into tool calls and inspect-ai read their
arguments; ptb does the same from the text: every `<tool_call>...</tool_call>` block (the
last may be unclosed) must be a JSON object with "name" (a string) and "arguments", else
there are no tool calls at all (the parser falls back to plain text). Arguments that are
not an object go, as inspect-ai's parse_tool_call put them, to the tool's first parameter.
Correct iff there is exactly one tool call and its name and arguments equal the ground
truth (compared as Python values after a JSON round trip, so tuples are lists: 20 equals
20.0, "20" does not).
"""

from __future__ import annotations

import ast
import json
import re

from ptb.benchmarks.base import Baseline, Benchmark, Sample, Score
from ptb.benchmarks.data import load_rows
from ptb.errors import ConfigError

HUB_ID = "gorilla-llm/Berkeley-Function-Calling-Leaderboard"
CONFIG = "exec_simple"
REVISION = "1bf8bbc3c0e35d04d00339c223a3fd653aa195ac"
_TYPES = {"dict": "object", "float": "number", "tuple": "array"}
# The keys of a parameter schema that inspect-ai kept, in its order.
_KEYS = ("type", "description", "default", "enum", "items", "properties", "additionalProperties", "required")
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)  # the hermes parser's


def load(split: str) -> list[dict]:
    return load_rows(HUB_ID, split, revision=REVISION, config=CONFIG)


def param_schema(spec: dict) -> dict:
    """A BFCL parameter spec as JSON Schema: types renamed, unknown keys and nulls dropped."""
    out = {}
    for key in _KEYS:
        value = spec.get(key)
        if value is None or (key in ("properties", "items") and not value):
            continue
        if key == "type":
            value = _TYPES.get(value, value)
        elif key == "items":
            value = param_schema(value)
        elif key == "properties":
            value = {name: param_schema(p) for name, p in value.items() if p is not None}
        out[key] = value
    return out


def tool(function: dict) -> dict:
    parameters = function["parameters"]
    schema = {"type": "object",
              "properties": {name: param_schema(p) for name, p in (parameters.get("properties") or {}).items()},
              "required": parameters.get("required") or [], "additionalProperties": False}
    return {"type": "function",
            "function": {"name": function["name"], "description": function["description"], "parameters": schema}}


def parse_call(text: str) -> dict:
    """'f(a=1, b="x")' -> {"name": "f", "arguments": {"a": 1, "b": "x"}}."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
        arguments = ({k.arg: ast.literal_eval(k.value) for k in call.keywords}
                     if isinstance(call, ast.Call) and not call.args else None)
    except (SyntaxError, ValueError):  # not Python, or an argument that is no literal
        arguments = None
    if arguments is None:
        raise ConfigError(f"ground truth {text[:200]!r} is not a call with literal keyword arguments only")
    return {"name": ast.unparse(call.func), "arguments": arguments}


def to_sample(row: dict, index: int) -> Sample:
    tools = [tool(f) for f in row["function"]]
    target = json.loads(json.dumps(parse_call(row["ground_truth"][0])))  # tuples become lists, as the output's
    return Sample(index=index, messages=[dict(m) for m in row["question"][0]], target=json.dumps(target),
                  tools=tools, metadata={"id": row["id"]})


def tool_calls(output: str, tools: list[dict] | None = None) -> list[dict]:
    """Tool calls as vLLM's hermes parser and inspect-ai read them; none if any block is not
    a {"name": str, "arguments": ...} object."""
    calls = []
    for closed, unclosed in _TOOL_CALL.findall(output):
        try:
            call = json.loads(closed or unclosed)
        except json.JSONDecodeError:
            return []
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or "arguments" not in call:
            return []
        calls.append({"name": call["name"], "arguments": _arguments(call["name"], call["arguments"], tools or [])})
    return calls


def _arguments(name: str, arguments, tools: list[dict]) -> dict:
    if isinstance(arguments, dict):
        return arguments
    offered = next((t["function"] for t in tools if t["function"]["name"] == name
                    and t["function"]["parameters"]["properties"]), None)
    return {next(iter(offered["parameters"]["properties"])): arguments} if offered else {}


def score(sample: Sample, output: str) -> Score:
    calls = tool_calls(output, sample.tools)
    answer = json.dumps(calls[0]) if len(calls) == 1 else None
    if len(calls) != 1:
        return Score(0.0, answer, f"{len(calls)} tool calls, need exactly one")
    return Score(float(calls[0] == json.loads(sample.target)), answer)


BENCHMARK = Benchmark(
    id="bfcl",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(16000, 12000, 8000),
    test_split="train",
    names=r"bfcl|berkeley function",
    contaminated=("gorilla-llm/Berkeley-Function-Calling-Leaderboard",),  # its "train" split is the evaluation data
    weight_v1=0.074608,
    weighted_v1_2=False,  # dropped in v1.2: shown, not weighted
    published=(
        Baseline("Qwen/Qwen3-1.7B-Base", 0.0, 0.94),
        Baseline("Qwen/Qwen3-4B-Base", 0.0, 0.95),
        Baseline("HuggingFaceTB/SmolLM3-3B-Base", 0.0, 0.84),
        Baseline("google/gemma-3-4b-pt", 0.06, 0.67),
    ),
)
