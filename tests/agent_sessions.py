"""One agent session written in each of the four CLIs' stream formats (the shapes
ptb/traces.py parses), saved as a finished cell the way ptb saves one: stdout.log with the
arrival time of each line beside it (stdout.times), then trace.jsonl from ptb.traces.

A step is (minute from the agent's start, kind, fields). `say` is the agent's text,
`think` its reasoning; every other kind is one tool call (and its result, where the
format reports one)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ptb import params, traces

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
    (8, "write", {"path": "train.py", "content": SFT}),
    (12, "shell", {"command": "python train.py --epochs 1", "output": "loss 0.91"}),
    (40, "edit", {"path": "train.py", "old": "--epochs 1", "new": "--epochs 2"}),
    (41, "write", {"path": "train_v2.py", "content": GRPO}),
    (45, "shell", {"command": "accelerate launch train_v2.py", "output": "reward 0.4"}),
    (90, "shell", {"command": "python evaluate.py --model-path final_model --limit 50", "output": eval_line(0.4)}),
    (92, "reprompt", {"text": "[ptb.reprompt] re-prompt 1: 28800 s left"}),
    (95, "say", {"text": "Done: final_model holds the GRPO model."}),
]
# What ptb must compute from SESSION, whatever the format (turns aside: see TURNS).
EXPECTED = {"tool_calls": 10, "shell": 5, "edit": 3, "web": 1, "planning": 1, "read": 0, "other": 0,
            "eval_calls": 2, "first_eval_min": 5.0, "best_eval": 40.0, "last_eval": 40.0,
            "first_training_min": 12.0, "training_runs": 2, "training_scripts": 2, "script_versions": 3,
            "reprompts": 1, "ending": "finished early"}
# A turn ends at a tool result: claude, gemini and opencode report one for every tool call;
# codex only for shell commands (its file changes, web searches and plans have none).
TURNS = {"claude-stream-json": 11, "gemini-stream-json": 11, "opencode-json": 11, "codex-json": 6}
FORMATS = list(TURNS)
ARRIVAL_LAG_S = 30  # the line reaches ptb this long after the event's own time stamp


def _claude(kind: str, f: dict, n: int, t: float) -> list[dict]:
    def call(name: str, args: dict, output: str) -> list[dict]:
        return [{"type": "assistant", "message": {"content": [{"type": "tool_use", "id": f"t{n}", "name": name,
                                                               "input": args}]}},
                {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": f"t{n}",
                                                          "content": output}]}}]
    if kind in ("say", "think"):
        block = {"type": "text", "text": f["text"]} if kind == "say" else {"type": "thinking", "thinking": f["text"]}
        return [{"type": "assistant", "message": {"content": [block]}}]
    return {"todo": lambda: call("TodoWrite", {"todos": [{"content": i, "status": "pending"} for i in f["items"]]}, "ok"),
            "web": lambda: call("WebSearch", {"query": f["query"]}, "results"),
            "shell": lambda: call("Bash", {"command": f["command"]}, f["output"]),
            "write": lambda: call("Write", {"file_path": f"/task/{f['path']}", "content": f["content"]}, "written"),
            "edit": lambda: call("Edit", {"file_path": f"/task/{f['path']}", "old_string": f["old"],
                                          "new_string": f["new"]}, "edited")}[kind]()


def _codex(kind: str, f: dict, n: int, t: float) -> list[dict]:
    def item(**fields) -> list[dict]:
        return [{"type": "item.completed", "item": {"id": f"item_{n}", **fields}}]
    if kind in ("say", "think"):
        return item(type="agent_message" if kind == "say" else "reasoning", text=f["text"])
    return {"todo": lambda: item(type="todo_list", items=[{"text": i, "completed": False} for i in f["items"]]),
            "web": lambda: item(type="web_search", query=f["query"]),
            "shell": lambda: item(type="command_execution", command=f"bash -lc '{f['command']}'",
                                  aggregated_output=f["output"], exit_code=0, status="completed"),
            "write": lambda: item(type="file_change", changes=[{"path": f["path"], "kind": "add"}], status="completed"),
            "edit": lambda: item(type="file_change", changes=[{"path": f["path"], "kind": "update"}],
                                 status="completed")}[kind]()


def _gemini(kind: str, f: dict, n: int, t: float) -> list[dict]:
    stamp = datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")

    def call(name: str, args: dict, output: str) -> list[dict]:
        return [{"type": "tool_use", "timestamp": stamp, "tool_name": name, "tool_id": f"c{n}", "parameters": args},
                {"type": "tool_result", "timestamp": stamp, "tool_id": f"c{n}", "status": "success", "output": output}]
    if kind in ("say", "think"):
        return [{"type": "message", "timestamp": stamp, "role": "assistant", "content": f["text"], "delta": True}]
    return {"todo": lambda: call("write_todos", {"todos": [{"description": i} for i in f["items"]]}, "ok"),
            "web": lambda: call("google_web_search", {"query": f["query"]}, "results"),
            "shell": lambda: call("run_shell_command", {"command": f["command"]}, f["output"]),
            "write": lambda: call("write_file", {"file_path": f["path"], "content": f["content"]}, "ok"),
            "edit": lambda: call("replace", {"file_path": f["path"], "old_string": f["old"],
                                             "new_string": f["new"]}, "ok")}[kind]()


def _opencode(kind: str, f: dict, n: int, t: float) -> list[dict]:
    ms = int(t * 1000)

    def call(name: str, args: dict, output: str) -> list[dict]:
        return [{"type": "tool_use", "timestamp": ms, "part": {"tool": name, "callID": f"call_{n}", "state": {
            "status": "completed", "input": args, "output": output}}}]
    if kind in ("say", "think"):
        return [{"type": "text", "timestamp": ms, "part": {"type": "text", "text": f["text"]}}]
    return {"todo": lambda: call("todowrite", {"todos": [{"content": i} for i in f["items"]]}, "ok"),
            "web": lambda: call("webfetch", {"url": "https://example.org/search?q=" + f["query"].replace(" ", "+")}, ""),
            "shell": lambda: call("bash", {"command": f["command"]}, f["output"]),
            "write": lambda: call("write", {"filePath": f["path"], "content": f["content"]}, ""),
            "edit": lambda: call("edit", {"filePath": f["path"], "oldString": f["old"], "newString": f["new"]},
                                 "")}[kind]()


RENDER = {"claude-stream-json": _claude, "codex-json": _codex, "gemini-stream-json": _gemini,
          "opencode-json": _opencode}


def write_session(cell: Path, fmt: str, steps: list, *, model: str = "Qwen/Qwen3-1.7B-Base",
                  benchmark: str = "gsm8k", hours: float = 10.0, used_min: float = 100.0, files: dict | None = None,
                  status: str = "ok", exit_code: int | None = 0) -> Path:
    """A finished cell whose agent produced STEPS in format FMT; returns the cell folder."""
    for sub in ("task", "agent", "eval"):
        (cell / sub).mkdir(parents=True, exist_ok=True)
    start = 1_750_000_000.0
    agent = {"claude-stream-json": "claude-code", "codex-json": "codex", "gemini-stream-json": "gemini-cli",
             "opencode-json": "opencode"}[fmt]
    c = params.Cell(cell.parent.name, agent, model, benchmark, 0, hours=hours)
    params.write_json_atomic(cell / "cell.json", c.to_dict())
    (cell / "task" / "timer.sh").write_text(f"left=$(( {int(start + hours * 3600)} - $(date +%s) ))\n")
    for name, text in (files if files is not None else {"train.py": SFT, "train_v2.py": GRPO}).items():
        (cell / "task" / name).write_text(text)
    lines, times = [], []
    for n, (minute, kind, fields) in enumerate(steps):
        t = start + 60 * minute
        if kind == "reprompt":
            out = [fields["text"]]
        else:
            out = [json.dumps(e) for e in RENDER[fmt](kind, fields, n, t)]
        lines += out
        times += [t + ARRIVAL_LAG_S if fmt in ("gemini-stream-json", "opencode-json") else t] * len(out)
    stdout = cell / "agent" / "stdout.log"
    stdout.write_text("".join(line + "\n" for line in lines))
    traces.times_path(stdout).write_text("".join(f"{t:.2f}\n" for t in times))
    traces.write(fmt, stdout, cell / "agent")
    result = {"schema": 1, "experiment": c.experiment, "cell": cell.name, "agent": agent, "model": model,
              "benchmark": benchmark, "seed": 0, "hours": hours, "status": status, "score": 0.4, "stderr": 0.05,
              "n": 100, "time_taken_s": 60 * used_min, "integrity": {"verdict": "clean", "checks": []},
              "cost_usd": None, "agent_exit_code": exit_code, "gpus": ["0"]}
    params.write_json_atomic(cell / "result.json", result)
    return cell
