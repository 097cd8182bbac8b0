"""Benchmark rows from the Hugging Face hub at a pinned revision, or from a local copy.

`PTB_DATA_DIR` lets a host without hub access (and the tests) supply the rows. Under it,
a benchmark's data sits in a folder named like its hub id, one JSON-lines file per split:

    $PTB_DATA_DIR/openai/gsm8k/main/test.jsonl       (hub id / config / split.jsonl)
    $PTB_DATA_DIR/math-ai/aime25/test.jsonl          (no config)

A folder named like the hub id without such a file (e.g. a download of the hub
repository with its parquet files) is read through `datasets` instead. Where
`PTB_DATA_DIR` has no copy, the rows come from the hub at the pinned revision.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ptb.errors import ConfigError


def read_jsonl(path: Path) -> list[dict]:
    """One dict per non-empty line; a malformed line is an error naming file and line."""
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file (binary data at byte {e.start}); give JSON lines") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{n}: not JSON ({e.msg})") from None
    return rows


def local_copy(hub_id: str) -> Path | None:
    root = os.environ.get("PTB_DATA_DIR")
    if not root:
        return None
    folder = Path(root) / hub_id
    return folder if folder.is_dir() else None


def load_rows(hub_id: str, split: str, *, revision: str | None, config: str | None = None,
              data_files: str | None = None) -> list[dict]:
    """Rows of `split` as plain dicts in the source's own schema."""
    folder = local_copy(hub_id)
    if folder is not None:
        jsonl = folder / (config or "") / f"{split}.jsonl"
        if jsonl.is_file():
            return read_jsonl(jsonl)
        return _from_datasets(str(folder), split, config=config, data_files=data_files, revision=None)
    return _from_datasets(hub_id, split, config=config, data_files=data_files, revision=revision)


def _from_datasets(path: str, split: str, *, config: str | None, data_files: str | None,
                   revision: str | None) -> list[dict]:
    import datasets
    from datasets.exceptions import DatasetsError

    try:
        ds = datasets.load_dataset(path, config, split=split, data_files=data_files, revision=revision)
    # OSError: no network, offline mode, a gated or missing repo, no data files in a local folder;
    # ValueError: an unknown config or split, an unreadable parquet file; DatasetsError: a failed build.
    except (OSError, ValueError, DatasetsError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"could not load {path} (config {config}, split {split}, revision {revision}): {first}. "
            f"Offline? Put the rows under $PTB_DATA_DIR/{path}/{config + '/' if config else ''}{split}.jsonl"
        ) from e
    return [dict(r) for r in ds]
