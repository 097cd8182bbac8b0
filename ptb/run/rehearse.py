"""`ptb rehearse GRID.yaml [--sandbox local|docker] [--out DIR]`: every CLI agent of a grid, for a minute or two, through the
grid's real sandbox, against ptb's scripted model endpoint (ptb/agents/endpoint.py) instead of a
paid API: what to run before a paid grid.

Each agent runs as one real cell (`ptb run`'s notebook) of tiny-qwen3 on arith, from ptb's
own definition plus the variables that point its CLI at the endpoint (`ENDPOINT_VARS`),
with a fake key planted in the variable its CLI sends. The report says, per agent: the CLI
was found and started, the endpoint was reached with that key, the tool calls ran,
evaluate.py ran, the trace parsed with the counts the script implies (turns, tool calls,
evaluate.py calls, training runs, tokens, cost), integrity found nothing, and no saved file holds the key.
The same goes to DIR/rehearsal.json; the cells are under DIR/rehearse/, the endpoint's
request log in DIR/endpoint/requests.jsonl.

Where the endpoint runs: on 127.0.0.1 for the local sandbox (which shares the host's
network when the agent has it); for the Docker sandbox in a container of the sandbox image
on Docker's default bridge, which the agent's container reaches by its address.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ptb.agents import endpoint, traces
from ptb.paths import CellPaths
from ptb.run import params

# Per trace format (i.e. per CLI): the definition's variables that send it to an endpoint
# at URL, and the variable holding the key it then sends. Prices make every CLI's cost
# comparable: claude prices its own model (claude-sonnet-4-5, these prices); the others
# report tokens only, or a cost of 0 for a model they have no price for.
PRICES = {"usd_per_mtok_in": "3", "usd_per_mtok_out": "15", "usd_per_mtok_cache_read": "0.3",
          "usd_per_mtok_cache_write": "3.75"}
ENDPOINT_VARS = {
    "claude-stream-json": ({"base_url": "{url}", "model": "claude-sonnet-4-5"}, "ANTHROPIC_API_KEY"),
    "codex-json": ({"provider": "api", "base_url": "{url}/v1", "key_env": "OPENAI_API_KEY"}, "OPENAI_API_KEY"),
    "gemini-stream-json": ({"base_url": "{url}"}, "GEMINI_API_KEY"),
    "opencode-json": ({"provider": "anthropic", "model": "claude-sonnet-4-5", "npm": "@ai-sdk/anthropic",
                       "base_url": "{url}/v1", "key_env": "ANTHROPIC_API_KEY"}, "ANTHROPIC_API_KEY"),
}
MODEL, BENCHMARK = "tiny-qwen3", "arith"
ENDPOINT_PORT = 8000  # inside the endpoint's own container


def expected() -> dict:
    """What one run of the endpoint's script must show in every CLI's record."""
    script = endpoint.expected_usage()
    cost = (script["input_tokens"] * float(PRICES["usd_per_mtok_in"])
            + script["cached_input_tokens"] * float(PRICES["usd_per_mtok_cache_read"])
            + script["output_tokens"] * float(PRICES["usd_per_mtok_out"])) / 1e6
    return {"turns": script["turns"], "tool_calls": script["tool_calls"], "eval_calls": script["evaluate_calls"],
            "training_runs": script["training_runs"],
            "input_tokens": script["input_tokens"], "cache_read_tokens": script["cached_input_tokens"],
            "cache_write_tokens": 0, "output_tokens": script["output_tokens"], "cost_usd": round(cost, 6)}


@dataclass
class Rehearsal:
    """One agent's rehearsal: each check with what was seen."""

    agent: str
    cell_dir: Path | None = None
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(passed for passed, _ in self.checks.values())

    def check(self, name: str, passed: bool, seen: str) -> None:
        self.checks[name] = (bool(passed), seen)


def variant(spec: str, url: str) -> tuple[str, str]:
    """The grid's agent spec with the endpoint's variables (and prices) added; the name of
    the variable to plant the key in. Raises ParamError for agents that call no model API."""
    name, overrides = params.split_variant(spec)
    agent = params.load_agent(spec)
    if agent.trace not in ENDPOINT_VARS:
        raise params.ParamError(f"agent '{spec}' calls no model API (trace: {agent.trace}): nothing to rehearse")
    extra, key_var = ENDPOINT_VARS[agent.trace]
    values = {k: v.replace("{url}", url) for k, v in extra.items() if k in agent.vars}
    if agent.trace != "claude-stream-json":
        values |= {k: v for k, v in PRICES.items() if k in agent.vars}
    merged = {**overrides, **values}
    return f"{name}@" + ",".join(f"{k}={v}" for k, v in merged.items()), key_var


@contextmanager
def planted(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextmanager
def serving(sandbox: str, log: Path, key: str) -> Iterator[str]:
    """The scripted endpoint for this sandbox; yields its URL as the agent will see it."""
    if sandbox == "local":
        with endpoint.Endpoint("127.0.0.1", 0, log, key) as ep:
            yield ep.url
        return
    from ptb.sandbox import docker as docker_sandbox
    from ptb.sandbox.image import default_image

    client = docker_sandbox._client()
    from docker.types import Mount

    container = client.containers.run(
        default_image(), ["python", "-m", "ptb.agents.endpoint", "--host", "0.0.0.0", "--port", str(ENDPOINT_PORT),
                          "--log", f"/log/{log.name}", "--key", key],
        detach=True, network_mode="bridge", environment={"PYTHONPATH": docker_sandbox.PTB_SRC},
        mounts=[Mount(f"{docker_sandbox.PTB_SRC}/ptb", str(params.paths.ROOT / "ptb"), type="bind", read_only=True),
                Mount("/log", str(log.parent), type="bind")],
        labels={"ptb.sandbox": "rehearse-endpoint"}, user="0:0")
    try:
        for _ in range(300):
            container.reload()
            if b"scripted endpoint at" in container.logs() or container.status != "running":
                break
            time.sleep(0.1)
        address = container.attrs["NetworkSettings"]["IPAddress"]
        if container.status != "running" or not address:
            raise RuntimeError(f"the endpoint's container did not start: {container.logs().decode()[-500:]}")
        yield f"http://{address}:{ENDPOINT_PORT}"
    finally:
        container.remove(force=True)


def secret_files(folder: Path, key: str) -> list[str]:
    """Files under folder whose bytes hold the key."""
    needle = key.encode()
    return [str(p.relative_to(folder)) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def requests_since(log: Path, t0: float) -> list[dict]:
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["t"] >= t0]


def rehearse_agent(spec: str, sandbox: str, out: Path, url: str, log: Path, key: str, minutes: float) -> Rehearsal:
    from ptb.run import grid

    rehearsal = Rehearsal(spec)
    full, key_var = variant(spec, url)
    cell = params.Cell("rehearse", full, MODEL, BENCHMARK, hours=minutes / 60, sandbox=sandbox, network=True,
                       eval_limit=2)
    started = time.time()
    with planted(key_var, key):
        result = grid.run_cell(cell, out, force=True)
    rehearsal.wall_s = round(time.time() - started, 1)
    cell_dir = rehearsal.cell_dir = out / cell.name
    seen = requests_since(log, started)
    scripted = [r for r in seen if r["step"] is not None]
    code = result.get("agent_exit_code")
    rehearsal.check("CLI found and started", result["status"] != "infra_error" and code not in (126, 127),
                    f"status {result['status']}, exit code {code}: {result.get('reason') or 'ok'}")
    rehearsal.check("endpoint reached", scripted and all(r["key_ok"] for r in seen),
                    f"{len(seen)} requests ({len(scripted)} of the script), key sent: "
                    f"{sorted({r['key_ok'] for r in seen}) or '-'}")
    cp = CellPaths(cell_dir)
    events = traces.read_events(cp.trace)
    counts = {"turns": traces.turns(events), "tool_calls": sum(e["type"] == "tool_call" for e in events),
              "eval_calls": len(traces.eval_records(events)), "training_runs": len(traces.training_launches(events))}
    want = expected()
    rehearsal.check("tool calls executed", (cp.task / "train.py").is_file() and cp.final_model.is_dir()
                    and result["status"] == "ok", f"train.py and final_model/ written; status {result['status']}")
    rehearsal.check("evaluate.py ran", counts["eval_calls"] >= 1, f"{counts['eval_calls']} evaluate.py calls seen")
    usage = result.get("usage") or json.loads(cp.trace_summary.read_text())
    got = {**counts, **{k: usage.get(k) for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")},
           "cost_usd": None if result.get("cost_usd") is None else round(result["cost_usd"], 6)}
    rehearsal.figures = got | {"wall_s": rehearsal.wall_s, "requests": len(seen)}
    wrong = {k: (got[k], v) for k, v in want.items() if got[k] != v}
    rehearsal.check("trace counts as scripted", not wrong,
                    "all as expected" if not wrong else "; ".join(f"{k} {g} (expected {w})" for k, (g, w) in wrong.items()))
    verdict = result["integrity"]["verdict"]
    flagged = [f"{c['name']}: {c['summary']}" for c in result["integrity"]["checks"] if c["status"] != "clean"]
    rehearsal.check("nothing flagged by integrity", verdict == "clean", "; ".join([verdict, *flagged]))
    leaks = secret_files(cell_dir, key) + (["the endpoint's log"] if key.encode() in log.read_bytes() else [])
    rehearsal.check("no secret in any file", not leaks, f"key found in {leaks}" if leaks else
                    f"{sum(1 for p in cell_dir.rglob('*') if p.is_file())} files searched")
    return rehearsal


def run(grid_path: str | Path, out: Path, minutes: float = 5.0, sandbox: str | None = None) -> list[Rehearsal]:
    """Rehearse every agent of the grid that calls a model API (others have nothing to rehearse)."""
    from ptb import models

    g = params.load_grid(grid_path, sandbox=sandbox)
    agents = [a for a in dict.fromkeys(g.agents) if params.load_agent(a).trace in ENDPOINT_VARS]
    if not agents:
        raise params.ParamError(f"{grid_path}: no agent calls a model API (known CLIs: "
                                f"{', '.join(ENDPOINT_VARS)}): nothing to rehearse")
    models.tiny_qwen3()
    out = Path(out).resolve()
    exp = out / "rehearse"
    exp.mkdir(parents=True, exist_ok=True)
    key = "sk-ant-api03-rehearsal-" + secrets.token_hex(24)  # shaped like a key: redaction must not rely on that
    log = out / "endpoint" / "requests.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()  # an agent that never starts sends nothing
    done = []
    with serving(g.sandbox, log, key) as url:
        for spec in agents:
            done.append(rehearse_agent(spec, g.sandbox, exp, url, log, key, minutes))
    params.write_json_atomic(out / "rehearsal.json", {"sandbox": g.sandbox, "expected": expected(), "agents": [
        {"agent": r.agent, "ok": r.ok, "cell_dir": str(r.cell_dir), "wall_s": r.wall_s, "figures": r.figures,
         "checks": {name: {"passed": passed, "seen": seen} for name, (passed, seen) in r.checks.items()}}
        for r in done]})
    return done


def report(rehearsals: list[Rehearsal]) -> str:
    lines = []
    for r in rehearsals:
        lines.append(f"{r.agent}: {'PASS' if r.ok else 'FAIL'} ({r.wall_s:.0f} s, {r.cell_dir})")
        lines += [f"  [{'x' if passed else ' '}] {name}: {seen}" for name, (passed, seen) in r.checks.items()]
        if r.figures:
            lines.append("  figures: " + ", ".join(f"{k} {v}" for k, v in r.figures.items()))
    return "\n".join(lines)
