"""Subscription token files: a CLI agent logged in with a subscription keeps its token in
a file under the host's home (e.g. ~/.codex/auth.json). An agent definition lists such
files in `token_files:`; each is copied into the agent's HOME (its task folder) at the
same place relative to home for the run, its values become secrets (redacted from every
saved file), and it is deleted when the run ends.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

MIN_TOKEN_CHARS = 12  # shorter strings in a credentials file are ids or flags, not secrets


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) >= MIN_TOKEN_CHARS else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def secrets_of(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    try:
        return _strings(json.loads(text))
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_TOKEN_CHARS]


def install(token_files: list[str], home: Path) -> tuple[list[Path], list[str]]:
    """Copy the token files that exist into home; returns the copies and their secrets."""
    copies, secrets = [], []
    for name in token_files:
        source = Path(name).expanduser()
        if not source.is_file():
            continue
        relative = source.relative_to(Path.home()) if source.is_relative_to(Path.home()) else Path(source.name)
        target = home / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o600)
        copies.append(target)
        secrets += secrets_of(source)
    return copies, secrets


def remove(copies: list[Path]) -> None:
    for path in copies:
        path.unlink(missing_ok=True)
