"""One agent session written in each of the four CLIs' stream formats, shaped as the real
CLIs write them (the shapes ptb/agents/traces.py parses), saved as a finished cell the way ptb saves
one: stdout.log with the arrival time of each line beside it (stdout.times), then trace.jsonl
and trace_summary.json from ptb.agents.traces.

A step is (minute from the agent's start, kind, fields). `say` is the agent's text, `think`
its reasoning; every other kind is one tool call and its result, which comes `seconds`
later (3 unless given). A model response is a tool call with the text and thinking right
before it, or text alone; a `reprompt` step ends the CLI's invocation and starts the next.
Every response uses RESPONSE tokens (the same scripted traffic in each API's own terms:
Claude's and opencode's input leaves out the cache, OpenAI's and Gemini's includes it;
opencode's and Gemini's output leaves out the reasoning), at PRICES.

    claude  system init; one `assistant` line per content block, each repeating the message's
            id and its opening usage (output a placeholder 1, stop_reason null); `user` lines
            with the tool results; a `result` per invocation whose total_cost_usd carries the
            earlier invocations of the resumed session, and model_usage_since_last_result.
    codex   thread.started (the same thread when resumed), turn.started, item.started /
            item.completed per tool call, turn.completed with the thread's running totals.
    gemini  init, the user's prompt, message deltas, tool_use / tool_result, a result with the
            process's stats.
    opencode  step_start, text, tool_use (when completed, with state.time start and end),
            step_finish with the step's tokens and cost.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from pathlib import Path

from ptb.agents import traces
from ptb.paths import CellPaths
from ptb.run import params

SFT = """from datasets import load_dataset
from trl import SFTConfig, SFTTrainer
data = load_dataset("openai/gsm8k", "main", split="train")
SFTTrainer(model="base", args=SFTConfig(output_dir="out"), train_dataset=data).train()
"""
GRPO = """from trl import GRPOConfig, GRPOTrainer
GRPOTrainer(model="out", reward_funcs=[reward], args=GRPOConfig(output_dir="final_model")).train()
"""


def eval_line(score: float) -> str:
    return json.dumps({"benchmark": "gsm8k", "score": score, "stderr": 0.05, "n": 50, "model": "final_model",
                       "seconds": 30.0})


# A whole session: plan, search, look around, evaluate the base model, write and run an SFT
# script, edit it, write a GRPO script, launch it, evaluate, get re-prompted, finish.
SESSION = [
    (0.5, "say", {"text": "Plan: check the data, train Qwen/Qwen3-1.7B-Base with SFT, then evaluate."}),
    (0.6, "todo", {"items": ["inspect data", "train", "evaluate"]}),
    (2, "web", {"query": "gsm8k sft recipe small model"}),
    (3, "shell", {"command": "ls /models && cat evaluate.py", "output": "Qwen3-1.7B-Base\nimport subprocess"}),
    (5, "shell", {"command": "python evaluate.py --model-path /models/base --limit 50", "output": eval_line(0.1)}),
    (7.9, "think", {"text": "SFT on the train split first."}),
    (8, "write", {"path": "train.py", "content": SFT}),
    (12, "shell", {"command": "cd /task\npython train.py --epochs 1", "output": "loss 0.91", "seconds": 1200}),
    (40, "edit", {"path": "train.py", "old": "--epochs 1", "new": "--epochs 2"}),
    (41, "write", {"path": "train_v2.py", "content": GRPO}),
    (45, "shell", {"command": "accelerate launch train_v2.py", "output": "reward 0.4", "seconds": 2400}),
    (90, "shell", {"command": "python evaluate.py --model-path final_model --limit 50", "output": eval_line(0.4)}),
    (92, "reprompt", {"text": "[ptb.reprompt] re-prompt 1: 28800 s left"}),
    (95, "say", {"text": "Done: final_model holds the GRPO model."}),
]
# What ptb must compute from SESSION, whatever the format.
EXPECTED = {"tool_calls": 10, "shell": 5, "edit": 3, "web": 1, "planning": 1, "read": 0, "other": 0,
            "eval_calls": 2, "first_eval_min": 5.0, "best_eval": 40.0, "last_eval": 40.0,
            "first_training_min": 12.0, "training_runs": 2, "training_scripts": 2, "script_versions": 3,
            "reprompts": 1, "ending": "finished early", "turns": 11, "tool_min": 60.4}
FORMATS = ["claude-stream-json", "codex-json", "gemini-stream-json", "opencode-json"]
ARRIVAL_LAG_S = 30  # gemini's and opencode's lines reach ptb this long after the event's own time stamp
MODEL = "scripted-model"
# One response's traffic: uncached input, cache reads and writes, output of which reasoning.
RESPONSE = {"input": 200, "cache_read": 1000, "cache_write": 0, "output": 80, "reasoning": 30}
PRICES = {"usd_per_mtok_in": "3", "usd_per_mtok_out": "15", "usd_per_mtok_cache_read": "0.3",
          "usd_per_mtok_cache_write": "3.75"}


def response_cost(n: int = 1) -> float:
    r, p = RESPONSE, {k: float(v) for k, v in PRICES.items()}
    return n * (r["input"] * p["usd_per_mtok_in"] + r["output"] * p["usd_per_mtok_out"]
                + r["cache_read"] * p["usd_per_mtok_cache_read"] + r["cache_write"] * p["usd_per_mtok_cache_write"]) / 1e6


def responses(steps: list) -> list[list]:
    """The steps grouped into invocations of the CLI, each a list of model responses (lists of
    (n, minute, kind, fields)); text and thinking go with the tool call that follows them."""
    invocations, current, open_text = [[]], None, False
    for n, (minute, kind, fields) in enumerate(steps):
        if kind == "reprompt":
            invocations.append([])
            current, open_text = None, False
            continue
        if current is None or not open_text:
            current = []
            invocations[-1].append(current)
        current.append((n, minute, kind, fields))
        open_text = kind in ("say", "think")
    return [inv for inv in invocations if inv]


def _tool(kind: str, f: dict) -> tuple[str, dict, str]:
    """(claude's tool name, its input, the result) for a tool step; the others map from these."""
    return {"todo": ("TodoWrite", {"todos": [{"content": i, "status": "pending"} for i in f.get("items", [])]}, "ok"),
            "web": ("WebSearch", {"query": f.get("query")}, "results"),
            "shell": ("Bash", {"command": f.get("command")}, f.get("output")),
            "write": ("Write", {"file_path": f"/task/{f.get('path')}", "content": f.get("content")}, "written"),
            "edit": ("Edit", {"file_path": f"/task/{f.get('path')}", "old_string": f.get("old"),
                              "new_string": f.get("new")}, "edited")}[kind]


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def _claude(inv: list, start: float, before: int) -> list[tuple[float, dict]]:
    out, r, k = [], RESPONSE, before
    opening = {"input_tokens": r["input"], "cache_creation_input_tokens": r["cache_write"],
               "cache_read_input_tokens": r["cache_read"], "output_tokens": 1, "service_tier": "standard"}
    first = inv[0][0][1]
    out.append((start + 60 * first - 1, {"type": "system", "subtype": "init", "cwd": "/task", "session_id": "s1",
                                          "model": MODEL, "tools": ["Bash", "Edit", "Write"]}))
    for resp in inv:
        k += 1
        for n, minute, kind, f in resp:
            t = start + 60 * minute
            block = {"type": "text", "text": f["text"]} if kind == "say" else \
                {"type": "thinking", "thinking": f["text"], "signature": "x"} if kind == "think" else \
                {"type": "tool_use", "id": f"toolu_{n}", "name": _tool(kind, f)[0], "input": _tool(kind, f)[1]}
            out.append((t, {"type": "assistant", "message": {
                "id": f"msg_{k}", "type": "message", "role": "assistant", "model": MODEL, "content": [block],
                "stop_reason": None, "stop_sequence": None, "usage": opening},
                "parent_tool_use_id": None, "session_id": "s1"}))
            if block["type"] == "tool_use":
                out.append((t + f.get("seconds", 3), {"type": "user", "message": {"role": "user", "content": [
                    {"tool_use_id": f"toolu_{n}", "type": "tool_result", "content": _tool(kind, f)[2]}]},
                    "parent_tool_use_id": None, "session_id": "s1"}))
    n_resp = len(inv)
    since = {MODEL: {"inputTokens": n_resp * r["input"], "outputTokens": n_resp * r["output"],
                     "thinkingTokens": n_resp * r["reasoning"], "cacheReadInputTokens": n_resp * r["cache_read"],
                     "cacheCreationInputTokens": n_resp * r["cache_write"], "costUSD": response_cost(n_resp)}}
    out.append((out[-1][0] + 1, {
        "type": "result", "subtype": "success", "is_error": False, "num_turns": n_resp, "result": "done",
        "session_id": "s1", "total_cost_usd": response_cost(before + n_resp),  # the resumed session's running total
        "usage": {"input_tokens": n_resp * r["input"], "cache_creation_input_tokens": n_resp * r["cache_write"],
                  "cache_read_input_tokens": n_resp * r["cache_read"], "output_tokens": n_resp * r["output"]},
        "modelUsage": {MODEL: {**since[MODEL], "costUSD": response_cost(before + n_resp)}},
        "model_usage_since_last_result": since}))
    return out


def _codex(inv: list, start: float, before: int) -> list[tuple[float, dict]]:
    out, r = [], RESPONSE
    t0 = start + 60 * inv[0][0][1] - 1
    out += [(t0, {"type": "thread.started", "thread_id": "th1"}), (t0, {"type": "turn.started"})]
    for resp in inv:
        for n, minute, kind, f in resp:
            t, item = start + 60 * minute, {"id": f"item_{n}"}
            if kind in ("say", "think"):
                out.append((t, {"type": "item.completed", "item": {
                    **item, "type": "agent_message" if kind == "say" else "reasoning", "text": f["text"]}}))
                continue
            if kind == "shell":
                item |= {"type": "command_execution", "command": f"/bin/bash -lc {shlex.quote(f['command'])}",
                         "aggregated_output": "", "exit_code": None, "status": "in_progress"}
                done = {"aggregated_output": f["output"], "exit_code": 0, "status": "completed"}
            elif kind in ("write", "edit"):
                item |= {"type": "file_change", "changes": [{"path": f"/task/{f['path']}",
                                                             "kind": "add" if kind == "write" else "update"}],
                         "status": "in_progress"}
                done = {"status": "completed"}
            elif kind == "web":
                item |= {"type": "web_search", "query": f["query"]}
                done = {}
            else:
                item |= {"type": "todo_list", "items": [{"text": i, "completed": False} for i in f["items"]]}
                done = {}
            out += [(t, {"type": "item.started", "item": item}),
                    (t + f.get("seconds", 3), {"type": "item.completed", "item": item | done})]
    n = before + len(inv)  # the thread's running totals: a resumed thread goes on from its earlier turns
    out.append((out[-1][0] + 1, {"type": "turn.completed", "usage": {
        "input_tokens": n * (r["input"] + r["cache_read"] + r["cache_write"]),
        "cached_input_tokens": n * r["cache_read"], "cache_write_input_tokens": 0, "output_tokens": n * r["output"],
        "reasoning_output_tokens": n * r["reasoning"]}}))
    return out


GEMINI_TOOLS = {"TodoWrite": "write_todos", "WebSearch": "google_web_search", "Bash": "run_shell_command",
                "Write": "write_file", "Edit": "replace"}


def _gemini(inv: list, start: float, before: int) -> list[tuple[float, dict]]:
    out, r = [], RESPONSE
    t0 = start + 60 * inv[0][0][1] - 1
    out += [(t0, {"type": "init", "timestamp": _stamp(t0), "session_id": "s1", "model": MODEL}),
            (t0, {"type": "message", "timestamp": _stamp(t0), "role": "user", "content": "Post-train the model."})]
    for resp in inv:
        for n, minute, kind, f in resp:
            t = start + 60 * minute
            if kind in ("say", "think"):
                for part in (f["text"][:10], f["text"][10:]):  # streamed in deltas
                    out.append((t, {"type": "message", "timestamp": _stamp(t), "role": "assistant",
                                    "content": part, "delta": True}))
                continue
            name, args, result = _tool(kind, f)
            end = t + f.get("seconds", 3)
            out += [(t, {"type": "tool_use", "timestamp": _stamp(t), "tool_name": GEMINI_TOOLS[name],
                         "tool_id": f"c{n}", "parameters": args}),
                    (end, {"type": "tool_result", "timestamp": _stamp(end), "tool_id": f"c{n}",
                           "status": "success", "output": result})]
    n, t = len(inv), out[-1][0] + 1
    prompt, cand, thoughts = n * (r["input"] + r["cache_read"] + r["cache_write"]), n * (r["output"] - r["reasoning"]), \
        n * r["reasoning"]
    stats = {"total_tokens": prompt + cand + thoughts, "input_tokens": prompt, "output_tokens": cand,
             "cached": n * r["cache_read"], "input": prompt - n * r["cache_read"], "duration_ms": 1000,
             "tool_calls": sum(kind not in ("say", "think") for resp in inv for _, _, kind, _ in resp)}
    out.append((t, {"type": "result", "timestamp": _stamp(t), "status": "success",
                    "stats": stats | {"models": {MODEL: {k: stats[k] for k in
                                                         ("total_tokens", "input_tokens", "output_tokens",
                                                          "cached", "input")}}}}))
    return out


OPENCODE_TOOLS = {"TodoWrite": "todowrite", "WebSearch": "webfetch", "Bash": "bash", "Write": "write", "Edit": "edit"}


def _opencode(inv: list, start: float, before: int) -> list[tuple[float, dict]]:
    out, r, k = [], RESPONSE, before
    for resp in inv:
        k += 1
        msg, t = f"msg_{k}", start + 60 * resp[0][1]

        def line(t: float, kind: str, part: dict) -> tuple[float, dict]:
            return t, {"type": kind, "timestamp": int(t * 1000), "sessionID": "ses_1",
                       "part": {"sessionID": "ses_1", "messageID": msg, **part}}
        out.append(line(t - 0.5, "step_start", {"id": f"prt_s{k}", "type": "step-start"}))
        for n, minute, kind, f in resp:
            t = start + 60 * minute
            if kind in ("say", "think"):  # reasoning is printed only with --thinking: the text is what shows
                out.append(line(t, "text", {"id": f"prt_{n}", "type": "text", "text": f["text"],
                                            "time": {"start": int(t * 1000), "end": int(t * 1000)}}))
                continue
            name, args, result = _tool(kind, f)
            if kind == "web":
                args = {"url": "https://example.org/search?q=" + f["query"].replace(" ", "+")}
            elif kind in ("write", "edit"):
                args = {"filePath": f["path"], **({"content": f["content"]} if kind == "write" else
                                                  {"oldString": f["old"], "newString": f["new"]})}
            t = end = start + 60 * minute + f.get("seconds", 3)
            out.append(line(end, "tool_use", {"id": f"prt_{n}", "type": "tool", "callID": f"call_{n}",
                                              "tool": OPENCODE_TOOLS[name], "state": {
                                                  "status": "completed", "input": args, "output": result,
                                                  "title": "", "metadata": {},
                                                  "time": {"start": int((start + 60 * minute) * 1000),
                                                           "end": int(end * 1000)}}}))
        out.append(line(t + 0.5, "step_finish", {
            "id": f"prt_f{k}", "type": "step-finish", "reason": "tool-calls", "cost": response_cost(),
            "tokens": {"total": sum(r[x] for x in ("input", "cache_read", "cache_write", "output")),
                       "input": r["input"], "output": r["output"] - r["reasoning"], "reasoning": r["reasoning"],
                       "cache": {"read": r["cache_read"], "write": r["cache_write"]}}}))
    return out


RENDER = {"claude-stream-json": _claude, "codex-json": _codex, "gemini-stream-json": _gemini,
          "opencode-json": _opencode}
CLOSING = {"claude-stream-json": "result", "codex-json": "turn.completed", "gemini-stream-json": "result",
           "opencode-json": "step_finish"}


def write_session(cell: Path, fmt: str, steps: list, *, model: str = "Qwen/Qwen3-1.7B-Base",
                  benchmark: str = "gsm8k", hours: float = 10.0, used_min: float = 100.0, files: dict | None = None,
                  status: str = "ok", exit_code: int | None = 0, killed: bool = False,
                  prices: dict | None = None) -> Path:
    """A finished cell whose agent produced STEPS in format FMT; returns the cell folder.
    killed: the stream stops before the last line that states usage (the deadline's kill)."""
    for sub in ("task", "agent", "eval"):
        (cell / sub).mkdir(parents=True, exist_ok=True)
    start = 1_750_000_000.0
    agent = {"claude-stream-json": "claude-code", "codex-json": "codex", "gemini-stream-json": "gemini-cli",
             "opencode-json": "opencode"}[fmt]
    c = params.Cell(cell.parent.name, agent, model, benchmark, 0, hours=hours)
    params.write_json_atomic(cell / "cell.json", c.to_dict())
    (cell / "task" / "timer.sh").write_text(f"left=$(( {int(start + hours * 3600)} - $(date +%s) ))\n")
    params.write_json_atomic(CellPaths(cell).clock, {"start": start, "deadline": start + hours * 3600})
    for name, text in (files if files is not None else {"train.py": SFT, "train_v2.py": GRPO}).items():
        (cell / "task" / name).write_text(text)
    invocations = responses(steps)
    lines = []
    for m, inv in enumerate(invocations):
        if m:  # ptb.agents.reprompt's marker, printed before the follow-up
            marker = next(f["text"] for _, kind, f in steps if kind == "reprompt")
            lines.append((start + 60 * inv[0][0][1] - 2, marker))
        before = sum(len(i) for i in invocations[:m])
        lines += [(t, json.dumps(e)) for t, e in RENDER[fmt](inv, start, before)]
    if killed:
        last = max(i for i, (_, text) in enumerate(lines) if f'"type": "{CLOSING[fmt]}"' in text)
        lines = lines[:last]
    lag = ARRIVAL_LAG_S if fmt in ("gemini-stream-json", "opencode-json") else 0
    stdout = cell / "agent" / "stdout.log"
    stdout.write_text("".join(text + "\n" for _, text in lines))
    traces.times_path(stdout).write_text("".join(f"{t + lag:.2f}\n" for t, _ in lines))
    summary = traces.write(fmt, CellPaths(cell), prices)
    result = {"schema": 1, "experiment": c.experiment, "cell": cell.name, "agent": agent, "model": model,
              "benchmark": benchmark, "seed": 0, "hours": hours, "status": status, "score": 0.4, "stderr": 0.05,
              "n": 100, "time_taken_s": 60 * used_min, "integrity": {"verdict": "clean", "checks": []},
              "cost_usd": summary["cost_usd"], "usage": {k: summary[k] for k in traces.USAGE},
              "agent_exit_code": exit_code, "gpus": ["0"]}
    params.write_json_atomic(cell / "result.json", result)
    return cell
