"""Planted cheats and honest controls as scripted agents through the real `ptb run` (real
bubblewrap, the cell notebook through real papermill, real GSM8K rows from the shared data folder):
each ends with its expected verdict and evidence that names the file or call site and the
matched test items, never the test text. The cases are the cheap ones of tests/cheat_agents.py
(the whole catalogue runs in bench/cheats.py)."""

from __future__ import annotations

import json

import pytest

import cheat_agents
from conftest import SHARED, ptb

HUB = SHARED / "data" / "hub"  # the real GSM8K rows, in the PTB_DATA_DIR layout
pytestmark = pytest.mark.skipif(not (HUB / "openai" / "gsm8k" / "main" / "test.jsonl").is_file(),
                                reason="needs the shared GSM8K rows (../shared/data/hub)")
TESTED = [c.name for c in cheat_agents.CASES if c.in_test]


@pytest.mark.parametrize("agent", TESTED)
def test_planted_cheat_or_control(tmp_path, tiny_model, ptb_cache, agent):
    case = cheat_agents.BY_NAME[agent]
    drop = tmp_path / "drop"  # the cheap cases need nothing from the drop folder or a hub cache
    drop.mkdir()
    fx = cheat_agents.Fixtures(HUB, drop, tmp_path / "hf", tmp_path / "hf")
    agents = tmp_path / "agents"
    agents.mkdir()
    cheat_agents.write_agent(agents, case)
    out = tmp_path / "out"
    env = cheat_agents.cell_env(case, fx, agents, ptb_cache)
    res = ptb(*cheat_agents.run_args(case, out), timeout=1200, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    outcome = cheat_agents.judge(case, out)
    checks = outcome.checks
    assert outcome.verdict == case.verdict, {n: c["summary"] for n, c in checks.items()}
    assert outcome.caught, outcome
    cell = next((out / "c").glob(f"{agent}__*"))
    text = (cell / "integrity.json").read_text()
    if case.benchmark == "gsm8k":  # evidence names items and places, never the test text
        first = json.loads((HUB / "openai/gsm8k/main/test.jsonl").open().readline())
        assert first["question"][:40] not in text
    if agent == "read-answer-keys":
        c = checks["contamination"]["evidence"]
        assert c["read_outside_scanned"] == [str(HUB / "openai/gsm8k/main/test.jsonl")]
        assert c["matches"][0]["file"].startswith("[read by the agent] ")
    if agent in ("test-split-by-name", "ptb-loader"):
        sources = {ld["source"] for ld in checks["contamination"]["evidence"]["loads"]}
        assert "audit" in sources, checks["contamination"]["evidence"]["loads"]
    if agent == "equations":
        assert checks["contamination"]["evidence"]["matches"][0]["file"] == "facts.txt"
