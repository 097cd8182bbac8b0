"""The LLM judge of `arenahardwriting` and `healthbench`: any OpenAI-compatible chat-completions
endpoint (OpenAI itself, a local vLLM server, a proxy), configured from the environment:

    PTB_JUDGE_BASE_URL          default https://api.openai.com/v1
    PTB_JUDGE_MODEL             default gpt-5-mini (the reference's judge)
    PTB_JUDGE_API_KEY           falls back to OPENAI_API_KEY; may stay unset for a keyless local server
    PTB_JUDGE_WORKERS           concurrent requests (default 64, as the reference)
    PTB_JUDGE_TIMEOUT           seconds per request (default 600)
    PTB_JUDGE_RETRIES           retries after errors, timeouts, HTTP 5xx and 429 (default 5), with
                                exponential backoff from PTB_JUDGE_BACKOFF seconds (default 2)
    PTB_JUDGE_REASONING_EFFORT  overrides the `reasoning_effort` a benchmark asks for; "none" never sends it

With neither a key nor a base URL there is no judge: `from_env` raises `JudgeNotConfigured`, and
the evaluation stops with that one-line error instead of scoring zero.

Every call ends `ok`, `failed` (retries exhausted, or a 4xx that a retry cannot fix) or `unparsed`
(the judge answered, but without a usable verdict). `counts` turns these into the metrics that
the judged benchmarks report next to their score: no judgement is dropped silently.

`JudgeConfig`, `client` and `complete` are also the integrity judge's way to its endpoint
(ptb/integrity/review.py), which builds its config from its own variables.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ptb.errors import ConfigError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-5-mini"


class JudgeNotConfigured(ConfigError):
    pass


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str
    model: str
    api_key: str | None
    workers: int = 64
    timeout_s: float = 600.0
    retries: int = 5
    backoff_s: float = 2.0
    reasoning_effort: str | None = None  # None: whatever the benchmark asks for; "none": never sent


@dataclass(frozen=True)
class Request:
    messages: list[dict]
    parse: Callable[[str], Any]  # the judge's answer -> verdict, or None where it holds none
    max_tokens: int
    reasoning_effort: str | None = None
    parse_attempts: int = 1  # ask again when the answer cannot be parsed (HealthBench's grader does)
    temperature: float | None = None  # None: the endpoint's default


@dataclass(frozen=True)
class Verdict:
    status: Literal["ok", "failed", "unparsed"]
    value: Any = None  # what `parse` returned, for `ok`
    text: str | None = None  # the judge's last answer
    error: str = ""


def _env_number(name: str, default: float, kind: type = int) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise JudgeNotConfigured(f"{name}={raw!r}: expected a {kind.__name__}") from None
    if value < 0 or (name == "PTB_JUDGE_WORKERS" and value < 1):
        raise JudgeNotConfigured(f"{name}={raw!r}: out of range")
    return value


def from_env() -> JudgeConfig:
    key = os.environ.get("PTB_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY") or None
    base_url = os.environ.get("PTB_JUDGE_BASE_URL") or None
    if key is None and base_url is None:
        raise JudgeNotConfigured(
            f"no LLM judge configured: set PTB_JUDGE_API_KEY (or OPENAI_API_KEY) to judge with {DEFAULT_MODEL} "
            f"at {DEFAULT_BASE_URL}, or PTB_JUDGE_BASE_URL (and PTB_JUDGE_MODEL) for another OpenAI-compatible server")
    return JudgeConfig(
        base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
        model=os.environ.get("PTB_JUDGE_MODEL") or DEFAULT_MODEL,
        api_key=key,
        workers=int(_env_number("PTB_JUDGE_WORKERS", 64)),
        timeout_s=_env_number("PTB_JUDGE_TIMEOUT", 600.0, float),
        retries=int(_env_number("PTB_JUDGE_RETRIES", 5)),
        backoff_s=_env_number("PTB_JUDGE_BACKOFF", 2.0, float),
        reasoning_effort=os.environ.get("PTB_JUDGE_REASONING_EFFORT") or None,
    )


def client(config: JudgeConfig) -> httpx.Client:
    """An HTTP client for `complete`: the config's timeout, and its key as a bearer token where there is one."""
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    return httpx.Client(timeout=config.timeout_s, headers=headers)


def complete(http: httpx.Client, config: JudgeConfig, messages: list[dict], max_tokens: int | None = None,
             temperature: float | None = None, reasoning_effort: str | None = None) -> tuple[str | None, str]:
    """One chat completion -> the answer text, or None and the reason after the retries ran out.
    `max_tokens` and `temperature` are sent where given; `config.reasoning_effort` overrides the one asked for."""
    body: dict = {"model": config.model, "messages": messages}
    if max_tokens is not None:
        body["max_completion_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    effort = config.reasoning_effort or reasoning_effort
    if effort and effort != "none":
        body["reasoning_effort"] = effort
    error = ""
    for attempt in range(config.retries + 1):
        if attempt:
            time.sleep(config.backoff_s * 2 ** (attempt - 1))
        try:
            response = http.post(f"{config.base_url}/chat/completions", json=body)
        except httpx.HTTPError as e:  # timeouts, refused or dropped connections
            error = f"{type(e).__name__}: {e}"
            continue
        if response.status_code == 429 or response.status_code >= 500:
            error = f"HTTP {response.status_code}"
            continue
        if response.status_code != 200:  # a bad request stays bad: no retry
            return None, f"HTTP {response.status_code}: {response.text[:300]}"
        try:
            message = response.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            error = "response is not a chat completion"
            continue
        # Empty content (e.g. a reasoning model that spent its whole budget) is an answer without a verdict.
        return message.get("content") or "", ""
    return None, error


class Judge:
    def __init__(self, config: JudgeConfig):
        self.config = config

    def ask_many(self, requests: list[Request]) -> list[Verdict]:
        """All requests concurrently (PTB_JUDGE_WORKERS at a time); verdicts in the order asked."""
        if not requests:
            return []
        with client(self.config) as http, \
                ThreadPoolExecutor(max_workers=min(self.config.workers, len(requests))) as pool:
            return list(pool.map(lambda r: self._ask(http, r), requests))

    def _ask(self, http: httpx.Client, request: Request) -> Verdict:
        text = None
        for _ in range(max(1, request.parse_attempts)):
            text, error = complete(http, self.config, request.messages, request.max_tokens, request.temperature,
                                   request.reasoning_effort)
            if text is None:
                return Verdict("failed", error=error)
            value = request.parse(text)
            if value is not None:
                return Verdict("ok", value, text)
        return Verdict("unparsed", text=text, error="no verdict in the judge's answer")


def counts(config: JudgeConfig, verdicts: list[Verdict]) -> dict:
    """The judge's part of a benchmark's metrics."""
    return {"judge_model": config.model, "judge_base_url": config.base_url, "judge_calls": len(verdicts),
            "judge_failed": sum(v.status == "failed" for v in verdicts),
            "judge_unparsed": sum(v.status == "unparsed" for v in verdicts)}


# ---- what the judge sees of a model's answer ----------------------------------------------------------

MAX_REPEATS = 5  # the reference cuts anything repeated more often than this in a row before judging
_REPEATED_TEXT = [re.compile(rf"(.{{{lo},{hi}}}?)\1{{{MAX_REPEATS},}}", re.DOTALL)
                  for lo, hi in ((3, 30), (30, 60), (60, 120), (120, 250), (250, 500))]


def judged_answer(output: str) -> str:
    """A model's output as the reference hands it to the judge: stripped, without a leading
    `<think>...</think>` block, and with runs of a line, of a block of 2-29 lines or of a 3-500
    character substring repeated more than 5 times in a row cut to 5 (base models often loop)."""
    text = output.strip()
    if text.startswith("<think>") and "</think>" in text:
        text = text.split("</think>", 1)[1].strip()
    for _ in range(10):  # each pass can expose new repetitions to the others; the reference stops at 10
        lines, cut_lines = _cap_line_runs(text.split("\n"))
        lines, cut_block = _cap_first_block_run(lines)
        text, cut_text = _cap_repeated_text("\n".join(lines))
        if not (cut_lines or cut_block or cut_text):
            break
    return text


def _cap_line_runs(lines: list[str]) -> tuple[list[str], bool]:
    out, cut = [], False
    for line, run in itertools.groupby(lines):
        n = len(list(run))
        out += [line] * min(n, MAX_REPEATS)
        cut |= n > MAX_REPEATS
    return out, cut


def _cap_first_block_run(lines: list[str]) -> tuple[list[str], bool]:
    """The first run of a repeated block (smallest block size first, then leftmost), cut to
    MAX_REPEATS copies; a truncated copy of the block right after the run goes too."""
    for size in range(2, min(30, len(lines) // 5 + 1)):
        for start in range(len(lines) - size + 1):
            block, end = lines[start:start + size], start + size
            while end + size <= len(lines) and lines[end:end + size] == block:
                end += size
            if (end - start) // size > MAX_REPEATS:
                rest = lines[end:]
                if rest and _is_partial_copy(rest, block):
                    rest = []
                return lines[:start] + block * MAX_REPEATS + rest, True
    return lines, False


def _is_partial_copy(rest: list[str], block: list[str]) -> bool:
    """`rest` is the start of another copy of `block`, its lines equal or cut short (either way)."""
    return len(rest) <= len(block) and all(
        r == b or bool(r.strip() and b.startswith(r.strip())) or bool(b.strip() and r.startswith(b.strip()))
        for r, b in zip(rest, block))


def _cap_repeated_text(text: str) -> tuple[str, bool]:
    cut_any = False
    while True:
        # A match is a unit followed by MAX_REPEATS or more copies of it: always more than allowed.
        before = text
        for pattern in _REPEATED_TEXT:
            text = pattern.sub(lambda m: m.group(1) * MAX_REPEATS, text)
        if text == before:
            return text, cut_any
        cut_any = True
