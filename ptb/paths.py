"""Every path ptb reads or writes, built in one place.

    outputs/<experiment>/                  ExperimentPaths
        <cell>/                            CellPaths
            cell.json                      the Cell, written first
            run_cell.ipynb                 the executed notebook
            task/                          the agent's working folder (all it may write)
                prompt.md                  the task (ptb/run/task.py)
                evaluate.py                the development evaluation
                timer.sh                   prints the time left; its deadline is written when the agent starts
                templates/                 the chat templates, for benchmarks that use the reference ones
                final_model/               the agent's model
            clock.json                     the agent's start and deadline (epoch s), written when it starts
            agent/
                stdout.log                 the agent's output, redacted on the way in
                stdout.times               each stdout line's arrival time
                stderr.log
                agent.json                 the sandbox's outcome, written when the agent is done
                trace.jsonl                the normalised events (ptb/agents/traces.py)
                transcript.md
                trace_summary.json         turns, tool calls, tokens and cost
            sandbox/
                monitor.jsonl              resource samples while the agent runs (ptb/sandbox/monitor.py)
                sandbox.json               the local sandbox's record
                container.json             the docker sandbox's container parameters
                ctimes.json                the task files' change times at hand-over
                audit.jsonl                the audit's reports (ptb/integrity/audit.py)
                dev_eval.jsonl dev_eval.log   the agent's evaluate.py requests and their jobs' output (ptb/eval/service.py)
                inputs/                    copies of the files bound into the sandbox
                etc/                       the local sandbox's passwd and group
                hf-layer/upper/ work/ empty/   the docker sandbox's overlay of the Hugging Face cache
            eval/
                metrics.json               the final evaluation's score
                samples.jsonl              its samples
                eval.log
            given_files.json               hashes of the files ptb gave the agent (tampering check)
            integrity.json
            result.json                    written last: the cell is finished iff it exists
        .<cell>.lock                       held by the `ptb run` of the cell
        .attempts/<cell>-<time>-<pid>/     earlier attempts (interrupted, or replaced by --force)
        .logs/<cell>.log                   the grid's log of each cell's `ptb run`
        .logs/<cell>.cell.json             the cell the grid gave that `ptb run` (--cell)
        .slurm/jobs.json jobs.lock submitit/   the Slurm jobs of the experiment (ptb/run/slurm.py)
        .grid.json                         the running local grid's plan: its cells, pid and host
        leaderboard.csv leaderboard.html leaderboard.txt   (leaderboard.txt: what `ptb leaderboard` prints)
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PARAMETERS = ROOT / "parameters"
AGENTS = PARAMETERS / "agents"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def cache_dir() -> Path:
    """ptb's own cache (built models such as tiny-qwen3); PTB_CACHE overrides."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ptb"
    return Path(os.environ.get("PTB_CACHE", default))


@dataclass(frozen=True)
class CellPaths:
    root: Path

    cell_json = property(lambda self: self.root / "cell.json")
    notebook = property(lambda self: self.root / "run_cell.ipynb")
    clock = property(lambda self: self.root / "clock.json")
    given = property(lambda self: self.root / "given_files.json")
    integrity = property(lambda self: self.root / "integrity.json")
    result = property(lambda self: self.root / "result.json")
    lock = property(lambda self: self.root.parent / f".{self.root.name}.lock")

    task = property(lambda self: self.root / "task")
    prompt = property(lambda self: self.task / "prompt.md")
    evaluate_py = property(lambda self: self.task / "evaluate.py")
    timer = property(lambda self: self.task / "timer.sh")
    templates = property(lambda self: self.task / "templates")
    final_model = property(lambda self: self.task / "final_model")

    agent = property(lambda self: self.root / "agent")
    stdout = property(lambda self: self.agent / "stdout.log")
    stderr = property(lambda self: self.agent / "stderr.log")
    agent_json = property(lambda self: self.agent / "agent.json")
    trace = property(lambda self: self.agent / "trace.jsonl")
    transcript = property(lambda self: self.agent / "transcript.md")
    trace_summary = property(lambda self: self.agent / "trace_summary.json")

    sandbox = property(lambda self: self.root / "sandbox")
    monitor = property(lambda self: self.sandbox / "monitor.jsonl")
    sandbox_json = property(lambda self: self.sandbox / "sandbox.json")
    container_json = property(lambda self: self.sandbox / "container.json")
    ctimes = property(lambda self: self.sandbox / "ctimes.json")
    audit_log = property(lambda self: self.sandbox / "audit.jsonl")
    dev_eval = property(lambda self: self.sandbox / "dev_eval.jsonl")
    dev_eval_log = property(lambda self: self.sandbox / "dev_eval.log")
    inputs = property(lambda self: self.sandbox / "inputs")
    etc = property(lambda self: self.sandbox / "etc")
    hf_layer = property(lambda self: self.sandbox / "hf-layer")
    hf_upper = property(lambda self: self.hf_layer / "upper")
    hf_work = property(lambda self: self.hf_layer / "work")
    hf_empty = property(lambda self: self.hf_layer / "empty")

    eval = property(lambda self: self.root / "eval")
    metrics = property(lambda self: self.eval / "metrics.json")
    samples = property(lambda self: self.eval / "samples.jsonl")
    eval_log = property(lambda self: self.eval / "eval.log")


@dataclass(frozen=True)
class ExperimentPaths:
    root: Path

    def cell(self, name: str) -> CellPaths:
        return CellPaths(self.root / name)

    def log(self, cell: str) -> Path:
        """The grid's log of the cell's `ptb run`."""
        return self.root / ".logs" / f"{cell}.log"

    attempts = property(lambda self: self.root / ".attempts")
    slurm = property(lambda self: self.root / ".slurm")
    slurm_jobs = property(lambda self: self.slurm / "jobs.json")
    slurm_lock = property(lambda self: self.slurm / "jobs.lock")
    plan = property(lambda self: self.root / ".grid.json",
                    doc="The local grid's cells and process (`ptb.run.grid.write_plan`), read by the live view.")


def agent_socket(prefix: str, kind: int) -> tuple[Path, socket.socket]:
    """A Unix socket ptb listens on for the agent (bound, not yet listening) and its path, in a
    short folder of its own outside every cell (a socket path has at most 107 bytes), reachable
    by any uid. Given to a sandbox as a `readonly` path: connecting and sending work through a
    read-only bind."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    path = folder / "s"
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(str(path))
    path.chmod(0o777)  # the agent runs as another uid
    return path, sock


def read_json_object(path: Path) -> dict:
    """A JSON file holding an object; ValueError says in one line what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not readable JSON ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    return data
