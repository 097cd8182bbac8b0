"""Chat templates, chosen from the model's declared architecture (config.json), never
from its folder name: the reference harness guessed the family from the path string,
so a folder named after another family silently changed the template."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ptb import paths

# architecture in config.json -> template file in ptb/templates/
FAMILIES = {
    "Qwen3ForCausalLM": "qwen3",
    "Gemma3ForCausalLM": "gemma3",
    "Gemma3ForConditionalGeneration": "gemma3",
    "SmolLM3ForCausalLM": "smollm3",
}
# Families whose plain template cannot offer tools: a separate file is used where the
# benchmark offers tools (the reference did the same for Gemma on BFCL).
TOOLS_VARIANTS = {"gemma3": "gemma3_tools"}


class UnknownArchitecture(ValueError):
    pass


def architecture(model_dir: str | Path) -> str:
    config = json.loads((Path(model_dir) / "config.json").read_text())
    archs = config.get("architectures") or []
    if len(archs) != 1:
        raise UnknownArchitecture(f"{model_dir}/config.json: expected one entry in 'architectures', got {archs}")
    return archs[0]


def family(model_dir: str | Path) -> str:
    arch = architecture(model_dir)
    if arch not in FAMILIES:
        raise UnknownArchitecture(
            f"{model_dir}: architecture {arch} has no chat template in ptb (known: {', '.join(FAMILIES)})"
        )
    return FAMILIES[arch]


@cache
def template(name: str) -> str:
    return (paths.TEMPLATES / f"{name}.jinja").read_text()


def template_for(model_dir: str | Path, tools: bool = False) -> str:
    """The model's template; `tools`: the benchmark offers tools (decided by the samples, not the model)."""
    name = family(model_dir)
    return template(TOOLS_VARIANTS.get(name, name) if tools else name)
