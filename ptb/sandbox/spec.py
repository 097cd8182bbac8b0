"""What every sandbox backend shares: the spec it runs, the run it returns, the error it raises
when it cannot start the agent, and the helpers for the agent's uid and its read-only inputs."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_UID = 1000  # the agent's uid when ptb runs as root (PTB_SANDBOX_UID overrides)


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
    # Entries of the shared Hugging Face hub cache the agent must not see (`datasets--org--name`:
    # the benchmark's test data; `models--org--name`: the instruct model). Only the Docker
    # sandbox mounts that cache.
    hidden_cache: tuple[str, ...] = ()
    # Host folders of programs the agent's command needs (an npm prefix with the CLIs): each
    # readable at its own path, read-only, its bin/ (else itself) first on the agent's PATH.
    tools: tuple[Path, ...] = ()
    gpus: tuple[str, ...] = ()  # GPU indices the executor gave this cell
    on_start: Callable[[float], None] = field(default=lambda deadline: None)
    # Enforced by both sandboxes (the local one through cgroups where the host allows it,
    # see `ptb doctor`).
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


def agent_ids(workdir: Path) -> tuple[int, int]:
    """The uid/gid the agent runs as: the task folder's owner, unless that is root."""
    st = workdir.stat()
    if st.st_uid != 0:
        return st.st_uid, st.st_gid
    uid = int(os.environ.get("PTB_SANDBOX_UID", DEFAULT_UID))
    return uid, uid


def hand_over(path: Path, uid: int, gid: int, ctimes: Path | None = None,
              redact: Callable[[str], str] = str) -> None:
    """Make `path` and everything in it owned by uid:gid (only root can; a non-root host
    user already owns what it created). Used before the run (the agent's uid must write
    the task folder) and after it (back to the host user: the agent's uid keeps nothing).
    `ctimes`: first record each file's change time there (relative path -> st_ctime), since
    changing the owner resets it and the integrity stage reads when files were written;
    `redact` is applied to the names recorded (a secret in a file name stays out of it)."""
    entries = [path, *path.rglob("*")]
    if ctimes is not None:
        times = {redact(str(p.relative_to(path))): p.lstat().st_ctime for p in entries[1:]}
        ctimes.write_text(json.dumps(times) + "\n")
    if os.geteuid() != 0:
        return
    for p in entries:
        os.lchown(p, uid, gid)


def readable_by_all(path: Path) -> bool:
    """Whether any uid can read all of `path` (its parents are made by the sandbox at its
    mount point, so they do not matter)."""
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        mode = p.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
        if mode & needed != needed:
            return False
    return True


def readable_inputs(readonly: tuple[Path, ...], inputs: Path) -> dict[Path, Path]:
    """Host source for each read-only input, as the agent's (non-root) uid can read it.

    An input only its owner may read (a model folder made with mode 0700 by root) is
    copied once into the cell's sandbox folder with read permission for all, mounted at
    the original path, and deleted after the run; the original is never changed.
    """
    sources = {}
    for i, path in enumerate(readonly):
        if readable_by_all(path):
            sources[path] = path
            continue
        copy = inputs / f"{i}-{path.name}"
        shutil.rmtree(copy, ignore_errors=True)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(path, copy, symlinks=False) if path.is_dir() else shutil.copy2(path, copy)
        for p in [copy, *copy.rglob("*")] if copy.is_dir() else [copy]:
            p.chmod(p.stat().st_mode | stat.S_IROTH | stat.S_IRGRP | (0o055 if p.is_dir() else 0))
        sources[path] = copy
    return sources
