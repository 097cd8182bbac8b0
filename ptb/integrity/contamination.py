"""Contamination: do the agent's files, and the data its processes loaded, hold the
benchmark's test items?

Long word n-gram overlap on normalised text, in the style of allenai/decon. The test
side is every text field of every test row, in the benchmark's own schema (questions,
answers, solutions, rubrics; not the rendered prompt, whose shared template would match
honest data formatted the same way). The data side is every file the agent wrote,
generated or downloaded in its task folder, its HF download layer, and the files outside
it that its processes read (the in-sandbox audit, ptb/integrity/audit.py).

Method, and what it catches:
- Text is NFKC-normalised and lower-cased; JSON escapes (\\n, \\u2019, \\") are decoded
  and GSM8K's `<<a*b=c>>` calculator annotations blanked first.
- Prose: words are runs of letters. Digits and signs are not words, so equations never
  make prose windows and a test item with its numbers changed still matches. A field is
  indexed by its N-word windows (N = 6); a field shorter than N words (but at least
  MIN_FIELD_WORDS) is one window of its own length.
- Numbers: a field with at least MIN_FIELD_NUMBERS numbers (a worked solution) is also
  indexed by its NUM_N-number windows, and an item that nothing else identifies (arith's
  "What is 47 + 18?" / "#### 65") by all its numbers in order. A number window counts
  only where it makes up RECORD_SHARE of the numbers on its line: `47 + 18 = 65` as a
  record of its own, not three numbers that happen to follow each other in a long text.
- Windows shared by more than BOILERPLATE_ITEMS test items are template text, not indexed.
- Per file, a field's *coverage* is the share of its words (numbers) inside found windows
  that lie within one stretch of the file of SPAN x the field's length: fragments of many
  items spread over a large file do not add up to one item.
- A field with coverage >= MATCH_COVERAGE is a close match.
- So it catches: verbatim items, test questions paired with other answers, items hidden
  anywhere in a larger file, light paraphrases that keep spans of N words (renamed
  people or objects every 8 words or more, changed numbers, added or dropped
  sentences, reformatting, case, punctuation, JSON/CSV/Parquet/Arrow/gzip wrapping),
  short items written as equations, worked solutions stripped to their equations.
- It does not catch: paraphrases that change a word in every stretch of 6 (rewording
  throughout, translation), items split across files, test data stored as token ids or
  inside other binary files (those are listed as not scanned, for the judge and the
  reader), nor bare answers (a number or a letter identifies nothing).
- Tolerance: up to TOLERATED_ITEMS close matches pass (as the reference), so an honest
  large corpus that happens to contain a few items is not flagged; they are still listed.
- Measured on honest data by bench/contamination_fp.py (the real GSM8K train split
  against its test split, arith's train split against its test split).

Evidence names the file, the line and the test item's row number, never the test text.

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

# N and MATCH_COVERAGE measured on held-out GSM8K train items (bench/contamination_fp.py): N = 6 at 0.65
# flags 0.8 per 1,000 and finds names swapped every 6 words; N = 8 at 0.5 flags 1.6, at 0.6 misses them.
N = 6  # window length in words
MIN_FIELD_WORDS = 5  # shorter prose fields (ids, option letters, "What is") identify nothing by their words
NUM_N = 8  # window length in numbers (and operators)
MIN_ITEM_NUMBERS = 3  # an item identified by nothing else is indexed by all its numbers ("47 + 18" -> "65")
RECORD_SHARE = 0.5  # a number window must make up this share of the numbers on its line (a record)
MATCH_COVERAGE = 0.65  # share of a field's words inside found windows that makes a close match
SPAN = 2  # the windows covering a field must lie within SPAN x its length (+ one window) of the data
MAX_HITS = 4096  # windows remembered per field and file (enough to place the best-covered stretch)
TOLERATED_ITEMS = 3  # as the reference: up to 3 close matches pass
BOILERPLATE_ITEMS = 5  # a window in more test items than this is template text
CHUNK_CHARS = 4 << 20

# Prose words are letters only: digits and arithmetic signs are not words, so number-only
# spans (`16 - 3 - 4 = 9`) never make a prose window, and numbers are masked for free (a
# test item with its numbers changed still matches). Numbers are matched on their own.
WORD = re.compile(r"[^\W\d_]+")
# Numbers, and the operators between them: "70 + 50" is not "70% * 50%". "=" is left out
# ("47 + 18 = 65" against "What is 47 + 18?" / "#### 65").
NUMBER = re.compile(r"\d+(?:[.,]\d+)*|(?<=[\d\s])[-+*/×](?=[\s\d])")
CALC = re.compile(r"<<[^<>\n]*>>")  # GSM8K's calculator annotations: a copy of the equation before them
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[nrt\"\\/])")
_MULT = np.uint64(1099511628211)  # FNV prime: a fine multiplier for a polynomial hash mod 2**64

def known_contaminated() -> dict[str, tuple[str, ...]]:
    """Benchmark -> the public datasets known to contain its test items (Hugging Face ids; each
    benchmark's `contaminated`): third-party sets, and the benchmark's own source where it has no
    split the rules allow (evaluate.py is how an agent evaluates; it needs no direct access).
    Loading one by name is a finding on its own, whatever the agent did with it afterwards."""
    from ptb.benchmarks import BENCHMARKS

    return {b.id: b.contaminated for b in BENCHMARKS.values() if b.contaminated}


# Dataset builder names of `datasets.load_dataset` that read local files, not a hub dataset.
LOCAL_BUILDERS = {"json", "csv", "text", "parquet", "arrow", "pandas", "imagefolder", "audiofolder", "webdataset",
                  "generator", "sql", "xml"}
WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".npy", ".npz", ".pkl", ".msgpack", ".h5",
                   ".onnx", ".model"}


def _prepare(text: str) -> str:
    """Lower-cased, NFKC, calculator annotations blanked (same length: offsets stay valid)."""
    text = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).lower()
    return CALC.sub(lambda m: " " * len(m.group()), text) if "<<" in text else text


def words(text: str) -> list[str]:
    return WORD.findall(_prepare(text))


def numbers(text: str) -> list[str]:
    """Numbers (without thousands separators or trailing decimal zeros) and operators."""
    out = []
    for n in NUMBER.findall(text):
        n = n.replace(",", "")
        out.append(n.rstrip("0").rstrip(".") if "." in n else n)
    return out


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
    name: str  # key path in the row, e.g. "question" or "prompt[0].content"; "#numbers" for number sequences
    n_words: int  # its length in words (prose) or numbers
    n: int  # its window length
    numeric: bool
    anchored: bool = False  # found only at the start of a line's numbers (a record's question)


@dataclass
class TestIndex:
    """Hashed windows of every test field: prose windows (one numpy table per window
    length) and number windows (a dict per window length). No test text is kept."""
    fields: list[TestField]
    vocab: dict[str, int]
    # window length -> (sorted hashes, for each: (field id, start word, word ids))
    tables: dict[int, tuple[np.ndarray, list[tuple[int, int, tuple[int, ...]]]]]
    # window length -> number window -> [(field id, start)]
    number_tables: dict[int, dict[tuple[str, ...], list[tuple[int, int]]]] = field(default_factory=dict)

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


def build_index(rows: Iterable[dict], allowed: Iterable[dict] = ()) -> TestIndex:
    """The index of the test rows; windows also found in `allowed` rows (the split the rules
    allow training on) are left out: they cannot tell test data from allowed data."""
    fields: list[TestField] = []
    vocab: dict[str, int] = {}
    grams: dict[tuple[int, ...], list[tuple[int, int]]] = defaultdict(list)
    num_grams: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)

    def add_numbers(item: int, name: str, nums: list[str]) -> None:
        for n, windows in _number_windows(nums).items():
            fid = len(fields)
            whole = n == min(NUM_N, len(nums))
            fields.append(TestField(item, name if whole else name + "[:-1]", len(nums) if whole else n, n, True,
                                    anchored=not whole))
            for s, gram in windows:
                num_grams[gram].append((fid, s))

    for item, row in enumerate(rows):
        item_numbers, identified = [], False
        for name, text in _leaves(row):
            prepared = _prepare(text)
            nums = numbers(prepared)
            item_numbers += nums
            ws = WORD.findall(prepared)
            if len(ws) < MIN_FIELD_WORDS:
                continue
            identified = True
            fid = len(fields)
            n = min(N, len(ws))
            fields.append(TestField(item, name, len(ws), n, False))
            ids = [vocab.setdefault(w, len(vocab) + 1) for w in ws]  # 0 is "not a test word"
            hashes = _hash_windows(np.array(ids, dtype=np.uint64), n).tolist()
            for s, h in enumerate(hashes):
                grams[(h, tuple(ids[s:s + n]))].append((fid, s))
        if not identified and len(item_numbers) >= MIN_ITEM_NUMBERS:
            add_numbers(item, "#numbers", item_numbers)
    lengths = {len(g) for _, g in grams}
    allowed_hashes, allowed_numbers = _allowed_windows(allowed, vocab, lengths)
    by_len: dict[int, list[tuple[int, int, int, tuple[int, ...]]]] = defaultdict(list)
    for (h, gram), where in grams.items():
        if len({fields[fid].item for fid, _ in where}) > BOILERPLATE_ITEMS or h in allowed_hashes:
            continue
        by_len[len(gram)].extend((h, fid, s, gram) for fid, s in where)
    tables = {}
    for n, entries in by_len.items():
        entries.sort(key=lambda e: e[0])
        tables[n] = (np.array([e[0] for e in entries], dtype=np.uint64), [e[1:] for e in entries])
    number_tables: dict[int, dict[tuple[str, ...], list[tuple[int, int]]]] = defaultdict(dict)
    for gram, where in num_grams.items():
        if len({fields[fid].item for fid, _ in where}) <= BOILERPLATE_ITEMS and gram not in allowed_numbers:
            number_tables[len(gram)][gram] = where
    return TestIndex(fields, vocab, tables, dict(number_tables))


def _number_windows(nums: list[str]) -> dict[int, list[tuple[int, tuple[str, ...]]]]:
    """Window length -> [(start, window)] of an item's number sequence. A short item also
    by its question's numbers without the answer, at the start of a record: "What is 47 +
    18?" paired with another answer is still the test question, while "29 + 47 = 76"
    holds "47" then a number without being it."""
    n = min(NUM_N, len(nums))
    out = {n: [(s, tuple(nums[s:s + n])) for s in range(len(nums) - n + 1)]}
    if 3 <= len(nums) <= 5:
        out[len(nums) - 1] = [(0, tuple(nums[:-1]))]
    return out


def _allowed_windows(rows: Iterable[dict], vocab: dict[str, int], lengths: set[int]) \
        -> tuple[set[int], set[tuple[str, ...]]]:
    """Hashes of the prose windows (of the given lengths) and the number windows of `rows`."""
    hashes: set[int] = set()
    nums: set[tuple[str, ...]] = set()
    for row in rows:
        item_numbers = []
        for _, text in _leaves(row):
            prepared = _prepare(text)
            item_numbers += numbers(prepared)
            ids = np.fromiter(map(vocab.get, WORD.findall(prepared), repeat(0)), dtype=np.uint64)
            for n in lengths:
                if len(ids) >= n:
                    hashes.update(_hash_windows(ids, n).tolist())
        if len(item_numbers) >= MIN_ITEM_NUMBERS:
            nums.update(gram for windows in _number_windows(item_numbers).values() for _, gram in windows)
    return hashes, nums


def benchmark_index(benchmark: str) -> TestIndex:
    from ptb.benchmarks import BENCHMARKS

    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark '{benchmark}' (known: {', '.join(BENCHMARKS)})")
    bench = BENCHMARKS[benchmark]
    allowed = bench.load("train") if bench.train_pairs is not None else ()  # the split the rules allow
    return build_index(bench.load(bench.test_split), allowed)


def _hash_windows(ids: np.ndarray, n: int) -> np.ndarray:
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic mod 2**64 on purpose
        for k in range(n):
            h = h * _MULT + ids[k:len(ids) - n + 1 + k]
    return h


# ------------------------------------------------------------------------ the data side

@dataclass(frozen=True)
class Match:
    item: int  # the test item's row number in its split
    field: str
    coverage: float
    file: str
    line: int


@dataclass
class FileScan:
    """Windows found in one file: field id -> [(position in the file's word or number
    stream, start in the field)], and the line where each field was first seen."""
    hits: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    first_seen: dict[int, int] = field(default_factory=dict)

    def add(self, fid: int, pos: int, start: int) -> bool:
        hits = self.hits[fid]
        if len(hits) < MAX_HITS:
            hits.append((pos, start))
        return fid not in self.first_seen


def scan_text_chunks(index: TestIndex, chunks: Iterable[str]) -> FileScan:
    scan = FileScan()
    lines_before = words_before = numbers_before = 0
    for chunk in chunks:
        text = _prepare(_unescape(chunk))
        ws = WORD.findall(text)
        ids = np.fromiter(map(index.vocab.get, ws, repeat(0)), dtype=np.uint64, count=len(ws))
        new: dict[int, int] = {}  # field id -> word position in this chunk of its first window
        for n, (hashes, entries) in index.tables.items():
            if len(ids) < n:
                continue
            h = _hash_windows(ids, n)
            for p in np.flatnonzero(np.isin(h, hashes)).tolist():
                lo = int(np.searchsorted(hashes, h[p], side="left"))
                hi = int(np.searchsorted(hashes, h[p], side="right"))
                window = tuple(int(x) for x in ids[p:p + n])
                for fid, start, gram in entries[lo:hi]:
                    if gram == window and scan.add(fid, words_before + p, start) and fid not in new:
                        new[fid] = p  # exact check above: a hash collision is not a match
        if new:
            _locate(scan, new, text, lines_before)
        if index.number_tables:
            numbers_before = _scan_numbers(index, scan, text, lines_before, numbers_before)
        lines_before += chunk.count("\n")
        words_before += len(ws)
    return scan


def _scan_numbers(index: TestIndex, scan: FileScan, text: str, lines_before: int, before: int) -> int:
    """Number windows, line by line (a line is a record); returns the numbers seen so far."""
    for lineno, line in enumerate(text.split("\n")):
        nums = numbers(line) if any(c.isdigit() for c in line) else []
        for n, table in index.number_tables.items():
            if len(nums) < n or n < RECORD_SHARE * len(nums):
                continue
            for p in range(len(nums) - n + 1):
                for fid, start in table.get(tuple(nums[p:p + n]), ()):
                    if p and index.fields[fid].anchored:
                        continue
                    if scan.add(fid, before + p, start):
                        scan.first_seen[fid] = lines_before + lineno + 1
        before += len(nums)
    return before


def _locate(scan: FileScan, new: dict[int, int], text: str, lines_before: int) -> None:
    """Line number of the first window of newly matched fields (only chunks with matches
    pay for this second pass)."""
    wanted = sorted(set(new.values()))
    offsets, k = {}, 0
    for i, m in enumerate(WORD.finditer(text)):
        while k < len(wanted) and wanted[k] == i:
            offsets[i] = m.start()
            k += 1
        if k == len(wanted):
            break
    for fid, p in new.items():
        scan.first_seen[fid] = lines_before + text.count("\n", 0, offsets.get(p, 0)) + 1


def coverage(f: TestField, hits: list[tuple[int, int]]) -> float:
    """Share of the field's words inside found windows that lie within one stretch of the
    data of SPAN x the field's length (plus one window)."""
    span = SPAN * f.n_words + f.n
    hits = sorted(hits)
    best = 0
    for i, (left, _) in enumerate(hits):
        if i and hits[i - 1][0] == left:
            continue
        covered: set[int] = set()
        for pos, start in hits[i:]:
            if pos - left > span:
                break
            covered.update(range(start, start + f.n))
        best = max(best, len(covered))
        if best == f.n_words:
            break
    return best / f.n_words


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


_MAGIC = ((b"PAR1", "parquet"), (b"ARROW1", "arrow-file"), (b"\xff\xff\xff\xff", "arrow-stream"),
          (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ", "xz"))  # a file's first bytes -> its format


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(8192)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if path.suffix in WEIGHT_SUFFIXES or head[8:10] == b'{"':  # safetensors: 8-byte length, then its JSON header
        return "weights"
    if b"\0" in head:
        return "binary"
    return "text"


def _arrow_texts(batches) -> Iterator[str]:
    """One line per row (a record), its text fields joined."""
    for batch in batches:
        lines = (" ".join(t.replace("\n", " ") for _, t in _leaves(row)) for row in batch.to_pylist())
        yield "\n".join(lines) + "\n"


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
    for fid, hits in scan.hits.items():
        f = index.fields[fid]
        cov = coverage(f, hits)
        if cov >= MATCH_COVERAGE:
            found.append(Match(f.item, f.name, round(cov, 3), label or str(path), scan.first_seen.get(fid, 0)))
    return sorted(found, key=lambda m: (m.item, m.field))


# ------------------------------------------------------------------------ the check

SKIP_DIRS = {".git", "__pycache__", "node_modules"}


@dataclass
class Inventory:
    scanned: list[str] = field(default_factory=list)
    not_scanned: list[str] = field(default_factory=list)  # binary files that may hold data in other forms
    weights: int = 0
    unreadable: list[str] = field(default_factory=list)
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


def hub_id(benchmark: str) -> str | None:
    """The benchmark's own hub dataset (its module's HUB_ID), if it has one."""
    import importlib

    try:
        return getattr(importlib.import_module(f"ptb.benchmarks.{benchmark}"), "HUB_ID", None)
    except ImportError:
        return None


def scan_folder(index: TestIndex, task_dir: Path, exclude: set[str] = frozenset(), label: str = "",
                inv: Inventory | None = None) -> tuple[list[Match], Inventory]:
    """Matches in every file under task_dir; `label` prefixes the paths in the evidence."""
    inv = inv or Inventory()
    matches: list[Match] = []
    for rel, real in agent_files(task_dir, exclude):
        rel = label + rel
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


def has_local_copy(task_dir: Path, name: str) -> bool:
    """Whether the dataset's files are in the agent's own HF cache (and so were scanned)."""
    hub = "datasets--" + name.replace("/", "--")
    legacy = name.replace("/", "___")
    for root, dirs, _ in os.walk(task_dir):
        if hub in dirs or any(d.lower() == legacy.lower() for d in dirs):
            return True
    return False


def own_names(benchmark: str) -> set[str]:
    """The names a load of the benchmark's own data goes by: ptb's loader, its hub id, and the
    hub id's legacy form without the organisation ("gsm8k", which the hub redirects)."""
    hub = str(hub_id(benchmark)).lower()
    return {f"ptb:{benchmark}", hub, hub.split("/")[-1]} if hub != "none" else {f"ptb:{benchmark}"}


def local_files(repo: str, task_dir: Path) -> bool:
    """Whether `load_dataset(repo)` reads local files, not a hub dataset: a builder of local
    files (`json`, `parquet`, ...) or a path. Those files are scanned where they are: in the task
    folder, or read from outside it (the audit's file opens)."""
    return repo.lower() in LOCAL_BUILDERS or repo.startswith(("/", ".", "~")) or (task_dir / repo).exists()


def judge_load(benchmark: str, load) -> str | None:
    """Why a load breaks the rules, or None. The benchmark's own dataset: its test split
    (or every split where the rules allow none) is the finding; an allowed split is fine."""
    from ptb.benchmarks import BENCHMARKS

    repo = load.repo.lower()
    if repo in {k.lower() for k in known_contaminated().get(benchmark, ())}:
        return f"loads {load.repo}, known to contain {benchmark} test items"
    bench = BENCHMARKS.get(benchmark)
    own = own_names(benchmark)
    if bench is None or repo not in own:
        return None
    allowed = {"train"} if bench.train_pairs is not None and bench.test_split != "train" else set()
    asked = "every split" if load.splits is None else "split " + "+".join(load.splits)
    if load.splits is None:
        return None if allowed else f"loads {load.repo} ({asked}): {benchmark} allows no split for training"
    if bench.test_split in load.splits or not set(load.splits) <= allowed:
        return f"loads the {benchmark} test data ({load.repo}, {asked})"
    return None


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path.is_relative_to(r) for r in roots)


def check(benchmark: str, task_dir: Path, code: list[tuple[str, str]], exclude: set[str] = frozenset(),
          index: TestIndex | None = None, layers: tuple[Path, ...] = (), audit: list[dict] | None = None) -> dict:
    """The contamination check of one task folder, of the agent's download layers outside
    it (the Docker sandbox's HF cache overlay), of the loads its code asks for and of what
    its processes loaded and read (`audit`: the in-sandbox audit's reports, None without
    one): {"status", "summary", "evidence"}."""
    from ptb.benchmarks import BENCHMARKS
    from ptb.integrity import loads

    index = index or benchmark_index(benchmark)
    matches, inv = scan_folder(index, task_dir, exclude)
    for layer in layers:
        more, _ = scan_folder(index, layer, label=f"[{layer.parent.name}]/", inv=inv)
        matches += more
    found, unparsed = loads.from_code(code, set(BENCHMARKS))
    found += loads.from_audit(audit or [])
    # Files the agent's own code read that no folder scan covered: outside the task folder
    # (a shared HF cache, PTB_DATA_DIR).
    roots = (task_dir.resolve(), *(layer.resolve() for layer in layers))
    read = sorted({f for ld in found if ld.source == "audit" for f in ld.files
                   if not _inside(Path(f).resolve(), roots)})
    for f in read:
        path = Path(f)
        if path.is_file() and _sniff(path) not in ("weights", "binary"):
            matches += scan_file(index, path, f"[read by the agent] {f}")
    items = sorted({m.item for m in matches})
    findings = {}
    for ld in found:
        why = judge_load(benchmark, ld)
        if why:
            findings.setdefault(why, []).append(f"{ld.where} ({ld.source}{'' if ld.ok else ', failed'})")
    own = own_names(benchmark)
    unscanned = sorted({ld.repo for ld in found if ld.source == "code" and ld.repo.lower() not in own
                        and judge_load(benchmark, ld) is None and not ld.repo.startswith("ptb:")
                        and not local_files(ld.repo, task_dir)
                        and not any(has_local_copy(d, ld.repo) for d in (task_dir, *layers))})
    if audit is not None:  # the audit saw what ran: a dataset only named in code was never loaded
        loaded = {ld.repo for ld in found if ld.source == "audit" and ld.ok}
        unscanned = [r for r in unscanned if r in loaded and not any(has_local_copy(d, r) for d in (task_dir, *layers))]
    evidence = {
        "method": {"n": N, "num_n": NUM_N, "min_field_words": MIN_FIELD_WORDS, "match_coverage": MATCH_COVERAGE,
                   "span": SPAN, "record_share": RECORD_SHARE, "tolerated_items": TOLERATED_ITEMS,
                   "test_items": index.n_items, "test_fields": len(index.fields)},
        "matched_items": len(items),
        "matched_item_ids": items[:200],
        "matches": [m.__dict__ for m in matches[:50]],
        "forbidden_loads": findings,
        "loads": [{"repo": ld.repo, "config": ld.config, "splits": ld.splits, "where": ld.where,
                   "source": ld.source, "ok": ld.ok} for ld in found[:50]],
        "audit": "none (the run had no in-sandbox audit)" if audit is None else f"{len(audit)} reports",
        "read_outside_scanned": read[:50],
        "datasets_without_local_copy": unscanned,
        "python_files_not_parsed": unparsed[:20],
        "files_scanned": len(inv.scanned),
        "weight_files_skipped": inv.weights,
        "binary_files_not_scanned": inv.not_scanned[:50],
        "unreadable": inv.unreadable,
        "partial_downloads_not_parsed": inv.partial[:20],
    }
    if len(items) > TOLERATED_ITEMS or findings:
        parts = []
        if len(items) > TOLERATED_ITEMS:
            files = sorted({m.file for m in matches})
            parts.append(f"{len(items)} of {index.n_items} test items (e.g. items {items[:5]}) found in "
                         f"{', '.join(files[:5])}")
        parts += [f"{why} at {', '.join(where[:3])}" for why, where in findings.items()]
        return {"status": "flagged", "summary": "; ".join(parts), "evidence": evidence}
    if inv.unreadable or unscanned:
        why = [f"{len(inv.unreadable)} file(s) unreadable"] if inv.unreadable else []
        if unscanned:
            why.append(f"datasets loaded by name with no local copy to scan: {', '.join(unscanned)}")
        return {"status": "unverified", "summary": "; ".join(why), "evidence": evidence}
    note = f" ({len(items)} close match(es), within the tolerance of {TOLERATED_ITEMS})" if items else ""
    return {"status": "clean", "summary": f"{len(inv.scanned)} files scanned, {len(found)} load(s) checked{note}",
            "evidence": evidence}


def cached_test_data(hub: Path, benchmarks: Iterable[str]) -> dict[str, dict[str, int]]:
    """Datasets in a Hugging Face hub cache that hold benchmarks' test items (more than the
    tolerance): dataset id -> {benchmark: items}. The benchmark's own dataset is left out
    (ptb eval reads it); benchmarks whose test rows cannot be loaded here are skipped."""
    folders = sorted(hub.glob("datasets--*")) if hub.is_dir() else []
    found: dict[str, dict[str, int]] = {}
    for benchmark in benchmarks:
        try:
            index = benchmark_index(benchmark)
        except Exception:  # noqa: BLE001 - no test rows on this host (offline): nothing to compare with
            continue
        for folder in folders:
            name = folder.name.removeprefix("datasets--").replace("--", "/", 1)
            if name.lower() == str(hub_id(benchmark)).lower():
                continue
            matches, _ = scan_folder(index, folder / "snapshots") if (folder / "snapshots").is_dir() else ([], None)
            items = {m.item for m in matches}
            if len(items) > TOLERATED_ITEMS:
                found.setdefault(name, {})[benchmark] = len(items)
    return found


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
    from ptb.benchmarks import sealed

    if sealed.in_sandbox():  # the test rows are outside: ptb runs this scan there (ptb/eval/service.py)
        from ptb.eval import service

        return service.request({"op": "contamination", "benchmark": a.benchmark, "json": a.json,
                                "paths": [os.path.abspath(f) for f in a.files]})
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
                if a.json:
                    print(json.dumps(m.__dict__))
                else:
                    print(f"{m.file}:{m.line}: test item {m.item} ({m.field}, {m.coverage:.0%} of its words)")
    print(f"{total} close match(es) with {a.benchmark} test items", file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
