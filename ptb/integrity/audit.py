"""The in-sandbox audit, host side: what the agent's processes actually loaded.

Every Python process in the sandbox imports ptb/integrity/audit_site/sitecustomize.py
first (its folder leads the agent's PYTHONPATH). It reports each data load (datasets,
huggingface_hub dataset downloads, ptb's benchmark loaders) and each file opened under a
watched folder (Hugging Face caches, PTB_DATA_DIR, ptb's cache) with its call site, as
datagrams to a Unix socket. ptb listens on that socket outside the sandbox and appends
each report to `<cell>/sandbox/audit.jsonl`, where the agent cannot write.

Why a socket: the agent's processes run as the same user in the local sandbox, so a
file or a FIFO they can write to, they could also rewrite or drain. A datagram socket
only delivers to its listener; connecting works through a read-only bind (both
bubblewrap and Docker mount the socket file read-only at its own path).

What an agent that knows about it can still do:
- run Python without it (`python -I` or `-S`, PYTHONPATH changed, its own interpreter) or
  read data without Python (cat, pyarrow's C++ readers by path): nothing is reported.
  The `ast` pass over its code and the scan of its files still run;
- undo the patches inside its own process (the open hook itself cannot be removed);
- send forged reports: they are added to the log, never replace earlier ones, so
  forging can only add findings.
It cannot delete or rewrite what was reported.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

from ptb.paths import agent_socket

SITE_DIR = Path(__file__).resolve().parent / "audit_site"


def hf_cache_dirs() -> list[Path]:
    """The host's Hugging Face caches (hub and datasets)."""
    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                / "huggingface")
    dirs = [home, Path(os.environ["HF_HUB_CACHE"]) if os.environ.get("HF_HUB_CACHE") else home / "hub"]
    if os.environ.get("HF_DATASETS_CACHE"):
        dirs.append(Path(os.environ["HF_DATASETS_CACHE"]))
    return dirs


def watched(task_dir: Path) -> list[str]:
    """Folders whose files' opens are reported: where data lives, the agent's own HF cache included."""
    from ptb import paths

    dirs = [*hf_cache_dirs(), task_dir / ".cache", paths.cache_dir()]
    if os.environ.get("PTB_DATA_DIR"):
        dirs.append(Path(os.environ["PTB_DATA_DIR"]))
    return sorted({str(d.resolve()) for d in dirs})


class AuditLog:
    """Listens on a fresh socket until closed; reports go to `log` one JSON line each."""

    def __init__(self, log: Path, task_dir: Path):
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self.socket, self._sock = agent_socket("ptb-audit-", socket.SOCK_DGRAM)
        self._dir = self.socket.parent
        self._watch = watched(task_dir)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        return {"PTB_AUDIT_SOCKET": str(self.socket), "PTB_AUDIT_WATCH": os.pathsep.join(self._watch),
                "PYTHONPATH": str(SITE_DIR)}

    def _serve(self) -> None:
        with open(self.log, "a", encoding="utf-8") as out:
            while True:
                data = self._sock.recv(1 << 16)
                if not data:  # close()'s wake-up, after every report queued before it
                    if self._stop:
                        return
                    continue
                try:
                    record = json.loads(data)
                    if not isinstance(record, dict):
                        raise ValueError
                except ValueError:
                    record = {"event": "malformed", "bytes": len(data)}
                record["t"] = round(time.time(), 3)
                out.write(json.dumps(record) + "\n")
                out.flush()

    def close(self) -> None:
        """Stop after the reports already queued (the agent's processes are gone by now)."""
        time.sleep(0.2)
        self._stop = True
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"", str(self.socket))
        self._thread.join(timeout=10)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def read(log: Path) -> list[dict] | None:
    """The reports of one cell, None where the run had no audit."""
    if not log.is_file():
        return None
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
