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

Resources (CPU, memory, processes of the agent's whole tree, disk, GPUs) are sampled from
outside into `<cell>/sandbox/monitor.jsonl`, as the Docker sandbox does (ptb/sandbox/monitor.py).
The agent's stdout/stderr reach their logs through ptb, redacted on the way in, with each
line's arrival time beside them (`ptb.traces.LineLog`).
"""

from __future__ import annotations

import codecs
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ptb import paths, traces
from ptb.sandbox import InfraError, SandboxRun, SandboxSpec, tool_path
from ptb.sandbox.monitor import ProcessTreeMonitor


def _pump(stream, log: traces.LineLog) -> None:
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span chunks
    try:
        while chunk := stream.read1(1 << 16):
            log.write(decode.decode(chunk))
    finally:
        log.close()
        stream.close()


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
    for path in (*spec.readonly, *spec.tools):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(spec.workdir), str(spec.workdir), "--chdir", str(spec.workdir)]
    args += ["--unshare-all", "--die-with-parent", "--new-session"]
    if spec.network:
        args.append("--share-net")
    args.append("--clearenv")
    env = dict(spec.env)
    if spec.tools:
        env["PATH"] = tool_path(spec.tools, env.get("PATH", "/usr/bin:/bin"))
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
        started = time.time()
        spec.on_start(started + spec.budget_s)
        try:
            proc = subprocess.Popen(bwrap_args(spec, started_w), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, pass_fds=(started_w,))
        except OSError as e:
            raise InfraError(f"could not start bwrap: {e}") from e
        finally:
            os.close(started_w)
        redact = traces.Redactor(spec.secrets)
        pumps = [threading.Thread(target=_pump, args=(stream, traces.LineLog(path, redact)), daemon=True)
                 for stream, path in ((proc.stdout, spec.stdout), (proc.stderr, spec.stderr))]
        for t in pumps:
            t.start()
        log = spec.workdir.parent / "sandbox" / "monitor.jsonl"
        monitor = ProcessTreeMonitor(proc.pid, spec.workdir, spec.gpus, log, spec.monitor_s).start()
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
        monitor.stop()
        for t in pumps:  # every writer of the pipes was in the namespace: they reach EOF now
            t.join(timeout=30)
        with os.fdopen(started_r, "rb") as pipe:
            agent_started = pipe.read() == b"started"
        if not agent_started:
            raise InfraError(f"bwrap could not set up the sandbox (exit {code}): see {spec.stderr}")
        return SandboxRun(code, timed_out, started, ended)
