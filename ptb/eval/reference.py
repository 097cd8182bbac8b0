"""Files of the reference harness, aisa-group/PostTrainBench at the pinned commit, obtained at run time.

Where ptb must match PostTrainBench byte for byte (chat templates, judge prompts and settings, the
judged benchmarks' data), it reads the reference's own file instead of carrying a copy of it:

1. `$PTB_DATA_DIR/aisa-group/PostTrainBench/<path>`: an offline copy (a checkout of the repository
   at the commit will do);
2. else ptb's cache, `<cache>/reference/<commit>/<path>`, with the file's sha256 recorded beside it
   when it was stored and checked whenever it is read again;
3. else a download from GitHub at the full commit, written atomically into the cache.

Every path ptb reads is declared with `file(...)` (the tests check each one against the commit's
file list); reading an undeclared path is a bug.
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

from ptb import paths

REPO = "aisa-group/PostTrainBench"
COMMIT = "9082063a62e10e040f1acacdec2ccfc1467e0c00"
URL = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/"

PATHS: set[str] = set()  # every path of the repository ptb reads, declared by `file`


class ReferenceUnavailable(FileNotFoundError):
    pass


def file(path: str) -> str:
    """Declare a path of the repository that ptb reads; returns it."""
    PATHS.add(path)
    return path


def cached(path: str) -> Path:
    return paths.cache_dir() / "reference" / COMMIT / path


def local(path: str) -> Path:
    """The file on this host: the offline copy, the checked cache entry, or a fresh download."""
    if path not in PATHS:
        raise KeyError(f"{path}: not a declared reference file (declare it with ptb.eval.reference.file)")
    root = os.environ.get("PTB_DATA_DIR")
    if root and (Path(root) / REPO / path).is_file():
        return Path(root) / REPO / path
    target = cached(path)
    if _intact(target):
        return target
    return store(path, _download(path))


def text(path: str) -> str:
    return local(path).read_text(encoding="utf-8")


def store(path: str, data: bytes) -> Path:
    """Put the bytes of a reference file into the cache (atomically: a crash leaves no partial file)."""
    target = cached(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    tmp.write_bytes(data)
    _sha_file(target).write_text(hashlib.sha256(data).hexdigest() + "\n")
    tmp.replace(target)
    return target


def _sha_file(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


_checked: dict[Path, tuple[float, int]] = {}  # cache entries found intact, with their mtime and size then


def _intact(target: Path) -> bool:
    sha = _sha_file(target)
    if not (target.is_file() and sha.is_file()):
        return False
    stat = target.stat()
    if _checked.get(target) == (stat.st_mtime, stat.st_size):  # read again and again (a row at a time)
        return True
    if hashlib.sha256(target.read_bytes()).hexdigest() != sha.read_text().strip():
        return False
    _checked[target] = (stat.st_mtime, stat.st_size)
    return True


def _download(path: str) -> bytes:
    import httpx

    try:
        response = httpx.get(URL + path, follow_redirects=True, timeout=60)
        response.raise_for_status()
    except httpx.HTTPError as e:
        raise ReferenceUnavailable(
            f"cannot get {path} of {REPO}@{COMMIT[:7]}: download from {URL + path} failed ({e}); "
            f"offline, put the file at $PTB_DATA_DIR/{REPO}/{path}") from None
    return response.content


# ---- values out of the reference's Python and YAML files ----------------------------------------------

def python_constant(path: str, name: str):
    """The value of a module-level constant of a reference Python file, read without running the file:
    literals, names of other constants, and `.strip()`-style calls on them (e.g. a prompt template)."""
    tree = ast.parse(text(path))
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    if name not in assigned:
        raise ValueError(f"{path} of {REPO}@{COMMIT[:7]}: no constant {name}")
    return _evaluate(assigned[name], assigned, path)


_STRING_METHODS = {"strip", "lstrip", "rstrip"}


def _evaluate(node: ast.expr, assigned: dict[str, ast.expr], path: str):
    if isinstance(node, ast.Name) and node.id in assigned:
        return _evaluate(assigned[node.id], assigned, path)
    if isinstance(node, ast.Dict):
        return {_evaluate(k, assigned, path): _evaluate(v, assigned, path) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(e, assigned, path) for e in node.elts]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _STRING_METHODS
            and not node.args and not node.keywords):
        return getattr(_evaluate(node.func.value, assigned, path), node.func.attr)()
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{path} of {REPO}@{COMMIT[:7]}: cannot read {ast.unparse(node)[:60]} without running it") \
            from None


def yaml_file(path: str) -> dict:
    import yaml

    return yaml.safe_load(text(path))
