"""The kinds of failure ptb tells apart.

A `ConfigError` is the user's to fix (a flag, a missing setting): one line, never retried.
An `EvalFailed` is an evaluation failure that a fresh attempt may not repeat (the engine ran
out of memory or crashed, no sample could be scored): one line, retried. Any other exception
is a bug: it propagates with its traceback and is not retried.
"""

# Exit codes of `ptb eval` that the cell's retry loop reads (an uncaught exception exits 1).
CONFIG_EXIT = 2
EVAL_FAILED_EXIT = 3


class ConfigError(ValueError):
    """A configuration error: one line, not retried."""


class EvalFailed(RuntimeError):
    """An expected evaluation failure: one line, retried."""
