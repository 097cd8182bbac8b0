"""Figures for the trace analytics: a behaviour profile (with its near misses) of a long
run, and the live view's refreshes of an experiment whose agents write long logs.

    .venv/bin/python bench/analytics_speed.py [--mb 20] [--cells 8] [--repeats 5]

A run's trace: claude stream-json lines (messages, tool calls with outputs, evaluate.py
results) until the log has about MB megabytes, as a 10-hour run of a chatty agent leaves.
The live view: CELLS such cells running at once; the first refresh reads every log, the
later ones only what was added (here 200 lines per cell between refreshes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ptb.agents import traces  # noqa: E402
from ptb.report import behaviour, live
from ptb.run import params, task


def claude_lines(n: int, start: int = 0) -> list[str]:
    """n steps of a claude session: a thought, a shell call, its (long) output."""
    out = []
    for i in range(start, start + n):
        command = "python evaluate.py --limit 50" if i % 50 == 0 else f"python train.py --step {i}"
        result = (json.dumps({"benchmark": "gsm8k", "score": (i % 100) / 100, "n": 50}) if i % 50 == 0
                  else "loss " + " ".join(f"{x:.4f}" for x in range(40)))
        out += [json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": f"Step {i}: "
                                                                           "checking the loss curve and the data."}]}}),
                json.dumps({"type": "assistant", "message": {"content": [{"type": "tool_use", "id": f"t{i}",
                                                                           "name": "Bash", "input": {"command": command}}]}}),
                json.dumps({"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": f"t{i}",
                                                                      "content": result}]}})]
    return out


def make_cell(exp: Path, i: int, mb: float) -> tuple[Path, int]:
    cell = params.Cell(exp.name, "claude-code", "Qwen/Qwen3-1.7B-Base", "gsm8k", seed=i)
    d = exp / cell.name
    for sub in ("task", "agent"):
        (d / sub).mkdir(parents=True)
    params.write_json_atomic(d / "cell.json", cell.to_dict())
    task.write_timer(d / "task", time.time() + 5 * 3600)
    steps, size = 0, 0
    with open(d / "agent" / "stdout.log", "w") as f:
        while size < mb * 1e6:
            text = "".join(line + "\n" for line in claude_lines(500, steps))
            f.write(text)
            size, steps = size + len(text), steps + 500
    return d, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, default=20)
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "bench"
        cells = [make_cell(exp, i, a.mb) for i in range(a.cells)]
        one, steps = cells[0]
        log = one / "agent" / "stdout.log"
        traces.write("claude-stream-json", log, one / "agent")
        events = len(behaviour.events_of(one))
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            prof = behaviour.profile(one)
            times.append(time.perf_counter() - t)
        print(f"behaviour profile: {log.stat().st_size / 1e6:.1f} MB log, {events} events, {prof['tool_calls']} tool "
              f"calls, {prof['eval_calls']} evaluate.py calls: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {a.repeats} runs)")

        watch = live.Watch(exp)
        t = time.perf_counter()
        rows = watch.snapshot()
        first = time.perf_counter() - t
        assert all(r.eval_calls > 0 for r in rows)
        later = []
        for k in range(a.repeats):
            for d, n in cells:
                with open(d / "agent" / "stdout.log", "a") as f:
                    f.write("".join(line + "\n" for line in claude_lines(200, n + 200 * k)))
            t = time.perf_counter()
            watch.snapshot()
            later.append(time.perf_counter() - t)
        total = sum((d / "agent" / "stdout.log").stat().st_size for d, _ in cells) / 1e6
        print(f"live view, {a.cells} running cells, {total:.0f} MB of logs: first refresh {first:.2f} s; "
              f"later refreshes (200 new steps per cell) median {statistics.median(later) * 1000:.0f} ms "
              f"(min {min(later) * 1000:.0f}, max {max(later) * 1000:.0f}, {a.repeats} runs)")


if __name__ == "__main__":
    main()
