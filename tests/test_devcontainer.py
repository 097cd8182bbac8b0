"""The devcontainer's definition against the official dev container JSON schema, and the
properties ptb relies on (GPUs, Docker outside of Docker, JupyterLab, the lock)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT

SCHEMA = ROOT / "tests" / "fixtures" / "devContainer.base.schema.json"
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"


def load_jsonc(path: Path) -> dict:
    """devcontainer.json is JSON with comments: drop // comment lines, then parse."""
    return json.loads("\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("//")))


def validator() -> jsonschema.Draft201909Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def test_devcontainer_is_valid_and_wires_gpus_docker_jupyter():
    config = load_jsonc(DEVCONTAINER)
    errors = sorted(validator().iter_errors(config), key=str)
    assert errors == [], [e.message for e in errors]
    assert "--gpus=all" in config["runArgs"] and 8888 in config["forwardPorts"]
    targets = {m["target"] for m in config["mounts"]}
    assert "/var/run/docker.sock" in targets and config["containerEnv"]["HF_HOME"] in targets
    assert "setup.sh" in config["postCreateCommand"] and "jupyter lab" in config["postStartCommand"]
    dockerfile = (DEVCONTAINER.parent / config["build"]["dockerfile"]).read_text()
    assert re.search(r"^FROM nvidia/cuda:", dockerfile, re.M)
    assert "requirements.lock" in (DEVCONTAINER.parent / "setup.sh").read_text()


@pytest.mark.parametrize("broken", [{"forwardPorts": ["eighty"]}, {"runArgs": "--gpus=all"}, {"mounts": [{"type": "tmpfs"}]},
                                    {"postCreateCommand": 3}])
def test_schema_rejects_broken_definitions(broken):
    config = load_jsonc(DEVCONTAINER) | broken
    assert list(validator().iter_errors(config))
