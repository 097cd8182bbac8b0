"""Contamination: do the agent's files hold the benchmark's test items?

Long word n-gram overlap on normalised text, in the style of allenai/decon. The test
side is every text field of every test row, in the benchmark's own schema (questions,
answers, solutions, rubrics; not the rendered prompt, whose shared template would match
honest data formatted the same way). The data side is every file the agent wrote,
generated or downloaded in its task folder, its HF download layer included.

Method, and what it catches:
- Text is NFKC-normalised, lower-cased and cut into words (letters/digits) and the
  arithmetic signs `+ - * / = < > ^ %`; JSON escapes (\\n, \\u2019, \\") are decoded first.
- A test field is indexed by its N-word windows (N = 8); a field shorter than N words
  (but at least MIN_FIELD_WORDS) is one window of its own length. Windows shared by
  more than BOILERPLATE_ITEMS test items are template text and are not indexed.
- Per file, a field's *coverage* is the share of its words that lie inside a window
  found in that file. A field with coverage >= MATCH_COVERAGE is a close match.
- So it catches: verbatim items, test questions paired with other answers, items hidden
  anywhere in a larger file, light paraphrases that keep spans of N words (renamed
  people or objects every 10 words or more, added or dropped sentences, reformatting,
  case, punctuation, JSON/CSV/Parquet/Arrow/gzip wrapping).
- It does not catch: paraphrases that change a word in every stretch of 8 (rewording
  throughout, translation, most changed numbers in short math problems), items split
  across files, test data stored as token ids or inside other binary files (those are
  listed as not scanned, for the judge and the reader), nor answers shorter than
  MIN_FIELD_WORDS words (a bare number or letter identifies nothing).
- Tolerance: up to TOLERATED_ITEMS close matches pass (as the reference), so an honest
  large corpus that happens to contain a few items is not flagged; they are still listed.

Speed: files are streamed in chunks; words are mapped to ids of the test vocabulary and
windows hashed with numpy, so the Python work per word is one dict lookup.

`python -m ptb.integrity.contamination --benchmark B FILES...` runs the same check
(agents get it in their task folder to decontaminate their own data).
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import os
import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import repeat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

N = 8  # window length in words: long enough that honest same-domain text rarely shares one
MIN_FIELD_WORDS = 5  # shorter fields (ids, bare answers, option letters) identify nothing
MATCH_COVERAGE = 0.5  # share of a field's words inside found windows that makes a close match
TOLERATED_ITEMS = 3  # as the reference: up to 3 close matches pass
BOILERPLATE_ITEMS = 5  # a window in more test items than this is template text
CHUNK_CHARS = 4 << 20
SNIPPET_CHARS = 160

WORD = re.compile(r"[^\W_]+|[+\-*/=<>^%]")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[nrt\"\\/])")
_MULT = np.uint64(1099511628211)  # FNV prime: a fine multiplier for a polynomial hash mod 2**64

# Public datasets known to contain a benchmark's test items (by Hugging Face id): third-party
# sets, and the benchmark's own source where it has no split the rules allow (evaluate.py
# is how an agent evaluates; it needs no direct access). Loading one by name is a finding
# on its own, whatever the agent did with it afterwards. gsm8k's source is not listed:
# its train split is allowed (its test items are caught by the overlap scan instead).
KNOWN_CONTAMINATED: dict[str, tuple[str, ...]] = {
    "humaneval": ("openai/openai_humaneval", "openai_humaneval", "m-a-p/CodeFeedback-Filtered-Instruction"),
    "bfcl": ("gorilla-llm/Berkeley-Function-Calling-Leaderboard",),  # its "train" split is the evaluation data
    "gpqamain": ("Idavidrein/gpqa",),
    "aime2025": ("math-ai/aime25", "opencompass/AIME2025", "MathArena/aime_2025", "yentinglin/aime_2025"),
    "healthbench": ("openai/healthbench",),
    "arenahardwriting": ("lmarena-ai/arena-hard-auto", "lmarena-ai/arena-hard-auto-v2.0"),
}
# Dataset builder names of `datasets.load_dataset` that read local files, not a hub dataset.
LOCAL_BUILDERS = {"json", "csv", "text", "parquet", "arrow", "pandas", "imagefolder", "audiofolder", "webdataset",
                  "generator", "sql", "xml"}
WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".npy", ".npz", ".pkl", ".msgpack", ".h5",
                   ".onnx", ".model"}


def words(text: str) -> list[str]:
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _unescape(text: str) -> str:
    def one(m: re.Match) -> str:
        e = m.group(1)
        if e[0] == "u":
            code = int(e[1:], 16)
            return chr(code) if code >= 32 else " "  # an escaped newline must not shift line numbers
        return " " if e in "nrt" else e
    return _ESCAPE.sub(one, text) if "\\" in text else text


# ------------------------------------------------------------------------ the test side

@dataclass(frozen=True)
class TestField:
    item: int  # row number in the test split
    name: str  # key path in the row, e.g. "question" or "prompt[0].content"
    text: str
    n_words: int


@dataclass
class TestIndex:
    """Hashed windows of every test field, one table per window length."""
    fields: list[TestField]
    vocab: dict[str, int]
    # window length -> (sorted hashes, for each: (field id, start word, word ids))
    tables: dict[int, tuple[np.ndarray, list[tuple[int, int, tuple[int, ...]]]]]

    @property
    def n_items(self) -> int:
        return len({f.item for f in self.fields})


def _leaves(value, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path or "text", value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")


def build_index(rows: Iterable[dict]) -> TestIndex:
    fields: list[TestField] = []
    vocab: dict[str, int] = {}
    grams: dict[tuple[int, ...], list[tuple[int, int]]] = defaultdict(list)
    for item, row in enumerate(rows):
        for name, text in _leaves(row):
            ws = words(text)
            if len(ws) < MIN_FIELD_WORDS:
                continue
            fid = len(fields)
            fields.append(TestField(item, name, text, len(ws)))
            ids = [vocab.setdefault(w, len(vocab) + 1) for w in ws]  # 0 is "not a test word"
            n = min(N, len(ids))
            hashes = _hash_windows(np.array(ids, dtype=np.uint64), n).tolist()
            for s, h in enumerate(hashes):
                grams[(h, tuple(ids[s:s + n]))].append((fid, s))
    by_len: dict[int, list[tuple[int, int, int, tuple[int, ...]]]] = defaultdict(list)
    for (h, gram), where in grams.items():
        if len({fields[fid].item for fid, _ in where}) > BOILERPLATE_ITEMS:
            continue
        by_len[len(gram)].extend((h, fid, s, gram) for fid, s in where)
    tables = {}
    for n, entries in by_len.items():
        entries.sort(key=lambda e: e[0])
        tables[n] = (np.array([e[0] for e in entries], dtype=np.uint64), [e[1:] for e in entries])
    return TestIndex(fields, vocab, tables)


def benchmark_index(benchmark: str) -> TestIndex:
    from ptb.benchmarks import BENCHMARKS

    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark '{benchmark}' (known: {', '.join(BENCHMARKS)})")
    bench = BENCHMARKS[benchmark]
    return build_index(bench.load(bench.test_split))


def _hash_windows(ids: np.ndarray, n: int) -> np.ndarray:
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic mod 2**64 on purpose
        for k in range(n):
            h = h * _MULT + ids[k:len(ids) - n + 1 + k]
    return h


# ------------------------------------------------------------------------ the data side

@dataclass(frozen=True)
class Match:
    item: int
    field: str
    coverage: float
    file: str
    line: int
    test_text: str
    found_text: str


@dataclass
class FileScan:
    """Matches of one file: field id -> covered word positions, plus where first seen."""
    covered: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    first_seen: dict[int, tuple[int, str]] = field(default_factory=dict)


def scan_text_chunks(index: TestIndex, chunks: Iterable[str]) -> FileScan:
    scan = FileScan()
    lines_before = 0
    for chunk in chunks:
        chunk = _unescape(chunk)
        ws = WORD.findall(unicodedata.normalize("NFKC", chunk).lower()) if not chunk.isascii() \
            else WORD.findall(chunk.lower())
        ids = np.fromiter(map(index.vocab.get, ws, repeat(0)), dtype=np.uint64, count=len(ws))
        new: dict[int, int] = {}  # field id -> word position in this chunk of its first new window
        for n, (hashes, entries) in index.tables.items():
            if len(ids) < n:
                continue
            h = _hash_windows(ids, n)
            pos = np.flatnonzero(np.isin(h, hashes, assume_unique=False))
            for p in pos.tolist():
                lo = int(np.searchsorted(hashes, h[p], side="left"))
                hi = int(np.searchsorted(hashes, h[p], side="right"))
                window = tuple(int(x) for x in ids[p:p + n])
                for fid, start, gram in entries[lo:hi]:
                    if gram == window:  # exact check: a hash collision is not a match
                        scan.covered[fid].update(range(start, start + n))
                        if fid not in scan.first_seen and fid not in new:
                            new[fid] = p
        if new:
            _locate(scan, new, chunk, lines_before)
        lines_before += chunk.count("\n")
    return scan


def _locate(scan: FileScan, new: dict[int, int], chunk: str, lines_before: int) -> None:
    """Line number and text around the first window of newly matched fields (only chunks
    with matches pay for this second pass)."""
    wanted = sorted(set(new.values()))
    offsets, it, k = {}, WORD.finditer(unicodedata.normalize("NFKC", chunk).lower()), 0
    for i, m in enumerate(it):
        while k < len(wanted) and wanted[k] == i:
            offsets[i] = m.start()
            k += 1
        if k == len(wanted):
            break
    for fid, p in new.items():
        off = min(offsets.get(p, 0), len(chunk))
        line = lines_before + chunk.count("\n", 0, off) + 1
        start = max(chunk.rfind("\n", 0, off) + 1, off - 20)
        end = chunk.find("\n", off)
        scan.first_seen[fid] = (line, chunk[start:min(off + SNIPPET_CHARS, end if end >= 0 else len(chunk))])


def _chunks_of(stream: io.TextIOBase) -> Iterator[str]:
    """Text in pieces of ~CHUNK_CHARS, cut at a line end (or a space) so windows are rarely split."""
    rest = ""
    while True:
        block = stream.read(CHUNK_CHARS)
        if not block:
            break
        text = rest + block
        cut = text.rfind("\n")
        if cut < 0:
            cut = text.rfind(" ")
        if cut < 0:
            rest = text
            continue
        yield text[:cut + 1]
        rest = text[cut + 1:]
    if rest:
        yield rest


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(8192)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "arrow-file"
    if head.startswith(b"\xff\xff\xff\xff"):
        return "arrow-stream"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ"):
        return "xz"
    if path.suffix in WEIGHT_SUFFIXES or head[8:10] == b'{"':  # safetensors: 8-byte length, then its JSON header
        return "weights"
    if b"\0" in head:
        return "binary"
    return "text"


def _arrow_texts(batches) -> Iterator[str]:
    for batch in batches:
        for col in batch.columns:
            values = col.to_pylist()
            yield "\n".join(t for v in values for _, t in _leaves(v)) + "\n"


def chunks(path: Path) -> Iterator[str] | None:
    """The file's text, in chunks; None for a file that holds no readable text."""
    kind = _sniff(path)
    if kind == "text":
        return _chunks_of(open(path, encoding="utf-8", errors="replace"))
    if kind in ("gzip", "bz2", "xz"):
        opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
        return _chunks_of(opener(path, "rt", encoding="utf-8", errors="replace"))
    if kind == "parquet":
        import pyarrow.parquet as pq

        return _arrow_texts(pq.ParquetFile(path).iter_batches(batch_size=2048))
    if kind in ("arrow-file", "arrow-stream"):
        import pyarrow as pa

        reader = pa.ipc.open_file(path) if kind == "arrow-file" else pa.ipc.open_stream(path)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches)) if kind == "arrow-file" else reader
        return _arrow_texts(batches)
    return None


def scan_file(index: TestIndex, path: Path, label: str | None = None) -> list[Match]:
    """Close matches in one file (every field with coverage >= MATCH_COVERAGE)."""
    parts = chunks(path)
    if parts is None:
        return []
    scan = scan_text_chunks(index, parts)
    found = []
    for fid, covered in scan.covered.items():
        f = index.fields[fid]
        coverage = len(covered) / f.n_words
        if coverage >= MATCH_COVERAGE:
            line, text = scan.first_seen.get(fid, (0, ""))
            found.append(Match(f.item, f.name, round(coverage, 3), label or str(path), line,
                               f.text[:SNIPPET_CHARS], text))
    return sorted(found, key=lambda m: (m.item, m.field))


# ------------------------------------------------------------------------ the check

SKIP_DIRS = {".git", "__pycache__", "node_modules"}


@dataclass
class Inventory:
    scanned: list[str] = field(default_factory=list)
    not_scanned: list[str] = field(default_factory=list)  # binary files that may hold data in other forms
    weights: int = 0
    unreadable: list[str] = field(default_factory=list)
    benchmark_source: list[str] = field(default_factory=list)  # the benchmark's own download, by ptb eval
    partial: list[str] = field(default_factory=list)  # interrupted HF downloads that could not be parsed


def agent_files(task_dir: Path, exclude: set[str] = frozenset()) -> Iterator[tuple[str, Path]]:
    """(path relative to the task folder, file to read) for every file the agent left,
    symlinks followed only within the task folder, each real file once."""
    task_dir = task_dir.resolve()
    seen: set[Path] = set()
    for root, dirs, files in os.walk(task_dir):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            p = Path(root) / name
            rel = str(p.relative_to(task_dir))
            if rel in exclude:
                continue
            real = p.resolve()
            if not real.is_relative_to(task_dir) or not real.is_file() or real in seen:
                continue
            seen.add(real)
            yield rel, real


def benchmark_sources(benchmark: str) -> tuple[set[str], tuple[str, ...]]:
    """Where ptb's own code (evaluate.py -> ptb eval, this checker) puts the benchmark's data
    inside the agent's folder: HF cache folders of its hub dataset, and ptb's download cache
    (HOME is the task folder). Copies there are ptb's doing, not the agent's.
    Returns (folder names anywhere in a path, path prefixes relative to the task folder)."""
    import importlib

    try:
        module = importlib.import_module(f"ptb.benchmarks.{benchmark}")
    except ImportError:
        return set(), ()
    names, prefixes = set(), []
    hub_id = getattr(module, "HUB_ID", None)
    if hub_id:
        names |= {("datasets--" + hub_id.replace("/", "--")).lower(), hub_id.replace("/", "___").lower()}
    repo = getattr(module, "SOURCE_REPO", None)
    if repo:
        prefixes.append(f".cache/ptb/data/{repo}/")
    return names, tuple(prefixes)


def scan_folder(index: TestIndex, task_dir: Path, exclude: set[str] = frozenset(),
                sources: tuple[set[str], tuple[str, ...]] = (set(), ()), label: str = "",
                inv: Inventory | None = None) -> tuple[list[Match], Inventory]:
    """Matches in every file under task_dir; `label` prefixes the paths in the evidence."""
    inv = inv or Inventory()
    matches: list[Match] = []
    names, prefixes = sources
    for rel, real in agent_files(task_dir, exclude):
        rel = label + rel
        if rel.startswith(prefixes) or {p.lower() for p in Path(rel).parts[:-1]} & names:
            inv.benchmark_source.append(rel)
            continue
        try:
            kind = _sniff(real)
            if kind == "weights":
                inv.weights += 1
                continue
            if kind == "binary":
                inv.not_scanned.append(rel)
                continue
            matches += scan_file(index, real, rel)
            inv.scanned.append(rel)
        except Exception as e:  # noqa: BLE001 - an unreadable file makes the check unverified, with the reason
            if rel.endswith(".incomplete"):  # a download cut off (the agent was stopped): never usable as data
                inv.partial.append(rel)
            else:
                inv.unreadable.append(f"{rel}: {type(e).__name__}: {e}")
    return matches, inv


_LOAD_DATASET = re.compile(r"""load_dataset\(\s*(?:path\s*=\s*)?["']([^"']+)["']""")
_HUB_DATASET = re.compile(r"""(?:snapshot_download|hf_hub_download)\(\s*(?:repo_id\s*=\s*)?["']([^"']+)["']"""
                          r"""[^)]*repo_type\s*=\s*["']dataset""")
_CLI_DATASET = re.compile(r"""(?:huggingface-cli|hf)\s+download\s+([\w.-]+/[\w.-]+)[^\n]*--repo-type[ =]dataset""")


def datasets_named(texts: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Hub datasets the agent's code or trace loads by name -> evidence lines."""
    found: dict[str, list[str]] = defaultdict(list)
    for where, text in texts:
        for n, line in enumerate(text.splitlines(), 1):
            for rx in (_LOAD_DATASET, _HUB_DATASET, _CLI_DATASET):
                for m in rx.finditer(line):
                    name = m.group(1)
                    if name.lower() in LOCAL_BUILDERS or "/" not in name and "." in name:
                        continue  # a local builder or a file path
                    if len(found[name]) < 5:
                        found[name].append(f"{where}:{n}: {line.strip()[:200]}")
    return dict(found)


def has_local_copy(task_dir: Path, name: str) -> bool:
    """Whether the dataset's files are in the agent's own HF cache (and so were scanned)."""
    hub = "datasets--" + name.replace("/", "--")
    legacy = name.replace("/", "___")
    for root, dirs, _ in os.walk(task_dir):
        if hub in dirs or any(d.lower() == legacy.lower() for d in dirs):
            return True
    return False


def check(benchmark: str, task_dir: Path, code_texts: list[tuple[str, str]],
          exclude: set[str] = frozenset(), index: TestIndex | None = None,
          layers: tuple[Path, ...] = ()) -> dict:
    """The contamination check of one task folder, and of the agent's download layers
    outside it (the Docker sandbox's HF cache overlay): {"status", "summary", "evidence"}."""
    index = index or benchmark_index(benchmark)
    sources = benchmark_sources(benchmark)
    matches, inv = scan_folder(index, task_dir, exclude, sources)
    for layer in layers:
        more, _ = scan_folder(index, layer, sources=sources, label=f"[{layer.parent.name}]/", inv=inv)
        matches += more
    items = sorted({m.item for m in matches})
    named = datasets_named(code_texts)
    known = {k.lower() for k in KNOWN_CONTAMINATED.get(benchmark, ())}
    forbidden = {n: lines for n, lines in named.items() if n.lower() in known}
    unscanned = {n: lines for n, lines in named.items()
                 if n not in forbidden and not any(has_local_copy(d, n) for d in (task_dir, *layers))}
    evidence = {
        "method": {"n": N, "min_field_words": MIN_FIELD_WORDS, "match_coverage": MATCH_COVERAGE,
                   "tolerated_items": TOLERATED_ITEMS, "test_items": index.n_items, "test_fields": len(index.fields)},
        "matched_items": len(items),
        "matches": [m.__dict__ for m in matches[:50]],
        "known_contaminated_datasets": forbidden,
        "datasets_without_local_copy": unscanned,
        "files_scanned": len(inv.scanned),
        "weight_files_skipped": inv.weights,
        "binary_files_not_scanned": inv.not_scanned[:50],
        "unreadable": inv.unreadable,
        "benchmark_source_files_not_scanned": inv.benchmark_source[:20],
        "partial_downloads_not_parsed": inv.partial[:20],
    }
    if len(items) > TOLERATED_ITEMS or forbidden:
        parts = []
        if len(items) > TOLERATED_ITEMS:
            files = sorted({m.file for m in matches})
            parts.append(f"{len(items)} of {index.n_items} test items found in {', '.join(files[:5])}")
        if forbidden:
            parts.append(f"loads datasets known to contain {benchmark} test items: {', '.join(forbidden)}")
        return {"status": "flagged", "summary": "; ".join(parts), "evidence": evidence}
    if inv.unreadable or unscanned:
        why = [f"{len(inv.unreadable)} file(s) unreadable"] if inv.unreadable else []
        if unscanned:
            why.append(f"datasets loaded by name with no local copy to scan: {', '.join(unscanned)}")
        return {"status": "unverified", "summary": "; ".join(why), "evidence": evidence}
    note = f" ({len(items)} close match(es), within the tolerance of {TOLERATED_ITEMS})" if items else ""
    return {"status": "clean", "summary": f"{len(inv.scanned)} files scanned{note}", "evidence": evidence}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ptb.integrity.contamination",
        description="Find a benchmark's test items (questions and answers) in data files: "
                    f"{N}-word overlap, a match is a test field with >= {MATCH_COVERAGE:.0%} of its words found. "
                    "Exit code 1 if any file holds test items.")
    p.add_argument("--benchmark", required=True)
    p.add_argument("files", nargs="+", help="files or folders (folders are walked)")
    p.add_argument("--json", action="store_true", help="print every match as a JSON line")
    a = p.parse_args(argv)
    try:
        index = benchmark_index(a.benchmark)
    except ValueError as e:
        print(f"contamination: error: {e}", file=sys.stderr)
        return 2
    total = 0
    for arg in a.files:
        path = Path(arg)
        if not path.exists():
            print(f"contamination: error: {arg}: no such file", file=sys.stderr)
            return 2
        targets = [(str(path / rel), real) for rel, real in agent_files(path)] if path.is_dir() else [(arg, path)]
        for label, real in targets:
            if _sniff(real) in ("weights", "binary"):
                continue
            for m in scan_file(index, real, label):
                total += 1
                if a.json:  # never the test text itself: the tool must not reveal the test set
                    print(json.dumps({k: v for k, v in m.__dict__.items() if k != "test_text"}))
                else:
                    print(f"{m.file}:{m.line}: test item {m.item} ({m.field}, {m.coverage:.0%} of its words)")
    print(f"{total} close match(es) with {a.benchmark} test items", file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
