"""Run a CLI agent on the task, then re-prompt it in the same session while more than
N minutes of the budget remain (agents that stop early leave time unused).

    python -m ptb.agents.reprompt --minutes N --again TEXT -- FIRST ... --- AGAIN ...

FIRST and AGAIN are the CLI's command lines for the first prompt and for a follow-up in
the same session; `{message}` in them becomes prompt.md's text, then TEXT. With
--minutes 0 only FIRST runs. The time left is read from timer.sh in the working folder
(the deadline itself is enforced by the sandbox). Runs inside the sandbox.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

SEPARATOR = "---"
MARKER = "[ptb.reprompt] re-prompt"  # a plain line in the agent's stdout before each follow-up (counted in the trace)


def seconds_left(folder: Path) -> int:
    out = subprocess.run(["bash", "timer.sh"], cwd=folder, capture_output=True, text=True, check=True).stdout
    match = re.search(r"\((\d+) seconds\)", out)
    if match is None:
        raise RuntimeError(f"timer.sh printed no '(N seconds)': {out!r}")
    return int(match.group(1))


def fill(template: list[str], message: str) -> list[str]:
    return [part.replace("{message}", message) for part in template]


def run(first: list[str], again: list[str], minutes: float, text: str, folder: Path) -> int:
    code = subprocess.call(fill(first, (folder / "prompt.md").read_text()), cwd=folder)
    count = 0
    while minutes > 0 and again and (left := seconds_left(folder)) > minutes * 60:
        count += 1
        print(f"{MARKER} {count}: {left} s left", flush=True)
        code = subprocess.call(fill(again, text), cwd=folder)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ptb.agents.reprompt", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=0, help="re-prompt while more than this many minutes remain")
    p.add_argument("--again", default="", help="the follow-up message")
    p.add_argument("command", nargs=argparse.REMAINDER, help=f"-- FIRST ... {SEPARATOR} AGAIN ...")
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    first, again = command, []
    if SEPARATOR in command:
        i = command.index(SEPARATOR)
        first, again = command[:i], command[i + 1:]
    if not first:
        p.error("no command: give -- FIRST ... [--- AGAIN ...]")
    return run(first, again, a.minutes, a.again, Path.cwd())


if __name__ == "__main__":
    sys.exit(main())
