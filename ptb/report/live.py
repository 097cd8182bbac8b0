"""The live view of a running experiment, from the files its cells write.

Reading only: nothing here opens a cell's file for writing or takes a cell's lock (trying
the lock could make a starting `ptb run` fail), so watching never disturbs a run.
What each row comes from:
    cell.json                    agent, model, benchmark, hours
    .grid.json                   the running local grid's cells: those not started yet wait
    clock.json                   the deadline, written when the agent starts (time left)
    sandbox/monitor.jsonl        the last resource sample: CPU, RAM, GPU utilisation and memory
    agent/stdout.log             the agent's last action and its last evaluate.py score, read
                                 incrementally (only the bytes added since the last refresh)
    agent/agent.json, integrity.json, result.json    the stage reached; the status and score
    .slurm/jobs.json             queued and failed Slurm jobs (`ptb.run.slurm.cell_statuses`)
    /proc/locks                  whether a `ptb run` on this host holds the cell's lock: a
                                 cell without result.json and without a holder was interrupted
The sandboxes redact the agent's output on the way in; every text shown passes through a
`traces.Redactor` once more (logs written by older versions of ptb were not).

`Watch(exp).snapshot()` returns one `CellView` per cell; `to_text`/`to_html` render them
(`ptb status`), and `LiveView` is the JupyterLab widget of notebooks/live.ipynb.
"""

from __future__ import annotations

import html
import json
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ptb.agents import traces
from ptb.errors import ConfigError
from ptb.run import params
from ptb.paths import CellPaths, ExperimentPaths

RUNNING = ("starting", "agent", "integrity", "final evaluation")
FINISHED = ("done", "failed")
CHUNK = 4 << 20  # bytes of a log read at once
MAX_LINE = 16 << 20  # a longer line without newline is skipped, not held in memory
ACTION_CHARS = 100
# Without the grid's plan (`ptb run` alone, grids of older versions), a cell's folder
# appears only when it starts, a few seconds after the one before it ends: "every cell
# finished" must then hold this long before a watch stops.
SETTLE_S = 10.0


@dataclass(frozen=True)
class CellView:
    cell: str
    agent: str
    model: str
    benchmark: str
    state: str  # waiting | queued | starting | agent | integrity | final evaluation | done | failed | interrupted
    time_left_s: float | None = None  # while the agent runs
    cpu_pct: float | None = None  # last monitor sample, while the agent runs
    mem_mib: float | None = None
    gpu_util_pct: float | None = None  # mean over the cell's GPUs
    gpu_mem_mib: float | None = None  # summed over the cell's GPUs
    gpu_mem_total_mib: float | None = None
    last_action: str = ""  # the agent's last tool call or message, one line, redacted
    last_eval: float | None = None  # the score of the agent's last evaluate.py call (0-1)
    eval_calls: int = 0
    status: str | None = None  # result.json's, once finished
    score: float | None = None  # result.json's (0-1)
    job_id: str | None = None  # Slurm's
    detail: str = ""  # why it failed, Slurm's word, ...

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def phase(self) -> str:
        """queued, running, done, failed or interrupted: the counts `ptb status` prints."""
        if self.state == "waiting":  # for the local grid's turn, as a queued job waits for Slurm's
            return "queued"
        return "running" if self.state in RUNNING else self.state


@dataclass
class _Trace:
    """What was read so far of one agent's stdout.log."""

    fmt: str  # the agent definition's trace format
    offset: int = 0
    last_action: str = ""
    last_eval: float | None = None
    eval_calls: int = 0


class Watch:
    """Snapshots of one experiment folder; remembers how far each log was read."""

    def __init__(self, experiment: str | Path):
        self.exp = ExperimentPaths(Path(experiment).resolve())
        if not self.exp.root.is_dir():
            raise FileNotFoundError(f"{experiment}: no such experiment folder")
        self._traces: dict[str, _Trace] = {}
        self._redact = traces.Redactor()
        self._all_done_since: float | None = None
        self._settle_s = SETTLE_S

    def snapshot(self) -> list[CellView]:
        from ptb.report import leaderboard

        slurm = self._slurm_states()
        held = held_locks()
        folders = {p.name for p in leaderboard.cell_folders(self.exp.root) if p.parent == self.exp.root}
        # A `ptb run` holds its cell's lock before it creates the cell's folder.
        locked = {p.name[1:-5] for p in self.exp.root.glob(".*.lock") if _held(p, held)}
        plan = _read_json(self.exp.plan) or {}
        waiting = set(plan.get("cells", [])) if _grid_alive(plan) else set()
        self._settle_s = 0.0 if plan else SETTLE_S  # the plan lists every cell still to come
        rows = [self._row(name, slurm.get(name), held, name in waiting)
                for name in sorted(folders | set(slurm) | locked | set(plan.get("cells", [])))]
        if rows and all(r.finished for r in rows):
            self._all_done_since = self._all_done_since or time.time()
        else:
            self._all_done_since = None
        return rows

    @property
    def settled(self) -> bool:
        """Every cell was finished in the snapshots of the last SETTLE_S seconds."""
        return self._all_done_since is not None and time.time() - self._all_done_since >= self._settle_s

    def _slurm_states(self) -> dict:
        if not self.exp.slurm_jobs.is_file():
            return {}
        from ptb.run import slurm

        return {s.cell: s for s in slurm.cell_statuses(self.exp.root)}

    def _row(self, name: str, job, held: set[int] | None, planned: bool = False) -> CellView:
        cp = self.exp.cell(name)
        cell = _read_json(cp.cell_json) or _read_json(cp.result) or dict(zip(("agent", "model", "benchmark"),
                                                                             name.split("__")))
        ids = {"cell": name, "agent": cell.get("agent", "?"), "model": cell.get("model", "?"),
               "benchmark": cell.get("benchmark", "?"), "job_id": job.job_id if job else None}
        result = _read_json(cp.result)
        if result is not None:
            from ptb.run.slurm import RESULT_ERRORS

            status, reason = result["status"], result.get("reason", "")
            return CellView(**ids, state="failed" if status in RESULT_ERRORS else "done", status=status,
                            score=result["score"], detail=f"{RESULT_ERRORS[status]}: {reason}" if status in RESULT_ERRORS
                            else reason, **self._trace_fields(cp, ids["agent"]))
        if job is not None and job.state in ("queued", "failed"):
            return CellView(**ids, state=job.state, detail=job.detail)
        state = _stage(cp)
        fields = self._trace_fields(cp, ids["agent"])
        # Slurm says where a job runs; else the cell's lock tells whether a `ptb run` on this host works on it.
        if (job is None or job.state != "running") and _held(cp.lock, held) is False:
            if cp.result.is_file():  # finished just now, and released its lock
                return self._row(name, job, held_locks(), planned)
            if planned:  # the running grid will start it (again: an interrupted folder is moved aside)
                return CellView(**ids, state="waiting", detail="waits for its turn in the running grid")
            stopped = f"stopped at stage '{state}'" if cp.root.is_dir() else "not started"
            return CellView(**ids, state="interrupted", detail=f"{stopped}; `ptb grid` runs it again", **fields)
        if state != "agent":
            return CellView(**ids, state=state, detail=job.detail if job else "", **fields)
        deadline = _deadline(cp)
        return CellView(**ids, state=state, time_left_s=None if deadline is None else max(0.0, deadline - time.time()),
                        **_resources(cp), **fields)

    def _trace_fields(self, cp: CellPaths, agent: str) -> dict:
        log, name = cp.stdout, cp.root.name
        trace = self._traces.get(name)
        if trace is None or (log.is_file() and log.stat().st_size < trace.offset):
            # New, or rewritten (an older ptb redacted logs in place after the run): from the start.
            trace = self._traces[name] = _Trace(fmt=_trace_format(agent))
        if log.is_file():
            self._read_new(log, trace)
        return {"last_action": trace.last_action, "last_eval": trace.last_eval, "eval_calls": trace.eval_calls}

    def _read_new(self, log: Path, trace: _Trace) -> None:
        with open(log, "rb") as f:
            f.seek(trace.offset)
            pending = b""
            while block := f.read(CHUNK):
                pending += block
                cut = pending.rfind(b"\n") + 1  # a line still being written is read next time
                if cut:
                    self._take(pending[:cut].decode(errors="replace").splitlines(), trace)
                    trace.offset += cut
                    pending = pending[cut:]
                elif len(pending) > MAX_LINE:
                    trace.offset += len(pending)
                    pending = b""

    def _take(self, lines: list[str], trace: _Trace) -> None:
        for e in traces.normalise(trace.fmt, lines):
            for line in e["text"].splitlines():
                if (rec := traces.eval_record(line)) is not None:
                    trace.last_eval, trace.eval_calls = float(rec["score"]), trace.eval_calls + 1
            action = _action(e)
            if action:
                trace.last_action = self._redact(action)


def _action(event: dict) -> str:
    """One line for an agent's tool call, message or plain output line; '' for other events."""
    if event["type"] not in ("tool_call", "message", "text") or event["role"] == "user":
        return ""
    text = next((line.strip() for line in event["text"].splitlines() if line.strip()), "")
    if not text:
        return ""
    line = f"{event['tool']}: {text}" if event["tool"] else text
    return line if len(line) <= ACTION_CHARS else line[:ACTION_CHARS - 3] + "..."


def _trace_format(agent: str) -> str:
    try:
        return params.load_agent(agent).trace
    except params.ParamError:  # a definition gone or renamed since the run: its output as plain lines
        return "plain"


def _grid_alive(plan: dict) -> bool:
    """Whether the grid process that wrote the plan still runs: checked on its own host;
    from another host it cannot be told, and is taken to run."""
    if not plan:
        return False
    if plan.get("host") != socket.gethostname():
        return True
    return Path(f"/proc/{plan.get('pid')}").is_dir()


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):  # absent, or caught mid-write by a non-atomic writer
        return None


def _stage(cp: CellPaths) -> str:
    if cp.integrity.is_file():
        return "final evaluation"
    if cp.agent_json.is_file():
        return "integrity"
    return "agent" if _deadline(cp) is not None else "starting"


def _deadline(cp: CellPaths) -> float | None:
    """The agent's deadline (epoch s); None before the agent started."""
    clock = _read_json(cp.clock)
    return None if clock is None else clock["deadline"]


def _resources(cp: CellPaths) -> dict:
    sample = last_sample(cp.monitor)
    if sample is None:
        return {}
    gpus = sample.get("gpus") or []
    return {"cpu_pct": sample.get("cpu_pct"), "mem_mib": sample.get("mem_mib"),
            "gpu_util_pct": sum(g["util_pct"] for g in gpus) / len(gpus) if gpus else None,
            "gpu_mem_mib": sum(g["mem_used_mib"] for g in gpus) if gpus else None,
            "gpu_mem_total_mib": sum(g["mem_total_mib"] for g in gpus) if gpus else None}


def last_sample(log: Path) -> dict | None:
    """The last resource sample of a monitor log, read from its end."""
    if not log.is_file():
        return None
    with open(log, "rb") as f:
        f.seek(max(0, log.stat().st_size - 65536))
        lines = f.read().splitlines()
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # the first line of the tail, cut, or a line being written
            continue
        if isinstance(rec, dict) and "monitor_stopped" not in rec:
            return rec
    return None


def held_locks() -> set[int] | None:
    """Inode numbers of the files a process on this host holds an flock on, from /proc/locks;
    None where that cannot be read."""
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    held = set()
    # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:3179530 0 EOF"; a waiter's line has "->" after the
    # number. Inodes only: the device numbers shown differ from stat's on some file systems
    # (a clash with a lock on another file system would show a cell as running).
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK":
            held.add(int(fields[5].rsplit(":", 1)[-1]))
    return held


def _held(lock: Path, held: set[int] | None) -> bool | None:
    """Whether the lock file is held; None when unknown. A lock file that does not exist is not held."""
    try:
        ino = lock.stat().st_ino
    except FileNotFoundError:
        return False
    return None if held is None else ino in held


# ------------------------------------------------------------------------------ rendering


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _pct(score: float | None) -> str:
    return "-" if score is None else f"{100 * score:.1f}"


def _columns(r: CellView) -> dict[str, str]:
    """What one row shows, as text."""
    if r.state == "done":
        what = "; ".join(w for w in (f"{r.status}, score {_pct(r.score)}", r.detail) if w)
    else:
        what = r.last_action or r.detail
    gpu = r.gpu_util_pct is not None
    return {"cell": r.cell, "state": r.state, "job": r.job_id or "-", "time left": _hms(r.time_left_s),
            "GPU": f"{r.gpu_util_pct:.0f}%" if gpu else "-",
            "GPU memory": f"{r.gpu_mem_mib / 1024:.1f}/{r.gpu_mem_total_mib / 1024:.1f} GiB" if gpu else "-",
            "CPU": "-" if r.cpu_pct is None else f"{r.cpu_pct:.0f}%",
            "RAM": "-" if r.mem_mib is None else f"{r.mem_mib / 1024:.1f} GiB",
            "last eval": _pct(r.last_eval) if r.eval_calls else "-", "score": _pct(r.score),
            "status / last action": what}


def _table(rows: list[CellView]) -> list[dict[str, str]]:
    table = [_columns(r) for r in rows]
    if not any(r.job_id for r in rows):  # not a Slurm experiment
        for c in table:
            del c["job"]
    return table


def counts(rows: list[CellView]) -> str:
    phases = ("queued", "running", "done", "failed", "interrupted")
    return f"{len(rows)} cells: " + ", ".join(f"{sum(r.phase == p for r in rows)} {p}" for p in phases)


def to_text(rows: list[CellView]) -> str:
    table = _table(rows)
    heads = list(table[0]) if table else []
    widths = {h: max(len(h), *(len(c[h]) for c in table)) for h in heads}
    lines = ["  ".join(h.ljust(widths[h]) for h in heads).rstrip()] if table else []
    lines += ["  ".join(c[h].ljust(widths[h]) for h in heads).rstrip() for c in table]
    return "\n".join([*lines, counts(rows)])


def to_html(rows: list[CellView], title: str = "") -> str:
    table = _table(rows)
    heads = list(table[0]) if table else []
    cell = "<{0} style='text-align:left;padding:2px 8px'>{1}</{0}>"
    head = "".join(cell.format("th", html.escape(h)) for h in heads)
    body = "".join("<tr>" + "".join(cell.format("td", html.escape(c[h])) for h in heads) + "</tr>" for c in table)
    caption = html.escape(f"{title}{counts(rows)}; refreshed {time.strftime('%H:%M:%S')}")
    return f"<div><b>{caption}</b><table><tr>{head}</tr>{body}</table></div>"


# ------------------------------------------------------------------------------- the widget


class LiveView:
    """The experiment's table as a JupyterLab widget, refreshed every `interval` seconds by
    a background thread once shown (until every cell is finished, or `stop()`). With
    until_done, showing it blocks, refreshing, until every cell is finished, then shows
    the final table as plain HTML too (kept in a notebook run by papermill)."""

    def __init__(self, experiment: str | Path, interval: float = 10.0, until_done: bool = False):
        import ipywidgets

        if interval <= 0:
            raise ConfigError(f"interval must be > 0 seconds, got {interval}")
        self.watch = Watch(experiment)
        self.interval, self.until_done = float(interval), until_done
        self.widget = ipywidgets.HTML()
        self.rows: list[CellView] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    def refresh(self) -> list[CellView]:
        """Read the experiment once and redraw; returns the rows shown."""
        self.rows = self.watch.snapshot()
        self.widget.value = to_html(self.rows, f"{self.watch.exp.root.name}: ")
        return self.rows

    def wait(self) -> list[CellView]:
        """Refresh every `interval` seconds until every cell is finished."""
        while not self.watch.settled:
            time.sleep(self.interval)
            self.refresh()
        return self.rows

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()
            if self.watch.settled:
                return

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        display(self.widget)
        if self.until_done:
            self.wait()
            display(HTML(self.widget.value))
        else:
            self.start()
