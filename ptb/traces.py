"""Agents' traces: redaction of secrets, and one event format for every CLI's output.

Redaction happens on the way in: both sandboxes write the agent's stdout/stderr through a
`LineLog` (a `Redactor`, and each line's arrival time in `stdout.times`), so no saved log
ever holds a granted key or anything shaped like an API key, and every format has a clock.

`normalise(fmt, stdout)` turns an agent's raw output into events, one JSON object per
line in `trace.jsonl`:
    {"i": 0, "t": <epoch s or null>, "type": "message"|"tool_call"|"tool_result"|"usage"|"error"|"text",
     "role": "assistant"|"user"|"system"|null, "text": str, "tool": str|null, "id": str|null,
     "input_tokens": int|null, "output_tokens": int|null, "cost_usd": float|null}
and `transcript.md` renders them for reading. Formats (an agent definition's `trace:`):
plain (each line is text), claude-stream-json (claude -p --output-format stream-json),
codex-json (codex exec --json), gemini-stream-json (gemini --output-format stream-json),
opencode-json (opencode run --format json).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

# Shapes of well-known credentials: provider API keys, hub and forge tokens, cloud keys.
KEY_LIKE = re.compile(
    r"(?:sk-ant-[A-Za-z0-9_\-]{16,}|sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}|AIza[0-9A-Za-z_\-]{30,}"
    r"|hf_[A-Za-z0-9]{24,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|ya29\.[0-9A-Za-z_\-]{20,}|eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})"
)
REDACTED = "[REDACTED]"
MIN_SECRET = 6  # shorter values ("1", "true") would blank out ordinary text


class Redactor:
    """Replaces the given secret values and anything key-like with [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()):
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._exact = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub(REDACTED, text)
        return KEY_LIKE.sub(REDACTED, text)


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


def _event(kind: str, text: str = "", role: str | None = None, t: float | None = None, tool: str | None = None,
           id: str | None = None, input_tokens: int | None = None, output_tokens: int | None = None,
           cost_usd: float | None = None) -> dict:
    return {"t": t, "type": kind, "role": role, "text": text, "tool": tool, "id": id,
            "input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost_usd}


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


def _claude(e: dict) -> Iterator[dict]:
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
            yield _event("usage", role="assistant", t=t, input_tokens=usage.get("input_tokens"),
                         output_tokens=usage.get("output_tokens"))
    elif kind == "result":
        usage = e.get("usage") or {}
        yield _event("result", _as_text(e.get("result", "")), "assistant", t, input_tokens=usage.get("input_tokens"),
                     output_tokens=usage.get("output_tokens"), cost_usd=e.get("total_cost_usd"))
    elif kind == "system":
        yield _event("system", f"{e.get('subtype', '')} model={e.get('model', '')}", "system", t)


def _codex(e: dict) -> Iterator[dict]:
    kind, t = e.get("type"), _seconds(e.get("timestamp"))
    item = e.get("item") or {}
    if kind == "item.completed":
        it = item.get("type") or item.get("item_type")
        if it == "agent_message":
            yield _event("message", item.get("text", ""), "assistant", t)
        elif it == "reasoning":
            yield _event("message", item.get("text", ""), "assistant", t, tool="thinking")
        elif it == "command_execution":
            yield _event("tool_call", item.get("command", ""), "assistant", t, "shell", item.get("id"))
            yield _event("tool_result", item.get("aggregated_output", ""), "user", t, "shell", item.get("id"))
        elif it in ("file_change", "mcp_tool_call", "web_search", "todo_list"):
            yield _event("tool_call", _as_text({k: v for k, v in item.items() if k not in ("id", "type")}),
                         "assistant", t, it, item.get("id"))
        elif it == "error":
            yield _event("error", item.get("message", ""), t=t)
    elif kind == "turn.completed":
        usage = e.get("usage") or {}
        yield _event("usage", t=t, input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens"))
    elif kind in ("turn.failed", "error"):
        yield _event("error", _as_text(e.get("error") or e.get("message", "")), t=t)


def _gemini(e: dict) -> Iterator[dict]:
    kind, t = e.get("type"), _seconds(e.get("timestamp"))
    if kind == "message":
        yield _event("message", _as_text(e.get("content", "")), e.get("role"), t)
    elif kind == "tool_use":
        yield _event("tool_call", _as_text(e.get("parameters", {})), "assistant", t, e.get("tool_name"), e.get("tool_id"))
    elif kind == "tool_result":
        yield _event("tool_result", _as_text(e.get("output", e.get("error", ""))), "user", t, id=e.get("tool_id"))
    elif kind == "result":
        stats = e.get("stats") or {}
        yield _event("result", e.get("status", ""), t=t, input_tokens=stats.get("input_tokens"),
                     output_tokens=stats.get("output_tokens"))
    elif kind == "error":
        yield _event("error", _as_text(e.get("message", "")), t=t)
    elif kind == "init":
        yield _event("system", f"model={e.get('model', '')}", "system", t)


def _opencode(e: dict) -> Iterator[dict]:
    kind, t = e.get("type"), _seconds(e.get("timestamp"))
    part = e.get("part") or {}
    if kind == "text":
        yield _event("message", part.get("text", ""), "assistant", t)
    elif kind == "tool_use":
        state = part.get("state") or {}
        yield _event("tool_call", _as_text(state.get("input", {})), "assistant", t, part.get("tool"), part.get("callID"))
        yield _event("tool_result", _as_text(state.get("output", "")), "user", t, part.get("tool"), part.get("callID"))
    elif kind == "step_finish":
        tokens = part.get("tokens") or {}
        yield _event("usage", t=t, input_tokens=tokens.get("input"), output_tokens=tokens.get("output"),
                     cost_usd=part.get("cost"))
    elif kind == "error":
        yield _event("error", _as_text(e.get("error", "")), t=t)


PARSERS = {"claude-stream-json": _claude, "codex-json": _codex, "gemini-stream-json": _gemini,
           "opencode-json": _opencode}


def normalise(fmt: str, lines: Iterable[str], times: list[float] | None = None) -> list[dict]:
    """Events from an agent's raw stdout lines; lines that are not JSON events become text.
    An event without a time stamp of its own gets its line's arrival time from `times`."""
    parse = PARSERS.get(fmt)
    events = []
    for n, line in enumerate(lines):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        try:
            raw = json.loads(line) if parse else None
        except json.JSONDecodeError:
            raw = None
        new = list(parse(raw)) if isinstance(raw, dict) else [_event("text", line)]
        if times is not None and n < len(times):
            for e in new:
                e["t"] = e["t"] if e["t"] is not None else times[n]
        events.extend(new)
    return [{"i": i, **e} for i, e in enumerate(events)]


def read_times(log: Path) -> list[float] | None:
    path = times_path(log)
    if not path.is_file():
        return None
    return [float(v) for v in path.read_text().split()]


def summary(fmt: str, events: list[dict]) -> dict:
    """Totals for result.json. A final 'result' event (claude) already holds the run's totals."""
    final = [e for e in events if e["type"] == "result" and (e["cost_usd"], e["input_tokens"]) != (None, None)]
    counted = final[-1:] if final else [e for e in events if e["type"] == "usage"]

    def total(key: str):
        values = [e[key] for e in counted if e[key] is not None]
        return sum(values) if values else None

    return {"format": fmt, "events": len(events), "tool_calls": sum(e["type"] == "tool_call" for e in events),
            "input_tokens": total("input_tokens"), "output_tokens": total("output_tokens"), "cost_usd": total("cost_usd")}


PRICES = ("usd_per_mtok_in", "usd_per_mtok_out")  # agent variables: USD per million input / output tokens


def priced(totals: dict, prices: dict[str, str]) -> float | None:
    """The cost of a run's tokens at the agent's prices, for scaffolds that report tokens but
    no cost; None where a price or both token counts are unknown."""
    if not all(prices.get(k) for k in PRICES) or (totals["input_tokens"], totals["output_tokens"]) == (None, None):
        return None
    p_in, p_out = (float(prices[k]) for k in PRICES)
    return ((totals["input_tokens"] or 0) * p_in + (totals["output_tokens"] or 0) * p_out) / 1e6


def transcript(events: list[dict]) -> str:
    out = []
    for e in events:
        head = e["type"] + (f" {e['tool']}" if e["tool"] else "") + (f" ({e['role']})" if e["role"] else "")
        body = e["text"] if len(e["text"]) <= 4000 else e["text"][:4000] + f"\n... ({len(e['text'])} characters)"
        tokens = "" if e["input_tokens"] is None else f" tokens in {e['input_tokens']} out {e['output_tokens']}"
        cost = "" if e["cost_usd"] is None else f" ${e['cost_usd']:.4f}"
        out.append(f"### {e['i']}. {head}{tokens}{cost}\n\n{body}\n" if body else f"### {e['i']}. {head}{tokens}{cost}\n")
    return "\n".join(out)


SCRUB_MAX_BYTES = 20 * 2**20


def scrub(folder: Path, secrets: Iterable[str]) -> int:
    """Redact every text file under folder (the CLIs keep session logs in the task folder,
    their HOME). Binary files (a NUL byte in the first 8 KiB) and files over 20 MiB are
    skipped. Returns how many files were changed."""
    redact, changed = Redactor(secrets), 0
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > SCRUB_MAX_BYTES:
            continue
        with open(path, "rb") as f:
            if b"\0" in f.read(8192):
                continue
        text = path.read_text(errors="surrogateescape")
        clean = redact(text)
        if clean != text:
            path.write_text(clean, errors="surrogateescape")
            changed += 1
    return changed


def write(fmt: str, stdout: Path, agent_dir: Path) -> dict:
    """trace.jsonl, transcript.md and trace_summary.json in agent_dir from the agent's stdout
    (already redacted: both sandboxes write it through a `LineLog`)."""
    text = stdout.read_text(errors="replace") if stdout.is_file() else ""
    events = normalise(fmt, text.split("\n"), read_times(stdout))  # split on \n only: the sidecar counts \n
    with open(agent_dir / "trace.jsonl", "w") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    (agent_dir / "transcript.md").write_text(transcript(events))
    totals = summary(fmt, events)
    (agent_dir / "trace_summary.json").write_text(json.dumps(totals, indent=2) + "\n")
    return totals
