"""CPU, memory and process limits for the local sandbox, through the host's cgroups.

One cgroup per run, made below the cgroup ptb itself is in (so it works inside a
container or a Slurm job too), for each of the memory, cpu and pids controllers: on a
cgroup v2 host in the unified tree, on a v1 or hybrid host in each controller's own
hierarchy. The sandbox's first process joins them before it becomes bubblewrap, so every
process the agent starts is counted. Where the host does not allow it (not root, a
read-only /sys/fs/cgroup, a missing controller) `available()` says why, `ptb doctor`
reports it, and the run goes on without that limit, recorded in `<cell>/sandbox/sandbox.json`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

MOUNT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "pids")
CPU_PERIOD_US = 100_000


def _own(controller: str) -> Path | None:
    """The directory of the cgroup this process is in for `controller` (None: no such hierarchy)."""
    unified = (MOUNT / "cgroup.controllers").is_file()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        num, names, path = line.split(":", 2)
        if unified and num == "0":
            return MOUNT / path.lstrip("/")
        if not unified and controller in names.split(","):
            return MOUNT / controller / path.lstrip("/")
    return None


def _limits(controller: str, cpus: float | None, memory_gb: float | None, pids: int | None,
            unified: bool) -> dict[str, str]:
    """File name -> value for the limits asked of `controller`."""
    if controller == "memory" and memory_gb:
        limit = str(int(memory_gb * 2**30))
        if unified:
            return {"memory.max": limit, "memory.swap.max": "0"}
        return {"memory.limit_in_bytes": limit, "memory.memsw.limit_in_bytes": limit}  # no extra swap
    if controller == "cpu" and cpus:
        quota = int(cpus * CPU_PERIOD_US)
        return {"cpu.max": f"{quota} {CPU_PERIOD_US}"} if unified else {
            "cpu.cfs_period_us": str(CPU_PERIOD_US), "cpu.cfs_quota_us": str(quota)}
    if controller == "pids" and pids:
        return {"pids.max": str(pids)}
    return {}


@dataclass
class RunCgroups:
    """The cgroups of one run and the limits set in them."""

    dirs: list[Path] = field(default_factory=list)
    applied: dict[str, str] = field(default_factory=dict)  # limit file -> value
    missing: list[str] = field(default_factory=list)  # limits asked for that the host did not allow

    @property
    def procs(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def remove(self) -> None:
        for d in reversed(self.dirs):
            try:
                d.rmdir()
            except OSError:
                pass  # still busy: the kernel frees it once its last process is reaped


def create(cpus: float | None, memory_gb: float | None, pids: int | None) -> RunCgroups:
    """Cgroups holding the limits asked for (none asked: none made)."""
    unified = (MOUNT / "cgroup.controllers").is_file()
    run, tag = RunCgroups(), f"ptb-sandbox-{uuid.uuid4().hex[:12]}"
    parents: dict[Path, dict[str, str]] = {}
    for controller in CONTROLLERS:
        wanted = _limits(controller, cpus, memory_gb, pids, unified)
        own = _own(controller) if wanted else None
        if wanted and own is None:
            run.missing.append(f"{controller}: no cgroup hierarchy")
        elif wanted:
            parents.setdefault(own, {}).update(wanted)
    for own, wanted in parents.items():
        d = own / tag
        try:
            d.mkdir()
        except OSError as e:
            run.missing += [f"{name}: {e.strerror}" for name in wanted]
            continue
        run.dirs.append(d)
        for name, value in wanted.items():
            try:
                (d / name).write_text(value)
                run.applied[name] = value
            except OSError as e:  # e.g. memsw without swap accounting
                run.missing.append(f"{name}: {e.strerror}")
    return run


def available() -> tuple[bool, str]:
    """Whether this host lets the local sandbox set every limit, and what it found."""
    probe = create(cpus=1, memory_gb=1, pids=64)
    probe.remove()
    if probe.missing:
        return False, "cannot set " + "; ".join(probe.missing)
    kind = "v2" if (MOUNT / "cgroup.controllers").is_file() else "v1"
    return True, f"cgroups {kind}: memory, cpu and pids limits can be set"


def joiner(run: RunCgroups) -> list[str]:
    """A command prefix that puts itself into the run's cgroups, then runs the rest:
    every process of the sandbox is born inside them."""
    if not run.dirs:
        return []
    # "0" written to cgroup.procs moves the writing process (v1 and v2).
    script = "".join(f'echo 0 > "${i + 1}"; ' for i in range(len(run.procs)))
    return ["/bin/sh", "-c", script + f'shift {len(run.procs)}; exec "$@"', "sh", *map(str, run.procs)]
