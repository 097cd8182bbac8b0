"""Which rules an evaluation follows: an official PostTrainBench release, plus named options.

By default ptb scores as the latest official release does (`v1.2`): a model evaluated by ptb
gets the number PostTrainBench would publish, flaws included. A release fixes:

- decoding: the model's generation_config.json read as the reference's vLLM (0.11.0, with
  transformers 4.x, `generation_config="auto"`) read it: only temperature, top_p, top_k,
  min_p, repetition_penalty and max_new_tokens; `do_sample` ignored; unset values are
  vLLM's neutral ones (temperature 1.0: a base model without a temperature is sampled);
  a value equal to transformers 4.x's default was dropped from the diff vLLM read
  (top_k 50 means no top-k cut there); max_new_tokens caps the benchmark's token limit.
- GPQA's choice shuffle: v1.2 seeded (72332, the first final-evaluation seed); v1 unseeded,
  which ptb makes reproducible by drawing one seed per evaluation and recording it.
- HumanEval: v1.2 passes a sample only if check() really ran to its end on plain values
  (ptb/benchmarks/humaneval.py); v1 passed any program that exited with code 0.
- seeds: v1.2 averages 5 seeds for GPQA, AIME, GSM8K and HumanEval when decoding samples
  (1 when greedy, 1 for the judged benchmarks); v1 is one run.
- the leaderboard weights (v1 includes BFCL; see ptb/report/leaderboard.py).

The scorers see what inspect-ai 0.3.150 showed them (its first closed `<think>` block
removed) and compare numbers as it did (by suffix). ptb's own improvements are OPTIONS,
named and recorded in result.json; none is on by default.

ptb's own `arith` benchmark is not the reference's: it always decodes as transformers'
generate() reads the file (greedy unless do_sample), so the demo is deterministic.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

from ptb.errors import ConfigError

RELEASES = ("v1.2", "v1")
DEFAULT = "v1.2"
GPQA_SEED = 72332  # v1.2's shuffle seed: the first of the reference's final-evaluation seeds

OPTIONS: dict[str, str] = {
    "exact-numeric": "gsm8k, aime2025: the last number must equal the answer by value, sign included "
                     "(the reference compared 5-significant-digit strings by suffix: 711 counted for 11)",
    "transformers-decoding": "decode as transformers' generate() reads generation_config.json: greedy unless "
                             "do_sample is true, its top_k 50 where unset, the benchmark's token limit",
    "raw-output": "score the whole output (the reference removed the first closed <think>...</think> block)",
}

# What the reference's vLLM took from generation_config.json, with vLLM's neutral values.
NEUTRAL = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0}
# Values of transformers 4.x's GenerationConfig() defaults: `to_diff_dict` left them out, so
# vLLM never saw them. Only top_k changes anything (50 there, no cut in vLLM).
_TRANSFORMERS4_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": 50, "repetition_penalty": 1.0}


@dataclass(frozen=True)
class Protocol:
    release: str = DEFAULT
    options: tuple[str, ...] = ()
    shuffle_seed: int | None = None  # GPQA's choice shuffle; None: the release's rule (see `drawn`)

    def __post_init__(self) -> None:
        if self.release not in RELEASES:
            raise ConfigError(f"unknown protocol '{self.release}' (known: {', '.join(RELEASES)})")
        for o in self.options:
            if o not in OPTIONS:
                raise ConfigError(f"unknown option '{o}' (known: {', '.join(OPTIONS)})")
        object.__setattr__(self, "options", tuple(dict.fromkeys(self.options)))

    def has(self, option: str) -> bool:
        return option in self.options

    def drawn(self) -> Protocol:
        """The protocol with its GPQA shuffle seed fixed: v1.2's, or (v1) one fresh draw to record."""
        if self.shuffle_seed is not None:
            return self
        return replace(self, shuffle_seed=GPQA_SEED if self.release == "v1.2" else random.Random().randrange(2**32))

    def seeds(self, sampled_seeds: int, sampling: dict) -> int:
        """How many generation seeds are averaged (the release's seeds rule)."""
        if self.release == "v1" or sampling["temperature"] == 0:
            return 1
        return sampled_seeds

    def record(self) -> dict:
        out: dict = {"protocol": self.release, "options": list(self.options)}
        if self.shuffle_seed not in (None, GPQA_SEED):  # a v1 draw (or a chosen seed): what reproduces the run
            out["shuffle_seed"] = self.shuffle_seed
        return out


def parse(release: str | None, options: list[str] | tuple[str, ...] | None) -> Protocol:
    return Protocol(release or DEFAULT, tuple(options or ()))


def generation_config(model_dir: Path) -> dict:
    """The model's generation_config.json as written ({} where there is none)."""
    path = Path(model_dir) / "generation_config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def sampling(gen: dict, max_tokens: int, protocol: Protocol, *, reference: bool = True) -> dict:
    """The effective decoding of a generation_config (`gen`) for a benchmark whose token limit is
    `max_tokens`: temperature (0 = greedy), top_p, top_k (0 = no cut), min_p, repetition_penalty,
    max_tokens. `reference=False` (ptb's own benchmarks) decodes as transformers would."""
    if protocol.has("transformers-decoding") or not reference:
        given = {k: gen[k] for k in NEUTRAL if gen.get(k) is not None}
        if not gen.get("do_sample"):
            return NEUTRAL | {"temperature": 0.0, "repetition_penalty": given.get("repetition_penalty", 1.0),
                              "max_tokens": max_tokens}
        return NEUTRAL | {"top_k": 50} | given | {"max_tokens": max_tokens}
    out = dict(NEUTRAL)
    for key in NEUTRAL:
        value = gen.get(key)
        if value is not None and value != _TRANSFORMERS4_DEFAULTS.get(key):
            out[key] = value
    limit = gen.get("max_new_tokens")
    return out | {"max_tokens": min(max_tokens, limit) if limit else max_tokens}
