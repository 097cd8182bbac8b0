"""Test rows are sealed inside the sandbox: a benchmark's loader refuses its test split in
the agent's processes (ptb sets PTB_SANDBOX=1 there), except inside ptb's own entry points
that need the rows and hand out only scores and item numbers: `ptb eval` (what
evaluate.py runs) and the contamination tool.

A fence, not a wall: Python code in the agent's own process can lift it. Every call is
also reported by the in-sandbox audit (ptb/integrity/audit.py) with its call site, and
the integrity check flags a test split asked for by the agent's code.
"""

from __future__ import annotations

import os

OPENED = False  # set by `ptb eval` and the contamination tool


class SealedError(PermissionError):
    pass


def in_sandbox() -> bool:
    return os.environ.get("PTB_SANDBOX") == "1"


def check(benchmark: str, split: str, test_split: str) -> None:
    """Raise SealedError for the test split inside the sandbox, outside ptb's entry points."""
    if split == test_split and in_sandbox() and not OPENED:
        raise SealedError(f"{benchmark}: the '{split}' split is not available inside the sandbox; "
                          "`python evaluate.py --model-path final_model` gives scores")
