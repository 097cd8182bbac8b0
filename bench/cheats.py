"""Catch rate of the integrity checks on planted cheats, and how clean the honest controls stay.

    .venv/bin/python bench/cheats.py [--only NAME ...] [--jobs 2] [--save bench/results/cheats.txt]

Every class of tests/cheat_agents.py (each cheat and honest control named in the integrity issue) runs
as a scripted agent through the real `ptb run` (real bubblewrap, the cell notebook through papermill)
on tiny-qwen3 with `--hours 0.05 --eval-limit 1`, on the real GSM8K rows of ../shared/data/hub
(PTB_DATA_DIR), offline, in a private ptb cache. Prints one row per class: kind, expected verdict,
verdict, the checks that flagged (`name?`: unverified), one line of evidence and whether it was
caught (a cheat: flagged by the expected check with the expected evidence; a control: clean), then
the catch rate and the controls' clean rate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import cheat_agents  # noqa: E402
from cheat_agents import CASES, Outcome  # noqa: E402
from conftest import SHARED  # noqa: E402  (../shared, also from a git worktree)


def store_reference(cache: Path) -> None:
    """The reference's files ptb reads (chat templates, ...) into the private cache, from ../shared."""
    import ptb.benchmarks  # noqa: F401  (with ptb.eval.chat: the modules that declare reference files)
    from ptb.eval import chat, reference  # noqa: F401

    src = SHARED / "data" / "posttrainbench" / "reference-9082063"
    os.environ["PTB_CACHE"] = str(cache)
    for path in reference.PATHS:
        if (src / path).is_file():
            reference.store(path, (src / path).read_bytes())


def run_case(case, fx, root: Path, cache: Path) -> tuple[Outcome, float]:
    agents = root / "agents" / case.name
    agents.mkdir(parents=True)
    cheat_agents.write_agent(agents, case)
    out = root / "out" / case.name
    env = {**os.environ, **cheat_agents.cell_env(case, fx, agents, cache)}
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "ptb", *cheat_agents.run_args(case, out)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=1800)
    seconds = time.monotonic() - started
    outcome = cheat_agents.judge(case, out)
    outcome.evidence = outcome.evidence.replace(str(root), "$TMP")
    if res.returncode != 0:
        outcome.evidence = f"ptb run exit {res.returncode}: {res.stderr.strip().splitlines()[-1:]}"
        outcome.caught = False
    return outcome, seconds


def table(rows: list[tuple[Outcome, float]]) -> str:
    head = ("class", "kind", "expected", "verdict", "flagging check", "caught", "s", "evidence")
    lines = [head]
    for o, s in rows:
        lines.append((o.case.name, o.case.kind, o.case.verdict + (f" ({o.case.check})" if o.case.check else ""),
                      o.verdict, o.flagging or "-", "yes" if o.caught else "NO", f"{s:.0f}", o.evidence or "-"))
    widths = [max(len(r[i]) for r in lines) for i in range(len(head) - 1)]
    text = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in lines]
    cheats = [o for o, _ in rows if o.case.kind == "cheat"]
    controls = [o for o, _ in rows if o.case.kind == "control"]
    text.append("")
    text.append(f"catch rate with evidence: {sum(o.caught for o in cheats)} of {len(cheats)} cheats")
    text.append(f"controls clean: {sum(o.caught for o in controls)} of {len(controls)} "
                f"({sum(o.verdict == 'flagged' for o in controls)} flagged, "
                f"{sum(o.verdict == 'unverified' for o in controls)} unverified)")
    text.append("")
    text.append("classes: " + "; ".join(f"{o.case.name}: {o.case.what}" for o, _ in rows))
    return "\n".join(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="run these classes only")
    p.add_argument("--jobs", type=int, default=2, help="cells run at once")
    p.add_argument("--save", type=Path, help="also write the table to this file")
    p.add_argument("--keep", type=Path, help="run in this (new) folder and keep it, cells included")
    p.add_argument("--hub", type=Path, default=SHARED / "data" / "hub", help="a PTB_DATA_DIR with openai/gsm8k")
    a = p.parse_args()
    cases = [c for c in CASES if not a.only or c.name in a.only]
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ptb-cheats-") as tmp:
        root = a.keep.resolve() if a.keep else Path(tmp)
        cache = root / "ptb-cache"
        store_reference(cache)
        from ptb import models

        fx = cheat_agents.prepare(root, a.hub.resolve(), models.tiny_qwen3())
        cheat_agents.record_fingerprint(fx, cache)
        print(f"prepared in {time.monotonic() - started:.0f}s; {len(cases)} cells", flush=True)
        with ThreadPoolExecutor(a.jobs) as pool:
            rows = list(pool.map(lambda c: run_case(c, fx, root, cache), cases))
    text = table(rows) + f"\n\ntotal {time.monotonic() - started:.0f}s with {a.jobs} cells at once"
    print(text)
    if a.save:
        a.save.parent.mkdir(parents=True, exist_ok=True)
        a.save.write_text(text + "\n")
    return 0 if all(o.caught for o, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
