"""The demo's sft-baseline cell on a quiet host and under a fixed synthetic load.

    python bench/demo_load.py [--busy 4] [--hours 0.25] [--out DIR]

Runs `ptb run --agent sft-baseline --model tiny-qwen3 --benchmark arith` (the demo's cell,
its budget, engine and sandbox) twice: first as the host is, then with BUSY processes that
spin on the CPU for the whole run (on 2 cores, 4 of them make the host 3x oversubscribed).
Prints each run's wall time, the agent's training time, the training steps, the arith score,
and the loaded/quiet ratio. The host's own load average is printed too: "quiet" is only as
quiet as the machine is.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ptb import paths  # noqa: E402
from ptb.run import params
from ptb.agents.recipes import sft  # noqa: E402


def spin() -> None:
    while True:
        pass


def run_cell(out: Path, hours: float, label: str) -> dict:
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    res = subprocess.run([sys.executable, "-m", "ptb", "run", "--agent", "sft-baseline", "--model", "tiny-qwen3",
                          "--benchmark", "arith", "--hours", str(hours), "--engine", "transformers",
                          "--experiment", label, "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - started
    if res.returncode != 0:
        sys.exit(f"{label}: ptb run exited {res.returncode}: {res.stderr.strip()[-500:]}")
    cell = out / label / "sft-baseline__tiny-qwen3__arith__s0"
    result = json.loads((cell / "result.json").read_text())
    stdout = (cell / "agent" / "stdout.log").read_text(errors="replace")
    steps = [line for line in stdout.splitlines() if "'train_runtime'" in line]
    return {"label": label, "wall_s": wall, "agent_s": result["time_taken_s"], "score": result["score"],
            "status": result["status"], "notes": result.get("notes", []), "load_before": load_before,
            "load_after": os.getloadavg()[0], "stopped_early": (cell / "task" / sft.STOPPED).is_file(),
            "train_line": steps[-1][:160] if steps else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=4, help="busy-loop processes for the loaded run (default 4)")
    ap.add_argument("--hours", type=float, default=params.load_grid(paths.PARAMETERS / "demo.yaml").hours,
                    help="the cell's budget (default: the demo's)")
    ap.add_argument("--out", type=Path, default=None, help="where the cells go (default: a temporary folder)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ptb-demo-load-"))
    print(f"{os.cpu_count()} cores; budget {args.hours} h; cells under {out}", flush=True)
    runs = [run_cell(out, args.hours, "quiet")]
    print(runs[-1], flush=True)
    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    try:
        runs.append(run_cell(out, args.hours, f"busy{args.busy}"))
    finally:
        for p in busy:
            p.terminate()
    print(runs[-1], flush=True)
    print()
    for r in runs:
        score = "-" if r["score"] is None else f"{100 * r['score']:.0f}%"
        print(f"{r['label']:>7}: cell {r['wall_s']:6.0f} s, agent {r['agent_s']:6.0f} s, arith {score}, "
              f"{r['status']}{', cut short by the budget' if r['stopped_early'] else ''} "
              f"(load {r['load_before']:.1f} -> {r['load_after']:.1f})")
    print(f"  ratio: cell {runs[1]['wall_s'] / runs[0]['wall_s']:.2f}x, agent {runs[1]['agent_s'] / runs[0]['agent_s']:.2f}x "
          f"with {args.busy} busy processes on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
