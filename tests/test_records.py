"""The records a cell leaves (ptb/run/records.py): result.json and integrity.json read back
into Result and Check give the same JSON, a file that is not a result says so in one line,
and the model and engine failures a cell expects are data while a bug raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ptb
from ptb import models
from ptb.paths import CellPaths
from ptb.run import cell as stages
from ptb.run.params import Cell
from ptb.run.records import Check, Result

# result.json's keys, in the order ptb writes them (CONTRACT.md fixes the fields others read).
RESULT_KEYS = [
    "schema", "experiment", "cell", "agent", "model", "benchmark", "seed", "hours", "status", "reason", "notes",
    "score", "stderr", "n", "time_taken_s", "integrity", "cost_usd", "usage", "agent_exit_code", "sandbox", "gpus",
    "eval_limit", "engine", "engine_reason", "engine_requested", "eval_attempts", "eval", "protocol", "options",
    "sampling", "base_model_path", "base_model_revision", "python", "packages", "transformers_sandbox",
    "transformers_evaluator", "requirements_lock_sha256", "sandbox_image", "finished_at",
]
CHECK_KEYS = ["name", "status", "summary", "evidence", "seconds"]


def run(tmp_path: Path, model: str, **env: str) -> Path:
    res = ptb("run", "--agent", "zero-shot", "--model", model, "--benchmark", "arith", "--hours", "0.01",
              "--experiment", "t", "--eval-limit", "10", "--out", tmp_path / "out", env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    (cell,) = (tmp_path / "out" / "t").glob("zero-shot__*")
    return cell


def test_a_real_cell_reads_back_as_written(tmp_path, tiny_model):
    cell = run(tmp_path, "tiny-qwen3")
    raw = json.loads((cell / "result.json").read_text())
    assert list(raw) == RESULT_KEYS and raw["status"] == "ok" and raw["n"] == 10
    result = Result.read(cell / "result.json")
    assert result.to_dict() == raw and result.extra == {}
    assert (result.score, result.integrity["verdict"], result.gpus) == (raw["score"], "clean", [])
    result.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (cell / "result.json").read_bytes()

    full = json.loads((cell / "integrity.json").read_text())
    assert [c["name"] for c in full["checks"]] == ["contamination", "identity", "api_use", "tampering"]
    for c in full["checks"]:
        assert list(c) == CHECK_KEYS and Check.from_dict(c).to_dict() == c
    # result.json keeps one line per check, integrity.json the evidence.
    assert raw["integrity"]["checks"] == [{k: c[k] for k in ("name", "status", "summary")} for c in full["checks"]]


def test_an_unreachable_model_is_the_cells_infra_error(tmp_path):
    # Offline, with nothing cached: the hub's own error, as the reason; the cell is finished.
    cell = run(tmp_path, "acme/never-cached", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    result = Result.read(cell / "result.json")
    assert result.status == "infra_error" and result.reason.startswith("model: ")
    assert "cached snapshot" in result.reason and result.score is None

    missing = stages.prepare(Cell("t", "zero-shot", str(tmp_path / "nowhere"), "arith"), tmp_path / "c1")
    assert missing.error.startswith("model: ") and "nowhere" in missing.error and missing.base_model is None


def test_a_bug_while_resolving_the_model_raises(tmp_path, tiny_model, monkeypatch):
    def broken(folder):
        raise KeyError("a bug")

    monkeypatch.setattr(models, "folder_problem", broken)
    with pytest.raises(KeyError, match="a bug"):
        stages.prepare(Cell("t", "zero-shot", "tiny-qwen3", "arith"), tmp_path / "c")


def test_no_docker_engine_leaves_the_sandbox_transformers_unknown(tmp_path, monkeypatch):
    docker_run = stages.CellRun(Cell("t", "zero-shot", "tiny-qwen3", "arith", sandbox="docker"),
                               CellPaths(tmp_path), None, (), None, None)
    docker_run.paths.sandbox.mkdir()
    docker_run.paths.container_json.write_text(json.dumps({"image": "ptb-sandbox:x", "image_id": "sha256:" + "0" * 64}))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert stages.sandbox_transformers(docker_run) is None


def minimal() -> dict:
    """The fields every result.json has (CONTRACT.md)."""
    return {"schema": 1, "experiment": "demo", "cell": "a__m__arith__s0", "agent": "a", "model": "m",
            "benchmark": "arith", "seed": 0, "hours": 0.05, "status": "ok", "score": 0.94, "stderr": 0.02, "n": 100,
            "time_taken_s": 61.2, "integrity": {"verdict": "clean", "checks": []}, "cost_usd": None}


def test_a_result_with_only_the_contract_fields_reads_and_keeps_unknown_keys(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(minimal() | {"input_tokens": 12}))
    r = Result.read(path)
    assert (r.status, r.reason, r.eval_attempts, r.extra) == ("ok", None, None, {"input_tokens": 12})
    assert r.to_dict()["input_tokens"] == 12 and list(r.to_dict())[:len(RESULT_KEYS)] == RESULT_KEYS


@pytest.mark.parametrize("text, says", [
    ('{"schema": 1, "agent": "bro', "not readable JSON"),
    ("[1, 2]", "a JSON list, not an object"),
    (json.dumps({k: v for k, v in minimal().items() if k != "status"}), "field 'status' missing"),
    (json.dumps(minimal() | {"schema": 2}), "schema 2, this ptb reads schema 1"),
    (json.dumps(minimal() | {"seed": "0"}), "field 'seed' is not an int"),
    (json.dumps(minimal() | {"seed": True}), "field 'seed' is not an int"),
    (json.dumps(minimal() | {"score": 94}), "field 'score' is not null or a number in 0..1"),
    (json.dumps(minimal() | {"status": "fine"}), "status 'fine' is not one of ok, timeout"),
    (json.dumps(minimal() | {"integrity": {"checks": []}}), "field 'integrity.verdict' missing"),
])
def test_a_file_that_is_not_a_result_is_one_line_naming_it(tmp_path, text, says):
    path = tmp_path / "result.json"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        Result.read(path)
    assert str(e.value).startswith(f"{path}: ") and says in str(e.value) and "\n" not in str(e.value)


def test_check_round_trip_and_its_closed_statuses():
    c = Check("identity", "not_applicable", "no final model")
    assert c.to_dict() == {"name": "identity", "status": "not_applicable", "summary": "no final model",
                           "evidence": {}, "seconds": 0}
    assert Check.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="status 'passed' is not one of clean, flagged"):
        Check("identity", "passed", "")
    with pytest.raises(ValueError, match="unknown key 'reason'"):
        Check.from_dict({"name": "all", "status": "unverified", "summary": "", "reason": "old"})
