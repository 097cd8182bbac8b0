"""The `ptb` command line. Every command exits non-zero with a one-line reason on bad input
(2: a usage or configuration error, 3: an evaluation failure; ptb.errors); a bug raises with its traceback."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from ptb import paths
from ptb.run import params
from ptb.errors import CONFIG_EXIT, EVAL_FAILED_EXIT, ConfigError, EvalFailed
from ptb.run.params import Cell, ParamError, short


class UsageError(Exception):
    pass


class NotebookFailed(RuntimeError):
    """A notebook raised: a bug, reported in one line with the notebook to open."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the reason and where to look), not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected 'on' or 'off', got {short(value)}")
    return value == "on"


def _int_at_least(low: int):
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = low - 1
        if n < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {short(value)}")
        return n
    return parse


_positive_int = _int_at_least(1)


def _positive_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {short(value)}")
    return x


def _hours(value: str) -> float:
    try:
        return params.check_hours(float(value))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e}, got {short(value)}" if "hours" in str(e) else
                                         f"expected a number of hours, got {short(value)}") from None


def cmd_run(a) -> int:
    from ptb.run import grid

    if a.cell is not None:
        if a.agent or a.model or a.benchmark:
            raise UsageError("--cell is the whole cell: give it without --agent, --model, --benchmark")
        cell = Cell.read(a.cell)
    elif a.agent is None or a.model is None or a.benchmark is None:
        raise UsageError("ptb run needs --agent, --model and --benchmark, or --cell CELL.json")
    else:
        cell = Cell(a.experiment, a.agent, a.model, a.benchmark, a.seed, a.hours, a.sandbox, a.engine, a.network,
                    a.eval_limit, a.cpus, a.memory_gb, a.pids_limit or None,
                    protocol=_protocol(a).release, options=_protocol(a).options)
    params.check_names(cell)
    exp_dir = Path(a.out) / cell.experiment
    print(f"cell {cell.name} -> {exp_dir / cell.name}", flush=True)
    result = grid.run_cell(cell, exp_dir, force=a.force)
    if result is None:
        print(f"{cell.name}: already finished (result.json exists); --force runs it again")
        return 0
    score = "-" if result["score"] is None else f"{100 * result['score']:.1f}"
    print(f"{cell.name}: status {result['status']}, score {score}, time {result['time_taken_s']:.0f} s")
    return 0


def cmd_grid(a) -> int:
    from ptb.run import grid

    g = params.load_grid(a.params, executor=a.executor, sandbox=a.sandbox, engine=a.engine, hours=a.hours)
    if g.executor == "slurm":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise UsageError("the slurm executor needs submitit, which is not installed here: "
                             "pip install submitit (or install ptb with its dependencies again)") from None
        from ptb.run import slurm

        outcomes = slurm.run_grid(g, params.expand(g), Path(a.out), force=a.force, follow=not a.detach)
    else:
        if a.detach:
            raise UsageError("--detach needs --executor slurm")
        outcomes = grid.run_grid(params.expand(g), Path(a.out), force=a.force)
    return 1 if "failed" in outcomes.values() else 0


def _experiment(folder: str, wait_s: float = 0) -> Path:
    """FOLDER, checked to be an experiment folder: a grid's plan or Slurm record, or a cell in it.
    WAIT_S: how long a grid that has just made the folder may take to write its plan."""
    from ptb.paths import CellPaths, ExperimentPaths

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{folder[:300]}: no such folder")
    exp = ExperimentPaths(root)
    deadline = time.monotonic() + wait_s
    while not (exp.plan.is_file() or exp.slurm.is_dir()
               or any(CellPaths(d).cell_json.is_file() or CellPaths(d).result.is_file()
                      for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))):
        if time.monotonic() >= deadline:
            raise UsageError(f"{folder}: not an experiment folder (no cells, no grid plan); give OUT/EXPERIMENT, "
                             "e.g. outputs/demo")
        time.sleep(0.5)
    return root


def cmd_status(a) -> int:
    from ptb.report import live

    if a.interval <= 0:
        raise UsageError(f"--interval must be > 0 seconds, got {a.interval}")
    _experiment(a.experiment, wait_s=10 if a.watch else 0)
    watch, tty = live.Watch(a.experiment), sys.stdout.isatty()
    try:
        while True:
            rows = watch.snapshot()
            if a.watch:
                print("\033[H\033[2J" if tty else "", end="")  # redraw in place on a terminal; in a log, one block each
                print(f"{a.experiment} at {time.strftime('%H:%M:%S')} (every {a.interval:g} s, Ctrl-C stops)")
            print(live.to_text(rows), flush=True)
            if not a.watch:
                return 0
            if watch.settled:
                print("every cell is finished")
                return 0
            time.sleep(a.interval)
    except KeyboardInterrupt:
        return 0


def cmd_cancel(a) -> int:
    from ptb.run import slurm

    _experiment(a.experiment)
    cancelled = slurm.cancel(Path(a.experiment))
    print(f"cancelled {len(cancelled)} jobs" + (f": {' '.join(cancelled)}" if cancelled else " (none queued or running)"))
    return 0


def cmd_demo(a) -> int:
    from ptb import models
    from ptb.run import grid

    started = time.monotonic()
    out = Path(a.out).resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {a.out}: exists and is not a folder; give a folder (default outputs/demo)")
    print(f"ptb demo: building {models.TINY} (cached after the first run)...", flush=True)
    models.tiny_qwen3()
    g = params.load_grid(paths.PARAMETERS / "demo.yaml")
    # --out DIR is the experiment folder itself: cells land directly under it.
    cells = [Cell(**(c.to_dict() | {"experiment": out.name})) for c in params.expand(g)]
    outcomes = grid.run_grid(cells, out.parent)
    run_leaderboard_notebook([out], out)
    print()
    print((out / "leaderboard.txt").read_text(), end="")
    print(f"\nwrote {out / 'leaderboard.csv'} and {out / 'leaderboard.html'} in {time.monotonic() - started:.0f} s")
    print("next: notebooks/takeaways.ipynb and explore_run.ipynb read it; while a grid runs, "
          f"`ptb status {out} --watch` or notebooks/live.ipynb show it live")
    return 1 if "failed" in outcomes.values() else 0


def run_leaderboard_notebook(dirs: list[Path], out: Path, weights: str = "v1", reference: bool = False) -> None:
    """Execute notebooks/leaderboard.ipynb into OUT (it writes leaderboard.csv, .html and .txt
    there). The board is built here first only to check it can be: a tree with nothing to rank
    is one line, and leaves no failed notebook."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from ptb.report import leaderboard

    leaderboard.build(dirs, weights=weights, reference=reference)  # nothing to rank: a ConfigError, no notebook run
    out.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(paths.NOTEBOOKS / "leaderboard.ipynb"), str(out / "leaderboard.ipynb"),
            parameters={"dirs": [str(Path(d).resolve()) for d in dirs], "out": str(out.resolve()), "weights": weights,
                        "reference": reference},
            cwd=str(paths.NOTEBOOKS), progress_bar=False, kernel_name="python3",
        )
    except PapermillExecutionError as e:  # a bug: say where, without the kernel's traceback
        raise NotebookFailed(f"notebooks/leaderboard.ipynb cell {e.exec_count} raised {e.ename}: {e.evalue} "
                         f"(see {out / 'leaderboard.ipynb'})") from None


def cmd_regrade(a) -> int:
    from ptb.run import regrade

    exp = Path(a.experiment_dir)
    if not exp.is_dir():
        raise UsageError(f"{exp}: no such folder")
    regrade.regrade(exp, evaluate=not a.integrity_only)
    return 0


def cmd_leaderboard(a) -> int:
    dirs = [Path(d) for d in a.dirs]
    for d in dirs:
        if not d.is_dir():
            raise UsageError(f"{d}: no such folder")
    out = Path(a.out) if a.out else dirs[0]
    run_leaderboard_notebook(dirs, out, a.weights, a.reference)
    print((out / "leaderboard.txt").read_text(), end="")
    print(f"wrote {out / 'leaderboard.csv'} and {out / 'leaderboard.html'}")
    return 0


def cmd_doctor(a) -> int:
    from ptb import doctor

    text, failed = doctor.report(doctor.run(a.grid, a.out))
    print(text)
    return 1 if failed else 0


def cmd_rehearse(a) -> int:
    from ptb.run import rehearse

    done = rehearse.run(a.params, Path(a.out), minutes=a.minutes, sandbox=a.sandbox)
    print(rehearse.report(done))
    return 0 if all(r.ok for r in done) else 1


def _protocol(a):
    from ptb.eval.protocol import Protocol

    return Protocol(a.protocol, tuple(a.option), getattr(a, "shuffle_seed", None))


def cmd_eval(a) -> int:
    from ptb.eval import evaluation

    model = Path(a.model)
    if not (model / "config.json").is_file():
        raise UsageError(f"--model {a.model[:300]}: not a model folder (no config.json)")
    from ptb.models import folder_problem

    problem = folder_problem(model)
    if problem:
        raise UsageError(f"--model: {problem}")
    evaluation.benchmark(a.benchmark)  # unknown benchmark: one-line error before loading anything
    result, meta = evaluation.evaluate(model, a.benchmark, limit=a.limit, engine=a.engine, max_tokens=a.max_tokens,
                                       seed=a.seed, shared_gpu=a.shared_gpu,
                                       templates_dir=Path(a.templates_dir) if a.templates_dir else None,
                                       under=_protocol(a))
    summary = result.write(a.json_output_file, a.samples_file, model=str(model), **meta)
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}))
    return 0


def cmd_score(a) -> int:
    from ptb.eval import evaluation

    under = _protocol(a).drawn()
    bench = evaluation.benchmark(a.benchmark, under)
    rows = _read_jsonl(Path(a.dataset), "--dataset")
    outputs: dict[int, str] = {}
    for line_no, rec in enumerate(_read_jsonl(Path(a.responses), "--responses"), 1):
        i = rec.get("index") if isinstance(rec, dict) else None
        if not isinstance(i, int) or not 0 <= i < len(rows) or not isinstance(rec.get("output"), str):
            raise UsageError(f"{a.responses}:{line_no}: need {{\"index\": 0..{len(rows) - 1}, \"output\": str}}")
        if i in outputs:
            raise UsageError(f"{a.responses}:{line_no}: index {i} appears twice")
        outputs[i] = rec["output"]
    indices = sorted(outputs)
    samples = []
    for i in indices:
        if not isinstance(rows[i], dict):
            raise UsageError(f"--dataset {a.dataset}: row {i} is not a JSON object")
        try:
            samples.append(bench.to_sample(rows[i], i))
        except KeyError as e:
            raise UsageError(f"--dataset {a.dataset}: row {i} has no field {e}, which {a.benchmark} rows need; "
                             f"the row's fields: {short(sorted(rows[i]), 200)}") from None
    result = evaluation.score_outputs(bench, samples, [outputs[i] for i in indices], under)
    summary = result.write(a.json_output_file, a.samples_file, missing=len(rows) - len(indices), **under.record())
    print(json.dumps(summary))
    return 0


def cmd_prompt(a) -> int:
    from ptb.eval import prompt

    view = prompt.show(a.model, a.benchmark, index=a.index, under=_protocol(a), max_tokens=a.max_tokens)
    print(json.dumps(view) if a.json else prompt.to_text(view))
    return 0


def _read_jsonl(path: Path, flag: str) -> list[dict]:
    if not path.is_file():
        raise UsageError(f"{flag} {path}: no such file")
    from ptb.benchmarks.data import read_jsonl

    return read_jsonl(path)


def _protocol_flags(p: argparse.ArgumentParser, shuffle_seed: bool = False) -> None:
    from ptb.eval import protocol

    p.add_argument("--protocol", choices=protocol.RELEASES, default=protocol.DEFAULT,
                   help=f"the PostTrainBench release whose scoring rules apply (default {protocol.DEFAULT})")
    p.add_argument("--option", action="append", default=[], choices=list(protocol.OPTIONS), metavar="OPTION",
                   help="a named deviation from the release, repeatable: " + "; ".join(
                       f"{k}: {v}" for k, v in protocol.OPTIONS.items()))
    if shuffle_seed:
        p.add_argument("--shuffle-seed", type=int, default=None,
                       help="GPQA's choice-shuffle seed (default: the protocol's; v1 draws one and records it)")


def parser() -> argparse.ArgumentParser:
    from ptb.benchmarks import BENCHMARKS

    p = OneLineParser(prog="ptb", description="Run PostTrainBench: agents post-train base models.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="tiny-qwen3 on arith, CPU, offline: the whole pipeline in minutes")
    d.add_argument("--out", default="outputs/demo", help="experiment folder (default outputs/demo)")
    d.set_defaults(fn=cmd_demo)

    r = sub.add_parser("run", help="run one cell (notebooks/run_cell.ipynb through papermill)")
    r.add_argument("--cell", default=None,
                   help="the whole cell, as a cell.json (instead of the cell's flags; --out and --force apply)")
    r.add_argument("--agent", help="an agent of parameters/agents/ (or PTB_AGENT_PATH), a variant as NAME@key=value")
    r.add_argument("--model", help="a Hugging Face id, a local model folder, or tiny-qwen3")
    r.add_argument("--benchmark", help=f"one of: {', '.join(BENCHMARKS)}")
    r.add_argument("--hours", type=_hours, default=10.0, help=f"the agent's time budget, in (0, {params.MAX_HOURS:g}] (default 10)")
    r.add_argument("--seed", type=_int_at_least(0), default=0, help="the run's seed, >= 0 (default 0)")
    r.add_argument("--experiment", default="default", help="cells go to OUT/EXPERIMENT/CELL (default 'default')")
    r.add_argument("--sandbox", choices=["local", "docker"], default="local",
                   help="local: bubblewrap on this host; docker: the agent image (default local)")
    r.add_argument("--engine", choices=["auto", "vllm", "transformers"], default="auto",
                   help="the final evaluation's inference engine (default auto: vLLM where it runs)")
    r.add_argument("--network", type=_on_off, default=None, help="on|off (default: the agent's own setting)")
    r.add_argument("--eval-limit", type=_positive_int, default=None, help="final evaluation on the first N items only")
    r.add_argument("--out", default="outputs", help="outputs root (default outputs)")
    r.add_argument("--force", action="store_true", help="run again even if the cell is finished")
    r.add_argument("--cpus", type=_positive_float, default=None, help="the sandbox's CPU cores (default: no limit)")
    r.add_argument("--memory-gb", type=_positive_float, default=None, help="the sandbox's RAM limit (default: none)")
    r.add_argument("--pids-limit", type=_int_at_least(0), default=4096,
                   help="the sandbox's processes and threads, 0: no limit (default 4096)")
    _protocol_flags(r)
    r.set_defaults(fn=cmd_run)

    g = sub.add_parser("grid", help="run every cell of a grid YAML")
    g.add_argument("params")
    g.add_argument("--executor", choices=["local", "slurm"], default=None)
    g.add_argument("--sandbox", choices=["local", "docker"], default=None)
    g.add_argument("--engine", choices=["auto", "vllm", "transformers"], default=None)
    g.add_argument("--hours", type=_hours, default=None, help="every cell's budget (default: the grid's hours)")
    g.add_argument("--out", default="outputs")
    g.add_argument("--force", action="store_true", help="run finished cells again too")
    g.add_argument("--detach", action="store_true", help="slurm: submit and return without following the jobs")
    g.set_defaults(fn=cmd_grid)

    st = sub.add_parser("status", help="each cell of an experiment: state, time left, GPU, last action, scores")
    st.add_argument("experiment", help="the experiment folder (OUT/EXPERIMENT)")
    st.add_argument("--watch", action="store_true", help="redraw until every cell is finished (or Ctrl-C)")
    st.add_argument("--interval", type=float, default=10.0, help="seconds between redraws with --watch (default 10)")
    st.set_defaults(fn=cmd_status)

    ca = sub.add_parser("cancel", help="cancel an experiment's queued and running Slurm jobs")
    ca.add_argument("experiment", help="the experiment folder (OUT/EXPERIMENT)")
    ca.set_defaults(fn=cmd_cancel)

    e = sub.add_parser("eval", help="evaluate a model folder on a benchmark")
    e.add_argument("--model", required=True)
    e.add_argument("--benchmark", required=True, choices=list(BENCHMARKS), metavar="BENCHMARK")
    e.add_argument("--limit", type=_positive_int, default=None)
    e.add_argument("--engine", choices=["auto", "vllm", "transformers"], default="auto")
    e.add_argument("--max-tokens", type=_positive_int, default=None)
    e.add_argument("--seed", type=_int_at_least(0), default=0)
    e.add_argument("--shared-gpu", action="store_true", help="leave most GPU memory to training (agents' evaluate.py)")
    e.add_argument("--templates-dir", default=None,
                   help="the reference's chat templates from this copy of its templates/ (the task folder's)")
    e.add_argument("--json-output-file", default=None)
    e.add_argument("--samples-file", default=None, help="per-sample records (JSONL)")
    _protocol_flags(e, shuffle_seed=True)
    e.set_defaults(fn=cmd_eval)

    s = sub.add_parser("score", help="score recorded outputs against benchmark rows, without a model")
    s.add_argument("benchmark", choices=list(BENCHMARKS), metavar="BENCHMARK")
    s.add_argument("--dataset", required=True, help="rows in the benchmark's own schema (JSONL)")
    s.add_argument("--responses", required=True, help='JSONL lines {"index": i, "output": "..."}')
    s.add_argument("--json-output-file", default=None)
    s.add_argument("--samples-file", default=None)
    _protocol_flags(s, shuffle_seed=True)
    s.set_defaults(fn=cmd_score)

    pr = sub.add_parser("prompt", help="print the exact text a model sees for one item, and its sampling parameters")
    pr.add_argument("--model", required=True, help="a model folder or a known hub id")
    pr.add_argument("--benchmark", required=True, choices=list(BENCHMARKS), metavar="BENCHMARK")
    pr.add_argument("--index", type=int, default=0, help="the item's row number in the evaluated split (default 0)")
    pr.add_argument("--max-tokens", type=_positive_int, default=None)
    pr.add_argument("--json", action="store_true", help="one JSON object (the prompt byte for byte in 'prompt')")
    _protocol_flags(pr, shuffle_seed=True)
    pr.set_defaults(fn=cmd_prompt)

    rg = sub.add_parser("regrade", help="re-run integrity checks and the final evaluation of finished cells")
    rg.add_argument("experiment_dir")
    rg.add_argument("--integrity-only", action="store_true", help="keep the recorded scores; only re-check integrity")
    rg.set_defaults(fn=cmd_regrade)

    dr = sub.add_parser("doctor", help="check this host for real runs (GPUs, Docker, image, keys, disk); each problem with its fix")
    dr.add_argument("grid", nargs="?", default=None, help="a grid YAML: also check its agents' API keys")
    dr.add_argument("--out", default="outputs", help="outputs root (its free disk space is checked)")
    dr.set_defaults(fn=cmd_doctor)

    rh = sub.add_parser("rehearse", help="every CLI agent of a grid for a few minutes, through its sandbox, "
                        "against a local scripted model endpoint: what to run before a paid grid")
    rh.add_argument("params")
    rh.add_argument("--sandbox", choices=["local", "docker"], default=None, help="default: the grid's")
    rh.add_argument("--minutes", type=float, default=5.0, help="each agent's budget (default 5; the script needs 1-2)")
    rh.add_argument("--out", default="outputs/rehearse")
    rh.set_defaults(fn=cmd_rehearse)

    lb = sub.add_parser("leaderboard", help="aggregate result.json files into leaderboard.csv/.html")
    lb.add_argument("dirs", nargs="+")
    lb.add_argument("--out", default=None)
    lb.add_argument("--weights", choices=["v1", "v1.2", "experiment"], default="v1")
    lb.add_argument("--reference", action="store_true", help="also show the published reference rows")
    lb.set_defaults(fn=cmd_leaderboard)
    return p


def main(argv: list[str] | None = None) -> int:
    from ptb.run.grid import CellBusy, CellFailed
    from ptb.run.slurm import SlurmError

    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ParamError, UsageError, ConfigError) as e:
        print(f"ptb {args.command}: error: {e}", file=sys.stderr)
        return CONFIG_EXIT
    except EvalFailed as e:
        print(f"ptb {args.command}: evaluation failed: {e}", file=sys.stderr)
        return EVAL_FAILED_EXIT
    # Expected failures, one line each (a missing file: a folder gone, a reference file that cannot be
    # fetched). A ValueError is not among them: the ones a user can fix are ConfigErrors, any other is a bug.
    except (CellBusy, CellFailed, NotebookFailed, FileNotFoundError, SlurmError) as e:
        print(f"ptb {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ptb {args.command}: interrupted", file=sys.stderr)
        return 130
