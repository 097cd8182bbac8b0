"""Measure what Slurm adds per cell: submit to start, and end to result.

Submits N zero-shot cells (tiny-qwen3 on arith, 10 evaluation items) through the real
slurm executor (`ptb.run.slurm.submit`: submitit, one job array, `--gres=gpu:1`) to the
cluster that SLURM_CONF names, then watches the jobs every 0.1 s. Per cell:

- submit -> start: from just before sbatch to the moment the job starts `ptb run`
  (sbatch, scheduling, the job step, submitit unpickling the call);
- end -> result: from `ptb run` exiting inside the job to Slurm reporting the job ended
  (submitit pickling the return value, step and job clean-up), as `ptb grid` sees it
  when it asks; `ptb grid` itself asks every POLL_S seconds, so add up to that.

The start and exit times come from the job's own notes in `.logs/<cell>.log`; with two
fake GPUs, cells beyond the second wait in the queue for a GPU, which the figures show.

    bash tests/services/start_slurm.sh && export SLURM_CONF=/tmp/ptb-slurm/slurm.conf
    .venv/bin/python bench/slurm_overhead.py [--cells 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from ptb import models
from ptb.run import slurm
from ptb.run.params import Grid, expand
from ptb.paths import ExperimentPaths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=2, help="cells per submission (one job array)")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    models.tiny_qwen3()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ptb-slurm-bench-") as tmp:
        for r in range(a.rounds):
            g = Grid(experiment=f"bench{r}", agents=["zero-shot"], models=["tiny-qwen3"], benchmarks=["arith"],
                     seeds=list(range(a.cells)), hours=0.02, engine="transformers", executor="slurm", eval_limit=10)
            exp = ExperimentPaths(Path(tmp) / g.experiment)
            cells = expand(g)
            submitted = time.time()
            ids = slurm.submit(cells, g, Path(tmp))
            sbatch_s = time.time() - submitted
            ended: dict[str, float] = {}
            while len(ended) < len(ids):
                states = slurm.job_states(ids, slurm.submitit_folder(exp))
                now = time.time()
                ended |= {i: now for i, s in states.items() if s.state not in slurm.ACTIVE and i not in ended}
                time.sleep(0.1)
            for cell, job_id in zip(cells, ids):
                log = (exp.root / ".logs" / f"{cell.name}.log").read_text()
                start = float(re.search(r": start ([\d.]+)\]", log).group(1))
                exit_ = float(re.search(r"exited \d+ at ([\d.]+)\]", log).group(1))
                assert exp.cell(cell.name).result.is_file(), f"{cell.name}: no result.json (see its log)"
                rows.append({"round": r, "job": job_id, "sbatch_s": sbatch_s, "submit_to_start_s": start - submitted,
                             "ptb_run_s": exit_ - start, "end_to_result_s": ended[job_id] - exit_})
    print(f"{'job':>8} {'sbatch':>7} {'submit->start':>14} {'ptb run':>8} {'end->result':>12}   (seconds)")
    for row in rows:
        print(f"{row['job']:>8} {row['sbatch_s']:7.2f} {row['submit_to_start_s']:14.2f} {row['ptb_run_s']:8.2f} "
              f"{row['end_to_result_s']:12.2f}")
    first = [row for row in rows if int(row["job"].split("_")[-1]) < 2]  # got a GPU at once
    med = {k: statistics.median(row[k] for row in first) for k in ("submit_to_start_s", "end_to_result_s")}
    print(f"median over jobs that found a free GPU ({len(first)}): submit->start {med['submit_to_start_s']:.2f} s, "
          f"end->result {med['end_to_result_s']:.2f} s (+ up to {slurm.POLL_S:.0f} s until `ptb grid` polls)")


if __name__ == "__main__":
    main()
