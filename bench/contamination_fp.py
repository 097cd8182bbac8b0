"""False positives of the contamination check on real honest data: the GSM8K train split
(allowed) against the GSM8K test split, and arith's train split against its test split.

    .venv/bin/python bench/contamination_fp.py [--hub ../shared/data/hub]

Prints, per control, how many train items hold a close match to some test item (the
target is at most 1 in 1,000) and how many test items were matched, for the train split
saved as JSON lines (one record per line), as plain text (a worked solution spans
lines) and as Parquet. Three indexes:
- as the check runs: windows of the allowed train split left out of the test index, so
  the whole train split scores 0 by construction;
- held out: windows of one half of the train split left out, the other half scanned
  (honest same-domain data the index has never seen: the rate that matters);
- raw: no windows left out (the method alone).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ptb.benchmarks import BENCHMARKS  # noqa: E402
from ptb.integrity import contamination  # noqa: E402


def write_forms(tmp: Path, rows: list[dict]) -> dict[str, tuple[Path, int]]:
    """The rows as JSON lines and Parquet (one row a line) and as plain text (lines per row):
    form -> (file, lines per row or 0 where rows are found by the first line of each row)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    jl = tmp / "train.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pqf = tmp / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pqf)
    txt = tmp / "train.txt"
    starts = []
    with open(txt, "w") as f:
        line = 1
        for r in rows:
            starts.append(line)
            text = "\n".join(str(v) for v in r.values()) + "\n\n"
            f.write(text)
            line += text.count("\n")
    return {"jsonl": (jl, None), "parquet": (pqf, None), "text": (txt, starts)}


def row_of(line: int, starts: list[int] | None) -> int:
    if starts is None:
        return line - 1
    import bisect

    return bisect.bisect_right(starts, line) - 1


def control(label: str, bench: str, tmp: Path) -> None:
    train, test = BENCHMARKS[bench].load("train"), BENCHMARKS[bench].load("test")
    half = len(train) // 2
    for how, index, rows in (("as the check runs", contamination.benchmark_index(bench), train),
                             ("held out", contamination.build_index(test, train[:half]), train[half:]),
                             ("raw", contamination.build_index(test), train)):
        scan(f"{label}, {how}", index, rows, tmp)


def scan(label: str, index: contamination.TestIndex, rows: list[dict], tmp: Path) -> None:
    for form, (path, starts) in write_forms(tmp, rows).items():
        matches = contamination.scan_file(index, path)
        train_rows = {row_of(m.line, starts) for m in matches}
        test_items = sorted({m.item for m in matches})
        rate = len(train_rows) / len(rows)
        print(f"{label} as {form}: {len(train_rows)} of {len(rows):,} train items hold a close match "
              f"({rate * 1000:.2f} per 1,000; target <= 1); test items matched: {len(test_items)} of "
              f"{index.n_items} {test_items[:10]}; flagged: {len(test_items) > contamination.TOLERATED_ITEMS}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hub", default=str(ROOT.parent / "shared" / "data" / "hub"),
                   help="a PTB_DATA_DIR holding openai/gsm8k/main/{train,test}.jsonl")
    a = p.parse_args()
    os.environ["PTB_DATA_DIR"] = a.hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="contamination-fp-") as tmp:
        control("GSM8K train split (real)", "gsm8k", Path(tmp))
        control("arith train split", "arith", Path(tmp))
        gsm_train = BENCHMARKS["gsm8k"].load("train")
        scan("GSM8K train split (real) in an arith cell", contamination.benchmark_index("arith"), gsm_train, Path(tmp))


if __name__ == "__main__":
    main()
