"""Test rows are sealed inside the sandbox: a benchmark's loader refuses its test split in
the agent's processes (ptb sets PTB_SANDBOX=1 there). Nothing in the sandbox needs them:
the agent's evaluate.py and contamination tool are served by ptb outside it
(ptb/eval/service.py), where the rows are.

A fence, not the wall: the wall is that no test rows are mounted into the sandbox. Code in
the agent's own process can lift the fence; every call is also reported by the in-sandbox
audit (ptb/integrity/audit.py) with its call site, and the integrity check flags a test
split asked for by the agent's code.
"""

from __future__ import annotations

import os


class SealedError(PermissionError):
    pass


def in_sandbox() -> bool:
    return os.environ.get("PTB_SANDBOX") == "1"


def check(benchmark: str, split: str, test_split: str) -> None:
    """Raise SealedError for the test split inside the sandbox."""
    if split == test_split and in_sandbox():
        raise SealedError(f"{benchmark}: the '{split}' split is not available inside the sandbox; "
                          "`python evaluate.py --model-path final_model` gives scores")
