"""The Docker sandbox: one container per cell, for real runs on GPU hosts.

What the container gets (see `container_config`):
- the pinned image (`ptb.sandbox.image`), a read-only root file system, a private
  tmpfs /tmp and /dev/shm, no capabilities, no_new_privs, a non-root user (the task
  folder's owner, or PTB_SANDBOX_UID, default 1000, when the host user is root: the task
  folder is then handed to that uid for the run, and back to the host user after it);
- no host socket (the Docker socket is never mounted), no host environment, and none of
  the cell folder but the task folder: the records the integrity stage trusts
  (given_files.json, cell.json, agent.json, result.json, sandbox/) stay out of its reach;
- the task folder read-write at its host path, the `readonly` paths read-only at theirs
  (so every path in the prompt works unchanged; an input only root may read is copied
  into the cell for the run, see `readable_inputs`), ptb's own code read-only at /opt/ptb/src,
  the `tools` folders read-only at theirs, their bin/ first on PATH;
- the cell's GPUs as a device request naming exactly `spec.gpus` (host indices; inside,
  they are numbered from 0);
- only `spec.env` plus PATH/PYTHONPATH for the image's Python and HF_HUB_CACHE;
- the network (bridge) or none; CPU, memory (no extra swap) and process limits.

The Hugging Face cache: the host's hub cache is the lower layer of an overlay volume,
mounted at /hf-cache/hub. The agent reads the shared cache and can download more, but
its writes land in the upper layer, `<cell>/sandbox/hf-layer/upper`, outside the task
folder: the shared cache is never written, the next run never sees this run's files, and
the integrity stage can still read what the agent downloaded. The entries of
`spec.hidden_cache` (the benchmark's test data, the instruct model: ptb's final
evaluation and identity check put them in the shared cache) are whited out in the upper
layer: the agent does not see them. The volume is removed
after the run; links from final_model/ into it are replaced by copies of their files.

The clock: container creation and a preflight (a short container as root that hands the
cache's directories to the agent's uid, checks the task folder is writable by it and,
when GPUs are requested, that exactly that many are visible and usable) come first;
`spec.on_start(deadline)` is called just before the agent's container starts. At the
deadline the container gets SIGTERM, at the deadline plus `grace_s` it is killed:
everything in it dies with it, whatever it did to escape.

Saved by the sandbox in `<cell>/sandbox/` (not mounted, so the agent cannot alter it):
monitor.jsonl (CPU, memory, processes, disk, GPU utilisation and memory when nvidia-smi
is present), container.json (image, limits, timings). The agent's stdout/stderr go to
`spec.stdout`/`spec.stderr` with `spec.secrets` and API-key-like strings redacted.

Caveat: the kill at the deadline is done by this process; if ptb itself is killed, the
container runs on until the next Docker sandbox starts on this engine, which removes every
sandbox container past its `ptb.deadline` label (`ptb doctor` lists them too).
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import stat
import threading
import time
import uuid
from pathlib import Path

from ptb.agents import traces
from ptb.paths import ROOT, CellPaths
from ptb.sandbox.spec import InfraError, SandboxRun, SandboxSpec, agent_ids, hand_over, readable_inputs, tool_path
from ptb.sandbox.image import default_image
from ptb.sandbox.monitor import gpu_sample, write_sample

IMAGE_PYTHON_PATH = "/opt/ptb/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PTB_SRC = "/opt/ptb/src"
HF_MOUNT = "/hf-cache/hub"
PREFLIGHT_TIMEOUT_S = 300

PREFLIGHT = """
import os, sys
hf, uid, gid, workdir, n_gpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
# Directories of the shared cache become the agent's in the overlay's upper layer only
# (a copy-up of empty directories), so it can download next to them; files stay read-only.
os.chown(hf, uid, gid)
for root, dirs, _ in os.walk(hf):
    for d in dirs:
        os.chown(os.path.join(root, d), uid, gid, follow_symlinks=False)
os.setgid(gid); os.setuid(uid)
probe = os.path.join(workdir, ".ptb-preflight")
with open(probe, "w") as f:
    f.write("ok")
os.remove(probe)
if n_gpus:
    import torch
    seen = torch.cuda.device_count()
    if seen != n_gpus:
        sys.exit(f"preflight: {n_gpus} GPU(s) requested, {seen} visible to torch")
    for i in range(n_gpus):
        x = torch.ones(1024, device=f"cuda:{i}")
        assert float((x + 1).sum()) == 2048.0, f"cuda:{i} computed a wrong sum"
print("preflight ok")
"""


def _client():
    import docker
    import requests

    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as e:  # no socket, engine down
        raise InfraError(f"the Docker engine is not reachable ({e}): start dockerd, or run `ptb doctor`") from e
    return client


def hf_cache_dir() -> Path:
    """The host's Hugging Face hub cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(home) / "hub"


def container_config(spec: SandboxSpec, image: str, uid: int, gid: int, hf_volume: str | None,
                     sources: dict[Path, Path] | None = None) -> dict:
    """Keyword arguments for `client.containers.create` running the agent.

    sources: where each `spec.readonly` path is mounted from (see `readable_inputs`).
    """
    from docker.types import DeviceRequest, LogConfig, Mount

    mounts = [Mount(str(spec.workdir), str(spec.workdir), type="bind", read_only=False),
              Mount(f"{PTB_SRC}/ptb", str(ROOT / "ptb"), type="bind", read_only=True)]
    mounts += [Mount(str(p), str((sources or {}).get(p, p)), type="bind", read_only=True) for p in spec.readonly]
    mounts += [Mount(str(p), str(p), type="bind", read_only=True) for p in spec.tools]
    if hf_volume:
        mounts.append(Mount(HF_MOUNT, hf_volume, type="volume"))
    env = {k: v for k, v in spec.env.items() if k != "CUDA_VISIBLE_DEVICES"}  # host indices mean nothing inside
    # The integrity audit's module (ptb/integrity/audit.py) first, at its path in the image's ptb mount.
    site = f"{PTB_SRC}/ptb/integrity/audit_site:" if "PTB_AUDIT_SOCKET" in env else ""
    env.update(PATH=tool_path(spec.tools, IMAGE_PYTHON_PATH), PYTHONPATH=site + PTB_SRC, HF_HUB_CACHE=HF_MOUNT)
    config = dict(
        image=image, command=list(spec.command), user=f"{uid}:{gid}", working_dir=str(spec.workdir),
        environment=env, mounts=mounts, read_only=True, init=True, hostname="sandbox",
        tmpfs={"/tmp": "rw,exec,nosuid,mode=1777"}, shm_size=f"{spec.shm_gb or 2}g",
        cap_drop=["ALL"], security_opt=["no-new-privileges"],
        network_mode="bridge" if spec.network else "none",
        pids_limit=spec.pids_limit or -1,
        # Kept only until the logs are copied (redacted) into the cell; bounded on disk.
        log_config=LogConfig(type="json-file", config={"max-size": "100m", "max-file": "3"}),
        labels={"ptb.sandbox": "docker", "ptb.cell": str(spec.workdir.parent),
                "ptb.deadline": "", "ptb.gpus": ",".join(spec.gpus)},
    )
    if spec.gpus:
        config["device_requests"] = [DeviceRequest(device_ids=list(spec.gpus),
                                                   capabilities=[["gpu", "compute", "utility"]])]
    if spec.cpus:
        config["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.memory_gb:
        config["mem_limit"] = config["memswap_limit"] = f"{int(spec.memory_gb * 1024)}m"
    return config


def _host_path(path: str, layers: list[Path]) -> Path | None:
    """The host file behind a path under HF_MOUNT inside the container, following symlinks
    (the hub's snapshots link to its blobs) through the overlay's layers, upper first."""
    for _ in range(40):
        rel = os.path.relpath(os.path.normpath(path), HF_MOUNT)
        if rel.startswith(".."):
            return None
        found = next((layer / rel for layer in layers if os.path.lexists(layer / rel)), None)
        if found is None or stat.S_ISCHR(found.lstat().st_mode):  # missing, or an overlay whiteout
            return None
        if not found.is_symlink():
            return found
        path = os.path.join(os.path.dirname(path), os.readlink(found))
    return None


def materialise_hf_links(final_model: Path, layers: list[Path]) -> None:
    """Replace links in final_model/ that point into the container's HF cache by copies of
    their files: the cache's mount is gone after the run. Other links are left to the
    final-model check (links inside the task folder are copied there, others rejected)."""
    if not final_model.is_dir():
        return
    for link in [p for p in final_model.rglob("*") if p.is_symlink()]:
        target = os.path.join(str(link.parent), os.readlink(link))
        host = _host_path(target, layers) if os.path.normpath(target).startswith(HF_MOUNT) else None
        if host is None:
            continue
        link.unlink()
        shutil.copytree(host, link, symlinks=False) if host.is_dir() else shutil.copy2(host, link)


def reap_expired(client) -> list[str]:
    """Remove sandbox containers past their deadline (left by a ptb that was killed)."""
    reaped = []
    for c in client.containers.list(all=True, filters={"label": "ptb.sandbox"}):
        deadline = c.labels.get("ptb.deadline") or ""
        if deadline and float(deadline) < time.time():
            c.remove(force=True)
            reaped.append(c.name)
    return reaped


class DockerSandbox:
    name = "docker"

    def __init__(self, image: str | None = None):
        self.image = image or default_image()

    def run(self, spec: SandboxSpec) -> SandboxRun:
        import docker

        client = _client()
        try:
            image_id = client.images.get(self.image).id
        except docker.errors.ImageNotFound:
            raise InfraError(f"sandbox image {self.image} not found: build it with `python -m ptb.sandbox.image` "
                             "(or set PTB_SANDBOX_IMAGE)") from None
        reap_expired(client)
        spec.workdir.mkdir(parents=True, exist_ok=True)
        cell = CellPaths(spec.workdir.parent)
        cell.sandbox.mkdir(exist_ok=True)
        uid, gid = agent_ids(spec.workdir)
        hand_over(spec.workdir, uid, gid)
        tag = uuid.uuid4().hex[:12]
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        sources = readable_inputs(spec.readonly, cell.inputs)
        volume = self._hf_layer(client, cell, tag, spec.hidden_cache)
        container = None
        try:
            self._preflight(client, spec, uid, gid, volume, sources)
            timings["preflight_s"] = time.monotonic() - t0
            config = container_config(spec, self.image, uid, gid, volume.name, sources)
            config["labels"]["ptb.deadline"] = str(round(time.time() + spec.budget_s + spec.grace_s))
            try:
                container = client.containers.create(name=f"ptb-{tag}", **config)
            except docker.errors.APIError as e:
                raise InfraError(f"could not create the sandbox container: {e.explanation or e}") from e
            timings["setup_s"] = time.monotonic() - t0
            started = time.time()
            deadline = started + spec.budget_s
            spec.on_start(deadline)
            try:
                container.start()
            except docker.errors.APIError as e:
                raise InfraError(f"could not start the sandbox container: {e.explanation or e}") from e
            timings["start_s"] = time.time() - started  # counted in the agent's budget
            code, timed_out = self._supervise(container, spec, deadline, cell.monitor)
            ended = time.time()
            t1 = time.monotonic()
            materialise_hf_links(cell.final_model, [cell.hf_upper, self._hf_lower(cell)])
        finally:
            if container is not None:
                container.remove(force=True)
            volume.remove(force=True)
            shutil.rmtree(cell.inputs, ignore_errors=True)
            # the agent's uid keeps nothing of it
            hand_over(spec.workdir, os.getuid(), os.getgid(), cell.ctimes, traces.Redactor(spec.secrets))
        timings["teardown_s"] = time.monotonic() - t1
        params_json = {"image": self.image, "image_id": image_id, "uid": uid, "gpus": list(spec.gpus),
                       "network": spec.network, "cpus": spec.cpus, "memory_gb": spec.memory_gb,
                       "pids_limit": spec.pids_limit, "exit_code": code, "timed_out": timed_out,
                       "hf_layer": str(cell.hf_upper), "hf_hidden": list(spec.hidden_cache),
                       **{k: round(v, 3) for k, v in timings.items()}}
        cell.container_json.write_text(json.dumps(params_json, indent=2) + "\n")
        return SandboxRun(code, timed_out, started, ended)

    def _hf_layer(self, client, cell: CellPaths, tag: str, hidden: tuple[str, ...]):
        upper, work = cell.hf_upper, cell.hf_work
        upper.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)  # overlay needs an empty work dir
        work.mkdir()
        lower = self._hf_lower(cell)
        lower.mkdir(exist_ok=True)
        for name in hidden:  # an overlay whiteout (a 0/0 character device) hides the shared entry
            if os.path.lexists(lower / name) and not os.path.lexists(upper / name):
                try:
                    os.mknod(upper / name, stat.S_IFCHR, os.makedev(0, 0))
                except PermissionError as e:  # mknod needs root, as the Docker engine does
                    raise InfraError(f"cannot hide {name} of the shared HF cache from the agent: {e}") from e
        return client.volumes.create(
            name=f"ptb-hf-{tag}", driver="local", labels={"ptb.sandbox": "docker", "ptb.cell": str(cell.root)},
            driver_opts={"type": "overlay", "device": "overlay",
                         "o": f"lowerdir={lower},upperdir={upper},workdir={work}"})

    @staticmethod
    def _hf_lower(cell: CellPaths) -> Path:
        lower = hf_cache_dir()
        return lower if lower.is_dir() else cell.hf_empty

    def _preflight(self, client, spec: SandboxSpec, uid: int, gid: int, volume, sources: dict[Path, Path]) -> None:
        import docker
        import requests

        config = container_config(spec, self.image, uid, gid, volume.name, sources)
        config.update(user="0:0", command=["python", "-c", PREFLIGHT, HF_MOUNT, str(uid), str(gid),
                                           str(spec.workdir), str(len(spec.gpus))],
                      cap_drop=None, cap_add=["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"],
                      network_mode="none")
        config["labels"]["ptb.sandbox"] = "docker-preflight"
        container = None
        try:
            container = client.containers.create(**config)
            container.start()
            # docker 7.2's wait(timeout=) raises a requests ConnectionError, not a timeout error.
            code = container.wait(timeout=PREFLIGHT_TIMEOUT_S)["StatusCode"]
            out = container.logs(stdout=True, stderr=True).decode(errors="replace")
        except docker.errors.APIError as e:
            raise InfraError(f"sandbox preflight could not run: {e.explanation or e}") from e
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:  # a hung driver or file system
            raise InfraError(f"sandbox preflight did not finish in {PREFLIGHT_TIMEOUT_S} s ({e})") from e
        finally:
            if container is not None:
                container.remove(force=True)
        if code != 0 or "preflight ok" not in out:
            tail = " | ".join(out.strip().splitlines()[-3:])
            raise InfraError(f"sandbox preflight failed (exit {code}): {tail}")

    def _supervise(self, container, spec: SandboxSpec, deadline: float, monitor_log: Path) -> tuple[int | None, bool]:
        redact = traces.Redactor(spec.secrets)
        pumps = [threading.Thread(target=_pump, args=(container, which, path, redact), daemon=True)
                 for which, path in (("stdout", spec.stdout), ("stderr", spec.stderr))]
        stop = threading.Event()
        monitor = threading.Thread(target=_monitor, args=(container, spec, monitor_log, stop), daemon=True)
        for t in (*pumps, monitor):
            t.start()
        timed_out = False
        while True:
            container.reload()
            if container.status in ("exited", "dead"):
                break
            if time.time() >= deadline:
                timed_out = True
                _stop_at_deadline(container, spec.grace_s)
                break
            time.sleep(0.2)
        stop.set()
        for t in pumps:
            t.join(timeout=30)
        monitor.join(timeout=15)
        container.reload()
        return (None if timed_out else container.attrs["State"]["ExitCode"]), timed_out


def _stop_at_deadline(container, grace_s: float) -> None:
    import docker

    try:
        container.kill(signal="SIGTERM")  # the agent's own process may still save its model
        end = time.time() + grace_s
        while time.time() < end:
            container.reload()
            if container.status in ("exited", "dead"):
                break
            time.sleep(0.2)
        container.kill()  # SIGKILL to the container's init: every process in it dies
    except docker.errors.APIError:
        pass  # already gone
    container.reload()


def _pump(container, which: str, path: Path, redact: traces.Redactor) -> None:
    """Copy one output stream of the container into the cell, redacted, line by line, with
    the lines' arrival times."""
    stream = container.logs(stream=True, follow=True, stdout=which == "stdout", stderr=which == "stderr")
    log = traces.LineLog(path, redact)
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span chunks
    try:
        for chunk in stream:
            log.write(decode.decode(chunk))
    finally:
        log.close()


def _monitor(container, spec: SandboxSpec, log: Path, stop: threading.Event) -> None:
    """Sample the container's resources every `spec.monitor_s` seconds into `log` (see ptb/sandbox/monitor.py)."""
    import docker
    import urllib3

    from ptb.sandbox.monitor import SAMPLE_ERRORS

    last = 0.0
    with open(log, "a") as out:
        try:
            for s in container.stats(stream=True, decode=True):
                if stop.is_set():
                    break
                now = time.time()
                if now - last < spec.monitor_s:
                    continue
                last = now
                cpu, pre = s.get("cpu_stats", {}), s.get("precpu_stats", {})
                d_cpu = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get("total_usage", 0)
                d_sys = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
                ncpu = cpu.get("online_cpus") or 1
                disk = shutil.disk_usage(spec.workdir)
                sample = {
                    "t": round(now, 2),
                    "cpu_pct": round(100.0 * d_cpu / d_sys * ncpu, 1) if d_sys > 0 else None,
                    "mem_mib": round(s.get("memory_stats", {}).get("usage", 0) / 2**20, 1),
                    "mem_limit_mib": round(s.get("memory_stats", {}).get("limit", 0) / 2**20, 1),
                    "pids": s.get("pids_stats", {}).get("current"),
                    "disk_free_gib": round(disk.free / 2**30, 2),
                    "gpus": gpu_sample(spec.gpus),
                }
                write_sample(out, sample)
        # The container went away mid-sample (the engine's error, or its stats stream cut off):
        # the run matters, not the monitor.
        except (*SAMPLE_ERRORS, docker.errors.DockerException, urllib3.exceptions.HTTPError) as e:
            write_sample(out, {"t": round(time.time(), 2), "monitor_stopped": str(e)[:200]})
