"""Measure ptb's own overhead per cell: everything but the agent's and the evaluation's work.

Runs N cells of a trivial agent (it copies tiny-qwen3 into final_model/) through the real
`ptb run` (papermill, local sandbox, final evaluation in its own process), and prints per
cell: the wall time of `ptb run`, the agent's time inside the sandbox, the evaluation's
time (its subprocess, model loading included), and the rest = the harness's overhead
(interpreter and kernel start, papermill, task folder, sandbox set-up, final-model check,
result writing). Medians over the cells.

    .venv/bin/python bench/harness_overhead.py [--cells 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ptb-overhead-"))
    agents = work / "agents"
    agents.mkdir()
    (agents / "copier.yaml").write_text('name: copier\ncommand: [cp, -r, "{base_model}", final_model]\nnetwork: false\n')
    env = {**os.environ, "PTB_AGENT_PATH": str(agents)}
    subprocess.run([sys.executable, "-c", "from ptb import models; models.tiny_qwen3()"], check=True, env=env)

    rows = []
    for seed in range(args.cells):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "ptb", "run", "--agent", "copier", "--model", "tiny-qwen3",
                        "--benchmark", "arith", "--hours", "0.1", "--seed", str(seed), "--experiment", "overhead",
                        "--engine", "transformers", "--eval-limit", "10", "--out", str(work / "out")],
                       check=True, env=env, capture_output=True, cwd=ROOT)
        wall = time.monotonic() - started
        result = json.loads((work / "out" / "overhead" / f"copier__tiny-qwen3__arith__s{seed}" / "result.json").read_text())
        agent = result["time_taken_s"]
        evaluation = sum(a["seconds"] for a in result["eval_attempts"])
        rows.append((wall, agent, evaluation, wall - agent - evaluation))
        print(f"cell {seed}: wall {wall:6.2f} s  agent {agent:5.2f} s  evaluation {evaluation:5.2f} s  "
              f"harness {wall - agent - evaluation:5.2f} s", flush=True)
    med = [statistics.median(col) for col in zip(*rows)]
    print(f"median over {len(rows)} cells: wall {med[0]:.2f} s, agent {med[1]:.2f} s, evaluation {med[2]:.2f} s, "
          f"harness overhead {med[3]:.2f} s per cell")


if __name__ == "__main__":
    main()
