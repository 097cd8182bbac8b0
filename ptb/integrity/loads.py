"""Which datasets the agent's code asks for, and which its processes actually loaded.

- code: an `ast` pass over the agent's Python files and notebooks' code cells, so
  comments and prose never count. It finds `load_dataset` / `load_dataset_builder`,
  `snapshot_download` / `hf_hub_download` of dataset repos, and ptb's own benchmark
  loaders (`gsm8k.load("test")`, `BENCHMARKS["gsm8k"].load(...)`), with the dataset id,
  config and split resolved through string constants, simple variables and keyword
  arguments; `ds["test"]` after a load without `split=` counts as the test split. Shell
  files: `hf download` / `huggingface-cli download` lines outside comments. Paths into a
  Hugging Face cache folder of a dataset (`datasets--org--name`) written in code count
  as a load of that dataset, and so do `hf://datasets/...` and huggingface.co dataset URLs
  (`load_dataset("parquet", data_files="hf://datasets/org/name/test-*.parquet")`, pandas).
- audit: the reports of the in-sandbox audit (ptb/integrity/audit.py), loads and file
  opens with their call sites; reports without one are ptb's own (evaluate.py).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

LOADERS = {"load_dataset", "load_dataset_builder", "snapshot_download", "hf_hub_download"}
# load_dataset(path, name, data_dir, data_files, split): positions of the arguments
POSITIONS = {"load_dataset": ("path", "name", "data_dir", "data_files", "split"),
             "load_dataset_builder": ("path", "name"), "snapshot_download": ("repo_id",),
             "hf_hub_download": ("repo_id", "filename")}
CACHE_PATH = re.compile(r"datasets--([\w.-]+)--([\w.-]+)")
# A hub dataset's files by URL: `hf://datasets/org/name/...` (datasets, pandas, fsspec) or
# `https://huggingface.co/datasets/org/name/resolve/...`.
HUB_URL = re.compile(r"(?:hf://datasets/|huggingface\.co/datasets/)([\w.-]+)/([\w.-]+)")
_CLI = re.compile(r"""(?:huggingface-cli|\bhf)\s+download\s+([\w.-]+/[\w.-]+)([^\n]*)""")


@dataclass(frozen=True)
class Load:
    repo: str  # hub id, or "ptb:<benchmark>" for ptb's own loader
    config: str | None
    splits: tuple[str, ...] | None  # None: every split (no split= given)
    where: str  # file:line, or the call site the audit reported
    source: str  # "code" or "audit"
    files: tuple[str, ...] = field(default=())  # files the load read (audit)
    ok: bool = True  # the load succeeded (audit); a failed attempt is still evidence


def splits_of(value: str | None) -> tuple[str, ...] | None:
    """'train[:80%]+test' -> ('train', 'test')."""
    if value is None:
        return None
    return tuple(dict.fromkeys(re.findall(r"[A-Za-z_][\w-]*", re.sub(r"\[[^\]]*\]", "", value))))


class _Calls(ast.NodeVisitor):
    def __init__(self, where: str, benchmarks: set[str]):
        self.where, self.benchmarks = where, benchmarks
        self.consts: dict[str, str] = {}
        self.found: list[Load] = []
        self.test_subscript = False

    def value(self, node) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self.consts.get(node.id)
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        v = self.value(node.value)
        for t in node.targets:
            if isinstance(t, ast.Name) and v is not None:
                self.consts[t.id] = v
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self.value(node.slice) == "test":
            self.test_subscript = True
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self.found += [Load(repo, None, splits_of(_split_in_path(node.value)), f"{self.where}:{node.lineno}", "code")
                           for repo in repos_in(node.value)]

    def visit_Call(self, node: ast.Call) -> None:
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
        at = f"{self.where}:{node.lineno}"
        if name in LOADERS:
            args = dict(zip(POSITIONS[name], node.args))
            args.update({k.arg: k.value for k in node.keywords if k.arg})
            repo = self.value(args.get("path") or args.get("repo_id"))
            kind = self.value(args["repo_type"]) if "repo_type" in args else None
            if repo and (name.startswith("load_dataset") or kind == "dataset"):
                split = self.value(args["split"]) if "split" in args else None
                if name.endswith("download"):  # a split chosen by file name or pattern
                    split = _split_in_path(" ".join(filter(None, (self.value(args.get("filename")),
                                                                   _text(args.get("allow_patterns"))))))
                self.found.append(Load(repo, self.value(args.get("name")), splits_of(split), at, "code"))
        elif name == "load" and node.args and isinstance(fn, ast.Attribute):
            bench = _benchmark_of(fn.value, self)
            if bench in self.benchmarks:
                self.found.append(Load(f"ptb:{bench}", None, splits_of(self.value(node.args[0]) or "?"), at, "code"))
        self.generic_visit(node)


def repos_in(text: str) -> list[str]:
    """Hub datasets whose files a path or URL names (a cache folder, hf://, a huggingface.co URL)."""
    return list(dict.fromkeys(f"{m.group(1)}/{m.group(2)}" for rx in (CACHE_PATH, HUB_URL) for m in rx.finditer(text)))


def _text(node) -> str | None:
    return ast.unparse(node) if node is not None else None


def _split_in_path(text: str | None) -> str | None:
    return "test" if text and re.search(r"(?<![a-z])test(?![a-z])", text.lower()) else None


def _benchmark_of(node, calls: _Calls) -> str | None:
    if isinstance(node, ast.Name):  # gsm8k.load(...)
        return node.id
    if isinstance(node, ast.Attribute):  # ptb.benchmarks.gsm8k.load(...)
        return node.attr
    if isinstance(node, ast.Subscript):  # BENCHMARKS["gsm8k"].load(...)
        return calls.value(node.slice)
    return None


def python_sources(rel: str, text: str) -> list[str]:
    """The Python code of a .py file, or of a notebook's code cells (magics left out)."""
    if rel.endswith(".ipynb"):
        try:
            cells = json.loads(text).get("cells", [])
        except ValueError:
            return []
        out = []
        for c in cells:
            if c.get("cell_type") == "code":
                src = "".join(c.get("source", [])) if isinstance(c.get("source"), list) else c.get("source", "")
                out.append("\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines()))
        return out
    return [text]


def from_code(code: list[tuple[str, str]], benchmarks: set[str]) -> tuple[list[Load], list[str]]:
    """Loads the agent's code asks for, and the files that did not parse."""
    found, unparsed = [], []
    for rel, text in code:
        if rel.endswith((".py", ".ipynb")):
            for src in python_sources(rel, text):
                try:
                    tree = ast.parse(src)
                except SyntaxError:
                    unparsed.append(rel)
                    continue
                calls = _Calls(rel, benchmarks)
                calls.visit(tree)
                found += [Load(x.repo, x.config, ("test",), x.where + ' (then ["test"])', x.source)
                          if x.splits is None and calls.test_subscript else x for x in calls.found]
        elif rel.endswith((".sh", ".bash")) or "." not in Path(rel).name:
            for n, line in enumerate(text.splitlines(), 1):
                line = line.split(" #")[0] if not line.lstrip().startswith("#") else ""
                for m in _CLI.finditer(line):
                    if "dataset" in m.group(2):
                        found.append(Load(m.group(1), None, splits_of(_split_in_path(m.group(2))), f"{rel}:{n}", "code"))
    return found, unparsed


def from_audit(records: list[dict]) -> list[Load]:
    """The audit's reports made from the agent's code (a call site outside ptb)."""
    out = []
    for r in records:
        site = r.get("site")
        if not site:
            continue
        event = r.get("event")
        files = tuple(str(f) for f in r.get("files") or ())
        if event == "ptb_loader":
            out.append(Load(f"ptb:{r.get('benchmark')}", None, splits_of(r.get("split")), site, "audit", (), r.get("ok", True)))
        elif event in ("load_dataset", "snapshot_download", "hf_hub_download") and r.get("repo"):
            if event != "load_dataset" and r.get("repo_type") != "dataset":
                continue
            split = r.get("split") if event == "load_dataset" else _split_in_path(f"{r.get('filename')} {r.get('allow_patterns')}")
            out.append(Load(str(r["repo"]), r.get("config"), splits_of(split), site, "audit", files, r.get("ok", True)))
            data_files = str(r.get("data_files") or "")  # load_dataset("parquet", data_files="hf://datasets/...")
            out += [Load(repo, None, splits_of(_split_in_path(data_files)), site, "audit", files, r.get("ok", True))
                    for repo in repos_in(data_files)]
        elif event == "open" and r.get("path"):
            m = CACHE_PATH.search(r["path"]) or re.search(r"/([\w.-]+)___([\w.-]+)/", r["path"])
            repo = f"{m.group(1)}/{m.group(2)}" if m else "file"
            out.append(Load(repo, None, splits_of(_split_in_path(Path(r["path"]).name)), site, "audit", (r["path"],)))
    return out
