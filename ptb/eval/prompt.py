"""`ptb prompt`: the exact text a model sees for one benchmark item (after the chat template,
tools included, rendered by the engines' own `engines.render`) and the sampling parameters
the final evaluation would use: the way to check a template or a generation_config."""

from __future__ import annotations

import json
from pathlib import Path

from ptb import models
from ptb.errors import ConfigError
from ptb.eval import engines, evaluation
from ptb.eval.protocol import Protocol

# A hub model's files that rendering and decoding read: no weights.
_CONFIG_FILES = ["*.json", "*.jinja", "*.model", "*.txt", "tokenizer*"]


def model_files(model: str) -> Path:
    """A folder with the model's config, tokenizer and generation_config (hub ids: those files only)."""
    if model == models.TINY or (Path(model) / "config.json").is_file():
        return models.resolve(model)
    if not models.is_known_model(model):
        raise ConfigError(f"--model {model}: no config.json there and not a Hugging Face id")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, revision=models.REVISIONS.get(model, "main"),
                                      allow_patterns=_CONFIG_FILES))
    except OSError as e:  # the hub's errors (offline, gated, unknown id, no network) are OSErrors
        raise ConfigError(f"--model {model}: cannot fetch its config and tokenizer "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def show(model: str, benchmark_id: str, *, index: int = 0, under: Protocol = Protocol(),
         max_tokens: int | None = None) -> dict:
    """{"prompt": the rendered text, "sampling": ..., "seeds": ..., "protocol", "options", ...} for one item."""
    from transformers import AutoTokenizer

    under = under.drawn()
    bench = evaluation.benchmark(benchmark_id, under)
    model_dir = model_files(model)
    rows = bench.load(bench.test_split)
    if not 0 <= index < len(rows):
        raise ConfigError(f"--index {index}: {benchmark_id} has items 0..{len(rows) - 1}")
    sample = bench.to_sample(rows[index], index)
    text = engines.render(AutoTokenizer.from_pretrained(model_dir), model_dir, [sample], bench.chat_template)[0]
    sampling = evaluation.decoding(model_dir, bench, under, max_tokens)
    return {"model": str(model_dir), "benchmark": benchmark_id, "index": index, **under.record(),
            "sampling": sampling, "seeds": under.seeds(bench.sampled_seeds, sampling), "target": sample.target,
            "prompt": text}


def to_text(view: dict) -> str:
    """The prompt exactly, then one line of what decodes it."""
    options = ", ".join(view["options"]) or "none"
    return (f"{view['prompt']}\n--- {view['benchmark']}[{view['index']}], protocol {view['protocol']}, options: "
            f"{options}; {view['seeds']} seed(s); sampling: {json.dumps(view['sampling'])}")
