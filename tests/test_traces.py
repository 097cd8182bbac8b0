"""The usage record (ptb/agents/traces.py) from sessions written in each of the four CLIs' stream
formats: the same scripted traffic gives the same figures in each, re-prompts add up, a run
killed at the deadline counts each response once, cached tokens have their own prices, and
tool calls carry their start and end."""

import json
from pathlib import Path

import pytest

import agent_sessions
from agent_sessions import FORMATS, PRICES, SESSION, response_cost, write_session
from ptb.agents import traces
from ptb.paths import CellPaths
from ptb.run import params

N = 11  # model responses in SESSION: 10 in the first invocation, 1 after the re-prompt
FULL = {"input_tokens": 200 * N, "cache_read_tokens": 1000 * N, "cache_write_tokens": 0, "output_tokens": 80 * N,
        "reasoning_tokens": 30 * N, "total_tokens": 1280 * N}


def usage_of(cell) -> dict:
    summary = json.loads((cell / "agent" / "trace_summary.json").read_text())
    assert json.loads((cell / "result.json").read_text())["usage"] == {k: summary[k] for k in traces.USAGE}
    return {k: summary[k] for k in traces.USAGE}


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_traffic_same_figures_in_each_format(tmp_path, fmt):
    priced = usage_of(write_session(tmp_path / "e" / "priced", fmt, SESSION, prices=PRICES))
    assert priced == FULL | {"cost_usd": pytest.approx(0.0231), "cost_source": "priced", "complete": True,
                             "reported_cost_usd": pytest.approx(0.0231) if fmt in ("claude-stream-json", "opencode-json")
                             else None}
    assert response_cost(N) == pytest.approx(0.0231)  # 2200 x $3 + 880 x $15 + 11000 x $0.3 per million
    reported = usage_of(write_session(tmp_path / "e" / "reported", fmt, SESSION))
    if fmt in ("claude-stream-json", "opencode-json"):
        # claude's total_cost_usd carries the first invocation into the resumed one (0.0021 + 0.0231 if
        # summed); its model_usage_since_last_result does not
        assert (reported["cost_usd"], reported["cost_source"]) == (pytest.approx(0.0231), "reported")
    else:  # codex and gemini state no cost: unknown until priced
        assert (reported["cost_usd"], reported["cost_source"]) == (None, None)


KILLED = {  # the last invocation's closing line never came
    "claude-stream-json": {"input_tokens": 2200, "cache_read_tokens": 11000, "output_tokens": 800,
                           "reasoning_tokens": 300, "cost_usd": pytest.approx(0.021)},
    "codex-json": {"input_tokens": 2000, "cache_read_tokens": 10000, "output_tokens": 800, "reasoning_tokens": 300,
                   "cost_usd": None},
    "gemini-stream-json": {"input_tokens": 2000, "cache_read_tokens": 10000, "output_tokens": 800,
                           "reasoning_tokens": 300, "cost_usd": None},
    "opencode-json": {"input_tokens": 2000, "cache_read_tokens": 10000, "output_tokens": 800, "reasoning_tokens": 300,
                      "cost_usd": pytest.approx(0.021)},
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_killed_at_the_deadline(tmp_path, fmt):
    """Claude's last response still counts its input and cache (once, though its usage repeats on
    each content block) but not the placeholder output 1 of its opening usage; the other formats
    state nothing for a response before its end."""
    u = usage_of(write_session(tmp_path / "e" / "killed", fmt, SESSION, killed=True))
    assert {k: u[k] for k in KILLED[fmt]} == KILLED[fmt]
    assert u["complete"] is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_cache_writes_have_their_own_price(tmp_path, fmt, monkeypatch):
    monkeypatch.setitem(agent_sessions.RESPONSE, "cache_write", 500)
    u = usage_of(write_session(tmp_path / "e" / "c", fmt, SESSION, prices=PRICES))
    if fmt in ("claude-stream-json", "opencode-json"):  # Anthropic's API states cache writes
        assert (u["input_tokens"], u["cache_write_tokens"]) == (2200, 5500)
    else:  # OpenAI's and Gemini's do not: the written tokens are input there
        assert (u["input_tokens"], u["cache_write_tokens"]) == (2200 + 5500, 0)
    expected = 0.0231 + 5500 * (3.75 if fmt in ("claude-stream-json", "opencode-json") else 3) / 1e6
    assert u["cost_usd"] == pytest.approx(expected)
    unpriced = {k: v for k, v in PRICES.items() if k != "usd_per_mtok_cache_write"}
    if fmt in ("claude-stream-json", "opencode-json"):
        assert traces.priced(u, unpriced) is None  # a kind of token used without its price: unknown


def test_opencode_cost_0_for_an_unpriced_model_is_unknown():
    line = {"type": "step_finish", "timestamp": 1, "part": {"id": "p", "type": "step-finish", "cost": 0,
                                                             "tokens": {"input": 9, "output": 2, "reasoning": 0,
                                                                        "cache": {"read": 0, "write": 0}}}}
    u = traces.usage(traces.normalise("opencode-json", [json.dumps(line)]))
    assert (u["input_tokens"], u["output_tokens"], u["cost_usd"], u["cost_source"]) == (9, 2, None, None)
    assert traces.usage(traces.normalise("opencode-json", [json.dumps(line)]), {"usd_per_mtok_in": "1",
                        "usd_per_mtok_out": "2"})["cost_usd"] == pytest.approx(13 / 1e6)


def test_token_prices_are_variables_of_every_agent():
    agent = params.load_agent("claude-code@usd_per_mtok_in=3,usd_per_mtok_cache_read=0.3")
    assert agent.vars["usd_per_mtok_cache_read"] == "0.3"
    with pytest.raises(params.ParamError, match="'free' is not a price"):
        params.load_agent("opencode@usd_per_mtok_cache_write=free")


def test_claude_retrying_without_network_is_errors():
    lines = [{"type": "system", "subtype": "init", "model": "m", "session_id": "s"}] + [  # as claude 2.1.332 writes them
        {"type": "system", "subtype": "api_retry", "attempt": n, "max_retries": 10, "retry_delay_ms": 500 * n,
         "error_status": None, "error": "unknown", "session_id": "s"} for n in (1, 2, 3)]
    lines.append(lines[1] | {"error_status": 529, "error": "overloaded"})
    events = traces.normalise("claude-stream-json", [json.dumps(x) for x in lines])
    assert [e["type"] for e in events] == ["system", "error", "error", "error", "error"]
    assert [events[1]["text"], events[4]["text"]] == ["api_retry 1/10: unknown", "api_retry 1/10: overloaded (HTTP 529)"]


# Recorded from the pinned CLIs, each against a local endpoint scripted to answer every request
# with 200 uncached and 1000 cached input tokens and 80 output tokens (OpenAI's and Gemini's: 30 of
# them reasoning): a text and a shell call, then a text after the tool's result; then the same
# again in the same session after ptb.agents.reprompt's marker. claude 2.1.332: `claude -p ...
# --output-format stream-json --verbose`, then `--continue`; codex 0.171.0: `codex exec --json`, then
# `exec resume --last`; gemini 0.61.0: `gemini --output-format stream-json --yolo -p`, then
# `--resume latest`; opencode 1.18.33: `opencode run --format json` with a provider of its own
# (@ai-sdk/anthropic, a model it has no price for), then `--continue`.
STREAMS = Path(__file__).parent / "fixtures" / "streams"
RECORDED = {"input_tokens": 800, "cache_read_tokens": 4000, "cache_write_tokens": 0, "output_tokens": 320,
            "total_tokens": 5120}


@pytest.mark.parametrize("fmt", FORMATS)
def test_recorded_streams_of_the_same_traffic(fmt):
    lines = (STREAMS / f"{fmt}.jsonl").read_text().split("\n")
    events = traces.normalise(fmt, lines, [float(n) for n in range(len(lines))])  # line n arrives at second n
    u = traces.usage(events, {k: v for k, v in PRICES.items() if k != "usd_per_mtok_cache_write"})
    assert {k: u[k] for k in RECORDED} == RECORDED and u["complete"]
    assert u["reasoning_tokens"] == (120 if fmt in ("codex-json", "gemini-stream-json") else 0)
    # claude states $0.0084 for these tokens at its own prices for the model, which are PRICES';
    # opencode states $0 for a model it has no price for: unknown
    assert u["cost_usd"] == pytest.approx(0.0084) and u["reported_cost_usd"] == (
        pytest.approx(0.0084) if fmt == "claude-stream-json" else None)
    assert traces.turns(events) == 4
    calls = [e for e in events if e["type"] == "tool_call"]
    assert len(calls) == 2 and all(e["t_end"] > e["t"] for e in calls)
    assert [traces.command_of(e["text"]) for e in calls] == ["echo hi", "echo hi"]


def test_recorded_claude_stream_killed_before_its_last_result(tmp_path):
    """The stream's figures, then with claude's session transcript in its HOME (here its
    assistant lines, as recorded with the stream), which holds each finished response's output."""
    lines = (STREAMS / "claude-stream-json.jsonl").read_text().splitlines()
    cut = max(n for n, line in enumerate(lines) if '"type":"result"' in line)
    cell = CellPaths(tmp_path)
    cell.agent.mkdir()
    cell.stdout.write_text("".join(line + "\n" for line in lines[:cut]))
    u = traces.write("claude-stream-json", cell)
    assert (u["input_tokens"], u["cache_read_tokens"], u["output_tokens"]) == (800, 4000, 160)  # not 160 + 2 x 1
    assert (u["cost_usd"], u["complete"]) == (pytest.approx(0.0042), False)
    u = traces.write("claude-stream-json", cell, PRICES, home=STREAMS / "claude-home")
    assert {k: u[k] for k in RECORDED} == RECORDED and u["complete"]
    assert (u["cost_usd"], u["reported_cost_usd"]) == (pytest.approx(0.0084), pytest.approx(0.0042))


def test_recorded_gemini_stream_killed_before_its_last_result(tmp_path):
    """Gemini states tokens only in an invocation's result; its session files in its HOME (here
    their response records, as recorded with the stream) hold each finished response's."""
    lines = (STREAMS / "gemini-stream-json.jsonl").read_text().splitlines()
    cut = max(n for n, line in enumerate(lines) if '"type":"result"' in line)
    cell = CellPaths(tmp_path)
    cell.agent.mkdir()
    cell.stdout.write_text("".join(line + "\n" for line in lines[:cut]))
    u = traces.write("gemini-stream-json", cell)
    assert (u["input_tokens"], u["cache_read_tokens"], u["output_tokens"], u["complete"]) == (400, 2000, 160, False)
    u = traces.write("gemini-stream-json", cell, home=STREAMS / "gemini-home")
    assert {k: u[k] for k in RECORDED} == RECORDED and (u["reasoning_tokens"], u["complete"]) == (120, True)
    events = [json.loads(line) for line in cell.trace.read_text().splitlines()]
    assert [e["i"] for e in events] == list(range(len(events)))
    assert sum(e["type"] == "usage" for e in events) == 2  # the cut invocation's two responses


@pytest.mark.parametrize("fmt", FORMATS)
def test_tool_calls_have_start_and_end(tmp_path, fmt):
    cell = write_session(tmp_path / "e" / "t", fmt, SESSION)
    events = [json.loads(line) for line in (cell / "agent" / "trace.jsonl").read_text().splitlines()]
    train = next(e for e in events if e["type"] == "tool_call" and "train.py --epochs" in e["text"])
    start = 1_750_000_000.0 + 12 * 60  # minute 12: the event's own stamp, else its line's arrival
    assert (train["t"], train["t_end"] - train["t"]) == (pytest.approx(start, abs=0.01), pytest.approx(1200, abs=0.01))
    assert all(e["t_end"] is not None and e["t_end"] >= e["t"] for e in events if e["type"] == "tool_call")
