"""Agents' traces: redaction of secrets, and one event format for every CLI's output.

Redaction happens on the way in: both sandboxes write the agent's stdout/stderr through a
`LineLog` (a `Redactor`, and each line's arrival time in `stdout.times`), so no saved log
ever holds a granted key or anything shaped like an API key, and every format has a clock.

`normalise(fmt, stdout)` turns an agent's raw output into events, one JSON object per
line in `trace.jsonl`:
    {"i": 0, "t": <epoch s or null>, "type": "message"|"tool_call"|"tool_result"|"usage"|"result"|"error"|
     "system"|"text", "role": "assistant"|"user"|"system"|null, "text": str, "tool": str|null,
     "id": str|null, "t_end": <a tool call's end, epoch s, or null>, "input_tokens", "cache_read_tokens",
     "cache_write_tokens", "output_tokens", "reasoning_tokens": int|null, "cost_usd": float|null}
and `transcript.md` renders them for reading. `usage` is one model response's figures,
`result` an invocation's totals as the CLI states them; `usage(events)` makes the run's
record from both, the same for every format. Formats (an agent definition's `trace:`):
plain (each line is text), claude-stream-json (claude -p --output-format stream-json),
codex-json (codex exec --json), gemini-stream-json (gemini --output-format stream-json),
opencode-json (opencode run --format json).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ptb.agents.reprompt import MARKER as REPROMPT_MARKER
from ptb.paths import CellPaths

# Shapes of well-known credentials: provider API keys, hub and forge tokens, cloud keys.
# A key starts a word: "task-..." holds no "sk-..." key.
KEY_LIKE = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?:sk-ant-[A-Za-z0-9_\-]{16,}|sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}|AIza[0-9A-Za-z_\-]{30,}"
    r"|hf_[A-Za-z0-9]{24,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|ya29\.[0-9A-Za-z_\-]{20,}|eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})"
)
KEY_LIKE_BYTES = re.compile(KEY_LIKE.pattern.encode())
REDACTED = "[REDACTED]"
MIN_SECRET = 6  # shorter values ("1", "true") would blank out ordinary text
# Words in a variable's name that say its value is a credential (HF_TOKEN, AWS_SECRET_ACCESS_KEY, ...).
SECRET_NAME_WORDS = {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "CREDENTIAL",
                     "CREDENTIALS", "AUTH", "PAT", "COOKIE"}


def secret_values(env: dict[str, str]) -> list[str]:
    """Values in `env` that look secret: by their variable's name or by their shape.
    The host's own are redacted from every saved file too, granted to the agent or not."""
    return [v for k, v in env.items() if len(v) >= MIN_SECRET and (
        SECRET_NAME_WORDS & set(k.upper().split("_")) or KEY_LIKE.fullmatch(v))]


class Redactor:
    """Replaces the given secret values and anything key-like with [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()):
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._exact = re.compile("|".join(map(re.escape, values))) if values else None
        self._exact_bytes = re.compile(b"|".join(re.escape(v.encode()) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub(REDACTED, text)
        return KEY_LIKE.sub(REDACTED, text)

    def spans(self, data) -> list[tuple[int, int]]:
        """Where secrets are in bytes (or an mmap): for binary files, masked in place."""
        patterns = [p for p in (self._exact_bytes, KEY_LIKE_BYTES) if p is not None]
        return [m.span() for p in patterns for m in p.finditer(data)]


def times_path(log: Path) -> Path:
    return log.with_suffix(".times")


class LineLog:
    """An agent's output stream saved as it arrives: redacted, and with the time each line
    arrived in a sidecar (`stdout.times` beside `stdout.log`, one epoch time per line), so
    every trace format has a clock, also those whose events carry no time stamp."""

    FLUSH_CHARS = 1 << 20  # a longer line without newline is written out in parts

    def __init__(self, path: Path, redact: Redactor):
        self._out = open(path, "a", encoding="utf-8")
        self._times = open(times_path(path), "a")
        self._redact, self._pending = redact, ""

    def write(self, chunk: str) -> None:
        self._pending += chunk
        lines, sep, self._pending = self._pending.rpartition("\n")
        if sep:
            self._emit(lines + "\n")
        elif len(self._pending) > self.FLUSH_CHARS:
            self._out.write(self._redact(self._pending[:-4096]))  # keep a tail: a key may span the cut
            self._pending = self._pending[-4096:]
            self._out.flush()

    def _emit(self, text: str) -> None:
        text = self._redact(text)
        self._out.write(text)
        self._times.write(f"{time.time():.2f}\n" * text.count("\n"))
        self._out.flush()
        self._times.flush()

    def close(self) -> None:
        if self._pending:
            self._emit(self._pending + "\n")
            self._pending = ""
        self._out.close()
        self._times.close()


TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def _event(kind: str, text: str = "", role: str | None = None, t: float | None = None, tool: str | None = None,
           id: str | None = None, t_end: float | None = None, cost_usd: float | None = None, **tokens) -> dict:
    return {"t": t, "type": kind, "role": role, "text": text, "tool": tool, "id": id, "t_end": t_end,
            **{k: tokens.get(k) for k in TOKENS}, "cost_usd": cost_usd}


def _as_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content blocks
        return "\n".join(_as_text(v.get("text", v.get("content", "")) if isinstance(v, dict) else v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def _seconds(value) -> float | None:
    """Epoch seconds from epoch seconds/milliseconds or an ISO time stamp."""
    if isinstance(value, (int, float)):
        return value / 1000 if value > 1e11 else float(value)
    if isinstance(value, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _minus(a, b):
    """a - b for token counts where b is part of a; None where a is unknown."""
    return None if a is None else max(0, a - (b or 0))


def _plus(*values):
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _claude(e: dict, state: dict) -> Iterator[dict]:
    kind, t = e.get("type"), _seconds(e.get("timestamp"))
    if kind in ("assistant", "user"):
        message = e.get("message", {})
        content = message.get("content", [])
        for block in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            b = block.get("type")
            if b == "text":
                yield _event("message", block.get("text", ""), kind, t)
            elif b == "thinking":
                yield _event("message", block.get("thinking", ""), "assistant", t, tool="thinking")
            elif b == "tool_use":
                yield _event("tool_call", _as_text(block.get("input", {})), "assistant", t, block.get("name"), block.get("id"))
            elif b == "tool_result":
                yield _event("tool_result", _as_text(block.get("content", "")), "user", t, id=block.get("tool_use_id"))
        usage = message.get("usage") if kind == "assistant" else None
        if usage:
            # One line per content block, each repeating the response's usage as it stood when the
            # response began: its output count is a placeholder until the response has a stop_reason.
            final = message.get("stop_reason") is not None
            yield _event("usage", role="assistant", t=t, id=message.get("id"), input_tokens=usage.get("input_tokens"),
                         cache_read_tokens=usage.get("cache_read_input_tokens"),
                         cache_write_tokens=usage.get("cache_creation_input_tokens"),
                         output_tokens=usage.get("output_tokens") if final else None)
    elif kind == "result":
        # model_usage_since_last_result: every call this process made since its previous result
        # (subagents included); total_cost_usd and modelUsage carry the earlier turns of a
        # resumed session, so they would count a re-prompted run twice.
        since = e.get("model_usage_since_last_result")
        if isinstance(since, dict):
            models = since.values()

            def total(key: str):
                return _plus(*(m.get(key) for m in models))
            tokens = {"input_tokens": total("inputTokens"), "cache_read_tokens": total("cacheReadInputTokens"),
                      "cache_write_tokens": total("cacheCreationInputTokens"), "output_tokens": total("outputTokens"),
                      "reasoning_tokens": total("thinkingTokens")}  # thinking is counted inside outputTokens
            cost = total("costUSD")
        else:  # versions without it: the main loop's usage
            usage = e.get("usage") or {}
            tokens = {"input_tokens": usage.get("input_tokens"), "cache_read_tokens": usage.get("cache_read_input_tokens"),
                      "cache_write_tokens": usage.get("cache_creation_input_tokens"),
                      "output_tokens": usage.get("output_tokens")}
            cost = e.get("total_cost_usd")
        yield _event("result", _as_text(e.get("result", "")), "assistant", t, cost_usd=cost, **tokens)
    elif kind == "system" and e.get("subtype") == "api_retry":  # a failed request it will retry
        status = f" (HTTP {e['error_status']})" if e.get("error_status") else ""
        yield _event("error", f"api_retry {e.get('attempt')}/{e.get('max_retries')}: {e.get('error')}{status}",
                     "system", t)
    elif kind == "system":
        yield _event("system", f"{e.get('subtype', '')} model={e.get('model', '')}", "system", t)


CODEX_TOOLS = ("command_execution", "file_change", "mcp_tool_call", "web_search", "todo_list")


def _codex(e: dict, state: dict) -> Iterator[dict]:
    kind, t = e.get("type"), _seconds(e.get("timestamp"))
    item = e.get("item") or {}
    it = item.get("type") or item.get("item_type")
    if kind == "thread.started":  # a new process: item ids start again
        state["started"] = set()
    if it in CODEX_TOOLS and kind in ("item.started", "item.completed") and item.get("id") not in state.setdefault(
            "started", set()):
        state["started"].add(item.get("id"))  # the call when it starts; its result when it completes
        text = item.get("command", "") if it == "command_execution" else \
            _as_text({k: v for k, v in item.items() if k not in ("id", "type", "status")})
        yield _event("tool_call", text, "assistant", t, "shell" if it == "command_execution" else it, item.get("id"))
    if kind == "item.completed":
        if it == "agent_message":
            yield _event("message", item.get("text", ""), "assistant", t)
        elif it == "reasoning":
            yield _event("message", item.get("text", ""), "assistant", t, tool="thinking")
        elif it == "command_execution":
            yield _event("tool_result", item.get("aggregated_output", ""), "user", t, "shell", item.get("id"))
        elif it in CODEX_TOOLS:
            yield _event("tool_result", item.get("status", "completed"), "user", t, it, item.get("id"))
        elif it == "error":
            yield _event("error", item.get("message", ""), t=t)
    elif kind == "turn.completed":
        # The thread's running totals (a resumed thread goes on from its earlier turns): this
        # turn is what they grew by. OpenAI's counts: input includes the cached input and the
        # cache writes, output includes the reasoning.
        u = {k: v for k, v in (e.get("usage") or {}).items() if isinstance(v, int)}
        before = state.setdefault("totals", {}).get(state.get("thread"), {})
        state["totals"][state.get("thread")] = u
        d = {k: v - before.get(k, 0) for k, v in u.items()}
        cached, written = d.get("cached_input_tokens"), d.get("cache_write_input_tokens", 0)
        yield _event("usage", t=t, input_tokens=_minus(d.get("input_tokens"), _plus(cached, written)),
                     cache_read_tokens=cached, cache_write_tokens=written, output_tokens=d.get("output_tokens"),
                     reasoning_tokens=d.get("reasoning_output_tokens"))
    elif kind == "thread.started":
        state["thread"] = e.get("thread_id")
        yield _event("system", f"init thread={e.get('thread_id', '')}", "system", t)
    elif kind in ("turn.failed", "error"):
        yield _event("error", _as_text(e.get("error") or e.get("message", "")), t=t)


def _gemini(e: dict, state: dict) -> Iterator[dict]:
    kind, t = e.get("type"), _seconds(e.get("timestamp"))
    streamed, last = kind == "message" and e.get("delta") and e.get("role") == "assistant", state.pop("delta", None)
    if streamed and last is not None:  # the next part of the message being streamed
        last["text"] += _as_text(e.get("content", ""))
        state["delta"] = last
    elif kind == "message":
        message = _event("message", _as_text(e.get("content", "")), e.get("role"), t)
        if streamed:
            state["delta"] = message
        yield message
    elif kind == "tool_use":
        yield _event("tool_call", _as_text(e.get("parameters", {})), "assistant", t, e.get("tool_name"), e.get("tool_id"))
    elif kind == "tool_result":
        yield _event("tool_result", _as_text(e.get("output", e.get("error", ""))), "user", t, id=e.get("tool_id"))
    elif kind == "result":
        # The process's totals. Gemini's counts: input_tokens (the prompt) includes the cached
        # input; output_tokens (candidates) leaves out the thoughts, which total_tokens holds.
        s = e.get("stats") or {}
        prompt, out, total = s.get("input_tokens"), s.get("output_tokens"), s.get("total_tokens")
        thoughts = _minus(total, _plus(prompt, out)) if None not in (total, prompt, out) else None
        yield _event("result", e.get("status", ""), t=t, input_tokens=_minus(prompt, s.get("cached")),
                     cache_read_tokens=s.get("cached", 0 if prompt is not None else None),
                     cache_write_tokens=0 if prompt is not None else None,  # Gemini's API states no cache writes
                     output_tokens=_plus(out, thoughts), reasoning_tokens=thoughts)
        if e.get("status") == "error":
            yield _event("error", _as_text((e.get("error") or {}).get("message", "")), t=t)
    elif kind == "error":
        yield _event("error", _as_text(e.get("message", "")), t=t)
    elif kind == "init":
        yield _event("system", f"init model={e.get('model', '')}", "system", t)


def _opencode(e: dict, state: dict) -> Iterator[dict]:
    kind, t = e.get("type"), _seconds(e.get("timestamp"))
    part = e.get("part") or {}
    if kind == "text":
        yield _event("message", part.get("text", ""), "assistant", t)
    elif kind == "reasoning":
        yield _event("message", part.get("text", ""), "assistant", t, tool="thinking")
    elif kind == "tool_use":
        state_ = part.get("state") or {}
        times = state_.get("time") or {}
        start, end = _seconds(times.get("start")), _seconds(times.get("end"))
        out = state_.get("output", state_.get("error", ""))
        yield _event("tool_call", _as_text(state_.get("input", {})), "assistant", start or t, part.get("tool"),
                     part.get("callID"), t_end=end)
        yield _event("tool_result", _as_text(out), "user", end or t, part.get("tool"), part.get("callID"))
    elif kind == "step_finish":
        # One model response. opencode's input leaves out the cached input, its output the reasoning.
        tok = part.get("tokens") or {}
        cache = tok.get("cache") or {}
        yield _event("usage", t=t, id=part.get("id"), input_tokens=tok.get("input"), cache_read_tokens=cache.get("read"),
                     cache_write_tokens=cache.get("write"), output_tokens=_plus(tok.get("output"), tok.get("reasoning")),
                     reasoning_tokens=tok.get("reasoning"), cost_usd=part.get("cost"))
    elif kind == "error":
        err = e.get("error")
        message = err.get("data", {}).get("message") or err.get("name") if isinstance(err, dict) else err
        yield _event("error", _as_text(message or ""), t=t)


PARSERS = {"claude-stream-json": _claude, "codex-json": _codex, "gemini-stream-json": _gemini,
           "opencode-json": _opencode}


def normalise(fmt: str, lines: Iterable[str], times: list[float] | None = None) -> list[dict]:
    """Events from an agent's raw stdout lines; lines that are not JSON events become text.
    An event without a time stamp of its own gets its line's arrival time from `times`; a
    tool call without an end time gets its result's time."""
    parse = PARSERS.get(fmt)
    events, state = [], {}
    for n, line in enumerate(lines):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        try:
            raw = json.loads(line) if parse else None
        except json.JSONDecodeError:
            raw = None
        new = list(parse(raw, state)) if isinstance(raw, dict) else [_event("text", line)]
        if times is not None and n < len(times):
            for e in new:
                e["t"] = e["t"] if e["t"] is not None else times[n]
        events.extend(new)
    calls: dict = {}  # id -> the call waiting for its result (ids repeat across codex's invocations)
    for e in events:
        if e["type"] == "tool_call" and e["id"] is not None:
            calls[e["id"]] = e
        elif e["type"] == "tool_result" and (call := calls.pop(e["id"], None)) is not None and call["t_end"] is None:
            call["t_end"] = e["t"]
    return [{"i": i, **e} for i, e in enumerate(events)]


def read_times(log: Path) -> list[float] | None:
    path = times_path(log)
    if not path.is_file():
        return None
    return [float(v) for v in path.read_text().split()]


# --- usage ------------------------------------------------------------------------------
# Agent variables: USD per million tokens of uncached input, output (reasoning included),
# cache reads and cache writes.
PRICES = ("usd_per_mtok_in", "usd_per_mtok_out", "usd_per_mtok_cache_read", "usd_per_mtok_cache_write")
PRICED = dict(zip(PRICES, ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")))
USAGE = (*TOKENS, "total_tokens", "cost_usd", "cost_source", "reported_cost_usd", "complete")  # the record's keys


def _starts_invocation(e: dict) -> bool:
    """The CLI's first line (or ptb.agents.reprompt's marker before a follow-up): a new process."""
    return (e["type"] == "system" and e["text"].startswith("init")) or \
        (e["type"] == "text" and e["text"].startswith(REPROMPT_MARKER))


def usage(events: list[dict], prices: dict[str, str] | None = None) -> dict:
    """The run's tokens and cost, meaning the same for every CLI:
    input_tokens (uncached), cache_read_tokens, cache_write_tokens, output_tokens (reasoning
    included), reasoning_tokens, total_tokens (input, cache reads and writes, output), cost_usd
    with cost_source ("priced" at the agent's prices, else "reported" by the CLI, else null),
    reported_cost_usd, and complete: false where some response's figures are not known (a run
    killed at the deadline before its CLI stated them), so the figures count what the stream
    showed. A CLI's totals (a `result` event) supersede the per-response usage its
    invocation showed before; each response counts once however often its usage repeats;
    the invocations of a re-prompted run add up. None: not known."""
    counted: list[dict] = []
    pending: dict = {}  # response id -> figures the invocation's totals have not yet covered
    complete, open_ = True, False

    def close() -> None:
        nonlocal complete, open_
        counted.extend(pending.values())
        pending.clear()
        complete, open_ = complete and not open_, False

    for e in events:
        if _starts_invocation(e):
            close()
        elif e["type"] == "result":
            pending.clear()
            counted.append(e)
            open_ = False
        elif e["type"] == "usage":
            key = e["id"] if e["id"] is not None else e["i"]
            seen = pending.get(key, {})
            pending[key] = {k: max((v for v in (seen.get(k), e[k]) if v is not None), default=None)
                            for k in (*TOKENS, "cost_usd")}
            open_ = pending[key]["output_tokens"] is None
        elif e["type"] in ("tool_call", "tool_result") or (e["type"] == "message" and e["role"] != "user"):
            open_ = True
    close()
    record = {k: _plus(*(c[k] for c in counted)) for k in TOKENS}
    record["total_tokens"] = _plus(*(record[k] for k in TOKENS if k != "reasoning_tokens"))
    # A cost of 0 for tokens used is a price the CLI did not know (opencode's unlisted models).
    costs = [c["cost_usd"] for c in counted
             if c["cost_usd"] is not None and (c["cost_usd"] > 0 or not any(c[k] for k in TOKENS))]
    reported = sum(costs) if costs else None
    at_prices = priced(record, prices or {})
    record |= {"cost_usd": at_prices if at_prices is not None else reported,
               "cost_source": "priced" if at_prices is not None else "reported" if reported is not None else None,
               "reported_cost_usd": reported, "complete": complete}
    return record


def priced(totals: dict, prices: dict[str, str]) -> float | None:
    """The cost of a run's tokens at the agent's prices (the CLI's own price table does not
    know a model served through a base URL); None where no tokens are known or a kind of
    token was used whose price is not given."""
    if not (prices.get("usd_per_mtok_in") and prices.get("usd_per_mtok_out")) or \
            (totals.get("input_tokens"), totals.get("output_tokens")) == (None, None):
        return None
    cost = 0.0
    for key, tokens in PRICED.items():
        n = totals.get(tokens) or 0
        if n and not prices.get(key):
            return None
        cost += n * float(prices.get(key) or 0)
    return cost / 1e6


def summary(fmt: str, events: list[dict], prices: dict[str, str] | None = None) -> dict:
    """trace_summary.json: counts and the run's usage record (see `usage`)."""
    return {"format": fmt, "events": len(events), "tool_calls": sum(e["type"] == "tool_call" for e in events),
            **usage(events, prices)}


def transcript(events: list[dict]) -> str:
    out = []
    for e in events:
        head = e["type"] + (f" {e['tool']}" if e["tool"] else "") + (f" ({e['role']})" if e["role"] else "")
        body = e["text"] if len(e["text"]) <= 4000 else e["text"][:4000] + f"\n... ({len(e['text'])} characters)"
        tokens = "" if e["type"] not in ("usage", "result") else " tokens " + ", ".join(
            f"{k.removesuffix('_tokens').replace('_', ' ')} {e[k]}" for k in TOKENS if e[k] is not None)
        cost = "" if e["cost_usd"] is None else f" ${e['cost_usd']:.4f}"
        out.append(f"### {e['i']}. {head}{tokens}{cost}\n\n{body}\n" if body else f"### {e['i']}. {head}{tokens}{cost}\n")
    return "\n".join(out)


SCRUB_MAX_BYTES = 20 * 2**20  # text files up to this size are rewritten with [REDACTED]; larger ones masked


def _mask_in_place(path: Path, redact: Redactor) -> bool:
    """Overwrite secrets in a binary or very large file with as many '*' (its layout stays valid)."""
    import mmap

    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        spans = redact.spans(m)
        for start, end in spans:
            m[start:end] = b"*" * (end - start)
    return bool(spans)


def _scrub_file(path: Path, redact: Redactor) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as f:
        binary = b"\0" in f.read(8192)
    if binary or size > SCRUB_MAX_BYTES:
        return _mask_in_place(path, redact)
    text = path.read_text(errors="surrogateescape")
    clean = redact(text)
    if clean != text:
        path.write_text(clean, errors="surrogateescape")
    return clean != text


def scrub(folder: Path, secrets: Iterable[str], keep: Iterable[str] = ()) -> int:
    """Redact secrets from everything under folder (the CLIs keep session logs in the task
    folder, their HOME): file contents (text rewritten, binary masked in place), file and
    folder names, link targets. `keep`: paths relative to folder left as they are (the
    files ptb gave, when unchanged: a granted value in prompt.md is not the agent's leak).
    Returns how many entries were changed."""
    redact, changed, keep = Redactor(secrets), 0, set(keep)
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):  # children first
        rel = str(path.relative_to(folder))
        if rel in keep:
            continue
        if path.is_symlink():
            target = os.readlink(path)
            if redact(target) != target:
                path.unlink()
                path.symlink_to(redact(target))
                changed += 1
        elif path.is_file() and _scrub_file(path, redact):
            changed += 1
        if redact(path.name) != path.name:
            new = path.with_name(redact(path.name))
            while new.exists() or new.is_symlink():
                new = new.with_name("_" + new.name)
            path.rename(new)
            changed += 1
    return changed


def _records(home: Path, pattern: str) -> Iterator[dict]:
    """The JSON objects of the JSON-lines files under home matching pattern (a CLI's session files)."""
    for path in home.glob(pattern):
        for line in path.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict):
                yield e


def claude_outputs(home: Path) -> dict[str, int]:
    """Output tokens of each finished response (by message id) in Claude Code's session
    transcripts under its HOME (.claude/projects/*/*.jsonl), which it writes as each response
    ends: its stream shows only a placeholder, so a run killed before its `result` needs them."""
    found = {}
    for e in _records(home, ".claude/projects/*/*.jsonl"):
        m = e.get("message") if e.get("type") == "assistant" else None
        out = (m.get("usage") or {}).get("output_tokens") if isinstance(m, dict) and m.get("stop_reason") else None
        if isinstance(out, int) and m.get("id"):
            found[m["id"]] = out
    return found


def gemini_responses(home: Path) -> list[dict]:
    """Each model response's tokens, as usage events, from Gemini CLI's session files under its
    HOME (.gemini/tmp/*/chats/*.jsonl, written as each response ends): its stream states tokens
    only in an invocation's final `result`, so a run killed before it needs them."""
    found = {}
    for e in _records(home, ".gemini/tmp/*/chats/*.jsonl"):
        tok = e.get("tokens") if e.get("type") == "gemini" else None
        if isinstance(tok, dict) and e.get("id"):  # a response's record is rewritten: the last one counts
            found[e["id"]] = _event("usage", t=_seconds(e.get("timestamp")), id=e["id"],
                                    input_tokens=_minus(tok.get("input"), tok.get("cached")),
                                    cache_read_tokens=tok.get("cached"), cache_write_tokens=0,
                                    output_tokens=_plus(tok.get("output"), tok.get("thoughts")),
                                    reasoning_tokens=tok.get("thoughts"))
    return sorted(found.values(), key=lambda e: e["t"] or 0)


def _with_unstated(events: list[dict], responses: list[dict]) -> list[dict]:
    """EVENTS with the RESPONSES that fall in an invocation its stream states no totals for (a
    CLI process, from its first line, without a `result`), at that invocation's end."""
    bounds = [*sorted({0, *(n for n, e in enumerate(events) if _starts_invocation(e))}), len(events)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        part, t0 = events[a:b], events[a]["t"] if a < len(events) else None
        t1 = events[b]["t"] if b < len(events) and events[b]["t"] is not None else float("inf")
        if events[a]["type"] == "system" and t0 is not None and not any(e["type"] == "result" for e in part):
            part = part + [dict(r) for r in responses if r["t"] is not None and t0 <= r["t"] < t1]
        out += part
    return [{**e, "i": i} for i, e in enumerate(out)]


def write(fmt: str, cell: CellPaths, prices: dict[str, str] | None = None, home: Path | None = None) -> dict:
    """The cell's trace.jsonl, transcript.md and trace_summary.json from the agent's stdout
    (already redacted: both sandboxes write it through a `LineLog`); prices: the agent's
    variables (see `PRICES`); home: the agent's HOME, where claude's and gemini's session
    files give the figures their streams leave open (`claude_outputs`, `gemini_responses`)."""
    text = cell.stdout.read_text(errors="replace") if cell.stdout.is_file() else ""
    events = normalise(fmt, text.split("\n"), read_times(cell.stdout))  # split on \n only: the sidecar counts \n
    outputs = claude_outputs(home) if fmt == "claude-stream-json" and home is not None else {}
    for e in events:
        if e["type"] == "usage" and e["output_tokens"] is None and e["id"] in outputs:
            e["output_tokens"] = outputs[e["id"]]
    if fmt == "gemini-stream-json" and home is not None:
        events = _with_unstated(events, gemini_responses(home))
    with open(cell.trace, "w") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    cell.transcript.write_text(transcript(events))
    totals = summary(fmt, events, prices)
    cell.trace_summary.write_text(json.dumps(totals, indent=2) + "\n")
    return totals


# --- what a trace shows: turns, tool calls by kind, evaluate.py calls, training launches ---
# (the definitions ptb/report/behaviour.py states; `ptb rehearse` counts with them too)

# Tool names of the four CLIs (lower case) -> kind.
TOOL_KINDS = {
    "shell": {"bash", "bashoutput", "killshell", "killbash", "shell", "run_shell_command", "local_shell", "exec_command"},
    "edit": {"edit", "multiedit", "write", "notebookedit", "file_change", "write_file", "replace", "patch", "apply_patch"},
    "read": {"read", "glob", "grep", "ls", "list", "read_file", "read_many_files", "list_directory",
             "search_file_content", "notebookread"},
    "web": {"websearch", "webfetch", "web_search", "web_fetch", "google_web_search", "fetch"},
    "planning": {"todowrite", "todoread", "todo_list", "write_todos", "update_plan", "task", "exitplanmode"},
}
KINDS = (*TOOL_KINDS, "other")
AGENT_EVENTS = ("message", "tool_call")  # what the agent itself produced (thinking is a message)

TRAINING_NAME = re.compile(r"train|sft|grpo|dpo|ppo|orpo|kto|finetun|fine_tun|distil", re.IGNORECASE)
LAUNCHER = re.compile(r"\b(?:accelerate\s+launch|torchrun|deepspeed|llamafactory-cli\s+train|tune\s+run|axolotl\s+train)\b")
PYTHON_SCRIPT = re.compile(r"\bpython[\d.]*\s+(?:-u\s+)?([\w./-]+\.py)\b")
SHELL_C = re.compile(r"(?:/usr)?(?:/bin/)?(?:ba|z)?sh\s+-l?c\s")
EVAL_LINE = re.compile(r'\{"benchmark":\s*"[^"]*".*?\}(?=\s*$)')


def read_events(trace: Path) -> list[dict]:
    """The events of a trace.jsonl; none where there is no file."""
    if not trace.is_file():
        return []
    return [json.loads(line) for line in trace.read_text(errors="replace").splitlines() if line.strip()]


def tool_kind(name: str | None) -> str:
    name = (name or "").lower()
    return next((kind for kind, names in TOOL_KINDS.items() if name in names), "other")


def _is_input(e: dict) -> bool:
    """What the agent is given: a tool's result, a user message, a new invocation."""
    return e["type"] in ("tool_result", "system") or (e["type"] == "message" and e.get("role") == "user") or \
        (e["type"] == "text" and e["text"].startswith(REPROMPT_MARKER))


def turns(events: list[dict]) -> int:
    """Stretches of the agent's own events between tool results or other input."""
    count, inside = 0, False
    for e in events:
        if e["type"] in AGENT_EVENTS and e.get("role") in ("assistant", None):
            count += not inside
            inside = True
        elif _is_input(e):
            inside = False
    return count


def command_of(text: str) -> str:
    """A tool call's command: the `command` (or `cmd`) of a JSON input, the script of a
    quoted `bash -lc '...'` (codex), else the text itself."""
    if SHELL_C.match(text):
        try:
            return shlex.split(text)[2]
        except (ValueError, IndexError):
            return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict):
        value = value.get("command", value.get("cmd", text))
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def is_training_launch(command: str, scripts: set[str]) -> bool:
    """A shell command that launches a trainer: a launcher, or `python X.py` where X is one of
    SCRIPTS (training scripts by their code) or its name says train/sft/grpo/..."""
    if LAUNCHER.search(command):
        return True
    return any(Path(s).name in scripts or TRAINING_NAME.search(Path(s).name) for s in PYTHON_SCRIPT.findall(command))


def training_launches(events: list[dict], scripts: set[str] = frozenset()) -> list[dict]:
    """The shell calls that launch a trainer, in order."""
    return [e for e in events if e["type"] == "tool_call" and tool_kind(e.get("tool")) == "shell"
            and is_training_launch(command_of(e["text"]), scripts)]


def eval_record(line: str) -> dict | None:
    """The JSON record `ptb eval` prints (an evaluate.py call) if this line holds one."""
    m = EVAL_LINE.search(line)
    try:
        rec = json.loads(m.group(0)) if m else {}
    except json.JSONDecodeError:
        return None
    return rec if isinstance(rec.get("score"), (int, float)) else None


def eval_records(events: list[dict]) -> list[dict]:
    """The records of the agent's evaluate.py calls found in the events' texts, in order."""
    return [rec for e in events for line in (e.get("text") or "").splitlines()
            if (rec := eval_record(line)) is not None]
