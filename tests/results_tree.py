"""A synthetic results tree in ptb's real layout (ptb/paths.py) and result.json schema, for
the leaderboard and notebook tests: several agents, the four real models, the seven
benchmarks, seeds, flagged / unverified / failed cells, traces with evaluate.py calls, and
task folders with the code an agent would write."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

MODELS = ["Qwen/Qwen3-1.7B-Base", "Qwen/Qwen3-4B-Base", "HuggingFaceTB/SmolLM3-3B-Base", "google/gemma-3-4b-pt"]
BENCHMARKS = ["aime2025", "arenahardwriting", "bfcl", "gpqamain", "gsm8k", "healthbench", "humaneval"]
HOURS = 10.0

# agent -> (seeds, share of the budget used, code it writes, what it reports about cost)
AGENTS = {
    "claude-code": (3, 0.95, "sft_lora", "cost"),
    "codex": (3, 0.3, "grpo_full", "tokens"),
    "gemini-cli": (2, 1.0, "dpo", None),
}
CODE = {
    "sft_lora": {"train.py": """\
from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from trl import SFTConfig, SFTTrainer

data = load_dataset("openai/gsm8k", "main", split="train")
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32))
SFTTrainer(model=model, args=SFTConfig(output_dir="out"), train_dataset=data).train()
"""},
    "grpo_full": {"rl/grpo.py": """\
from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer

data = load_dataset("json", data_files="data/prompts.jsonl")
GRPOTrainer(model="base", reward_funcs=[reward], args=GRPOConfig(output_dir="out"), train_dataset=data).train()
""", "run.sh": "python rl/grpo.py\n"},
    "dpo": {"dpo.py": """\
# Tried LoRA first (see notes), then full fine-tuning with DPO.
from datasets import load_dataset
from trl import DPOConfig, DPOTrainer

pairs = load_dataset("HuggingFaceH4/ultrafeedback_binarized", split="train_prefs")
DPOTrainer(model=model, args=DPOConfig(output_dir="out"), train_dataset=pairs).train()
"""},
}


def write_cell(exp: Path, agent: str, model: str, bench: str, seed: int, *, score: float | None, verdict: str,
               status: str, time_s: float, checks: list | None = None, extra: dict | None = None,
               code: dict | None = None, eval_scores: tuple = (), trace_events: bool = False,
               trace_totals: dict | None = None) -> Path:
    start = time.time() - time_s - 900  # the agent's start: the run finished a quarter hour ago
    name = f"{agent}__{model.split('/')[-1]}__{bench}__s{seed}"
    d = exp / name
    for sub in ("task", "agent", "eval"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "cell.json").write_text(json.dumps({"experiment": exp.name, "agent": agent, "model": model,
                                             "benchmark": bench, "seed": seed, "hours": HOURS}))
    (d / "task" / "prompt.md").write_text("# Your task\n")
    (d / "task" / "evaluate.py").write_text("# ptb's evaluate.py\n")
    (d / "task" / "timer.sh").write_text(f"left=$(( {int(start + HOURS * 3600)} - $(date +%s) ))\n")
    (d / "clock.json").write_text(json.dumps({"start": start, "deadline": start + HOURS * 3600}))
    for i, (rel, text) in enumerate((code or {}).items(), 1):
        (d / "task" / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / "task" / rel).write_text(text)
        written = start + time_s * i / (len(code) + 1)
        os.utime(d / "task" / rel, (written, written))
    trace = ["Starting.", "$ bash timer.sh", "Time left: 9:59:00"]
    events = [{"i": 0, "t": start + 1, "type": "message", "role": "assistant", "text": "Starting."}]
    for k, s in enumerate(eval_scores, 1):
        line = json.dumps({"benchmark": bench, "score": s, "stderr": 0.05, "n": 50, "model": "final_model",
                           "engine": "vllm", "max_tokens": 4000, "seconds": 42.0})
        trace += ["$ python evaluate.py --limit 50", line]
        events.append({"i": k, "t": start + time_s * k / (len(eval_scores) + 1), "type": "tool_result",
                       "role": None, "text": f"loading...\n{line}\n"})
    (d / "agent" / "stdout.log").write_text("\n".join(trace) + "\nDone.\n")
    (d / "agent" / "stderr.log").write_text("")
    if trace_events:
        (d / "agent" / "trace.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if trace_totals:
        (d / "agent" / "trace_summary.json").write_text(json.dumps({"format": "codex-json", **trace_totals}))
    integrity = {"verdict": verdict, "checks": checks or []}
    (d / "integrity.json").write_text(json.dumps(integrity))
    if score is not None:
        (d / "eval" / "samples.jsonl").write_text("".join(
            json.dumps({"index": i, "score": float(i % 3 == 0), "answer": str(i), "target": str(i % 3 == 0 and i),
                        "explanation": "", "output": f"The answer is {i}",
                        "messages": [{"role": "user", "content": f"question {i}"}]}) + "\n" for i in range(12)))
    (d / "result.json").write_text(json.dumps({
        "schema": 1, "experiment": exp.name, "cell": name, "agent": agent, "model": model, "benchmark": bench,
        "seed": seed, "hours": HOURS, "status": status, "score": score, "stderr": 0.01 if score is not None else None,
        "n": 100 if score is not None else None, "time_taken_s": time_s, "integrity": integrity, "cost_usd": None,
        "eval_attempts": [{"max_tokens": 4000, "exit_code": 0, "seconds": 300.0}], **(extra or {})}))
    return d


def make_tree(root: Path, seed: int = 0) -> Path:
    """Write the experiment `grid` under ROOT; returns its folder."""
    rng = random.Random(seed)
    exp = root / "grid"
    for model in MODELS:
        for bench in BENCHMARKS:
            base = rng.uniform(0.0, 0.3)
            write_cell(exp, "zero-shot", model, bench, 0, score=base, verdict="clean", status="ok", time_s=20.0)
            write_cell(exp, "instruct", model, bench, 0, score=min(1.0, base + rng.uniform(0.2, 0.6)),
                       verdict="clean", status="ok", time_s=30.0)
    for agent, (seeds, share, code, reports) in AGENTS.items():
        for seed_ in range(seeds):
            for model in MODELS:
                for bench in BENCHMARKS:
                    if agent == "gemini-cli" and seed_ == 1 and bench == "bfcl" and model == MODELS[0]:
                        continue  # an incomplete run: not counted
                    roll = rng.random()
                    score, verdict, status, checks = rng.uniform(0.05, 0.9), "clean", "ok", []
                    if roll < 0.08:
                        verdict = "flagged"
                        checks = [{"name": rng.choice(["contamination", "identity"]), "status": "flagged",
                                   "summary": "planted finding"}, {"name": "api_use", "status": "clean", "summary": ""}]
                    elif roll < 0.16:
                        verdict = "unverified"
                        checks = [{"name": "judge", "status": "unverified", "summary": "judge unreachable"}]
                    elif roll < 0.22:
                        score, status = None, rng.choice(["no_final_model", "eval_error"])
                    time_s = min(HOURS, HOURS * share * rng.uniform(0.8, 1.1)) * 3600
                    if share >= 1.0:
                        status = status if score is None else "timeout"
                    extra, totals = {}, None
                    if reports == "cost":  # in result.json, as cell.py records it
                        extra = {"cost_usd": round(rng.uniform(5, 40), 2)}
                    elif reports == "tokens":  # only in the trace's totals
                        totals = {"input_tokens": rng.randint(10**6, 10**7), "output_tokens": rng.randint(10**4, 10**5),
                                  "cost_usd": None}
                    calls = tuple(round(rng.uniform(0, 1), 3) for _ in range(rng.randint(0, 4)))
                    write_cell(exp, agent, model, bench, seed_, score=score, verdict=verdict, status=status,
                               time_s=time_s, checks=checks, extra=extra, code=CODE[code], eval_scores=calls,
                               trace_events=agent == "claude-code", trace_totals=totals)
    return exp
