"""The local sandbox: bubblewrap, for hosts without Docker and for tests.

Threat model: the agent is hostile and runs arbitrary code for hours. What is covered:
- it runs as an unprivileged uid with no capabilities and no_new_privs: when ptb is root,
  bubblewrap (root) builds the sandbox and `setpriv` drops to the task folder's owner or
  PTB_SANDBOX_UID (default 1000) before the agent starts; otherwise bubblewrap runs in a
  user namespace as ptb's own uid with every capability dropped and no further user
  namespaces. Nothing it does can remount or unmount what it was given (`mount`,
  `umount`, `unshare -r` all fail, or change only its own throw-away namespace);
- the root file system is built from what it needs, read-only: /usr and its /bin, /lib*
  links, an /etc of non-secret files with a generated passwd/group (no /etc/shadow),
  ptb's Python environment and source, the `tools` dirs, the base model (and the files its
  links point to); the task folder is its only writable place, /tmp and /dev/shm are
  private. There is no /run, /var, /root, no host home, no other cell, no host socket;
- /proc is its own PID namespace's: bubblewrap starts with an empty environment and gets
  its options (granted variables included) from a memory file, so no /proc/*/environ or
  /proc/*/cmdline it can read holds a value it was not granted;
- the network is cut unless the agent's definition or the grid asks for it (then the
  host's network namespace is shared, with its abstract Unix sockets);
- at the deadline the PID namespace is killed: every process, setsid and double-forked
  ones included; CPU, memory and process limits come from cgroups where the host allows
  it (`ptb.sandbox.cgroups`; `ptb doctor` says when it does not).
What it does not cover: kernel exploits, GPU isolation beyond the device nodes and
CUDA_VISIBLE_DEVICES, side channels. The Docker sandbox adds a separate image.

Outside the agent's reach (the cell folder is not in its file system): the run's record
`<cell>/sandbox/sandbox.json` (uid, limits, timings), resource samples in
`<cell>/sandbox/monitor.jsonl` (ptb/sandbox/monitor.py), and the agent's stdout/stderr,
which reach their logs through ptb, redacted on the way in (`ptb.agents.traces.LineLog`).
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ptb import paths
from ptb.agents import traces
from ptb.sandbox import cgroups
from ptb.sandbox.spec import InfraError, SandboxRun, SandboxSpec, agent_ids, hand_over, readable_inputs, tool_path
from ptb.sandbox.monitor import ProcessTreeMonitor

SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# What programs need from /etc; nothing secret (no shadow, no ssh keys, no pip/npm logins).
ETC = ("hosts", "resolv.conf", "nsswitch.conf", "host.conf", "gai.conf", "ld.so.conf", "ld.so.conf.d",
       "ld.so.cache", "ssl", "ca-certificates", "ca-certificates.conf", "alternatives", "localtime", "timezone",
       "mime.types", "protocols", "services", "bash.bashrc", "profile", "inputrc", "os-release",
       "debian_version", "terminfo", "fonts")


def _pump(stream, log: traces.LineLog) -> None:
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span chunks
    try:
        while chunk := stream.read1(1 << 16):
            log.write(decode.decode(chunk))
    finally:
        log.close()
        stream.close()


def runtime_paths() -> list[Path]:
    """This Python environment and ptb's source (not the rest of its checkout: outputs live there)."""
    return sorted({Path(p).resolve() for p in (sys.prefix, sys.base_prefix)} | {paths.ROOT / "ptb"})


def runtime_binds() -> list[str]:
    """Read-only binds of this Python environment and ptb's checkout, to repeat after a
    `--tmpfs /tmp` in a sandbox over the host's root (humaneval's code runner)."""
    keep = sorted({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, paths.ROOT)})
    return [arg for p in keep for arg in ("--ro-bind", str(p), str(p))]


def link_targets(root: Path) -> list[Path]:
    """Files outside `root` that links inside it point to (a hub snapshot's blobs)."""
    if not root.is_dir():
        return []
    out = set()
    for link in root.rglob("*"):
        if link.is_symlink() and link.exists() and not link.resolve().is_relative_to(root.resolve()):
            out.add(link.resolve())
    return sorted(out)


def write_etc(etc: Path, uid: int, gid: int, home: Path) -> Path:
    """passwd and group naming only root, the agent and nobody, in the folder etc."""
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
                                f"agent:x:{uid}:{gid}:agent:{home}:/bin/bash\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"root:x:0:\nagent:x:{gid}:\nnogroup:x:65534:\n")
    return etc


def agent_env(spec: SandboxSpec) -> dict[str, str]:
    env = dict(spec.env)
    if spec.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpus)
    if spec.tools:
        env["PATH"] = tool_path(spec.tools, env.get("PATH", "/usr/bin:/bin"))
    return env


ONE_ARG = {"--tmpfs", "--dev", "--proc", "--dir"}
TWO_ARGS = {"--ro-bind", "--ro-bind-try", "--bind", "--dev-bind", "--symlink"}


def with_parent_dirs(args: list[str]) -> list[str]:
    """The options with, before each mount, its missing parent directories made mode
    0755: bubblewrap would make them 0700 (root's), unreachable for the agent's uid."""
    out, made, i = [], set(), 0
    while i < len(args):
        op = i + 2 if args[i] == "--perms" else i  # --perms applies to the next operation
        n = 2 if args[op] in ONE_ARG else 3 if args[op] in TWO_ARGS else 1
        if args[op] in ONE_ARG | TWO_ARGS:
            dest = Path(args[op + n - 1])
            for parent in reversed([p for p in dest.parents if p != Path("/") and p not in made]):
                out += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
            if args[op] in ("--tmpfs", "--dev", "--proc"):  # a new file system hides what was made below it
                made = {p for p in made if not p.is_relative_to(dest)}
            made.add(dest)
        out += args[i:op + n]
        i = op + n
    return out


def bwrap_options(spec: SandboxSpec, etc: Path, sources: dict[Path, Path], uid: int, gid: int) -> list[str]:
    """bubblewrap's options: the file system, namespaces and environment (no command)."""
    args: list[str] = []
    for name in SYSTEM:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind", str(etc / "passwd"), "/etc/passwd", "--ro-bind", str(etc / "group"), "/etc/group"]
    args += ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc", "--perms", "1777",
             "--tmpfs", "/tmp", "--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    if spec.gpus:  # the driver's device nodes and what CUDA reads from /sys
        args += [arg for dev in sorted(Path("/dev").glob("nvidia*")) for arg in ("--dev-bind", str(dev), str(dev))]
        args += ["--ro-bind", "/sys", "/sys"]
    ro = [*runtime_paths(), *spec.tools]
    for path in ro:
        args += ["--ro-bind", str(path), str(path)]
    for path in spec.readonly:
        args += ["--ro-bind", str(sources.get(path, path)), str(path)]
        args += [a for t in link_targets(path) for a in ("--ro-bind", str(t), str(t))]
    for path in spec.hidden:  # below a bound path (a checkout's outputs/): shown empty
        if any(Path(path).is_relative_to(p) for p in ro):
            args += ["--tmpfs", str(path)]
    args += ["--bind", str(spec.workdir), str(spec.workdir), "--chdir", str(spec.workdir)]
    args += ["--remount-ro", "/"]  # the root bubblewrap built: read-only, and so locked in nested namespaces
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if not spec.network:
        args.append("--unshare-net")
    if os.geteuid() != 0:  # unprivileged: a user namespace mapping only ptb's own uid
        args += ["--unshare-user", "--uid", str(uid), "--gid", str(gid), "--disable-userns", "--cap-drop", "ALL"]
    args.append("--clearenv")
    for key, value in agent_env(spec).items():
        args += ["--setenv", key, value]
    return with_parent_dirs(args)


def inner_command(spec: SandboxSpec, uid: int, gid: int, started_fd: int) -> list[str]:
    """What bubblewrap runs: drop to the agent's uid (when ptb is root), report "started"
    on a pipe only ptb holds, close it, then become the agent. No report means the
    sandbox failed to set up (not the agent)."""
    drop = []
    if os.geteuid() == 0:
        drop = ["/usr/bin/setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    report = f'printf started >&{started_fd}; exec {started_fd}>&-; exec "$@"'
    return [*drop, "/bin/bash", "-c", report, "bash", *spec.command]


def options_file(options: list[str]) -> int:
    """A memory file holding bubblewrap's options, NUL-separated, for `bwrap --args FD`:
    its argv (readable by any process that can see it) then holds no value."""
    fd = os.memfd_create("bwrap-options", 0)
    os.write(fd, b"".join(o.encode() + b"\0" for o in options))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class LocalSandbox:
    name = "local"

    def run(self, spec: SandboxSpec) -> SandboxRun:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise InfraError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
        if os.geteuid() == 0 and not os.path.exists("/usr/bin/setpriv"):
            raise InfraError("setpriv (util-linux) is missing: apt-get install util-linux")
        spec.workdir.mkdir(parents=True, exist_ok=True)
        cell = paths.CellPaths(spec.workdir.parent)
        cell.sandbox.mkdir(exist_ok=True)
        uid, gid = agent_ids(spec.workdir) if os.geteuid() == 0 else (os.getuid(), os.getgid())
        hand_over(spec.workdir, uid, gid)
        sources = readable_inputs(spec.readonly, cell.inputs) if os.geteuid() == 0 else {}
        etc = write_etc(cell.etc, uid, gid, spec.workdir)
        limits = cgroups.create(spec.cpus, spec.memory_gb, spec.pids_limit)
        started_r, started_w = os.pipe()
        options = options_file(bwrap_options(spec, etc, sources, uid, gid))
        command = [*cgroups.joiner(limits), bwrap, "--args", str(options), "--",
                   *inner_command(spec, uid, gid, started_w)]
        started = time.time()
        spec.on_start(started + spec.budget_s)
        try:
            proc = subprocess.Popen(command, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, pass_fds=(started_w, options))
        except OSError as e:
            limits.remove()
            raise InfraError(f"could not start bwrap: {e}") from e
        finally:
            os.close(started_w)
            os.close(options)
        try:
            code, timed_out, ended = self._supervise(proc, spec, cell.monitor, limits)
        finally:
            limits.remove()
            # the agent's uid keeps nothing of it
            hand_over(spec.workdir, os.getuid(), os.getgid(), cell.ctimes, traces.Redactor(spec.secrets))
            shutil.rmtree(cell.inputs, ignore_errors=True)
        with os.fdopen(started_r, "rb") as pipe:
            agent_started = pipe.read() == b"started"
        record = {"uid": uid, "gid": gid, "network": spec.network, "cpus": spec.cpus, "memory_gb": spec.memory_gb,
                  "pids_limit": spec.pids_limit, "cgroup_limits": limits.applied, "limits_not_set": limits.missing,
                  "exit_code": code, "timed_out": timed_out}
        cell.sandbox_json.write_text(json.dumps(record, indent=2) + "\n")
        if not agent_started:
            raise InfraError(f"bwrap could not set up the sandbox (exit {code}): see {spec.stderr}")
        return SandboxRun(code, timed_out, started, ended)

    @staticmethod
    def _supervise(proc: subprocess.Popen, spec: SandboxSpec, monitor_log: Path,
                   limits: cgroups.RunCgroups) -> tuple[int | None, bool, float]:
        redact = traces.Redactor(spec.secrets)
        pumps = [threading.Thread(target=_pump, args=(stream, traces.LineLog(path, redact)), daemon=True)
                 for stream, path in ((proc.stdout, spec.stdout), (proc.stderr, spec.stderr))]
        for t in pumps:
            t.start()
        mem_limit = limits.applied.get("memory.limit_in_bytes") or limits.applied.get("memory.max")
        monitor = ProcessTreeMonitor(proc.pid, spec.workdir, spec.gpus, monitor_log, spec.monitor_s,
                                     int(mem_limit) / 2**20 if mem_limit else None).start()
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
        return code, timed_out, ended
