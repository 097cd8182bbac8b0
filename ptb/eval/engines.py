"""Generation engines: all prompts of a benchmark in, one output text per prompt out.

`vllm` is the engine of final evaluations: every prompt of a benchmark goes to
`vllm.LLM` in one offline batched call, which keeps the GPU full (the reference queried
a server two requests at a time). `transformers` is the fallback that runs anywhere
(CPU hosts, tests); `auto` takes vLLM on a GPU and says why whenever it does not. Both
render prompts as the reference did (its chat template for the model's architecture, tools
included; ptb/eval/chat.py) and tokenise them the same way, and both
decode with the same effective sampling parameters (`ptb.eval.protocol.sampling`: the model's own
generation_config.json read as the protocol says): what the agent saves with its model decides sampling.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Literal, NamedTuple

from ptb.eval import chat, protocol
from ptb.benchmarks import Sample
from ptb.benchmarks.base import ChatTemplate
from ptb.errors import ConfigError, EvalFailed

Engine = Literal["auto", "vllm", "transformers"]

# Share of GPU memory vLLM may take: all of it (less a margin) when the final
# evaluation owns the GPU; the reference's 0.3 when the agent's evaluate.py runs beside training.
GPU_MEMORY_OWNED = 0.9
GPU_MEMORY_SHARED = 0.3


class Choice(NamedTuple):
    engine: str  # the engine that runs
    reason: str  # why: recorded with the evaluation's metrics and in result.json


def pick(engine: Engine) -> Choice:
    """The engine for a request. `auto` is vLLM on a GPU host; on CPU the transformers engine
    (vLLM's CPU backend is slower there to start than tiny models take to evaluate: it runs
    on request). A GPU host without vLLM is the one fallback that costs: it is said aloud."""
    if engine != "auto":
        return Choice(engine, f"requested: --engine {engine}")
    import torch

    installed = importlib.util.find_spec("vllm") is not None
    if not torch.cuda.is_available():
        return Choice("transformers", "auto: no GPU, so the transformers engine"
                      + (" (vllm is installed: --engine vllm runs it on CPU)" if installed else ""))
    if installed:
        return Choice("vllm", "auto: a GPU and vllm installed")
    reason = (f"auto: FALLBACK on a GPU host: vllm is not installed in {sys.executable}, so the transformers "
              "engine, an order of magnitude slower; `bash .devcontainer/setup.sh` installs vllm")
    print(f"ptb: warning: {reason}", file=sys.stderr)
    return Choice("transformers", reason)


def generate(model_dir: Path, samples: list[Sample], *, engine: Engine, sampling: dict, seed: int = 0,
             shared_gpu: bool = False, template: ChatTemplate = "reference",
             templates_dir: Path | None = None) -> list[str]:
    """One output per sample, decoded with `sampling` (`ptb.eval.protocol.sampling`'s dict)."""
    name = pick(engine).engine
    if name == "transformers":
        return _transformers_generate(model_dir, samples, sampling=sampling, seed=seed, template=template,
                                      templates_dir=templates_dir)
    if name == "vllm":
        if not importlib.util.find_spec("vllm"):
            raise ConfigError(f"engine 'vllm': vllm is not installed in {sys.executable}; "
                              "`bash .devcontainer/setup.sh` installs it, or use --engine transformers")
        return _vllm_generate(model_dir, samples, sampling=sampling, seed=seed, shared_gpu=shared_gpu,
                              template=template, templates_dir=templates_dir)
    raise ConfigError(f"unknown engine '{name}' (known: auto, vllm, transformers)")


def render(tokenizer, model_dir: Path, samples: list[Sample], template: ChatTemplate = "reference",
           templates_dir: Path | None = None) -> list[str]:
    """Prompt texts as the reference's vLLM server rendered them (ptb/eval/chat.py): the reference's
    template for the architecture (from `templates_dir` where given), tools offered where the sample
    has them; `template="model"`: the tokenizer's own template instead (ptb's arith). Engines
    tokenise these without adding special tokens: the template wrote them."""
    if template == "reference":
        text = chat.template_for(model_dir, tools=any(s.tools for s in samples), folder=templates_dir)
    else:
        text = tokenizer.chat_template
    special = tokenizer.special_tokens_map
    return [chat.render(text, s.messages, s.tools, special_tokens=special) for s in samples]


def stop_tokens(model_dir: Path) -> list[int]:
    """The end-of-sequence ids of the model's generation_config.json (both engines stop there)."""
    eos = protocol.generation_config(model_dir).get("eos_token_id")
    return [eos] if isinstance(eos, int) else list(eos or [])


def _transformers_config(sampling: dict, eos: list[int], pad: int | None):
    from transformers import GenerationConfig

    common = dict(max_new_tokens=sampling["max_tokens"], eos_token_id=eos or None, pad_token_id=pad,
                  repetition_penalty=sampling["repetition_penalty"])
    if sampling["temperature"] == 0:
        return GenerationConfig(do_sample=False, **common)
    return GenerationConfig(do_sample=True, temperature=sampling["temperature"], top_p=sampling["top_p"],
                            top_k=sampling["top_k"], min_p=sampling["min_p"] or None, **common)


def _transformers_generate(model_dir: Path, samples: list[Sample], *, sampling: dict, seed: int,
                           template: ChatTemplate, templates_dir: Path | None) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if cuda else torch.float32, device_map="cuda" if cuda else None
    ).eval()
    gen_config = _transformers_config(sampling, stop_tokens(model_dir) or [tokenizer.eos_token_id],
                                      tokenizer.pad_token_id)

    prompts = render(tokenizer, model_dir, samples, template, templates_dir)
    # Longest first, in fixed-size batches: little padding, and an OOM shows up at once.
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    batch = 64 if cuda else 32
    outputs: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, generation_config=gen_config)
        for i, row in zip(idx, out[:, enc["input_ids"].shape[1] :]):
            outputs[i] = tokenizer.decode(row, skip_special_tokens=True)
    return outputs


def sampling_params(sampling: dict, *, stop: list[int], seed: int, index: int):
    """vLLM's SamplingParams for `sampling` (what the transformers engine gets too). Each
    sample gets its own seed, so its output does not depend on how the engine batches requests."""
    from vllm import SamplingParams

    # Text is decoded by ptb (see _vllm_generate), so vLLM need not detokenise.
    return SamplingParams(temperature=sampling["temperature"], top_p=sampling["top_p"], top_k=sampling["top_k"],
                          min_p=sampling["min_p"], repetition_penalty=sampling["repetition_penalty"],
                          max_tokens=sampling["max_tokens"], stop_token_ids=stop, seed=seed * 1_000_003 + index,
                          detokenize=False)


def _vllm_generate(model_dir: Path, samples: list[Sample], *, sampling: dict, seed: int,
                   shared_gpu: bool, template: ChatTemplate, templates_dir: Path | None) -> list[str]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = render(tokenizer, model_dir, samples, template, templates_dir)
    prompts = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    import torch

    try:
        # vLLM reports an engine that died or could not start (its KV cache did not fit) as a RuntimeError.
        llm = vllm_engine(model_dir, seed=seed, shared_gpu=shared_gpu)
        tokens = vllm_run(llm, prompts, [s.index for s in samples], sampling, stop=stop_tokens(model_dir), seed=seed)
    except RuntimeError as e:  # torch.OutOfMemoryError included
        raise EvalFailed(f"engine 'vllm': {type(e).__name__}: {e}") from e
    # Decoded here, as the transformers engine decodes: vLLM's incremental detokeniser
    # holds back a trailing incomplete UTF-8 sequence, so equal tokens could give unequal text.
    return [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]


def vllm_engine(model_dir: Path, *, seed: int, shared_gpu: bool):
    """A `vllm.LLM` for the model: the start-up (weights, KV cache, CUDA graphs) in one place."""
    # vLLM logs to stdout by default, where `ptb eval` prints its JSON summary.
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    # vLLM runs its engine in a child process; when it spawns rather than forks, the
    # caller's __main__ must be import-safe (ptb/__main__.py is guarded).
    import torch
    from vllm import LLM

    gpu = torch.cuda.is_available()
    return LLM(
        model=str(model_dir),
        seed=seed,
        # The transformers engine's dtypes: vLLM's "auto" would also run a float32
        # checkpoint in 16 bits on CPU, and greedy outputs would drift from the fallback's.
        dtype="bfloat16" if gpu else "float32",
        gpu_memory_utilization=GPU_MEMORY_SHARED if shared_gpu else GPU_MEMORY_OWNED,
        # CUDA graphs pay for themselves over a benchmark; the CPU backend runs eagerly.
        enforce_eager=not gpu,
    )


def vllm_run(llm, prompts: list[list[int]], indices: list[int], sampling: dict, *, stop: list[int],
             seed: int) -> list[list[int]]:
    """Output token ids for every prompt, all submitted in one call (vLLM batches them)."""
    from vllm import TokensPrompt

    params = [sampling_params(sampling, stop=stop, seed=seed, index=i) for i in indices]
    results = llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)
    return [list(r.outputs[0].token_ids) for r in results]
