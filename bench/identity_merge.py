"""The merge ratio at which the identity check starts to flag, with tiny models.

    .venv/bin/python bench/identity_merge.py

tiny-qwen3 is the base; its "instruct" model is tiny-qwen3 fine-tuned on chat-formatted
GSM8K-style text (another data set, another learning rate); the honest final model is
tiny-qwen3 fine-tuned on arith's train split. Prints, for the honest fine-tune and for
merges base + r x (instruct - base), how far the identity check finds the model moved
towards the instruct model (median alpha), against the model folder and against its
fingerprint file (what hosts without the instruct model use), and the verdict.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ptb import models  # noqa: E402
from ptb.benchmarks import BENCHMARKS  # noqa: E402
from ptb.integrity import identity  # noqa: E402
from cheat_agents import fine_tune, make_instruct  # noqa: E402  (the instruct stand-in the cheat catalogue uses)


def merge(base: Path, other: Path, r: float, out: Path) -> Path:
    from safetensors.torch import load_file, save_file

    b, o = load_file(base / "model.safetensors"), load_file(other / "model.safetensors")
    shutil.copytree(base, out)
    save_file({k: (1 - r) * v + r * o[k] for k, v in b.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def main() -> None:
    base = models.tiny_qwen3()
    rows = BENCHMARKS["arith"].load("train")
    with tempfile.TemporaryDirectory(prefix="identity-merge-") as tmp:
        tmp = Path(tmp)
        instruct = make_instruct(base, tmp / "instruct")
        honest = fine_tune(base, tmp / "honest", [f"{r['question']} {r['answer']}" for r in rows], lr=3e-3, steps=30,
                           seed=0)
        fp = identity.fingerprint_file(instruct, tmp / "instruct.json")
        print(f"fingerprint file: {fp.stat().st_size / 1024:.0f} KB; flagged from alpha >= {identity.MAX_TOWARDS} "
              f"at a cosine >= {identity.MIN_ALONG}")
        candidates = [("honest fine-tune of the base", honest)]
        candidates += [(f"merge r={r:.2f}", merge(base, instruct, r, tmp / f"m{r}")) for r in
                       (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0)]
        first = None
        for label, model in candidates:
            by_dir = identity.check(model, base, instruct)
            by_fp = identity.check(model, base, fp)
            a_dir = by_dir["evidence"]["fingerprint"]["towards_other"]
            a_fp = by_fp["evidence"]["fingerprint"]["towards_other"]
            cos = by_dir["evidence"]["fingerprint"]["along_other"]
            print(f"{label}: alpha {a_dir:.3f} (model folder) {a_fp:.3f} (fingerprint file), cosine {cos:.3f}; "
                  f"verdict {by_dir['status']} / {by_fp['status']}")
            if label.startswith("merge") and first is None and by_dir["status"] == by_fp["status"] == "flagged":
                first = label
        print(f"detection starts at: {first}")


if __name__ == "__main__":
    main()
