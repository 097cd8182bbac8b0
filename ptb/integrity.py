"""The integrity stage: did the agent follow the rules?

Verdicts: `clean` only when every enabled check ran and found nothing; `flagged` with
evidence; `unverified` when a check could not run. No checks are implemented in this
version, so every cell is `unverified` (never shown as clean).
"""

from __future__ import annotations

from pathlib import Path


def check(task_dir: Path, final_model: Path | None) -> dict:
    return {
        "verdict": "unverified",
        "checks": [{"name": "all", "status": "not_run", "reason": "this version of ptb has no integrity checks"}],
    }
