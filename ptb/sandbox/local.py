"""The local sandbox: bubblewrap, for hosts without Docker and for tests.

What it covers:
- the agent runs in its task folder; the rest of the file system is read-only, /tmp is
  private, and `hidden` paths (other cells' results) are replaced by empty folders;
- the environment is cleared: the agent sees only the variables its definition grants;
- the network is cut unless the agent's definition or the grid asks for it;
- the agent runs in its own PID namespace, so killing the namespace at the deadline kills
  every process it started, including children that called setsid or double-forked.
What it does not cover: reading world-readable files elsewhere on the host, GPU isolation
beyond CUDA_VISIBLE_DEVICES, CPU/memory limits. Use the Docker sandbox for those.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ptb import paths
from ptb.sandbox import InfraError, SandboxRun, SandboxSpec


def runtime_binds() -> list[str]:
    """Read-only binds of this Python environment and ptb's source, to repeat after a
    `--tmpfs /tmp`: a checkout or a venv under /tmp (CI clones) must stay visible."""
    keep = sorted({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, paths.ROOT)})
    return [arg for p in keep for arg in ("--ro-bind", str(p), str(p))]


def bwrap_args(spec: SandboxSpec, started_fd: int) -> list[str]:
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in spec.hidden:
        args += ["--tmpfs", str(path)]
    args += runtime_binds()
    for path in spec.readonly:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(spec.workdir), str(spec.workdir), "--chdir", str(spec.workdir)]
    args += ["--unshare-all", "--die-with-parent", "--new-session"]
    if spec.network:
        args.append("--share-net")
    args.append("--clearenv")
    env = dict(spec.env)
    if spec.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpus)
    for key, value in env.items():
        args += ["--setenv", key, value]
    # The first thing inside the sandbox: report "started" on a pipe only ptb holds, close
    # it, then become the agent. No report means bwrap failed to set up (not the agent).
    report = f'printf started >&{started_fd}; exec {started_fd}>&-; exec "$@"'
    return args + ["--", "/bin/bash", "-c", report, "bash", *spec.command]


class LocalSandbox:
    name = "local"

    def run(self, spec: SandboxSpec) -> SandboxRun:
        if shutil.which("bwrap") is None:
            raise InfraError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
        spec.workdir.mkdir(parents=True, exist_ok=True)
        started_r, started_w = os.pipe()
        with open(spec.stdout, "ab") as out, open(spec.stderr, "ab") as err:
            started = time.time()
            spec.on_start(started + spec.budget_s)
            try:
                proc = subprocess.Popen(bwrap_args(spec, started_w), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        start_new_session=True, pass_fds=(started_w,))
            except OSError as e:
                raise InfraError(f"could not start bwrap: {e}") from e
            finally:
                os.close(started_w)
            try:
                code = proc.wait(timeout=spec.budget_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                code, timed_out = None, True
                # bwrap's PID-namespace init dies with it (--die-with-parent), and the kernel
                # then kills every process left in the namespace.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            ended = time.time()
        with os.fdopen(started_r, "rb") as pipe:
            agent_started = pipe.read() == b"started"
        if not agent_started:
            raise InfraError(f"bwrap could not set up the sandbox (exit {code}): see {spec.stderr}")
        return SandboxRun(code, timed_out, started, ended)
