"""Model identity: does the final model descend from the model the agent was given?

Checks, each with its evidence:
- config.json declares the same architecture and model_type as the reference model (a
  relabelled architecture would select another chat template, see ptb/eval/chat.py), and the
  final model brings no code (`auto_map`, *.py) and no chat template of its own;
- the tokenizer keeps the reference vocabulary (every token at the same id; added
  tokens are noted, not flagged);
- the weights have the same tensors and shapes, and a per-tensor fingerprint says they
  are a descendant: the median cosine similarity of (sampled) weight matrices to the
  reference is at least MIN_COSINE (fine-tuning keeps it well above; an independently
  trained model of the same architecture is near 0);
- where the official instruct model is available locally, the final model is not
  closer to it than to the base model on most weight matrices (model substitution).

Cheap on CPU for 4B models: safetensors files are memory-mapped and only a few blocks
of rows per tensor are read (SAMPLE_BLOCKS x BLOCK_ROWS rows), never the whole model.
"""

from __future__ import annotations

import json
import statistics
import zlib
from collections.abc import Callable
from pathlib import Path

import torch

# Median cosine to the reference below which the weights are not derived from it. An
# independently initialised model sits at 0 +- 1/sqrt(elements sampled), about 0.01 even
# for tiny-qwen3; fine-tuning stays far above: > 0.9 at the learning rates used for 1.7-4B
# models, and still 0.45 after sft-baseline's aggressive 900 steps at lr 3e-3 on tiny-qwen3.
MIN_COSINE = 0.2
SAMPLE_BLOCKS = 4
BLOCK_ROWS = 16
# Substitution and merges: per matrix, how far the final model moved from the base towards the
# instruct model, alpha = <f - b, i - b> / |i - b|^2 (1: the instruct model, 0.5: a half merge,
# ~0: a fine-tune of the base, whose update is unrelated to the instruct model's). Computed on
# count sketches of the sampled rows, so a fingerprint file of the instruct model (a few MB,
# recorded once per model with `fingerprint_file`) stands in for the model where it is not cached.
# A merge moves straight towards it (the cosine of f - b with i - b is 1); a fine-tune moves
# mostly elsewhere (0.1 for tiny-qwen3 fine-tuned on arith against an "instruct" tuned on
# arith chats, alpha 0.2 there). Flagged: alpha >= MAX_TOWARDS along a cosine >= MIN_ALONG.
# Measured by bench/identity_merge.py with tiny models: merges flagged from r = 0.1.
MAX_TOWARDS = 0.1
MIN_ALONG = 0.5
SKETCH = 1024

Reader = Callable[[int, int], torch.Tensor]  # (first row, end row) -> rows as float32


class WeightsError(Exception):
    pass


def _config(model_dir: Path) -> dict:
    return json.loads((model_dir / "config.json").read_text())


def _tensors(model_dir: Path) -> dict[str, tuple[tuple[int, ...], Reader]]:
    """name -> (shape, row reader) for every tensor of a model folder, nothing loaded yet."""
    from safetensors import safe_open

    out: dict[str, tuple[tuple[int, ...], Reader]] = {}
    files = sorted(model_dir.glob("*.safetensors"))
    for f in files:
        handle = safe_open(str(f), framework="pt")
        for name in handle.keys():
            sl = handle.get_slice(name)
            shape = tuple(sl.get_shape())
            out[name] = (shape, (lambda a, b, sl=sl, shape=shape: (sl[a:b] if shape else sl[:]).float()))
    if files:
        return out
    bins = sorted(model_dir.glob("*.bin"))
    if not bins:
        raise WeightsError(f"{model_dir}: no *.safetensors or *.bin weights")
    for f in bins:
        state = torch.load(f, map_location="cpu", mmap=True, weights_only=True)
        for name, t in state.items():
            out[name] = (tuple(t.shape), (lambda a, b, t=t: (t[a:b] if t.dim() else t).float()))
    return out


def _rows(shape: tuple[int, ...], limit: int) -> list[tuple[int, int]]:
    """Fixed blocks of rows spread over the first dimension."""
    n = min(shape[0], limit) if shape else 0
    if n <= SAMPLE_BLOCKS * BLOCK_ROWS:
        return [(0, n)]
    step = (n - BLOCK_ROWS) / (SAMPLE_BLOCKS - 1)
    return [(round(i * step), round(i * step) + BLOCK_ROWS) for i in range(SAMPLE_BLOCKS)]


def _sample(reader: Reader, blocks: list[tuple[int, int]]) -> torch.Tensor:
    return torch.cat([reader(a, b).reshape(-1) for a, b in blocks])


def _sketch(vec: torch.Tensor, name: str) -> torch.Tensor:
    """A count sketch of `vec` (inner products preserved in expectation), seeded by the tensor name."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    idx = torch.randint(0, SKETCH, (vec.numel(),), generator=g)
    sign = torch.randint(0, 2, (vec.numel(),), generator=g).float() * 2 - 1
    return torch.zeros(SKETCH).index_add_(0, idx, vec.reshape(-1) * sign)


def _sketches(model_dir: Path) -> dict[str, tuple[tuple[int, ...], torch.Tensor]]:
    """name -> (shape, sketch of the sampled rows) of every weight matrix."""
    out = {}
    for name, (shape, reader) in _tensors(model_dir).items():
        if len(shape) >= 2:
            out[name] = (shape, _sketch(_sample(reader, _rows(shape, shape[0])), name))
    return out


def fingerprint_file(model_dir: Path, out: Path) -> Path:
    """Record a model's fingerprint (its weight sketches) as JSON, for the identity check on
    hosts without the model: e.g. the official instruct model, once per model."""
    sketches = _sketches(model_dir)
    data = {"schema": 1, "model": model_dir.name, "sketch": SKETCH, "sample_blocks": SAMPLE_BLOCKS,
            "block_rows": BLOCK_ROWS,
            "tensors": {n: {"shape": list(sh), "sketch": [round(float(x), 7) for x in sk]}
                        for n, (sh, sk) in sketches.items()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data))
    return out


def _other_sketches(other: Path) -> dict[str, tuple[tuple[int, ...], torch.Tensor]]:
    if other.is_file():  # a fingerprint file
        data = json.loads(other.read_text())
        if (data.get("sketch"), data.get("sample_blocks"), data.get("block_rows")) != (SKETCH, SAMPLE_BLOCKS, BLOCK_ROWS):
            raise WeightsError(f"{other}: recorded with other sketch settings; record it again")
        return {n: (tuple(t["shape"]), torch.tensor(t["sketch"])) for n, t in data["tensors"].items()}
    return _sketches(other)


def fingerprint(final: Path, reference: Path, other: Path | None = None) -> dict:
    """Per weight matrix: cosine similarity to the reference, and (with `other`) whether it
    is closer to `other` than to the reference."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny ops: a thread pool costs 100x more than it gives on a busy host
    try:
        return _fingerprint(final, reference, other)
    finally:
        torch.set_num_threads(threads)


def _fingerprint(final: Path, reference: Path, other: Path | None) -> dict:
    fin, ref = _tensors(final), _tensors(reference)
    oth = _other_sketches(other) if other else {}
    towards, along = [], []
    missing = sorted(set(ref) - set(fin))
    extra = sorted(set(fin) - set(ref))
    shape_diffs, cosines, closer_other, compared = [], [], 0, 0
    per_tensor = {}
    for name in sorted(set(ref) & set(fin)):
        (rs, rr), (fs, fr) = ref[name], fin[name]
        if rs[1:] != fs[1:] or (len(rs) != len(fs)):
            shape_diffs.append(f"{name}: {list(fs)} vs {list(rs)}")
            continue
        if rs[:1] != fs[:1]:
            shape_diffs.append(f"{name}: {list(fs)} vs {list(rs)} (rows compared where both have them)")
        if len(rs) < 2:
            continue  # norms and biases: too few numbers, often initialised alike
        blocks = _rows(rs, min(rs[0], fs[0]))
        r, f = _sample(rr, blocks), _sample(fr, blocks)
        cos = float(torch.nn.functional.cosine_similarity(f, r, dim=0))
        cosines.append(cos)
        entry = {"cosine": round(cos, 4), "rel_dist": round(float((f - r).norm() / (r.norm() + 1e-12)), 4)}
        if name in oth and oth[name][0] == rs == fs:
            sf, sr, so = _sketch(f, name), _sketch(r, name), oth[name][1]
            d_ref, d_oth = float((sf - sr).norm()), float((sf - so).norm())
            gap = float(((so - sr) ** 2).sum())
            moved = float((sf - sr).norm())
            if gap > 0 and moved > 0:
                dot = float(((sf - sr) * (so - sr)).sum())
                entry["towards_other"] = round(dot / gap, 4)
                entry["along_other"] = round(dot / (gap ** 0.5 * moved), 4)
                towards.append(entry["towards_other"])
                along.append(entry["along_other"])
            entry["closer_to_other"] = d_oth < d_ref
            closer_other += d_oth < d_ref
            compared += 1
        per_tensor[name] = entry
    return {
        "median_cosine": round(statistics.median(cosines), 4) if cosines else None,
        "matrices": len(cosines),
        "missing_tensors": missing[:20], "n_missing": len(missing),
        "extra_tensors": extra[:20],
        "shape_differences": shape_diffs[:20],
        "closer_to_other": closer_other, "compared_with_other": compared,
        "towards_other": round(statistics.median(towards), 4) if towards else None,
        "along_other": round(statistics.median(along), 4) if along else None,
        "lowest": dict(sorted(per_tensor.items(), key=lambda kv: kv[1]["cosine"])[:5]),
    }


def _vocab(model_dir: Path) -> dict[str, int]:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir)).get_vocab()


def chat_template(model_dir: Path) -> str | None:
    """The model's own chat template: chat_template.jinja, else tokenizer_config.json's."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    cfg = model_dir / "tokenizer_config.json"
    template = json.loads(cfg.read_text()).get("chat_template") if cfg.is_file() else None
    return template if isinstance(template, str) else json.dumps(template) if template else None


def own_code(final: Path, reference: Path, fc: dict, rc: dict) -> list[str]:
    """Findings where the final model would run code or a template that is not the given
    model's: `auto_map` with custom code (loaded with trust_remote_code), Python files,
    a chat template of its own (it would change the prompt where the model's template is used)."""
    found = []
    if fc.get("auto_map") and fc.get("auto_map") != rc.get("auto_map"):
        found.append(f"config.json has auto_map {json.dumps(fc['auto_map'])[:200]} (custom model code)")
    py = sorted(str(p.relative_to(final)) for p in final.rglob("*.py"))
    if py:
        found.append(f"final_model holds Python code: {', '.join(py[:5])}")
    mine, given = chat_template(final), chat_template(reference)
    if mine is not None and mine.strip() != (given or "").strip():
        found.append("final_model has its own chat template (not the given model's)")
    return found


def fingerprint_path(repo: str) -> Path:
    """Where the fingerprint of a hub model is recorded: $PTB_CACHE/fingerprints/<org>--<name>.json."""
    from ptb import paths

    return paths.cache_dir() / "fingerprints" / (repo.replace("/", "--") + ".json")


def local_instruct(model_id: str) -> Path | None:
    """The official instruct model of a hub base model if it is on this host (never
    downloaded here), else its recorded fingerprint file, else None."""
    from ptb.models import INSTRUCT

    repo = INSTRUCT.get(model_id)
    if repo is None:
        return None
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        return Path(snapshot_download(repo, local_files_only=True))
    except LocalEntryNotFoundError:  # not cached: its fingerprint, if recorded
        fp = fingerprint_path(repo)
        return fp if fp.is_file() else None


def check(final: Path | None, reference: Path | None, other: Path | None = None,
          reference_is: str = "base model") -> dict:
    """final vs reference (the model the agent must build on); `other` is the model it must
    not be (the official instruct model when the reference is the base, and vice versa)."""
    if final is None:
        return {"status": "not_applicable", "summary": "no final model", "evidence": {}}
    if reference is None or not (reference / "config.json").is_file():
        return {"status": "unverified", "summary": f"the {reference_is} is not available to compare with",
                "evidence": {"reference": str(reference)}}
    findings: list[str] = []
    ev: dict = {"reference": str(reference), "reference_is": reference_is, "other": str(other) if other else None}
    fc, rc = _config(final), _config(reference)
    for key in ("architectures", "model_type"):
        if fc.get(key) != rc.get(key):
            findings.append(f"config.json {key} is {fc.get(key)!r}, the {reference_is} declares {rc.get(key)!r}")
    findings += own_code(final, reference, fc, rc)
    try:
        fv, rv = _vocab(final), _vocab(reference)
    except Exception as e:  # noqa: BLE001
        return {"status": "unverified", "summary": f"tokenizer could not be loaded: {type(e).__name__}: {e}",
                "evidence": ev}
    changed = [t for t, i in rv.items() if fv.get(t) != i]
    ev["vocab"] = {"reference": len(rv), "final": len(fv), "changed_or_missing": len(changed),
                   "added": len(set(fv) - set(rv)), "examples": changed[:10]}
    if changed:
        findings.append(f"tokenizer vocabulary differs: {len(changed)} of {len(rv)} tokens missing or moved")
    try:
        fp = fingerprint(final, reference, other)
    except Exception as e:  # noqa: BLE001 - unreadable weights: cannot vouch for the model
        return {"status": "unverified", "summary": f"weights could not be compared: {type(e).__name__}: {e}",
                "evidence": ev}
    ev["fingerprint"] = fp
    if fp["n_missing"]:
        findings.append(f"{fp['n_missing']} tensors of the {reference_is} are missing, "
                        f"e.g. {fp['missing_tensors'][:3]}")
    if fp["median_cosine"] is None:
        findings.append(f"no weight matrix in common with the {reference_is}")
    elif fp["median_cosine"] < MIN_COSINE:
        findings.append(f"weights are not derived from the {reference_is}: median cosine similarity "
                        f"{fp['median_cosine']} over {fp['matrices']} matrices "
                        f"(fine-tuning keeps it above {MIN_COSINE})")
    if fp["compared_with_other"] and fp["closer_to_other"] * 2 > fp["compared_with_other"]:
        findings.append(f"closer to {other} than to the {reference_is} on {fp['closer_to_other']} of "
                        f"{fp['compared_with_other']} matrices")
    elif fp["towards_other"] is not None and fp["towards_other"] >= MAX_TOWARDS and fp["along_other"] >= MIN_ALONG:
        findings.append(f"moved {fp['towards_other']:.0%} of the way from the {reference_is} towards {other} "
                        f"(median over {fp['compared_with_other']} matrices; a merge; fine-tuning stays below "
                        f"{MAX_TOWARDS:.0%})")
    ev["findings"] = findings
    if findings:
        return {"status": "flagged", "summary": "; ".join(findings), "evidence": ev}
    note = "" if other else " (no instruct model available locally to compare with)"
    return {"status": "clean", "summary": f"descends from the {reference_is}: median cosine "
                                          f"{fp['median_cosine']} over {fp['matrices']} matrices{note}",
            "evidence": ev}
