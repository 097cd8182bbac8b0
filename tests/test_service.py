"""The agent's evaluation served from outside the sandbox (ptb/eval/service.py): through the
real `ptb run` (real bubblewrap, real papermill, real GSM8K rows), evaluate.py and the
contamination tool get scores and item numbers while no test row is readable inside; and the
service's own checks on what a request may name."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from conftest import SHARED, ptb
from ptb.agents import traces
from ptb.eval import service

HUB = SHARED / "data" / "hub"
TEST_ROWS = HUB / "openai" / "gsm8k" / "main" / "test.jsonl"

AGENT = """
cp -r "$1" final_model
python evaluate.py --model-path final_model --limit 2 --json-output-file dev.json; echo "exit=$?"
python evaluate.py --model-path final_model --limit 3; echo "exit=$?"
"$PTB_PY" - <<'EOF'
import json, os
# the host's test rows: neither at their path nor through ptb's loader
try:
    open(os.environ["ROWS"]).read()
    print("rows: readable")
except OSError as e:
    print("rows:", type(e).__name__)
from ptb.benchmarks import gsm8k
try:
    gsm8k.load("te" "st")
    print("loader: gave rows")
except Exception as e:
    print("loader:", type(e).__name__)
json.dump({"question": "q", "answer": "#### 1"}, open("mine.jsonl", "w"))
EOF
"$PTB_PY" -m ptb.integrity.contamination --benchmark gsm8k mine.jsonl; echo "scan=$?"
"$PTB_PY" -m ptb.integrity.contamination --benchmark gsm8k /etc/passwd; echo "outside=$?"
python evaluate.py --model-path "$1" --limit 1; echo "base=$?"
python evaluate.py --model-path /usr; echo "usr=$?"
"""


@pytest.mark.skipif(not TEST_ROWS.is_file(), reason="needs the shared GSM8K rows (../shared/data/hub)")
def test_evaluate_py_scores_from_outside_while_no_test_row_is_inside(tmp_path, make_agent, tiny_model, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(HUB))  # ptb's (the host's); not granted to the agent
    monkeypatch.setenv("PTB_PY", sys.executable)
    monkeypatch.setenv("ROWS", str(TEST_ROWS))
    make_agent("dev", AGENT, env=["PTB_PY", "ROWS"])
    res = ptb("run", "--agent", "dev", "--model", "tiny-qwen3", "--benchmark", "gsm8k", "--hours", "0.1",
              "--eval-limit", "1", "--experiment", "s", "--out", tmp_path, "--protocol", "v1",
              "--option", "exact-numeric", timeout=1200)
    assert res.returncode == 0, res.stderr[-2000:]
    cell = tmp_path / "s" / "dev__tiny-qwen3__gsm8k__s0"
    out = (cell / "agent" / "stdout.log").read_text()
    assert out.count("exit=0") == 2, out
    scores = [rec for line in out.splitlines() if (rec := traces.eval_record(line))]
    assert [s["n"] for s in scores] == [2, 3, 1], out  # the JSON line `ptb eval` prints, relayed
    dev = json.loads((cell / "task" / "dev.json").read_text())
    assert dev["n"] == 2 and dev["benchmark"] == "gsm8k" and "samples" not in dev
    assert "rows: FileNotFoundError" in out and "loader: SealedError" in out, out
    assert "scan=0" in out and "0 close match(es) with gsm8k test items" in (cell / "agent" / "stderr.log").read_text()
    assert "base=0" in out  # the given base model may be scored too
    assert "outside=2" in out and "usr=2" in out, out  # other paths outside the task folder are refused
    records = [json.loads(line) for line in (cell / "sandbox" / "dev_eval.jsonl").read_text().splitlines()]
    assert [(r["op"], r["exit"]) for r in records] == [("eval", 0), ("eval", 0), ("contamination", 0),
                                                       ("contamination", 2), ("eval", 0), ("eval", 2)], records
    assert all(isinstance(r["score"], float) for r in records[:2])
    # the cell's scoring rules, not the script's: the jobs ran with the cell's protocol
    log = (cell / "sandbox" / "dev_eval.log").read_text()
    assert "--protocol v1 --option exact-numeric" in log and "--benchmark gsm8k" in log
    first = json.loads(TEST_ROWS.open().readline())["question"][:40]
    assert first not in out and first not in log  # the test text never reaches the agent, nor its logs
    result = json.loads((cell / "result.json").read_text())
    assert result["status"] == "ok", result
    # the attempts on the test rows got nothing, and are caught all the same
    contamination = next(c for c in result["integrity"]["checks"] if c["name"] == "contamination")
    assert contamination["status"] == "flagged" and "ptb:gsm8k, split test" in contamination["summary"], contamination


def _ask(svc: service.DevService, req: dict, capsys) -> tuple[int, str]:
    import os

    os.environ[service.SOCKET_ENV] = str(svc.socket)
    try:
        code = service.request(req)
    finally:
        del os.environ[service.SOCKET_ENV]
    return code, capsys.readouterr().err


def test_requests_may_name_only_the_task_folder(tmp_path, tiny_model, capsys):
    task = tmp_path / "task"
    shutil.copytree(tiny_model, task / "model")
    (task / "linked").mkdir()
    (task / "linked" / "config.json").symlink_to(tiny_model / "config.json")
    (task / "escape").symlink_to(tiny_model)
    svc = service.DevService(task, "arith", ["--benchmark", "arith", "--engine", "transformers"], {},
                             tmp_path / "dev.jsonl", tmp_path / "dev.log")
    try:
        assert _ask(svc, {"op": "eval", "model": str(tiny_model)}, capsys) == \
            (2, f"evaluation service: {tiny_model}: not a folder inside the task folder (nor the given model)\n")
        assert _ask(svc, {"op": "eval", "model": str(task / "escape")}, capsys)[0] == 2
        code, err = _ask(svc, {"op": "eval", "model": str(task / "linked")}, capsys)
        assert code == 2 and "links outside the task folder" in err
        assert _ask(svc, {"op": "eval", "model": "model", "limit": 0}, capsys) == \
            (2, "evaluation service: --limit 0: a positive integer\n")
        assert _ask(svc, {"op": "shell", "cmd": "id"}, capsys) == \
            (2, "evaluation service: unknown request 'shell' (known: eval, contamination)\n")
        assert _ask(svc, {"op": "contamination", "benchmark": "gsm8k", "paths": ["model"]}, capsys) == \
            (2, "evaluation service: --benchmark 'gsm8k': this run's benchmark is arith\n")
    finally:
        svc.close()
    records = [json.loads(line) for line in (tmp_path / "dev.jsonl").read_text().splitlines()]
    assert [r["exit"] for r in records] == [2] * 6
    assert not svc.socket.exists()  # closed: nothing left behind
