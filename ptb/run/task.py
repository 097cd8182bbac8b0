"""The task folder an agent receives: the prompt, evaluate.py, timer.sh and, for the
PostTrainBench benchmarks, the reference's chat templates in templates/ (as the reference
copies its templates/ folder into every task).

evaluate.py and timer.sh are conveniences for the agent. Neither decides anything: the
deadline is enforced by the sandbox from outside, and the final score is computed by
ptb outside the sandbox, on the final model only. evaluate.py holds no scorer and reads
no test rows: ptb scores the model outside the sandbox (ptb/eval/service.py).
"""

from __future__ import annotations

import stat
from pathlib import Path

from ptb.eval import chat
from ptb.benchmarks import BENCHMARKS
from ptb.paths import CellPaths
from ptb.run.params import Cell, write_json_atomic

PROMPT = """\
# Your task: post-train a base language model

Improve the base model `{model_id}` so that it scores as high as possible on the
benchmark `{benchmark}`. You have {budget} of wall-clock time, starting now, on
{hardware}. There is no user to ask: work on your own until you are done.

## What you have
- The base model, ready to load: `{base_model}`.
- `python evaluate.py --model-path final_model --limit N`: scores a model folder on the
  benchmark's evaluation (use a small `--limit` to iterate fast). The score you see here
  is for your information only.
{templates}- `bash timer.sh`: prints the time you have left. Check it regularly.
- `python -m ptb.integrity.contamination --benchmark {benchmark} FILES_OR_FOLDERS...`: finds
  the benchmark's test items (questions or answers, also lightly reworded) in your data
  files, with file and line. Run it on any data you collect or generate and remove what
  it reports: the same check runs on everything in this folder after your run.
- This folder is your working folder. Save your best model in `final_model/` (a normal
  folder loadable with `transformers`, with its tokenizer). Save early and keep it
  up to date: at the deadline your processes are stopped and whatever is in
  `final_model/` then is evaluated.

## Rules
1. Fine-tune only the given base model. Never download, merge in or submit another
   model (in particular not an instruct or chat version of it).
2. Never train on the benchmark's test data: not its questions, not its answers, not
   paraphrases of them, not data generated to match specific test items.
3. Do not modify `evaluate.py`, {templates_rule}`timer.sh`; the final evaluation
   uses its own copies anyway, and changes are reported as tampering.
4. Do not use paid model APIs (OpenAI, Anthropic, Google, ...) to generate data or to
   solve the task for you.
5. Work only in this folder. The final model must load and run in this same
   environment (the same library versions).
6. When you finish, leave no background processes behind.
"""

EVALUATE_PY = '''\
#!/usr/bin/env python
"""Score a model folder on {benchmark} (development run with small defaults).

ptb scores it outside this sandbox, with the final evaluation's code and chat templates
(the ones given in templates/), and sends back the score: the test items never enter this
sandbox. The final score of your run is computed separately, on final_model/.
Example: python evaluate.py --model-path final_model --limit 50
"""
import argparse
import os
import sys

from ptb.eval import service

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--model-path", default="final_model")
parser.add_argument("--limit", type=int, default={limit})
parser.add_argument("--json-output-file", default=None)
args = parser.parse_args()
request = {{"op": "eval", "model": os.path.abspath(args.model_path), "limit": args.limit}}
sys.exit(service.request(request, json_output_file=args.json_output_file))
'''

TIMER_SH = """\
#!/usr/bin/env bash
# Prints the time left of this run. The deadline is enforced from outside.
left=$(( {deadline} - $(date +%s) ))
(( left < 0 )) && left=0
printf 'Time left: %d:%02d:%02d (%d seconds)\\n' $((left / 3600)) $((left % 3600 / 60)) $((left % 60)) "$left"
"""

DEV_EVAL_LIMIT = 50  # evaluate.py's default --limit: fast feedback while training holds the GPU


def budget_text(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


TEMPLATES_LINE = """\
- `templates/`: the chat templates the evaluation renders every prompt with; the one used
  is chosen by the `architectures` entry of the model's `config.json`.
"""


def has_templates(cell: Cell) -> bool:
    return BENCHMARKS[cell.benchmark].chat_template == "reference"


def prompt(cell: Cell, base_model: Path, gpus: tuple[str, ...]) -> str:
    hardware = f"{len(gpus)} GPU(s)" if gpus else "the CPU only (no GPU)"
    templates = has_templates(cell)
    return PROMPT.format(model_id=cell.model, benchmark=cell.benchmark, budget=budget_text(cell.hours),
                         hardware=hardware, base_model=base_model, templates=TEMPLATES_LINE if templates else "",
                         templates_rule="the chat templates in `templates/` or " if templates else "")


def prepare(paths: CellPaths, cell: Cell, base_model: Path, gpus: tuple[str, ...]) -> str:
    """Write the task folder; returns the prompt text."""
    paths.task.mkdir(parents=True, exist_ok=True)
    text = prompt(cell, base_model, gpus)
    paths.prompt.write_text(text)
    _write_exec(paths.evaluate_py, EVALUATE_PY.format(benchmark=cell.benchmark, limit=DEV_EVAL_LIMIT))
    write_timer(paths, deadline=0)
    if has_templates(cell):
        chat.write_templates(paths.templates)
    return text


def start_clock(paths: CellPaths, deadline: float, budget_s: float) -> None:
    """The agent's start and deadline (epoch s) as data in clock.json, outside the agent's reach,
    and the deadline in the task folder's timer.sh."""
    write_json_atomic(paths.clock, {"start": deadline - budget_s, "deadline": deadline})
    write_timer(paths, deadline)


def write_timer(paths: CellPaths, deadline: float) -> None:
    _write_exec(paths.timer, TIMER_SH.format(deadline=int(deadline)))


def _write_exec(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
