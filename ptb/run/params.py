"""Grid and agent parameter files: strict validation and expansion into cells.

A grid YAML holds scalars and lists only; every key is one of `Grid`'s fields. Agent
definitions live in parameters/agents/<name>.yaml (see `AgentDef`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ptb import paths
from ptb.errors import ConfigError


class ParamError(ConfigError):
    """Bad parameters: the message is one line naming the file and the key."""


# A cell's budget: above 10 days it is a typo (1.0e+9 h puts the deadline 100,000 years out).
MAX_HOURS = 240.0
# Placeholders ptb fills in an agent's command (cell.agent_command); ptb.agents.reprompt fills {message}.
PLACEHOLDERS = ("prompt", "prompt_file", "base_model", "instruct_model", "model_id", "benchmark", "hours", "python",
                "message")


def check_hours(v: float) -> float:
    if not math.isfinite(v) or not 0 < v <= MAX_HOURS:
        raise ValueError(f"must be a number of hours in (0, {MAX_HOURS:g}]")
    return float(v)


def short(value: object, limit: int = 80) -> str:
    """repr(value), cut to LIMIT characters: a 10 MB value must not fill the error line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Grid(_Strict):
    experiment: str
    agents: list[str]
    models: list[str]
    benchmarks: list[str]
    seeds: list[int] = [0]
    hours: float = 10.0
    sandbox: Literal["local", "docker"] = "local"
    executor: Literal["local", "slurm"] = "local"
    engine: Literal["auto", "vllm", "transformers"] = "auto"
    # None: each agent's own default (agents that call an API need the network).
    network: bool | None = None
    # Evaluate only the first N test items (smoke tests); None is the full benchmark.
    eval_limit: int | None = None
    # sandbox: docker resource limits per cell (None: no limit).
    cpus: float | None = None
    memory_gb: float | None = None
    pids_limit: int | None = 4096
    # executor: slurm (see ptb/run/slurm.py). Time limit per job: hours + slurm_eval_minutes + a margin.
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_qos: str | None = None
    slurm_gpus: int = 1
    slurm_eval_minutes: int = 60
    slurm_extra: list[str] = []  # more sbatch options, long form: ["--constraint=h100", "--exclusive"]
    # Resubmissions of a cell whose job was lost to the infrastructure (node failure, preemption).
    infra_retries: int = 1
    # The PostTrainBench release whose scoring rules the final evaluation follows, and named
    # deviations from it (ptb/eval/protocol.py).
    protocol: Literal["v1.2", "v1"] = "v1.2"
    options: list[str] = []

    @field_validator("options")
    @classmethod
    def _options(cls, v: list[str]) -> list[str]:
        from ptb.eval.protocol import OPTIONS

        for o in v:
            if o not in OPTIONS:
                raise ValueError(f"unknown option '{o}' (known: {', '.join(OPTIONS)})")
        return v

    @field_validator("experiment")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", v):
            raise ValueError("must be 1 to 100 letters, digits, '.', '_' or '-'")
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: float) -> float:
        return check_hours(v)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if any(s < 0 for s in v):
            raise ValueError("seeds must be >= 0")
        return v

    @field_validator("eval_limit", "cpus", "memory_gb")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError("must be > 0 (or null: none)")
        return v

    @field_validator("pids_limit")
    @classmethod
    def _pids(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError("must be >= 0 (0 or null: no limit)")
        return v or None


class AgentDef(_Strict):
    """One agent: a command run inside the sandbox, in its task folder.

    `command` placeholders: {prompt} (the task text), {prompt_file}, {base_model} (path),
    {instruct_model} (path; only agents that need it), {model_id}, {benchmark}, {hours},
    {python} (the interpreter that has ptb installed), {message} (ptb.agents.reprompt's), and the
    names in `vars`. Any other {name} is an error at load (a typo would run as literal text);
    shell variables are written ${NAME}.
    """

    name: str
    description: str = ""
    command: list[str]
    env: list[str] = []  # names of host environment variables the agent may read
    network: bool = True
    trace: Literal["plain", "claude-stream-json", "codex-json", "gemini-stream-json", "opencode-json"] = "plain"
    needs_instruct_model: bool = False
    # Defaults of the definition's own {placeholders} (model, effort, ...). A grid names a
    # variant as "agent@key=value,key=value" (e.g. "claude-code@model=claude-opus-4-1"):
    # variants are parameters, not copies of the file.
    vars: dict[str, str] = {}
    # Subscription logins: token files under the host's home (e.g. ~/.codex/auth.json), copied
    # into the agent's HOME for the run only, their values redacted (ptb/agents/credentials.py).
    token_files: list[str] = []
    # Host folders holding the programs `command` runs (an npm prefix with the CLI, ...):
    # read-only in the sandbox at their own paths, their bin/ first on PATH. `~` and $VARS
    # are expanded; PTB_AGENT_TOOLS (colon-separated) adds folders for every agent.
    tools: list[str] = []
    # Files written into the task folder (the agent's HOME) before the run where none is
    # there yet, by path relative to it: a CLI's settings (a login's token files come first).
    files: dict[str, str] = {}

    @field_validator("files")
    @classmethod
    def _inside_the_task(cls, v: dict[str, str]) -> dict[str, str]:
        for rel in v:
            if Path(rel).is_absolute() or ".." in Path(rel).parts or not rel:
                raise ValueError(f"'{rel}' is not a path inside the task folder")
        return v


def agent_tools(agent: AgentDef) -> tuple[Path, ...]:
    """The agent's `tools` folders, then PTB_AGENT_TOOLS's, expanded, without repeats."""
    named = [*agent.tools, *os.environ.get("PTB_AGENT_TOOLS", "").split(":")]
    found = (Path(os.path.expandvars(os.path.expanduser(p))).resolve() for p in named if p)
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Cell:
    experiment: str
    agent: str
    model: str
    benchmark: str
    seed: int = 0
    hours: float = 10.0
    sandbox: str = "local"
    engine: str = "auto"
    network: bool | None = None
    eval_limit: int | None = None
    cpus: float | None = None
    memory_gb: float | None = None
    pids_limit: int | None = 4096
    protocol: str = "v1.2"
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))  # a list after a JSON round trip

    @property
    def name(self) -> str:
        """One folder name; cell.json holds the full agent variant."""
        return f"{agent_slug(self.agent)}__{model_slug(self.model)}__{self.benchmark}__s{self.seed}"

    def to_dict(self) -> dict:
        return asdict(self) | {"options": list(self.options)}  # a list: papermill passes tuples as text

    def protocol_flags(self) -> list[str]:
        """The protocol and options as `ptb run` / `ptb eval` flags."""
        return ["--protocol", self.protocol, *(f for o in self.options for f in ("--option", o))]

    @classmethod
    def from_dict(cls, d: dict) -> Cell:
        return cls(**d)

    def write(self, path: Path) -> None:
        """cell.json: the cell's fields, one key each."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> Cell:
        """A cell.json (as `write` wrote it); a key that is not a field, or a missing one, is a ParamError."""
        path = Path(path)
        try:
            data = paths.read_json_object(path)
        except ValueError as e:
            raise ParamError(f"{path}: not a readable cell JSON: {e}") from None
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        missing = [k for k in ("experiment", "agent", "model", "benchmark") if k not in data]
        if unknown or missing:
            raise ParamError(f"{path}: unknown key '{unknown[0]}'" if unknown else f"{path}: missing key '{missing[0]}'")
        try:
            check_hours(data.get("hours", 10.0))
        except (TypeError, ValueError) as e:
            raise ParamError(f"{path}: key 'hours': {e} (got {short(data['hours'])})") from None
        return cls.from_dict(data)


def model_slug(model: str) -> str:
    return Path(model.rstrip("/")).name


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=@,+-]{0,99}")


def agent_slug(spec: str) -> str:
    """The agent variant as it is where that is a safe folder name ("codex@effort=low"), else
    the agent's name and a short hash of the variant: a value may be a path or URL
    ("claude-code@bin=/opt/x/claude"), which would nest folders or reach out of the experiment."""
    if SAFE_NAME.fullmatch(spec):
        return spec
    name = split_variant(spec)[0]
    return f"{name if SAFE_NAME.fullmatch(name) else 'agent'}@{hashlib.sha256(spec.encode()).hexdigest()[:10]}"


def _one_line(err: ValidationError, where: str) -> ParamError:
    e = err.errors()[0]
    loc = e["loc"]  # e.g. ("seeds", 1) or ("network", "bool") for a member of a union
    key = (str(loc[0]) + "".join(f"[{p}]" for p in loc[1:] if isinstance(p, int))) if loc else "(top level)"
    if e["type"] == "extra_forbidden":
        return ParamError(f"{where}: unknown key '{key}'")
    if e["type"] == "missing":
        return ParamError(f"{where}: missing key '{key}'")
    msg = e["msg"].removeprefix("Value error, ")
    return ParamError(f"{where}: key '{key}': {msg} (got {short(e.get('input'))})")


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice (PyYAML keeps the last one, silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {short(key)} appears twice; keep one",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ParamError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
        if "\0" in text:
            raise UnicodeDecodeError("utf-8", raw, text.index("\0"), text.index("\0") + 1, "NUL byte")
    except UnicodeDecodeError as e:
        raise ParamError(f"{path}: not a YAML text file (binary data at byte {e.start}); give a grid or agent YAML") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        raise ParamError(f"{path}: malformed YAML{at}: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict):
        raise ParamError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    return data


def agent_dirs() -> list[Path]:
    """Where agent definitions are looked up: PTB_AGENT_PATH (colon-separated), then parameters/agents."""
    extra = [Path(p) for p in os.environ.get("PTB_AGENT_PATH", "").split(":") if p]
    return [*extra, paths.AGENTS]


def agent_names() -> list[str]:
    return sorted({p.stem for d in agent_dirs() for p in d.glob("*.yaml")})


def split_variant(spec: str) -> tuple[str, dict[str, str]]:
    """"claude-code@model=x,effort=high" -> ("claude-code", {"model": "x", "effort": "high"})."""
    name, _, rest = spec.partition("@")
    pairs = [p.partition("=") for p in rest.split(",") if p] if rest else []
    if any(not sep or not k for k, sep, _ in pairs):
        raise ParamError(f"agent '{spec}': a variant is written name@key=value,key=value")
    return name, {k: v for k, _, v in pairs}


def load_agent(spec: str) -> AgentDef:
    name, overrides = split_variant(spec)
    found = [d / f"{name}.yaml" for d in agent_dirs() if (d / f"{name}.yaml").is_file()]
    if not found:
        raise ParamError(f"unknown agent {short(name)} (known: {', '.join(agent_names())}; "
                         f"add {short(str(paths.AGENTS / (name + '.yaml')), 200)})")
    path = found[0]
    try:
        agent = AgentDef.model_validate(_read_yaml(path))
    except ValidationError as e:
        raise _one_line(e, str(path)) from None
    if agent.name != name:
        raise ParamError(f"{path}: key 'name': '{agent.name}' differs from the file name '{name}'")
    known = (*PLACEHOLDERS, *agent.vars)
    for part in agent.command:
        for m in re.finditer(r"(?<!\$)\{([A-Za-z_]\w*)\}", part):
            if m.group(1) not in known:
                raise ParamError(f"{path}: key 'command': unknown placeholder '{{{m.group(1)}}}' (known: "
                                 f"{', '.join('{' + k + '}' for k in known)}; shell variables: ${{NAME}})")
    from ptb.agents.traces import PRICES

    unknown = sorted(set(overrides) - set(agent.vars) - set(PRICES))  # every agent takes token prices
    if unknown:
        raise ParamError(f"agent '{spec}': unknown variable '{unknown[0]}' (known: {', '.join(agent.vars) or 'none'})")
    agent = agent.model_copy(update={"vars": {**agent.vars, **overrides}}) if overrides else agent
    for key in PRICES:  # token prices (ptb.agents.traces.priced)
        value = agent.vars.get(key, "")
        if value and not re.fullmatch(r"\d+(\.\d*)?|\.\d+", value):
            raise ParamError(f"agent '{spec}': variable '{key}': '{value}' is not a price in USD per million tokens")
    return agent


def check_model(model: str, where: str = "") -> None:
    from ptb.models import TINY, folder_problem, is_known_model

    try:
        known = is_known_model(model)
    except OSError:  # a name too long for a path
        known = False
    if not known:
        raise ParamError(
            f"{where}unknown model {short(model)}: give a Hugging Face id (org/name), "
            "an existing local model folder, or 'tiny-qwen3'"
        )
    if model != TINY and (Path(model) / "config.json").is_file():
        problem = folder_problem(Path(model))
        if problem:
            raise ParamError(f"{where}{problem}")


def check_names(grid: Grid | Cell, where: str = "") -> None:
    """Every agent, benchmark and model named exists. Errors name the grid file and its key,
    or for a cell (`ptb run`) the command-line flag."""
    from ptb.benchmarks import BENCHMARKS
    from ptb.models import INSTRUCT

    if isinstance(grid, Grid):
        agents, benchmarks, models = grid.agents, grid.benchmarks, grid.models
        key = {k: f"{where}: key '{k}': " for k in ("agents", "benchmarks", "models")}
        for k, values in (("agents", agents), ("benchmarks", benchmarks), ("models", models)):
            if not values:
                raise ParamError(f"{key[k]}empty list")
    else:
        agents, benchmarks, models = [grid.agent], [grid.benchmark], [grid.model]
        key = {"agents": "--agent: ", "benchmarks": "--benchmark: ", "models": "--model: "}
    for a in agents:
        if split_variant(a)[0] not in agent_names():
            raise ParamError(f"{key['agents']}unknown agent {short(a)} (known: {', '.join(agent_names())})")
        load_agent(a)
    for b in benchmarks:
        if b not in BENCHMARKS:
            raise ParamError(f"{key['benchmarks']}unknown benchmark {short(b)} (known: {', '.join(BENCHMARKS)})")
    for m in models:
        check_model(m, key["models"])
    for a in agents:
        if load_agent(a).needs_instruct_model:
            for m in models:
                if m not in INSTRUCT:
                    raise ParamError(f"{key['agents']}agent '{a}' needs an official instruct model, and '{m}' has none "
                                     f"(known: {', '.join(INSTRUCT)})")


def load_grid(path: str | Path, **overrides) -> Grid:
    path = Path(path)
    data = _read_yaml(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        grid = Grid.model_validate(data)
    except ValidationError as e:
        raise _one_line(e, str(path)) from None
    check_names(grid, str(path))
    return grid


# The fields a cell takes from its grid as they are: all but its place in the grid.
_FROM_GRID = [f.name for f in fields(Cell) if f.name not in ("experiment", "agent", "model", "benchmark", "seed")]


def expand(grid: Grid) -> list[Cell]:
    return [
        Cell(grid.experiment, a, m, b, s, **{k: getattr(grid, k) for k in _FROM_GRID})
        for a, m, b, s in itertools.product(grid.agents, grid.models, grid.benchmarks, grid.seeds)
    ]


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON so that readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
