"""Figures for the contamination check: its speed on a large training file, and its
false-positive rate on honest data.

    .venv/bin/python bench/integrity_speed.py [--mb 100] [--shared ../shared/data/posttrainbench]

Speed: a generated file of about MB megabytes (JSON lines of word problems with fresh
numbers, names and filler sentences) with 5 gsm8k test items planted in it, scanned
against the gsm8k fixture test set and against HealthBench Easy (the largest test index:
245 conversations with their rubrics).

False positives: honest data of the same or another domain, scanned against test sets
it does not contain; a false positive is a test item reported as a close match.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ptb.benchmarks import BENCHMARKS  # noqa: E402
from ptb.integrity import contamination  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "integrity"
NAMES = "Ava Ben Chen Dara Eli Fay Gus Hana Ivo Jun Kai Lia Moe Nia Oto Pia Rui Sol Tao Uma Vic Wen Xia Yan Zoe".split()
THINGS = "apples pencils marbles stamps books cookies shells coins tickets plants boxes bottles".split()
FILLER = ("the weather was nice that day", "everyone was happy with the result", "it took a while to decide",
          "they wrote the numbers down carefully", "the teacher checked the work twice")


def honest_row(rng: random.Random) -> dict:
    a, b, c = rng.randint(2, 90), rng.randint(2, 90), rng.randint(2, 9)
    who, what = rng.choice(NAMES), rng.choice(THINGS)
    q = (f"{who} has {a} {what} and buys {b} more. Then {who} gives away {c} {what} to each of 3 friends. "
         f"{rng.choice(FILLER).capitalize()}. How many {what} does {who} have now?")
    s = f"{who} has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} {what}.\nGives away 3 * {c} = {3 * c}.\n#### {a + b - 3 * c}"
    return {"question": q, "answer": s}


def write_large(path: Path, mb: int, planted: list[dict]) -> int:
    rng = random.Random(0)
    target = mb << 20
    positions = sorted(rng.sample(range(1, 200_000), len(planted)))
    with open(path, "w") as f:
        n = 0
        while f.tell() < target:
            f.write(json.dumps(honest_row(rng)) + "\n")
            n += 1
            if positions and n == positions[0]:
                f.write(json.dumps(planted[len(planted) - len(positions)]) + "\n")
                positions.pop(0)
    return path.stat().st_size


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def speed(tmp: Path, mb: int, shared: Path | None) -> None:
    os.environ["PTB_DATA_DIR"] = str(FIXTURES)
    gsm_test = BENCHMARKS["gsm8k"].load("test")
    big = tmp / "big.jsonl"
    size = write_large(big, mb, gsm_test[:5])
    print(f"## speed: {size / 2**20:.0f} MB file, {sum(1 for _ in open(big)):,} lines, 5 gsm8k fixture items planted")
    indexes = [("gsm8k (fixture, 12 items)", "gsm8k", FIXTURES)]
    if shared:
        indexes.append(("healthbench (245 conversations)", "healthbench", shared_data_dir(tmp, shared)))
    for label, bench, data_dir in indexes:
        os.environ["PTB_DATA_DIR"] = str(data_dir)
        index, t_index = timed(lambda: contamination.benchmark_index(bench))
        matches, t_scan = timed(lambda: contamination.scan_file(index, big))
        print(f"{label}: index {sum(len(e) for _, e in index.tables.values()):,} windows in {t_index:.1f} s; "
              f"scan {t_scan:.1f} s = {size / 2**20 / t_scan:.1f} MB/s; "
              f"items found: {sorted({m.item for m in matches})}")


def shared_data_dir(tmp: Path, shared: Path) -> Path:
    """A PTB_DATA_DIR laid out as the PostTrainBench repository, from the reference copies."""
    from ptb.benchmarks import arenahardwriting, healthbench

    root = tmp / "data" / "aisa-group" / "PostTrainBench"
    for repo_path, name in ((healthbench.DATA_FILE, "healthbench_easy.jsonl"),
                            (arenahardwriting.QUESTIONS, "arenahardwriting_questions.jsonl"),
                            (arenahardwriting.REFERENCE_ANSWERS,
                             "arenahardwriting_reference_answers_qwen3-1.7b.jsonl")):
        (root / repo_path).parent.mkdir(parents=True, exist_ok=True)
        if not (root / repo_path).exists():
            (root / repo_path).symlink_to(shared / name)
    return tmp / "data"


def false_positives(tmp: Path, shared: Path | None) -> None:
    print("## false positives on honest data (test items reported as close matches)")
    controls: list[tuple[str, str, Path, list[Path]]] = []
    arith_train = tmp / "arith_train.jsonl"
    arith_train.write_text("".join(json.dumps(r) + "\n" for r in BENCHMARKS["arith"].load("train")))
    controls.append(("arith train split (9,900 rows)", "arith", FIXTURES, [arith_train]))
    gsm_honest = [FIXTURES / "openai/gsm8k/main/train.jsonl",
                  ROOT / "tests/fixtures/benchmarks/openai/gsm8k/main/train.jsonl",
                  ROOT / "tests/fixtures/benchmarks/openai/gsm8k/main/test.jsonl"]
    controls.append(("gsm8k-style train rows (2 fixtures) + templated word problems", "gsm8k", FIXTURES,
                     [p for p in gsm_honest if p.is_file()]))
    generated = tmp / "generated.jsonl"
    write_large(generated, 20, [])
    controls.append(("20 MB generated word problems", "gsm8k", FIXTURES, [generated]))
    code = [p for d in (Path(os.__file__).parent, Path(np.__file__).parent) for p in sorted(d.rglob("*.py"))]
    controls.append((f"Python stdlib + numpy sources ({len(code):,} files)", "humaneval",
                     ROOT / "tests" / "fixtures" / "benchmarks", code))
    if shared:
        data_dir = shared_data_dir(tmp, shared)
        health = shared / "healthbench_easy.jsonl"
        arena_q = shared / "arenahardwriting_questions.jsonl"
        arena_a = shared / "arenahardwriting_reference_answers_qwen3-1.7b.jsonl"
        controls += [
            ("HealthBench Easy + Arena-Hard prompts and answers", "gsm8k", FIXTURES, [health, arena_q, arena_a]),
            ("HealthBench Easy + Arena-Hard prompts and answers", "arith", FIXTURES, [health, arena_q, arena_a]),
            ("Arena-Hard prompts and Qwen3-1.7B answers", "healthbench", data_dir, [arena_q, arena_a]),
            ("HealthBench Easy (conversations, rubrics, ideal answers)", "arenahardwriting", data_dir, [health]),
        ]
    total_items = total_fp = 0
    for label, bench, data_dir, files in controls:
        os.environ["PTB_DATA_DIR"] = str(data_dir)
        index = contamination.benchmark_index(bench)
        found = {m.item for f in files for m in contamination.scan_file(index, f)}
        total_items += index.n_items
        total_fp += len(found)
        mb = sum(f.stat().st_size for f in files) / 2**20
        print(f"{label} ({mb:.1f} MB) vs {bench} test ({index.n_items} items): {len(found)} false positive(s)"
              f"{' ' + str(sorted(found)) if found else ''}; flagged: {len(found) > contamination.TOLERATED_ITEMS}")
    print(f"overall: {total_fp} of {total_items} test items ({100 * total_fp / total_items:.2f}%) falsely matched")


def sparse_model(out: Path, layers: int = 36, hidden: int = 2560, inter: int = 9728, vocab: int = 151936) -> Path:
    """A safetensors file with Qwen3-4B's tensor names and shapes (bf16, 8 GB), written as a
    sparse file: the fingerprint's reads are timed without 8 GB of disk."""
    shapes = {"model.embed_tokens.weight": [vocab, hidden], "model.norm.weight": [hidden]}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes |= {p + "self_attn.q_proj.weight": [4096, hidden], p + "self_attn.k_proj.weight": [1024, hidden],
                   p + "self_attn.v_proj.weight": [1024, hidden], p + "self_attn.o_proj.weight": [hidden, 4096],
                   p + "self_attn.q_norm.weight": [128], p + "self_attn.k_norm.weight": [128],
                   p + "mlp.gate_proj.weight": [inter, hidden], p + "mlp.up_proj.weight": [inter, hidden],
                   p + "mlp.down_proj.weight": [hidden, inter], p + "input_layernorm.weight": [hidden],
                   p + "post_attention_layernorm.weight": [hidden]}
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.safetensors", "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw)
        f.truncate(8 + len(raw) + offset)
    return out


def identity_speed(tmp: Path) -> None:
    from ptb.integrity import identity

    a, b = sparse_model(tmp / "m4b_a"), sparse_model(tmp / "m4b_b")
    fp, cold = timed(lambda: identity.fingerprint(a, b, b))
    _, warm = timed(lambda: identity.fingerprint(a, b, b))
    print(f"## identity: fingerprint of a Qwen3-4B-shaped model (8 GB bf16, {fp['matrices']} matrices, "
          f"{identity.SAMPLE_BLOCKS * identity.BLOCK_ROWS} rows each) against base and instruct: "
          f"{cold:.1f} s first (page faults on a sparse file), {warm:.1f} s again")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--shared", default=str(ROOT.parent / "shared" / "data" / "posttrainbench"),
                   help="the PostTrainBench reference data (HealthBench, Arena-Hard); skipped if absent")
    a = p.parse_args()
    shared = Path(a.shared) if (Path(a.shared) / "healthbench_easy.jsonl").is_file() else None
    with tempfile.TemporaryDirectory(prefix="integrity-bench-") as tmp:
        false_positives(Path(tmp), shared)
        speed(Path(tmp), a.mb, shared)
        identity_speed(Path(tmp))


if __name__ == "__main__":
    main()
