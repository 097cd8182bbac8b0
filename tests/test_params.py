"""Grid and agent parameters: strict validation with one-line errors, and expansion."""

from pathlib import Path

import pytest

from conftest import ptb
from ptb.run import params

GOOD = """\
experiment: t
agents: [zero-shot, sft-baseline]
models: [tiny-qwen3]
benchmarks: [arith]
seeds: [0, 1]
hours: 0.1
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "grid.yaml"
    p.write_text(text)
    return p


def test_expand_is_the_product(tmp_path):
    cells = params.expand(params.load_grid(write(tmp_path, GOOD)))
    assert [c.name for c in cells] == [
        "zero-shot__tiny-qwen3__arith__s0", "zero-shot__tiny-qwen3__arith__s1",
        "sft-baseline__tiny-qwen3__arith__s0", "sft-baseline__tiny-qwen3__arith__s1",
    ]
    assert all(c.hours == 0.1 and c.sandbox == "local" for c in cells)


def test_demo_grid_is_valid():
    grid = params.load_grid(params.paths.PARAMETERS / "demo.yaml")
    assert {"zero-shot", "sft-baseline"} <= set(grid.agents) and grid.benchmarks == ["arith"]


@pytest.mark.parametrize("text, expected", [
    (GOOD + "agentz: [x]\n", "unknown key 'agentz'"),
    (GOOD.replace("hours: 0.1", "hours: soon"), "key 'hours'"),
    (GOOD.replace("seeds: [0, 1]", "seeds: 0"), "key 'seeds'"),
    (GOOD.replace("zero-shot, ", "zero-shoot, "), "key 'agents': unknown agent 'zero-shoot'"),
    (GOOD.replace("[arith]", "[arithmetic]"), "key 'benchmarks': unknown benchmark 'arithmetic'"),
    (GOOD.replace("[tiny-qwen3]", "[tiny]"), "key 'models': unknown model 'tiny'"),
    (GOOD.replace("experiment: t\n", ""), "missing key 'experiment'"),
    (GOOD + "sandbox: vm\n", "key 'sandbox'"),
    (GOOD.replace("zero-shot, ", "instruct, "), "agent 'instruct' needs an official instruct model"),
    ("agents: [zero-shot\n", "malformed YAML"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_bad_grid_gives_one_line_error_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(params.ParamError) as err:
        params.load_grid(path)
    assert expected in str(err.value) and str(path) in str(err.value)
    res = ptb("grid", path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0], res.stderr


def test_bad_agent_definition(tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_AGENT_PATH", str(tmp_path))
    (tmp_path / "broken.yaml").write_text("name: broken\ncommand: [echo]\ntimeout: 3\n")
    with pytest.raises(params.ParamError, match=r"broken.yaml: unknown key 'timeout'"):
        params.load_agent("broken")
    (tmp_path / "other.yaml").write_text("name: not-other\ncommand: [echo]\n")
    with pytest.raises(params.ParamError, match="differs from the file name"):
        params.load_agent("other")


def test_run_rejects_unknown_names_in_one_line():
    res = ptb("run", "--agent", "zero-shot", "--model", "tiny-qwen3", "--benchmark", "nope")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "unknown benchmark 'nope'" in res.stderr
    res = ptb("run", "--agent", "zero-shot", "--model", "/no/such/folder", "--benchmark", "arith")
    assert res.returncode == 2 and "unknown model '/no/such/folder'" in res.stderr
