"""Sandboxes run an agent's command in its task folder under a hard deadline.

A backend takes a `SandboxSpec` and returns a `SandboxRun`. The clock starts only when
the agent's process is about to start (after any set-up or preflight): the backend calls
`spec.on_start(deadline)` then, so the task folder's timer shows the real time left.
At the deadline the agent's whole process tree is killed, whatever it did to escape.
A backend that cannot start the agent raises `InfraError` (the run is not charged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class InfraError(RuntimeError):
    """The sandbox could not be set up; the agent never ran."""


@dataclass(frozen=True)
class SandboxSpec:
    command: list[str]
    workdir: Path  # the task folder: the only place the agent may write
    env: dict[str, str]  # the agent's whole environment
    budget_s: float
    network: bool
    stdout: Path
    stderr: Path
    readonly: tuple[Path, ...] = ()  # host paths the agent must be able to read (base model, ...)
    hidden: tuple[Path, ...] = ()  # host paths the agent must not see (other cells' outputs, ...)
    # Host folders of programs the agent's command needs (an npm prefix with the CLIs): each
    # readable at its own path, read-only, its bin/ (else itself) first on the agent's PATH.
    tools: tuple[Path, ...] = ()
    gpus: tuple[str, ...] = ()  # GPU indices the executor gave this cell
    on_start: Callable[[float], None] = field(default=lambda deadline: None)
    # Enforced by the Docker sandbox (the local one has no resource limits).
    cpus: float | None = None  # CPU cores; None: no limit
    memory_gb: float | None = None  # RAM, swap excluded; None: no limit
    pids_limit: int | None = 4096  # processes and threads; None: no limit
    shm_gb: float | None = None  # /dev/shm size (data loaders use it); None: 2
    secrets: tuple[str, ...] = ()  # values never written to any saved file (granted API keys)
    grace_s: float = 10.0  # SIGTERM at the deadline, SIGKILL this much later
    monitor_s: float = 10.0  # resource sampling interval


@dataclass(frozen=True)
class SandboxRun:
    exit_code: int | None  # None when killed at the deadline
    timed_out: bool
    started_at: float  # epoch seconds, when the agent's process started
    ended_at: float

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


def tool_path(tools: tuple[Path, ...], path: str) -> str:
    """`path` with each tools folder's bin/ (or the folder itself) in front, in order."""
    return ":".join([str(t / "bin" if (t / "bin").is_dir() else t) for t in tools] + [path])


def get(name: str):
    if name == "local":
        from ptb.sandbox.local import LocalSandbox

        return LocalSandbox()
    if name == "docker":
        from ptb.sandbox.docker import DockerSandbox

        return DockerSandbox()
    raise ValueError(f"unknown sandbox '{name}' (known: local, docker)")
