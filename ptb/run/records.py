"""What the stages of a cell hand on, and what they leave on disk: one frozen dataclass each.

    AgentOutcome   the agent's run in the sandbox (agent/agent.json)
    FinalModel     the final model, or why there is none
    EvalOutcome    the final evaluation
    Check          one integrity check (integrity.json's `checks`)
    Result         result.json, the cell's record: `Result.write` and `Result.read`

The JSON is the record's fields, in their order, under their names (CONTRACT.md fixes the
fields of result.json that others read).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from ptb.paths import read_json_object
from ptb.run import params

CheckStatus = Literal["clean", "flagged", "unverified", "not_applicable"]
CHECK_STATUSES = ("clean", "flagged", "unverified", "not_applicable")
Status = Literal["ok", "timeout", "agent_error", "no_final_model", "eval_error", "infra_error"]
STATUSES = ("ok", "timeout", "agent_error", "no_final_model", "eval_error", "infra_error")


@dataclass(frozen=True)
class AgentOutcome:
    exit_code: int | None
    timed_out: bool
    time_taken_s: float
    infra_error: str | None = None
    cost_usd: float | None = None  # its tokens at the agent's prices, else as the agent's trace reports it
    error: str | None = None  # the agent's own last error line, when it exited non-zero
    usage: dict | None = None  # the normalised tokens and cost (ptb.agents.traces.usage)
    # sha256 of given_files.json as ptb wrote it, kept from the moment it was written: the
    # tampering check fails closed if the record is missing or differs (ptb.integrity).
    given_files_sha256: str | None = None


@dataclass(frozen=True)
class FinalModel:
    path: Path | None
    reason: str = ""  # why there is no usable final model


@dataclass(frozen=True)
class EvalOutcome:
    score: float | None
    stderr: float | None
    n: int | None
    attempts: list[dict]
    error: str | None = None
    metrics: dict | None = None  # the evaluation's summary without per-sample scores (engine, judge failures, ...)


@dataclass(frozen=True)
class Check:
    """One integrity check: its outcome, one line saying why, and the evidence behind it."""

    name: str
    status: CheckStatus
    summary: str
    evidence: dict = field(default_factory=dict)
    seconds: float = 0

    def __post_init__(self) -> None:
        if self.status not in CHECK_STATUSES:
            raise ValueError(f"check {self.name}: status '{self.status}' is not one of {', '.join(CHECK_STATUSES)}")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> Check:
        """ValueError (one line) on a missing or unknown key."""
        names = [f.name for f in fields(cls)]
        unknown, missing = [k for k in d if k not in names], [k for k in names[:3] if k not in d]
        if unknown or missing:
            raise ValueError(f"check: unknown key '{unknown[0]}'" if unknown else f"check: missing key '{missing[0]}'")
        return cls(**d)


# Every result.json has these (CONTRACT.md), with values of these kinds (None: may be null).
# The others came later: a result.json without them reads them as null.
_NUMBER = (int, float)
REQUIRED: dict[str, tuple[type, ...]] = {
    "schema": (int,), "experiment": (str,), "cell": (str,), "agent": (str,), "model": (str,), "benchmark": (str,),
    "seed": (int,), "hours": _NUMBER, "status": (str,), "score": (*_NUMBER, type(None)),
    "stderr": (*_NUMBER, type(None)), "n": (int, type(None)), "time_taken_s": _NUMBER, "integrity": (dict,),
    "cost_usd": (*_NUMBER, type(None)),
}


@dataclass(frozen=True, kw_only=True)
class Result:
    """result.json: the cell's record, written last (the cell is finished iff it exists)."""

    schema: int = 1
    experiment: str
    cell: str
    agent: str
    model: str
    benchmark: str
    seed: int
    hours: float
    status: Status
    reason: str | None = None  # why the status is not ok ("" when it is)
    notes: list[str] | None = None  # what a reader must know beside the status (ptb.run.cell.notes_of)
    score: float | None  # the final model's score in 0..1; None where there is none
    stderr: float | None
    n: int | None
    time_taken_s: float  # the agent's time in the sandbox
    integrity: dict  # {"verdict", "checks": [{name, status, summary}]}; the evidence is in integrity.json
    cost_usd: float | None
    usage: dict | None = None  # the normalised tokens and cost (ptb.agents.traces.usage)
    agent_exit_code: int | None = None
    sandbox: str | None = None
    gpus: list[str] | None = None
    eval_limit: int | None = None
    engine: str | None = None  # the engine that ran the final evaluation (None: none ran)
    engine_reason: str | None = None  # why that engine (`auto` decides per host)
    engine_requested: str | None = None
    eval_attempts: list[dict] | None = None  # max_tokens, exit_code, seconds of each attempt
    eval: dict | None = None  # the evaluation's metrics without per-sample scores
    protocol: str | None = None  # the scoring rules (ptb/eval/protocol.py)
    options: list[str] | None = None
    sampling: dict | None = None  # the effective decoding of the final evaluation
    base_model_path: str | None = None
    base_model_revision: str | None = None  # the hub commit of the base model
    python: str | None = None
    packages: dict | None = None  # the versions of ptb.run.cell.RECORDED_PACKAGES
    transformers_sandbox: str | None = None  # transformers as the agent's `python` imports it
    transformers_evaluator: str | None = None  # ... and as the evaluation imported it
    requirements_lock_sha256: str | None = None  # the lock the agent's image and the evaluator install
    sandbox_image: dict | None = None  # {"name", "id"} of the Docker sandbox's image
    finished_at: str | None = None
    # Keys this ptb does not know (an older or newer one wrote them): kept, and written back after the rest.
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, kinds in REQUIRED.items():
            value = getattr(self, key)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise ValueError(f"field '{key}' is not {_kind(kinds)} (got {str(value)[:40]!r})")
        if self.schema != 1:
            raise ValueError(f"schema {self.schema}, this ptb reads schema 1")
        if self.status not in STATUSES:
            raise ValueError(f"status '{self.status}' is not one of {', '.join(STATUSES)}")
        if self.score is not None and not 0 <= self.score <= 1:
            raise ValueError(f"field 'score' is not null or a number in 0..1 (got {self.score})")
        if not isinstance(self.integrity.get("verdict"), str):
            raise ValueError("field 'integrity.verdict' missing")

    def to_dict(self) -> dict:
        """The JSON object of result.json."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"} | self.extra

    @classmethod
    def from_dict(cls, d: dict) -> Result:
        """ValueError (one line) if a field of REQUIRED is missing or of the wrong kind."""
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise ValueError(f"field '{missing[0]}' missing")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in d.items() if k in known}, extra={k: v for k, v in d.items() if k not in known})

    def write(self, path: Path) -> None:
        """Atomically: a reader sees the old file or the whole new one."""
        params.write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> Result:
        """A result.json; a file that is not one is a one-line ValueError naming it."""
        try:
            return cls.from_dict(read_json_object(Path(path)))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


def _kind(kinds: tuple[type, ...]) -> str:
    names = {int: "an int", float: "a number", str: "a string", dict: "an object", type(None): "null"}
    said = [names[k] for k in kinds if not (k is int and float in kinds)]
    return " or ".join(said)
