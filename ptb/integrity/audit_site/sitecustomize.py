"""ptb's in-sandbox audit: the first module of every Python process the agent starts
(this folder is first on its PYTHONPATH). It reports to ptb, outside the sandbox, each
data load: `datasets.load_dataset` / `load_from_disk` (dataset, config, split, the cache
files it used), `huggingface_hub` dataset downloads, ptb's benchmark loaders, and every
file opened under a watched folder (Hugging Face caches, ptb's data). Each report carries
the call site: the first frame outside datasets, huggingface_hub, ptb and the stdlib.

Reports go as datagrams to a Unix socket ptb listens on (PTB_AUDIT_SOCKET); ptb writes
them to the cell folder, where the agent cannot rewrite them. See ptb/integrity/audit.py
for what an agent that knows about this can still do.
"""

import json
import os
import socket
import sys

_SOCKET = os.environ.get("PTB_AUDIT_SOCKET")
_WATCH = tuple(p for p in os.environ.get("PTB_AUDIT_WATCH", "").split(os.pathsep) if p)
_HERE = os.path.dirname(os.path.abspath(__file__))
_PTB = os.path.dirname(os.path.dirname(_HERE))  # the ptb package
_NOT_AGENT = ("site-packages", "dist-packages", "<frozen")  # `python -c` code (<string>) is the agent's
_seen: set = set()


def _site():
    """file:line of the first frame that is the agent's code, or None (ptb's own call)."""
    f = sys._getframe(2)
    while f is not None:
        name = f.f_code.co_filename
        if not (name.startswith(_PTB) or name.startswith(sys.base_prefix) or name.startswith(sys.prefix)
                or any(m in name for m in _NOT_AGENT)):
            return f"{name}:{f.f_lineno}"
        f = f.f_back
    return None


def _send(record):
    if not _SOCKET:
        return
    record.update(pid=os.getpid(), argv=sys.argv[:6])
    data = json.dumps(record, default=str).encode()[:60000]
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(data, _SOCKET)
        finally:
            s.close()
    except OSError:
        pass


def _files_of(result):
    try:
        parts = result.values() if hasattr(result, "values") and not hasattr(result, "cache_files") else [result]
        return sorted({f["filename"] for p in parts for f in getattr(p, "cache_files", [])})[:200]
    except Exception:  # noqa: BLE001 - an odd result type: report the load without its files
        return []


def _wrap(fn, event, describe):
    def audited(*args, **kwargs):
        record = {"event": event, "site": _site(), **describe(*args, **kwargs)}
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:
            _send({**record, "ok": False, "error": f"{type(e).__name__}: {e}"[:300]})
            raise
        files = [result] if isinstance(result, str) else _files_of(result) if result is not None else []
        _send({**record, "ok": True, "files": files})
        return result
    audited.__wrapped__ = fn
    return audited


def _arg(args, kwargs, i, name, default=None):
    return kwargs[name] if name in kwargs else (args[i] if len(args) > i else default)


def _dataset(*a, **k):
    return {"repo": _arg(a, k, 0, "path"), "config": _arg(a, k, 1, "name"), "split": _arg(a, k, 4, "split"),
            "data_files": str(_arg(a, k, 3, "data_files"))[:500], "data_dir": _arg(a, k, 2, "data_dir")}


def _hub(*a, **k):
    return {"repo": _arg(a, k, 0, "repo_id"), "repo_type": k.get("repo_type"), "filename": _arg(a, k, 1, "filename"),
            "allow_patterns": str(k.get("allow_patterns"))[:300]}


def _patch_datasets_load(m):
    m.load_dataset = _wrap(m.load_dataset, "load_dataset", _dataset)
    m.load_from_disk = _wrap(m.load_from_disk, "load_from_disk", lambda *a, **k: {"path": _arg(a, k, 0, "dataset_path")})


def _patch_hf_download(m):
    m.hf_hub_download = _wrap(m.hf_hub_download, "hf_hub_download", _hub)


def _patch_hf_snapshot(m):
    m.snapshot_download = _wrap(m.snapshot_download, "snapshot_download", _hub)


def _patch_ptb_data(m):
    m.load_rows = _wrap(m.load_rows, "ptb_load_rows", lambda *a, **k: {"repo": _arg(a, k, 0, "hub_id"),
                                                                        "split": _arg(a, k, 1, "split")})


def _patch_ptb_sealed(m):
    m.check = _wrap(m.check, "ptb_loader", lambda *a, **k: {"benchmark": _arg(a, k, 0, "benchmark"),
                                                             "split": _arg(a, k, 1, "split"),
                                                             "test_split": _arg(a, k, 2, "test_split")})


_PATCHES = {"ptb.benchmarks.sealed": _patch_ptb_sealed, "datasets.load": _patch_datasets_load, "huggingface_hub.file_download": _patch_hf_download,
            "huggingface_hub._snapshot_download": _patch_hf_snapshot, "ptb.benchmarks.data": _patch_ptb_data}


class _AfterImport:
    """Patches a module right after it is executed (nothing is imported early: a Python
    process that never loads data pays nothing)."""

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def patched(module, exec_module=exec_module, name=name):
                    exec_module(module)
                    try:
                        _PATCHES[name](module)
                    except Exception:  # noqa: BLE001 - another version of the library: report what loads
                        _send({"event": "audit_error", "module": name})
                spec.loader.exec_module = patched
                return spec
        return None


def _on_open(event, args):
    if event != "open" or not _WATCH:
        return
    path = args[0]
    if isinstance(path, bytes):
        path = path.decode(errors="replace")
    if not isinstance(path, str) or path in _seen:
        return
    full = path if path.startswith("/") else os.path.abspath(path)
    if not full.startswith(_WATCH) or full.endswith(".lock"):
        return
    _seen.add(path)
    _send({"event": "open", "path": full, "mode": str(args[1]), "site": _site()})


if _SOCKET:
    sys.meta_path.insert(0, _AfterImport())
    sys.addaudithook(_on_open)
