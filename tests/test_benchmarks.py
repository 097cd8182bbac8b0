"""The five non-judged PostTrainBench benchmarks on local fixture rows in their real
schemas: `ptb eval` with tiny-qwen3, `ptb score` on recorded outputs, chat templates by
architecture and by tools, the HumanEval sandbox, the BFCL tool-call parser, data loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ptb, survivors
from ptb.eval import chat, engines
from ptb.benchmarks import BENCHMARKS, bfcl, gpqamain, gsm8k, humaneval
from ptb.benchmarks.data import load_rows
from ptb.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
DATA = {"PTB_DATA_DIR": str(FIXTURES)}
SPLIT_FILES = {
    "gsm8k": "openai/gsm8k/main/test.jsonl",
    "aime2025": "math-ai/aime25/test.jsonl",
    "gpqamain": "Idavidrein/gpqa/gpqa_main/train.jsonl",
    "humaneval": "openai/openai_humaneval/test.jsonl",
    "bfcl": "gorilla-llm/Berkeley-Function-Calling-Leaderboard/exec_simple/train.jsonl",
}


@pytest.fixture(autouse=True)
def fixture_data(monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(FIXTURES))


def fixture_rows(benchmark: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / SPLIT_FILES[benchmark]).read_text().splitlines()]


def test_registered_with_the_reference_token_ladders():
    ladders = {b: BENCHMARKS[b].max_tokens for b in SPLIT_FILES}
    assert ladders == {"gsm8k": (4000, 3000, 2000), "humaneval": (4000, 3000, 2000), "aime2025": (16000, 12000, 8000),
                       "gpqamain": (16000, 12000, 8000), "bfcl": (16000, 12000, 8000)}
    assert BENCHMARKS["gsm8k"].train_pairs is not None
    assert all(BENCHMARKS[b].train_pairs is None for b in ("aime2025", "gpqamain", "humaneval", "bfcl"))


@pytest.mark.parametrize("benchmark", sorted(SPLIT_FILES))
def test_eval_on_fixture_rows(benchmark, tiny_model, tmp_path):
    out, samples = tmp_path / "m.json", tmp_path / "s.jsonl"
    res = ptb("eval", "--model", tiny_model, "--benchmark", benchmark, "--limit", "2", "--engine", "transformers",
              "--max-tokens", "8", "--json-output-file", out, "--samples-file", samples, env=DATA)
    assert res.returncode == 0, res.stderr
    m = json.loads(out.read_text())
    assert m["n"] == 2 and m["benchmark"] == benchmark and 0.0 <= m["score"] <= 1.0
    # The reference's decoding: tiny-qwen3's generation_config sets no temperature, so it samples
    # at 1.0 (do_sample false is ignored), averaged over 5 seeds where the benchmark says so.
    assert (m["protocol"], m["options"]) == ("v1.2", [])
    assert m["sampling"] == {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0,
                             "max_tokens": 8}
    seeds = BENCHMARKS[benchmark].sampled_seeds
    assert m["seeds"] == list(range(seeds))
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1] * seeds and all(isinstance(r["output"], str) for r in records)
    expected = BENCHMARKS[benchmark].to_sample(fixture_rows(benchmark)[0], 0)
    assert records[0]["messages"] == expected.messages and records[0]["target"] == expected.target


def recorded_outputs(benchmark: str, rows: list[dict]) -> tuple[list[str], list[float]]:
    """Per benchmark: outputs for rows 0 and 1 (right, then wrong) and their expected scores."""
    if benchmark == "gsm8k":
        answer = gsm8k.split_answer(rows[0]["answer"])[1]
        return [f"Step by step...\nANSWER: ${int(answer):,}.", "ANSWER: 1"], [1.0, 0.0]
    if benchmark == "aime2025":
        return [f"so the answer is \\boxed{{{rows[0]['answer']}}}", f"ANSWER: {rows[1]['answer']}0"], [1.0, 0.0]
    if benchmark == "gpqamain":
        right = gpqamain.to_sample(rows[0], 0).target
        wrong = "ABCD"[("ABCD".index(gpqamain.to_sample(rows[1], 1).target) + 1) % 4]
        return [f"Thinking...\nANSWER: {right}.", f"ANSWER: {wrong}"], [1.0, 0.0]
    if benchmark == "humaneval":
        return [f"```python\n{rows[0]['prompt']}{rows[0]['canonical_solution']}```", "    import os; os._exit(0)\n"], \
            [1.0, 0.0]
    call = bfcl.parse_call(rows[0]["ground_truth"][0])
    return [f"<tool_call>\n{json.dumps(call)}\n</tool_call>",
            f"<tool_call>{json.dumps(call)}</tool_call><tool_call>{json.dumps(call)}</tool_call>"], [1.0, 0.0]


@pytest.mark.parametrize("benchmark", sorted(SPLIT_FILES))
def test_score_recorded_outputs(benchmark, tmp_path):
    rows = fixture_rows(benchmark)
    outputs, expected = recorded_outputs(benchmark, rows)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "out.jsonl").write_text("".join(json.dumps({"index": i, "output": o}) + "\n"
                                                for i, o in enumerate(outputs)))
    res = ptb("score", benchmark, "--dataset", tmp_path / "rows.jsonl", "--responses", tmp_path / "out.jsonl",
              "--json-output-file", tmp_path / "score.json", env=DATA)
    assert res.returncode == 0, res.stderr
    got = json.loads((tmp_path / "score.json").read_text())
    assert [s["score"] for s in got["samples"]] == expected and got["n"] == 2 and got["score"] == 0.5


def test_gsm8k_fewshot_and_train_pairs():
    sample = gsm8k.to_sample(fixture_rows("gsm8k")[0], 0)
    system = sample.messages[0]["content"]
    assert system.count("\n\nReasoning:\n") == 10 and system.count("ANSWER: ") == 10 and "####" not in system
    assert sample.messages[1]["content"].endswith("Reasoning:")
    pairs = gsm8k.train_pairs()
    assert len(pairs) == 12 and pairs[0][1].splitlines()[-1].startswith("ANSWER: ") and "####" not in pairs[0][1]


def test_gpqa_shuffle_is_seeded_and_balanced():
    rows = fixture_rows("gpqamain")
    first = [gpqamain.to_sample(r, i) for i, r in enumerate(rows)]
    assert first == [gpqamain.to_sample(r, i) for i, r in enumerate(rows)]  # the same exam every time
    for s, r in zip(first, rows):
        shown = s.messages[0]["content"]
        assert f"{s.target}) {r['Correct Answer']}" in shown
    targets = {gpqamain.LETTERS[gpqamain.choice_order(i).index(0)] for i in range(448)}
    assert targets == set("ABCD")  # the correct answer is not always "A"
    assert gpqamain.choice_order(5, seed=1) != gpqamain.choice_order(5, seed=2) or \
        gpqamain.choice_order(6, seed=1) != gpqamain.choice_order(6, seed=2)


def test_bfcl_tool_call_parsing():
    row = fixture_rows("bfcl")[0]
    sample = bfcl.to_sample(row, 0)
    assert sample.tools[0]["function"]["parameters"]["type"] == "object"
    assert json.loads(sample.target) == {"name": "calc_binomial_probability", "arguments": {"n": 20, "k": 5, "p": 0.6}}
    right = '{"name": "calc_binomial_probability", "arguments": {"n": 20, "k": 5.0, "p": 0.6}}'
    cases = {
        f"<tool_call>\n{right}\n</tool_call>": 1.0,
        f"Sure.\n<tool_call>{right}": 1.0,  # unclosed final block, as the hermes parser accepts
        # Arguments as a JSON string: the hermes parser passed the string on, inspect-ai gave it to the first parameter.
        '<tool_call>{"name": "calc_binomial_probability", "arguments": "{\\"n\\": 20, \\"k\\": 5, \\"p\\": 0.6}"}'
        '</tool_call>': 0.0,
        '<tool_call>{"name": "calc_binomial_probability"}</tool_call>': 0.0,  # no "arguments": not a tool call
        '<tool_call>{"name": "calc_binomial_probability", "arguments": {"n": "20", "k": 5, "p": 0.6}}</tool_call>': 0.0,
        '<tool_call>{"name": "calc_binomial_probability", "arguments": {"n": 20, "k": 5}}</tool_call>': 0.0,
        '<tool_call>{"name": "other", "arguments": {"n": 20, "k": 5, "p": 0.6}}</tool_call>': 0.0,
        f"<tool_call>{right}</tool_call>\n<tool_call>not json</tool_call>": 0.0,
        f"<tool_call>{right}</tool_call><tool_call>{right}</tool_call>": 0.0,
        right: 0.0,  # no tags: plain text, no tool call
        "": 0.0,
    }
    assert {o: bfcl.score(sample, o).value for o in cases} == cases


def test_humaneval_sandbox_limits():
    row = fixture_rows("humaneval")[0]
    sample = humaneval.to_sample(row, 0)

    def run(body: str, **kw) -> humaneval.RunResult:
        return humaneval.run_program(humaneval.program(sample, body), row["entry_point"], **kw)

    assert run(row["canonical_solution"]).passed
    slow = run("    while True:\n        pass\n", timeout_s=2)
    assert not slow.passed and "timed out" in slow.reason
    net = run("    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    return True\n")
    assert not net.passed and "unreachable" in net.reason.lower()
    marker = Path(__file__).parent / "fixtures" / "written-by-sandbox"
    write = run(f"    open({str(marker)!r}, 'w').write('x')\n")
    assert not write.passed and not marker.exists() and "Read-only" in write.reason
    big = run("    x = bytearray(8 << 30)\n    return True\n")
    assert not big.passed and "MemoryError" in big.reason
    left = run("    import subprocess\n"
               "    subprocess.Popen(['sleep', '4243'], start_new_session=True)\n    return True\n")
    assert not left.passed and survivors("sleep 4243") == []  # the PID namespace took it down


def test_chat_template_by_architecture_and_tools(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    bfcl_sample = bfcl.to_sample(fixture_rows("bfcl")[0], 0)
    gsm_sample = gsm8k.to_sample(fixture_rows("gsm8k")[0], 0)
    rendered = {}
    for arch in ("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration", "SmolLM3ForCausalLM", "Qwen3ForCausalLM"):
        model = tmp_path / "qwen3-named-folder" / arch  # the folder's name must not matter
        shutil.copytree(tiny_model, model)
        config = json.loads((model / "config.json").read_text())
        (model / "config.json").write_text(json.dumps({**config, "architectures": [arch]}))
        rendered[arch] = (engines.render(tokenizer, model, [bfcl_sample])[0],
                          engines.render(tokenizer, model, [gsm_sample])[0])
    for arch in ("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"):
        tools, plain = rendered[arch]
        assert tools.startswith(tokenizer.bos_token or "") and "<start_of_turn>user" in tools
        assert "calc_binomial_probability" in tools and "<tool_call>" in tools
        assert tools.endswith("<start_of_turn>model")  # the reference's tool-calling template opens no new line
        assert "<tools>" not in plain and plain.count("<start_of_turn>user") == 1  # the system text joins the user turn
        assert chat.template_for(tmp_path / "qwen3-named-folder" / arch, tools=True) == chat.template("gemma3_tool_calling")
    tools, plain = rendered["SmolLM3ForCausalLM"]
    assert tools.startswith("<|im_start|>system") and "calc_binomial_probability" in tools
    assert plain.startswith("<|im_start|>system") and "<tools>" not in plain
    assert plain.endswith("<|im_start|>assistant\n")
    assert rendered["Qwen3ForCausalLM"][0] != rendered["SmolLM3ForCausalLM"][0]


def test_data_loading_needs_a_source(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))  # no local copy here
    # Offline at once (both libraries read HF_HUB_OFFLINE when first imported, maybe before conftest set it).
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match=r"PTB_DATA_DIR/math-ai/aime25/test.jsonl"):
        load_rows("math-ai/aime25", "test", revision="563bb8404243c5f09de6ec262f2db674fe5bce9b")
    folder = tmp_path / "math-ai" / "aime25"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text('{"problem": "p", "answer": "7", "id": "0"}\n')
    assert load_rows("math-ai/aime25", "test", revision=None) == [{"problem": "p", "answer": "7", "id": "0"}]


def test_prompt_prints_what_the_model_sees_and_its_decoding(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    res = ptb("prompt", "--model", tiny_model, "--benchmark", "bfcl", "--index", "1", "--json", env=DATA)
    assert res.returncode == 0, res.stderr
    view = json.loads(res.stdout)
    sample = bfcl.to_sample(fixture_rows("bfcl")[1], 1)
    assert view["prompt"] == engines.render(AutoTokenizer.from_pretrained(tiny_model), tiny_model, [sample])[0]
    assert sample.tools[0]["function"]["name"] in view["prompt"]  # the tools are in the text
    assert (view["protocol"], view["options"], view["seeds"], view["target"]) == ("v1.2", [], 1, sample.target)
    assert view["sampling"]["temperature"] == 1.0 and view["sampling"]["max_tokens"] == 16000

    # A hand-written generation_config: its values as the reference's vLLM read them, 5 seeds on gsm8k.
    model = tmp_path / "sampler"
    shutil.copytree(tiny_model, model)
    (model / "generation_config.json").write_text(json.dumps(
        {"do_sample": False, "temperature": 0.6, "top_p": 0.95, "top_k": 50, "max_new_tokens": 2048}))
    res = ptb("prompt", "--model", model, "--benchmark", "gsm8k", env=DATA)
    assert res.returncode == 0, res.stderr
    text, summary = res.stdout.rstrip("\n").rsplit("\n", 1)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert summary.startswith("--- gsm8k[0], protocol v1.2, options: none; 5 seed(s); sampling: ")
    assert json.loads(summary.split("sampling: ", 1)[1]) == {"temperature": 0.6, "top_p": 0.95, "top_k": 0,
                                                            "min_p": 0.0, "repetition_penalty": 1.0, "max_tokens": 2048}
    res = ptb("prompt", "--model", model, "--benchmark", "gsm8k", "--option", "transformers-decoding", "--json",
              env=DATA)
    assert json.loads(res.stdout)["sampling"]["temperature"] == 0.0 and json.loads(res.stdout)["seeds"] == 1

    for bad, message in ((["--index", "99"], "--index 99: gsm8k has items 0..4"),
                         (["--model", tmp_path / "none"], "no config.json there and not a Hugging Face id")):
        args = ["--model", model, "--benchmark", "gsm8k", *bad]
        res = ptb("prompt", *args, env=DATA)
        assert res.returncode == 2 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr
    res = ptb("prompt", "--model", model, "--benchmark", "gsm8k", "--option", "nope", env=DATA)
    assert res.returncode == 2 and "invalid choice: 'nope'" in res.stderr


def test_score_records_the_protocol_and_options_change_the_score(tmp_path):
    rows = fixture_rows("gsm8k")[:1]
    target = gsm8k.split_answer(rows[0]["answer"])[1]
    (tmp_path / "rows.jsonl").write_text(json.dumps(rows[0]) + "\n")
    (tmp_path / "out.jsonl").write_text(json.dumps({"index": 0, "output": f"ANSWER: 7{target}"}) + "\n")
    scores = {}
    for options in ([], ["--option", "exact-numeric"]):
        res = ptb("score", "gsm8k", "--dataset", tmp_path / "rows.jsonl", "--responses", tmp_path / "out.jsonl",
                  *options, env=DATA)
        assert res.returncode == 0, res.stderr
        got = json.loads(res.stdout)
        assert got["protocol"] == "v1.2" and got["options"] == options[1:]
        scores[tuple(options)] = got["score"]
    assert scores == {(): 1.0, ("--option", "exact-numeric"): 0.0}  # the reference's suffix match: 7N counts for N
