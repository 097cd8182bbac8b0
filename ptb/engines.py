"""Generation engines: all prompts of a benchmark in, one output text per prompt out.

`transformers` is the fallback that runs anywhere (CPU hosts, tests). The chat template
always comes from ptb (chosen by the model's architecture), and decoding follows the
model's own generation_config.json: what the agent saves with its model decides sampling.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from ptb import chat
from ptb.benchmarks import Sample

Engine = Literal["auto", "vllm", "transformers"]


def pick(engine: Engine) -> str:
    if engine != "auto":
        return engine
    return "vllm" if importlib.util.find_spec("vllm") else "transformers"


def generate(model_dir: Path, samples: list[Sample], *, engine: Engine, max_tokens: int, seed: int = 0,
             shared_gpu: bool = False) -> list[str]:
    name = pick(engine)
    if name == "transformers":
        return _transformers_generate(model_dir, samples, max_tokens=max_tokens, seed=seed)
    raise RuntimeError(f"engine '{name}' is not available in this build of ptb; use --engine transformers")


def _transformers_generate(model_dir: Path, samples: list[Sample], *, max_tokens: int, seed: int) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    torch.manual_seed(seed)
    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if cuda else torch.float32, device_map="cuda" if cuda else None
    ).eval()
    try:
        gen_config = GenerationConfig.from_pretrained(model_dir)
    except OSError:  # no generation_config.json: greedy
        gen_config = GenerationConfig(do_sample=False)
    gen_config.max_new_tokens = max_tokens
    gen_config.pad_token_id = tokenizer.pad_token_id

    template = chat.template_for(model_dir)
    prompts = [
        tokenizer.apply_chat_template(s.messages, tools=s.tools, chat_template=template, tokenize=False,
                                      add_generation_prompt=True)
        for s in samples
    ]
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
