"""`ptb rehearse` with the four real agent CLIs (npm, the versions docker/agents.Dockerfile
pins; `setup.sh --test` installs them in .cache/agents-cli), in the local sandbox and in
the Docker sandbox, against ptb's scripted endpoint: every CLI must show the same, exact
counts for the same scripted traffic."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, ptb
from ptb.agents import endpoint
from ptb.run import rehearse
from ptb.sandbox import image
from test_docker import BASE, WHEELHOUSE, engine, sandbox_image_tag  # noqa: F401 (fixtures)

CLIS = ("claude-code", "codex", "gemini-cli", "opencode")
# The script (ptb/agents/endpoint.py SCRIPT): timer.sh, train.py, evaluate.py, then a last answer;
# per response (fresh input, cache reads, output) = (1000, 0, 30), (2000, 800, 60),
# (3000, 1600, 90), (4000, 2400, 20); at 3 / 0.3 / 15 USD per million input / cache-read /
# output tokens: (10000 * 3 + 4800 * 0.3 + 200 * 15) / 1e6 USD.
EXPECTED = {"turns": 4, "tool_calls": 3, "eval_calls": 1, "training_runs": 1, "input_tokens": 10000,
            "cache_read_tokens": 4800, "cache_write_tokens": 0, "output_tokens": 200, "cost_usd": 0.03444}


def pinned() -> dict[str, str]:
    text = (ROOT / "docker" / "agents.Dockerfile").read_text()
    return dict(re.findall(r"((?:@[a-z-]+/)?[a-z-]+)@(\d+\.\d+\.\d+)", text))


@pytest.fixture(scope="session")
def agent_clis() -> Path:
    """The npm prefix holding the pinned CLIs: PTB_AGENT_CLI_DIR, .cache/agents-cli or /opt/ptb-cli."""
    want = {k: v for k, v in pinned().items() if k != "node"}
    for d in (os.environ.get("PTB_AGENT_CLI_DIR"), ROOT / ".cache" / "agents-cli", "/opt/ptb-cli"):
        if not d or not (Path(d) / "lib" / "node_modules").is_dir():
            continue
        found = {name: json.loads((Path(d) / "lib" / "node_modules" / name / "package.json").read_text())["version"]
                 for name in want if (Path(d) / "lib" / "node_modules" / name / "package.json").is_file()}
        if found == want:
            return Path(d)
    pytest.fail(f"the agent CLIs {want} are not installed: bash .devcontainer/setup.sh --test")


def write_grid(tmp_path: Path, agents: tuple[str, ...], sandbox: str) -> Path:
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"experiment: paid-run\nagents: [{', '.join(agents)}]\nmodels: [Qwen/Qwen3-1.7B-Base]\n"
                    f"benchmarks: [gsm8k]\nhours: 10\nsandbox: {sandbox}\n")
    return grid


def rehearse_ok(tmp_path: Path, sandbox: str, env: dict) -> dict:
    res = ptb("rehearse", write_grid(tmp_path, CLIS, sandbox), "--out", tmp_path / "out", env=env, timeout=3000)
    report = json.loads((tmp_path / "out" / "rehearsal.json").read_text())
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert report["expected"] == EXPECTED
    by_agent = {a["agent"]: a for a in report["agents"]}
    assert sorted(by_agent) == sorted(CLIS)
    for name, a in by_agent.items():
        assert all(c["passed"] for c in a["checks"].values()), (name, a["checks"])
        assert {k: a["figures"][k] for k in EXPECTED} == EXPECTED, name
    return report


def test_expected_counts_follow_from_the_script():
    assert {k: rehearse.expected()[k] for k in EXPECTED} == EXPECTED
    assert endpoint.expected_usage()["turns"] == len(endpoint.SCRIPT)


def test_all_four_clis_in_the_local_sandbox(tmp_path, agent_clis, tiny_model):
    rehearse_ok(tmp_path, "local", {"PTB_AGENT_TOOLS": str(agent_clis)})


def test_a_missing_cli_fails_the_rehearsal_in_its_own_words(tmp_path, tiny_model):
    res = ptb("rehearse", write_grid(tmp_path, ("claude-code", "zero-shot"), "local"), "--out", tmp_path / "out",
              env={"PTB_AGENT_TOOLS": ""})
    assert res.returncode == 1, res.stderr
    report = json.loads((tmp_path / "out" / "rehearsal.json").read_text())
    [claude] = report["agents"]  # zero-shot calls no model API: nothing to rehearse
    started = claude["checks"]["CLI found and started"]
    assert not started["passed"] and "exit code 127" in started["seen"] and "claude" in started["seen"]
    res = ptb("rehearse", write_grid(tmp_path, ("zero-shot",), "local"), "--out", tmp_path / "out2")
    assert res.returncode == 2 and "nothing to rehearse" in res.stderr and len(res.stderr.splitlines()) == 1


@pytest.fixture(scope="session")
def agents_image(sandbox_image_tag) -> str:
    """docker/agents.Dockerfile on the offline sandbox image (node and the CLIs come from the
    npm registry, which a build reaches); built once while the Dockerfiles and lock are unchanged."""
    return image.build_agents(BASE, WHEELHOUSE, offline=True)


def test_all_four_clis_in_the_docker_sandbox(tmp_path, agents_image, tiny_model):
    rehearse_ok(tmp_path, "docker", {"PTB_SANDBOX_IMAGE": agents_image, "PTB_AGENT_TOOLS": ""})


def post(url: str, body: dict) -> str:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json",
                                                                  "x-api-key": "k-123456"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def sse(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


def test_endpoint_plays_the_script_in_each_api(tmp_path):
    prompt = "The base model, ready to load: `/models/base`."
    with endpoint.Endpoint(log=tmp_path / "log.jsonl", key="k-123456") as ep:
        # Anthropic Messages, streaming, after one tool result: step 1, the training command.
        events = sse(post(ep.url + "/v1/messages", {"model": "m", "stream": True, "tools": [{"name": "Bash"}], "messages": [
            {"role": "user", "content": prompt},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "3590 seconds"}]}]}))
        start = events[0]["message"]["usage"]
        assert (start["input_tokens"], start["cache_read_input_tokens"]) == (2000, 800)
        call = json.loads(next(e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"
                               and e["delta"]["type"] == "input_json_delta"))
        assert call["command"].endswith("python train.py /models/base")
        assert events[-2]["usage"]["output_tokens"] == 60 and events[-2]["delta"]["stop_reason"] == "tool_use"
        # OpenAI Responses: a running command is waited for (a poll outside the script).
        events = sse(post(ep.url + "/v1/responses", {"model": "m", "stream": True, "tools": [
            {"type": "function", "name": "exec_command"}, {"type": "function", "name": "write_stdin"}], "input": [
            {"type": "function_call_output", "call_id": "c", "output": "Process running with session ID 7"}]}))
        [item] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert (item["name"], json.loads(item["arguments"])["session_id"]) == ("write_stdin", 7)
        assert events[-1]["response"]["usage"]["input_tokens"] == 0
        # Chat Completions: the last step, text only, usage in the final chunk.
        chunks = sse(post(ep.url + "/v1/chat/completions", {"model": "m", "stream": True, "tools": [
            {"type": "function", "function": {"name": "bash"}}], "messages": [{"role": "tool"}] * 3}))
        assert chunks[-1]["usage"] == {"prompt_tokens": 6400, "completion_tokens": 20, "total_tokens": 6420,
                                       "prompt_tokens_details": {"cached_tokens": 2400},
                                       "completion_tokens_details": {"reasoning_tokens": 0}}
        assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks if c["choices"])
        # Gemini, not streaming; a request offering no shell tool is a side request.
        whole = json.loads(post(ep.url + "/v1beta/models/g:generateContent", {"contents": [
            {"role": "user", "parts": [{"text": prompt}]}], "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}]}))
        assert whole["candidates"][0]["content"]["parts"][1]["functionCall"]["args"]["command"] == "bash timer.sh"
        assert whole["usageMetadata"]["promptTokenCount"] == 1000
        side = json.loads(post(ep.url + "/v1/messages", {"model": "m", "messages": [{"role": "user", "content": "title?"}]}))
        assert side["usage"]["input_tokens"] == 0 and side["content"][0]["text"] == "ok"
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(r["api"], r["step"]) for r in log] == [("anthropic", 1), ("responses", None), ("chat", 3),
                                                    ("gemini", 0), ("anthropic", None)]
    assert all(r["key_ok"] for r in log) and "k-123456" not in (tmp_path / "log.jsonl").read_text()
