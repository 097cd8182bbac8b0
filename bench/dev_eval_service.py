"""What serving the agent's evaluate.py from outside the sandbox costs: the same `ptb eval`
(tiny-qwen3 on arith, --limit 8, transformers engine) run directly and through the cell's
evaluation service (ptb/eval/service.py: socket, request checks, output relayed), N times
each, interleaved. Prints the medians and their ratio.

    .venv/bin/python bench/dev_eval_service.py [N]
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ptb import models
from ptb.eval import service

ARGS = ["--benchmark", "arith", "--engine", "transformers", "--shared-gpu"]


def main(n: int = 5) -> None:
    work = Path(tempfile.mkdtemp(prefix="ptb-bench-"))
    task = work / "task"
    shutil.copytree(models.resolve("tiny-qwen3"), task / "final_model")
    env = dict(os.environ)
    svc = service.DevService(task, "arith", ARGS, env, work / "dev.jsonl", work / "dev.log")
    os.environ[service.SOCKET_ENV] = str(svc.socket)
    direct, served = [], []
    try:
        for _ in range(n):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ptb", "eval", "--model", str(task / "final_model"), *ARGS,
                            "--limit", "8"], check=True, capture_output=True, env=env)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = service.request({"op": "eval", "model": str(task / "final_model"), "limit": 8})
            served.append(time.perf_counter() - t)
            assert code == 0, (work / "dev.log").read_text()[-2000:]
    finally:
        svc.close()
        shutil.rmtree(work, ignore_errors=True)
    d, s = statistics.median(direct), statistics.median(served)
    print(f"ptb eval directly:        median {d:.2f} s over {n} (min {min(direct):.2f}, max {max(direct):.2f})")
    print(f"through the eval service: median {s:.2f} s over {n} (min {min(served):.2f}, max {max(served):.2f})")
    print(f"ratio served/direct: {s / d:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
