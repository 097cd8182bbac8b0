"""Base models: hub ids, local folders, and `tiny-qwen3`, a ~2 MB Qwen3 built offline.

tiny-qwen3 is the embedded default for demos and tests: a real Qwen3ForCausalLM
(2 layers, hidden 128, ~0.5 M parameters) with a byte-level BPE tokenizer trained on
the `arith` task, built deterministically and cached under ptb's cache folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from ptb import paths

TINY = "tiny-qwen3"
TINY_VERSION = "v3"  # bump when the recipe changes, so caches rebuild

# base model -> its official instruct model (the `instruct` ceiling row)
INSTRUCT = {
    "Qwen/Qwen3-1.7B-Base": "Qwen/Qwen3-1.7B",
    "Qwen/Qwen3-4B-Base": "Qwen/Qwen3-4B",
    "HuggingFaceTB/SmolLM3-3B-Base": "HuggingFaceTB/SmolLM3-3B",
    "google/gemma-3-4b-pt": "google/gemma-3-4b-it",
}
# Hub revisions to download: the place to pin the official checkpoints. None is pinned yet,
# because their commit hashes cannot be obtained offline, so every model is fetched at "main";
# the commit actually downloaded is recorded in result.json (`base_model_revision`, see
# `resolved_revision`).
REVISIONS: dict[str, str] = {}

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def is_known_model(model: str) -> bool:
    return model == TINY or (Path(model) / "config.json").is_file() or bool(_HUB_ID.match(model))


def folder_problem(folder: Path) -> str | None:
    """Why a local model folder cannot load, read from its config.json and the headers of its
    weight files (cheap: no tensor is read), or None. Catches garbage and truncated files."""
    config = folder / "config.json"
    try:
        data = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"{config}: not a readable JSON config ({type(e).__name__}); re-save or re-download the model"
    if not isinstance(data, dict) or not isinstance(data.get("model_type") or data.get("architectures"), (str, list)):
        return f"{config}: no 'model_type' or 'architectures'; not a transformers model config"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not any(folder.glob("*.bin")):
        return f"{folder}: no weights (*.safetensors or *.bin)"
    for w in weights:
        problem = _safetensors_problem(w)
        if problem:
            return f"{w}: {problem}; re-save or re-download the model"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is an 8-byte header length, a JSON header, then the tensors' bytes:
    the file must be exactly as long as the header says."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            size = path.stat().st_size
            if n <= 0 or 8 + n > size:
                return "not a safetensors file (bad header length)"
            header = json.loads(f.read(n))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "not a safetensors file (unreadable header)"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)
            and isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2]
    if 8 + n + max(ends, default=0) > size:
        return f"truncated ({size} bytes, the header needs {8 + n + max(ends)})"
    return None


def resolve(model: str) -> Path:
    """A local folder holding the model's files (built or downloaded if needed)."""
    if model == TINY:
        return tiny_qwen3()
    local = Path(model)
    if (local / "config.json").is_file():
        return local.resolve()
    if not _HUB_ID.match(model):
        raise FileNotFoundError(f"model '{model}': no config.json there and not a Hugging Face id")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(model, revision=REVISIONS.get(model, "main")))


def resolve_instruct(model: str) -> Path | None:
    instruct = INSTRUCT.get(model)
    return resolve(instruct) if instruct else None


def resolved_revision(model_dir: Path) -> str | None:
    """The commit of a hub snapshot folder (…/snapshots/<commit>), else None."""
    return model_dir.name if model_dir.parent.name == "snapshots" else None


# ---------------------------------------------------------------------------- tiny-qwen3

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Single tokens but not special, as in Qwen3: decoding keeps them, so tool calls survive.
TOOL_TOKENS = ["<tool_call>", "</tool_call>"]


def tiny_qwen3() -> Path:
    target = paths.cache_dir() / "models" / f"{TINY}-{TINY_VERSION}"
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{TINY}-", dir=target.parent))
    try:
        build_tiny_qwen3(tmp)
        try:
            os.rename(tmp, target)  # atomic; a concurrent builder may have won the race
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _tokenizer_corpus() -> list[str]:
    """Text the tokenizer is trained on: arith items wrapped in ptb's ChatML template, so
    a wrapped prompt is a few dozen tokens (not hundreds of bytes)."""
    from ptb.benchmarks.arith import corpus_lines

    return corpus_lines()


def build_tiny_qwen3(out: Path) -> None:
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    from ptb.eval import chat

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TOOL_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=chat.own_template(),
    )
    eos, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        intermediate_size=512,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(do_sample=False, eos_token_id=[eos, pad], pad_token_id=pad)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # transformers 5 writes "TokenizersBackend", which transformers 4.x (vLLM builds) cannot load.
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2))
