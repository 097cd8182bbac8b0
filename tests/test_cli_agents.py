"""The four CLI agent definitions: their commands run (with stand-in CLIs that record their
arguments and print one event of their real format), variants override their variables,
and the re-prompting loop (ptb/agents/reprompt.py) stops once fewer than N minutes remain."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ptb
from ptb.agents import traces
from ptb.run import cell, params

EVENTS = {  # one line each CLI prints, in its own stream format
    "claude": '{"type":"result","subtype":"success","result":"ok","total_cost_usd":0.5,"usage":{"input_tokens":3,"output_tokens":2}}',
    "codex": '{"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2}}',
    "gemini": '{"type":"result","status":"success","stats":{"input_tokens":3,"output_tokens":2}}',
    "opencode": '{"type":"step_finish","part":{"reason":"stop","cost":0.5,"tokens":{"input":3,"output":2}}}',
}
AGENTS = {"claude-code": "claude", "codex": "codex", "gemini-cli": "gemini", "opencode": "opencode"}


def run_definition(tmp_path: Path, spec: str, seconds_left: list[int]) -> tuple[list[list[str]], str]:
    """Run an agent definition's command with a stand-in CLI and a timer that counts down."""
    agent = params.load_agent(spec)
    task = tmp_path / "task"
    bin_dir = tmp_path / "bin"
    task.mkdir()
    bin_dir.mkdir()
    (task / "prompt.md").write_text("Post-train the model.")
    (tmp_path / "left").write_text("\n".join(map(str, seconds_left)) + "\n")
    (task / "timer.sh").write_text(f'n=$(head -1 {tmp_path}/left); sed -i 1d {tmp_path}/left\n'
                                   'echo "Time left: 0:00:00 ($n seconds)"\n')
    exe = AGENTS[agent.name]
    (bin_dir / exe).write_text(f"#!/usr/bin/env python3\nimport json, sys\n"
                               f"open({str(tmp_path / 'calls.jsonl')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                               f"print({EVENTS[exe]!r})\n")
    (bin_dir / exe).chmod(0o755)
    run = cell.CellRun(params.Cell("e", spec, "tiny-qwen3", "arith"),
                       params.paths.CellPaths(tmp_path), agent, (), task, None)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(task)}
    res = subprocess.run(cell.agent_command(run), cwd=task, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    return calls, res.stdout


@pytest.mark.parametrize("name", list(AGENTS))
def test_cli_agent_runs_once_by_default(tmp_path, name):
    calls, stdout = run_definition(tmp_path, name, [3600])
    assert len(calls) == 1 and "Post-train the model." in calls[0]
    agent = params.load_agent(name)
    events = traces.normalise(agent.trace, stdout.splitlines())
    assert traces.summary(agent.trace, events)["input_tokens"] == 3


@pytest.mark.parametrize("name,continue_flag", [("claude-code", "--continue"), ("codex", "resume"),
                                                ("gemini-cli", "--resume"), ("opencode", "--continue")])
def test_variant_reprompts_until_few_minutes_remain(tmp_path, name, continue_flag):
    calls, _ = run_definition(tmp_path, f"{name}@model=other-model,reprompt_minutes=5", [1200, 400, 200])
    assert len(calls) == 3  # the prompt, then two re-prompts; 200 s left < 5 min: stop
    assert all(any(arg.endswith("other-model") for arg in c) for c in calls)  # opencode: provider/model
    assert continue_flag not in calls[0] and all(continue_flag in c for c in calls[1:])


def test_token_prices_give_a_cost_where_the_cli_reports_none(tmp_path):
    spec = "codex@usd_per_mtok_in=2,usd_per_mtok_out=10"
    _, stdout = run_definition(tmp_path, spec, [3600])
    agent = params.load_agent(spec)
    totals = traces.summary(agent.trace, traces.normalise(agent.trace, stdout.splitlines()))
    assert totals["cost_usd"] is None  # codex reports 3 input and 2 output tokens, no cost
    assert traces.priced(totals, agent.vars) == pytest.approx((3 * 2 + 2 * 10) / 1e6)
    assert traces.priced(totals, params.load_agent("codex").vars) is None  # no prices: unknown, not 0
    with pytest.raises(params.ParamError, match="'cheap' is not a price"):
        params.load_agent("codex@usd_per_mtok_in=cheap")


def run_cell(tmp_path: Path, agent: str, env: dict | None = None) -> dict:
    res = ptb("run", "--agent", agent, "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", "0.01",
              "--experiment", "t", "--eval-limit", "5", "--out", tmp_path / "out", env=env)
    assert res.returncode == 0, res.stderr
    return json.loads((tmp_path / "out" / "t" / f"{agent}__tiny-qwen3__arith__s0" / "result.json").read_text())


def test_a_cli_that_cannot_start_is_an_agent_error_in_its_own_words(tmp_path, tiny_model):
    r = run_cell(tmp_path, "claude-code", env={"PTB_AGENT_TOOLS": ""})  # claude is on no PATH the sandbox gives
    assert (r["status"], r["agent_exit_code"]) == ("agent_error", 127), r
    assert "claude" in r["reason"] and "No such file or directory" in r["reason"], r["reason"]


def test_tools_folders_are_found_in_the_sandbox_first_on_path(tmp_path, tiny_model):
    tools = tmp_path / "cli"  # under /tmp, which the local sandbox otherwise hides
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / "claude").write_text('#!/bin/sh\necho "stand-in claude at $(command -v claude)"; exit 4\n')
    (tools / "bin" / "claude").chmod(0o755)
    r = run_cell(tmp_path, "claude-code", env={"PTB_AGENT_TOOLS": str(tools)})
    assert (r["status"], r["reason"]) == ("agent_error", f"the agent exited with code 4: stand-in claude at {tools}/bin/claude")
    r = run_cell(tmp_path / "again", "claude-code", env={"PTB_AGENT_TOOLS": str(tmp_path / "nowhere")})
    assert r["status"] == "infra_error" and "nowhere does not exist" in r["reason"]


def test_definition_files_stay_in_the_task_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_AGENT_PATH", str(tmp_path))
    (tmp_path / "escapes.yaml").write_text("name: escapes\ncommand: [echo]\nfiles: {'../../etc/x': 'y'}\n")
    with pytest.raises(params.ParamError, match="not a path inside the task folder"):
        params.load_agent("escapes")
    assert params.load_agent("gemini-cli").files == {
        ".gemini/settings.json": '{"security": {"auth": {"selectedType": "gemini-api-key"}}}'}
