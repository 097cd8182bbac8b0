"""Resource samples of a running agent, one JSON object per line in `<cell>/sandbox/monitor.jsonl`.

Both sandboxes write the same record every `SandboxSpec.monitor_s` seconds, from outside
the sandbox (the agent cannot alter it; the folder is not mounted into it):
    {"t": epoch s, "cpu_pct": float|null, "mem_mib": float, "mem_limit_mib": float|null,
     "pids": int|null, "disk_free_gib": float,
     "gpus": [{"index": str, "util_pct": float, "mem_used_mib": float, "mem_total_mib": float}]}
`cpu_pct` is summed over cores (200 = two cores busy). `gpus` is empty without nvidia-smi
or without GPUs assigned to the cell. The live view (`ptb.report.live`) shows the last sample.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

GPU_QUERY = "index,utilization.gpu,memory.used,memory.total"
# What sampling a live run can meet, in both sandboxes: the task folder or the log gone (OSError),
# nvidia-smi hanging (TimeoutExpired) or printing "[N/A]" for a field (ValueError). The monitor
# then stops with a last record saying why; any other exception is a bug and raises.
SAMPLE_ERRORS = (OSError, ValueError, subprocess.SubprocessError)


def gpu_sample(gpus: tuple[str, ...]) -> list[dict]:
    """Utilisation and memory of the given GPUs (host indices), from nvidia-smi."""
    if not gpus or shutil.which("nvidia-smi") is None:
        return []
    res = subprocess.run(["nvidia-smi", "-i", ",".join(gpus), "--format=csv,noheader,nounits",
                          f"--query-gpu={GPU_QUERY}"], capture_output=True, text=True, timeout=20, check=False)
    rows = [line.split(", ") for line in res.stdout.strip().splitlines() if res.returncode == 0]
    return [{"index": r[0], "util_pct": float(r[1]), "mem_used_mib": float(r[2]), "mem_total_mib": float(r[3])}
            for r in rows if len(r) == 4]


def write_sample(out, sample: dict) -> None:
    out.write(json.dumps(sample) + "\n")
    out.flush()


class ProcessTreeMonitor:
    """Samples a process and all its descendants (the local sandbox's bwrap and the agent's
    PID namespace below it) in a daemon thread until `stop()`."""

    def __init__(self, pid: int, workdir: Path, gpus: tuple[str, ...], log: Path, interval_s: float,
                 mem_limit_mib: float | None = None):
        self.pid, self.workdir, self.gpus, self.log, self.interval_s = pid, workdir, gpus, log, interval_s
        self.mem_limit_mib = mem_limit_mib
        self._stop = threading.Event()
        self._cpu_seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds at the last sample
        self._last_t: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ProcessTreeMonitor:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        import psutil

        with open(self.log, "a") as out:
            while True:
                try:
                    write_sample(out, self.sample())
                except (*SAMPLE_ERRORS, psutil.Error) as e:  # the run matters, not the monitor
                    write_sample(out, {"t": round(time.time(), 2), "monitor_stopped": str(e)[:200]})
                    return
                if self._stop.wait(self.interval_s):
                    return

    def sample(self) -> dict:
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        now, cpu, rss, seen = time.time(), 0.0, 0, {}
        for p in procs:
            try:
                with p.oneshot():
                    times, key = p.cpu_times(), (p.pid, p.create_time())
                    rss += p.memory_info().rss
            except psutil.Error:  # it ended between the listing and now
                continue
            seen[key] = times.user + times.system
            cpu += seen[key] - self._cpu_seen.get(key, 0.0)
        # CPU time used since the last sample by the processes alive now (a new process:
        # all its time, most of it since then).
        cpu_pct = round(100.0 * cpu / (now - self._last_t), 1) if self._last_t and now > self._last_t else None
        self._cpu_seen, self._last_t = seen, now
        return {"t": round(now, 2), "cpu_pct": cpu_pct, "mem_mib": round(rss / 2**20, 1),
                "mem_limit_mib": self.mem_limit_mib,
                "pids": len(seen), "disk_free_gib": round(shutil.disk_usage(self.workdir).free / 2**30, 2),
                "gpus": gpu_sample(self.gpus)}
