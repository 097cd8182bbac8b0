"""The fidelity tests' oracles (pyproject.toml, [tool.ptb] oracles) and what they need.

inspect-ai 0.3.150, the reference's pin, declares click<8.2.2 (a cap for its command
line), and huggingface-hub>=1.31, which transformers 5.16+ and vLLM 0.32 require, needs
click>=8.4.2: pip cannot resolve the two together. So the oracles are installed without
their declared requirements, and these requirements, less click, come from the lock.
The scorers the tests call do not use click.

    python docker/oracles.py          the oracles' own pins, one a line
    python docker/oracles.py --deps   their requirements, less click and each other
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
OVERRIDDEN = {"click"}


def oracles() -> list[str]:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["ptb"]["oracles"]


def requirements() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--no-deps",
                        "--only-binary=:all:", "--report", report, *oracles()], check=True)
        items = json.loads(report.read_text())["install"]
    own = {canonicalize_name(i["metadata"]["name"]) for i in items}
    out = []
    for item in items:
        for line in item["metadata"].get("requires_dist", []):
            req = Requirement(line)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(req.name) in own | OVERRIDDEN:
                continue
            req.marker = None
            out.append(str(req))
    return sorted(set(out))


if __name__ == "__main__":
    print("\n".join(requirements() if sys.argv[1:] == ["--deps"] else oracles()))
