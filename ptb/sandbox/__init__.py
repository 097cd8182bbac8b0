"""Sandboxes run an agent's command in its task folder under a hard deadline.

A backend takes a `SandboxSpec` and returns a `SandboxRun`. The clock starts only when
the agent's process is about to start (after any set-up or preflight): the backend calls
`spec.on_start(deadline)` then, so the task folder's timer shows the real time left.
At the deadline the agent's whole process tree is killed, whatever it did to escape.
A backend that cannot start the agent raises `InfraError` (the run is not charged).
"""

from __future__ import annotations

from ptb.errors import ConfigError
from ptb.sandbox.docker import DockerSandbox
from ptb.sandbox.local import LocalSandbox
from ptb.sandbox.spec import (DEFAULT_UID, InfraError, SandboxRun, SandboxSpec, agent_ids, hand_over,
                              readable_by_all, readable_inputs, tool_path)

__all__ = ["DEFAULT_UID", "DockerSandbox", "InfraError", "LocalSandbox", "SandboxRun", "SandboxSpec", "agent_ids",
           "get", "hand_over", "readable_by_all", "readable_inputs", "tool_path"]


def get(name: str):
    """The backend called NAME: local (bubblewrap on this host) or docker (the agent image)."""
    if name == "local":
        return LocalSandbox()
    if name == "docker":
        return DockerSandbox()
    raise ConfigError(f"unknown sandbox '{name}' (known: local, docker)")
