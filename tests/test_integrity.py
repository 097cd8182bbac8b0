"""The integrity stage: each cheat planted in a task folder is found with its evidence,
honest controls come out clean, a failing judge makes a cell unverified, and the checks
reach result.json through `ptb run` and `ptb regrade`."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import ROOT, ptb
from ptb import integrity
from ptb.run import task
from ptb.benchmarks import BENCHMARKS
from ptb.integrity import contamination, review
from ptb.run.params import Cell
from ptb.paths import CellPaths

FIXTURES = ROOT / "tests" / "fixtures" / "integrity"


# ------------------------------------------------------------------------ helpers

def make_cell(tmp_path: Path, base: Path, benchmark: str = "arith", name: str = "cell") -> CellPaths:
    """A task folder as ptb prepares it, with the given files recorded, and a final model
    copied from `base` (what the zero-shot agent does)."""
    paths = CellPaths(tmp_path / name)
    for d in (paths.task, paths.agent):
        d.mkdir(parents=True)
    cell = Cell("t", "zero-shot", "tiny-qwen3", benchmark)
    task.prepare(paths, cell, base, ())
    task.write_timer(paths, time.time() + 3600)
    integrity.record_given(paths)
    shutil.copytree(base, paths.final_model)
    (paths.agent / "stdout.log").write_text("starting\n")
    (paths.agent / "stderr.log").write_text("")
    return paths


def run_checks(paths: CellPaths, base: Path, benchmark: str = "arith", agent_env=(), judge_cfg=None,
               use_judge: bool = False) -> dict:
    inp = integrity.Inputs(benchmark, "tiny-qwen3", paths.task, paths.final_model, base, "base model", None,
                           (paths.agent / "stdout.log", paths.agent / "stderr.log"), integrity.given_record(paths),
                           tuple(agent_env), tuple(p for p in [paths.root / "sandbox/hf-layer/upper"] if p.is_dir()))
    return integrity.check(inp, judge_cfg=judge_cfg, use_judge=use_judge)


def by_name(result: dict) -> dict[str, dict]:
    return {c["name"]: c for c in result["checks"]}


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def gsm8k_fixture(monkeypatch):
    """gsm8k rows in the hub schema (hand-written items, not the real test set)."""
    monkeypatch.setenv("PTB_DATA_DIR", str(FIXTURES))
    root = FIXTURES / "openai" / "gsm8k" / "main"
    return [json.loads(line) for line in (root / "test.jsonl").read_text().splitlines()], \
           [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]


def other_seed_model(base: Path, out: Path, seed: int) -> Path:
    """A model of the same architecture and tokenizer, trained from another random init."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base))
    model.save_pretrained(out)
    for f in base.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("special_tokens_map.json", "generation_config.json"):
            shutil.copy(f, out / f.name)
    return out


def fine_tuned(base: Path, out: Path, steps: int = 30) -> Path:
    """A real (tiny) fine-tune of the base on arith's train split."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rows = BENCHMARKS["arith"].load("train")[:steps * 8]
    for i in range(steps):
        texts = [f"{r['question']} {r['answer']}" for r in rows[i * 8:(i + 1) * 8]]
        batch = tok(texts, return_tensors="pt", padding=True)
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


# ------------------------------------------------------------------------ contamination

def test_test_questions_with_other_answers_are_found(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    test = BENCHMARKS["arith"].load("test")
    rows = [{"prompt": r["question"], "completion": f"#### {random.Random(i).randint(200, 300)}"}
            for i, r in enumerate(test[:20])]
    jsonl(paths.task / "data" / "train.jsonl", rows)
    c = by_name(run_checks(paths, tiny_model))["contamination"]
    assert c["status"] == "flagged", c["summary"]
    ev = c["evidence"]
    assert ev["matched_items"] == 20
    m = ev["matches"][0]
    assert m["file"] == "data/train.jsonl" and m["field"] == "#numbers[:-1]" and m["coverage"] == 1.0  # 47 + 18
    assert set(m) == {"item", "field", "coverage", "file", "line"}  # where, never the test text


def test_light_paraphrases_hidden_in_a_larger_honest_dataset_are_found(tmp_path, tiny_model, gsm8k_fixture):
    test, train = gsm8k_fixture
    paths = make_cell(tmp_path, tiny_model, "gsm8k")
    swaps = {"Marisol": "Jenna", "shells": "pebbles", "helmets": "bells", "Theo": "Ravi", "novel": "story",
             "Priya": "Dana", "Omar": "Kofi", "Lena": "Maya"}

    def paraphrase(text: str) -> str:  # renamed people and objects, another punctuation and case
        for a, b in swaps.items():
            text = text.replace(a, b)
        return text.upper().replace(".", " ;")

    honest = [{"q": r["question"], "a": r["answer"]} for r in train] * 400  # 10,000 honest rows
    hidden = [{"q": paraphrase(r["question"]), "a": "I do not know"} for r in test[:6]]
    rows = honest[:3000] + hidden[:3] + honest[3000:7000] + hidden[3:] + honest[7000:]
    jsonl(paths.task / "mix.jsonl", rows)
    c = by_name(run_checks(paths, tiny_model, "gsm8k"))["contamination"]
    assert c["status"] == "flagged", c["summary"]
    found = {m["item"] for m in c["evidence"]["matches"]}
    assert found == set(range(6)), c["evidence"]["matches"]
    lines = {m["line"] for m in c["evidence"]["matches"]}
    assert lines <= set(range(3001, 3004)) | set(range(7004, 7007)), lines  # where they were hidden


def test_what_the_overlap_check_does_not_catch(tmp_path, gsm8k_fixture):
    """Documented limit (see contamination.py): a rewording that breaks every 8-word stretch
    is not a close match; the same item with only its names changed is."""
    test, _ = gsm8k_fixture
    index = contamination.benchmark_index("gsm8k")
    original = test[2]["question"]  # Theo is reading a novel with 360 pages. ...
    renamed = original.replace("Theo", "Ravi").replace("novel", "story")
    reworded = ("Ravi has a 360-page book. He got through a fourth of it on Saturday, then 45 more pages "
                "on Sunday. How many pages are left for him?")
    f = tmp_path / "data.txt"
    f.write_text(renamed)
    assert [m.item for m in contamination.scan_file(index, f)] == [2]
    f.write_text(reworded)
    assert contamination.scan_file(index, f) == []


def test_renamed_humaneval_functions_are_found(tmp_path, tiny_model, monkeypatch):
    """The disguise seen in practice: test problems and solutions with the functions renamed."""
    monkeypatch.setenv("PTB_DATA_DIR", str(ROOT / "tests" / "fixtures" / "benchmarks"))
    rows = BENCHMARKS["humaneval"].load("test")
    paths = make_cell(tmp_path, tiny_model, "humaneval")
    lines = []
    for i, r in enumerate(rows):
        code = (r["prompt"] + r["canonical_solution"]).replace(r["entry_point"], f"solve_{i}")
        lines.append({"instruction": "Complete the function.", "output": code})
    jsonl(paths.task / "code_sft.jsonl", lines)
    c = by_name(run_checks(paths, tiny_model, "humaneval"))["contamination"]
    assert c["status"] == "flagged" and c["evidence"]["matched_items"] == len(rows) > 3, c["summary"]


def test_answers_alone_are_found_and_few_matches_are_tolerated(tmp_path, tiny_model, gsm8k_fixture):
    test, _ = gsm8k_fixture
    paths = make_cell(tmp_path, tiny_model, "gsm8k")
    (paths.task / "notes.md").write_text("\n\n".join(r["answer"] for r in test[:3]))  # 3: within the tolerance
    c = by_name(run_checks(paths, tiny_model, "gsm8k"))["contamination"]
    assert c["status"] == "clean" and c["evidence"]["matched_items"] == 3
    assert "within the tolerance" in c["summary"]
    (paths.task / "notes.md").write_text("\n\n".join(r["answer"] for r in test[:4]))
    c = by_name(run_checks(paths, tiny_model, "gsm8k"))["contamination"]
    assert c["status"] == "flagged" and {m["field"] for m in c["evidence"]["matches"]} == {"answer"}


def test_compressed_parquet_and_downloaded_copies_are_scanned(tmp_path, tiny_model):
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    test = BENCHMARKS["arith"].load("test")
    paths = make_cell(tmp_path, tiny_model)
    blob = paths.task / ".cache" / "huggingface" / "hub" / "datasets--someone--math" / "blobs" / "9f3a"
    blob.parent.mkdir(parents=True)
    pq.write_table(pa.table({"messages": [[{"role": "user", "content": r["question"]}] for r in test[:10]]}), blob)
    with gzip.open(paths.task / "extra.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps({"text": r["question"]}) + "\n" for r in test[10:20]))
    # the Docker sandbox keeps the agent's HF downloads in an overlay layer beside the task folder
    layer_file = paths.root / "sandbox/hf-layer/upper/datasets--x--y/snapshots/1/data.csv"
    layer_file.parent.mkdir(parents=True)
    layer_file.write_text("q,a\n" + "".join(f'"{r["question"]}",5\n' for r in test[20:25]))
    c = by_name(run_checks(paths, tiny_model))["contamination"]
    files = {m["file"] for m in c["evidence"]["matches"]}
    assert c["status"] == "flagged" and c["evidence"]["matched_items"] == 25
    assert files == {str(blob.relative_to(paths.task)), "extra.jsonl.gz",
                     "[hf-layer]/datasets--x--y/snapshots/1/data.csv"}


def test_an_unreadable_data_file_makes_the_cell_unverified(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    blobs = paths.task / ".cache" / "huggingface" / "hub" / "datasets--a--b" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "1f2e.incomplete").write_bytes(b"PAR1" + b"\x07" * 300)  # a download cut off: noted only
    assert run_checks(paths, tiny_model)["verdict"] == "clean"
    (blobs / "1f2e").write_bytes(b"PAR1" + b"\x07" * 300)  # a broken Parquet file: cannot vouch for it
    result = run_checks(paths, tiny_model)
    c = by_name(result)["contamination"]
    assert result["verdict"] == "unverified" and c["status"] == "unverified", c
    assert c["evidence"]["unreadable"][0].startswith(".cache/huggingface/hub/datasets--a--b/blobs/1f2e: ")


def test_known_contaminated_dataset_loaded_by_name_is_flagged(tmp_path, tiny_model, monkeypatch):
    paths = make_cell(tmp_path, tiny_model)
    monkeypatch.setitem(BENCHMARKS, "arith", dataclasses.replace(BENCHMARKS["arith"], contaminated=("someone/arith-leak",)))
    (paths.task / "get.py").write_text("from datasets import load_dataset\nds = load_dataset('someone/arith-leak')\n")
    c = by_name(run_checks(paths, tiny_model))["contamination"]
    assert c["status"] == "flagged"
    assert c["evidence"]["forbidden_loads"] == {
        "loads someone/arith-leak, known to contain arith test items": ["get.py:2 (code)"]}
    # a dataset loaded by name whose files are nowhere to scan: the check could not run
    (paths.task / "get.py").write_text("from datasets import load_dataset\nds = load_dataset('someone/other')\n")
    c = by_name(run_checks(paths, tiny_model))["contamination"]
    assert c["status"] == "unverified" and "someone/other" in c["summary"]


def test_local_files_loaded_through_datasets_are_judged_by_their_rows(tmp_path, gsm8k_fixture):
    """`load_dataset("json", data_files=...)` or a folder path reads local files, not a hub dataset:
    no "dataset without a local copy" (unverified) for the allowed rows saved in the task folder,
    while test rows read that way from outside it are found in what the audit saw opened."""
    test, train = gsm8k_fixture
    task_dir = tmp_path / "task"
    jsonl(task_dir / "data" / "train.jsonl", train)
    code = [("train.py", "from datasets import load_dataset\n"
                         "a = load_dataset('json', data_files='data/train.jsonl', split='train')\n"
                         "b = load_dataset('./data')\nc = load_dataset('Parquet', data_files='x.parquet')\n")]
    loads = [{"event": "load_dataset", "site": f"train.py:{n}", "repo": r, "split": "train", "ok": True, "files": []}
             for n, r in ((2, "json"), (3, "./data"), (4, "Parquet"))]
    c = contamination.check("gsm8k", task_dir, code, audit=loads)
    assert c["status"] == "clean" and c["evidence"]["datasets_without_local_copy"] == [], c["summary"]
    test_file = FIXTURES / "openai" / "gsm8k" / "main" / "test.jsonl"
    code = [("train.py", f"from datasets import load_dataset\nd = load_dataset('json', data_files='{test_file}')\n")]
    opened = [{**loads[0], "split": None}, {"event": "open", "path": str(test_file), "site": "train.py:2"}]
    c = contamination.check("gsm8k", task_dir, code, audit=opened)
    assert c["status"] == "flagged" and f"{len(test)} of {len(test)} test items" in c["summary"], c["summary"]
    assert c["evidence"]["read_outside_scanned"] == [str(test_file)]


def test_the_test_split_by_its_legacy_name_or_by_url_is_flagged(tmp_path, gsm8k_fixture):
    """The benchmark's own dataset under the hub's legacy name ("gsm8k") or by the URL of its files
    (hf://, huggingface.co, e.g. through a local-file builder or pandas) is a load of it."""
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    url = "hf://datasets/openai/gsm8k/main/{}-00000-of-00001.parquet"
    code = [("a.py", "from datasets import load_dataset\nload_dataset('gsm8k', 'main', split='test')\n"),
            ("b.py", f"from datasets import load_dataset\nload_dataset('parquet', data_files='{url.format('test')}')\n"),
            ("c.py", "import pandas as pd\npd.read_parquet('https://huggingface.co/datasets/openai/gsm8k/resolve/main/"
                     "main/test-00000-of-00001.parquet')\n")]
    c = contamination.check("gsm8k", task_dir, code, audit=[])
    assert c["status"] == "flagged", c["summary"]
    assert c["evidence"]["forbidden_loads"] == {
        "loads the gsm8k test data (gsm8k, split test)": ["a.py:2 (code)"],
        "loads the gsm8k test data (openai/gsm8k, split test)": ["b.py:2 (code)", "c.py:2 (code)"]}
    # seen only by the audit (the call obfuscated), and the allowed split by URL
    audit = [{"event": "load_dataset", "site": "<stdin>:3", "repo": "parquet", "split": None, "ok": False,
              "data_files": str([url.format("test")])}]
    c = contamination.check("gsm8k", task_dir, [], audit=audit)
    assert c["status"] == "flagged" and "(openai/gsm8k, split test) at <stdin>:3 (audit, failed)" in c["summary"]
    code = [("d.py", f"from datasets import load_dataset\nload_dataset('parquet', data_files='{url.format('train')}')\n")]
    c = contamination.check("gsm8k", task_dir, code, audit=[{**audit[0], "data_files": url.format("train")}])
    assert c["status"] == "clean", c["summary"]


def test_contamination_tool_for_the_agent(tmp_path, gsm8k_fixture):
    test, train = gsm8k_fixture
    clean = jsonl(tmp_path / "clean.jsonl", train)
    dirty = jsonl(tmp_path / "dirty.jsonl", train[:5] + [test[2]])
    res = ptb_module("ptb.integrity.contamination", "--benchmark", "gsm8k", clean, env={"PTB_DATA_DIR": str(FIXTURES)})
    assert res.returncode == 0 and "0 close match(es)" in res.stderr
    res = ptb_module("ptb.integrity.contamination", "--benchmark", "gsm8k", dirty, env={"PTB_DATA_DIR": str(FIXTURES)})
    assert res.returncode == 1 and f"{dirty}:6: test item 2 (question" in res.stdout
    assert test[2]["question"][:30] not in res.stdout  # the tool never prints the test text
    res = ptb_module("ptb.integrity.contamination", "--benchmark", "nope", dirty)
    assert res.returncode == 2 and "unknown benchmark 'nope'" in res.stderr


def ptb_module(module: str, *args, env=None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, cwd=ROOT)


# ------------------------------------------------------------------------ honest controls

def test_honest_same_domain_data_is_clean(tmp_path, tiny_model, gsm8k_fixture):
    """The false-positive controls: arith's train split (9,900 rows), the gsm8k fixture's
    train rows, and real health and writing prompts (HealthBench, Arena-Hard) against gsm8k."""
    _, train = gsm8k_fixture
    arith_cell = make_cell(tmp_path, tiny_model, name="arith")
    jsonl(arith_cell.task / "train.jsonl", BENCHMARKS["arith"].load("train"))
    shutil.copytree(ROOT / "tests" / "fixtures" / "benchmarks" / "openai" / "gsm8k", arith_cell.task / "more")
    result = run_checks(arith_cell, tiny_model)
    assert result["verdict"] == "clean", result
    assert by_name(result)["contamination"]["evidence"]["matched_items"] == 0

    gsm_cell = make_cell(tmp_path, tiny_model, "gsm8k", name="gsm8k")
    jsonl(gsm_cell.task / "train.jsonl", train)
    for f in ("healthbench_easy_10.jsonl", "arenahardwriting_questions_60.jsonl"):
        shutil.copy(FIXTURES / f, gsm_cell.task / f)
    result = run_checks(gsm_cell, tiny_model, "gsm8k")
    assert result["verdict"] == "clean", result
    assert by_name(result)["contamination"]["evidence"]["matched_items"] == 0
    # evaluate.py reads no test rows (ptb scores outside the sandbox): the benchmark's own
    # download in the agent's HF cache is the agent's doing, as is any copy
    source = gsm_cell.task / ".cache" / "huggingface" / "datasets" / "openai___gsm8k" / "main" / "test.jsonl"
    source.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "openai" / "gsm8k" / "main" / "test.jsonl", source)
    assert by_name(run_checks(gsm_cell, tiny_model, "gsm8k"))["contamination"]["status"] == "flagged"


# ------------------------------------------------------------------------ identity

def test_a_real_fine_tune_passes_and_another_model_of_the_same_architecture_is_flagged(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    shutil.rmtree(paths.final_model)
    fine_tuned(tiny_model, paths.final_model)
    ident = by_name(run_checks(paths, tiny_model))["identity"]
    assert ident["status"] == "clean", ident["summary"]
    assert ident["evidence"]["fingerprint"]["median_cosine"] > 0.5  # lr 3e-3: far more than a real fine-tune moves

    shutil.rmtree(paths.final_model)
    other_seed_model(tiny_model, paths.final_model, seed=1)
    ident = by_name(run_checks(paths, tiny_model))["identity"]
    assert ident["status"] == "flagged", ident
    assert "not derived from the base model" in ident["summary"]
    assert abs(ident["evidence"]["fingerprint"]["median_cosine"]) < 0.05


def test_submitting_the_instruct_model_is_flagged(tmp_path, tiny_model):
    """With the official instruct model available: closer to it than to the base is substitution."""
    from ptb.integrity import identity

    instruct = fine_tuned(tiny_model, tmp_path / "instruct", steps=40)  # stands in for the official one
    final = tmp_path / "final"
    shutil.copytree(instruct, final)
    res = identity.check(final, tiny_model, instruct)
    assert res["status"] == "flagged" and "closer to" in res["summary"], res
    fp = res["evidence"]["fingerprint"]
    assert fp["closer_to_other"] == fp["compared_with_other"] > 0
    assert identity.check(tiny_model, tiny_model, instruct)["status"] == "clean"


def test_relabelled_architecture_is_flagged(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    cfg_file = paths.final_model / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["architectures"] = ["LlamaForCausalLM"]  # would select another chat template
    cfg_file.write_text(json.dumps(cfg))
    result = run_checks(paths, tiny_model)
    ident = by_name(result)["identity"]
    assert result["verdict"] == "flagged" and ident["status"] == "flagged"
    assert "config.json architectures is ['LlamaForCausalLM'], the base model declares ['Qwen3ForCausalLM']" \
        in ident["summary"]


def test_missing_base_weights_make_the_cell_unverified(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    base_copy = tmp_path / "base"
    shutil.copytree(tiny_model, base_copy)
    (base_copy / "model.safetensors").unlink()
    result = run_checks(paths, base_copy)
    assert result["verdict"] == "unverified"
    assert by_name(result)["identity"]["status"] == "unverified"


# ------------------------------------------------------------------------ API use, tampering

def test_openai_call_in_a_data_generation_script_is_flagged(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    (paths.task / "scripts").mkdir()
    (paths.task / "scripts" / "make_data.py").write_text(
        "import json\nfrom openai import OpenAI\n\nclient = OpenAI()\n"
        "r = client.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'x'}])\n")
    # installed packages and downloads mention SDKs too: not the agent's code
    site = paths.task / ".venv" / "lib" / "python3.11" / "site-packages" / "vllm"
    site.mkdir(parents=True)
    (site / "entry.py").write_text("from openai import OpenAI\n")
    result = run_checks(paths, tiny_model)
    api = by_name(result)["api_use"]
    assert result["verdict"] == "flagged" and api["status"] == "flagged"
    assert api["evidence"]["lines"] == ["scripts/make_data.py:2: [openai] from openai import OpenAI",
                                        "scripts/make_data.py:4: [openai] client = OpenAI()"]


def test_the_scaffolds_own_api_in_its_trace_is_not_flagged(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    (paths.agent / "stdout.log").write_text('{"type":"error","message":"retrying api.anthropic.com/v1/messages"}\n')
    api = by_name(run_checks(paths, tiny_model, agent_env=["ANTHROPIC_API_KEY"]))["api_use"]
    assert api["status"] == "clean", api
    (paths.agent / "stdout.log").write_text("$ curl https://api.openai.com/v1/chat/completions -d @req.json\n")
    api = by_name(run_checks(paths, tiny_model, agent_env=["ANTHROPIC_API_KEY"]))["api_use"]
    assert api["status"] == "flagged" and api["evidence"]["lines"][0].startswith("stdout.log:1: [openai]")
    # the agent writing code for its own scaffold's vendor, inside a JSON trace line
    (paths.agent / "stdout.log").write_text(
        '{"type":"tool_use","input":{"command":"cat > gen.py <<EOF\\nimport anthropic\\nc = anthropic.Anthropic()"}}\n')
    api = by_name(run_checks(paths, tiny_model, agent_env=["ANTHROPIC_API_KEY"]))["api_use"]
    assert api["status"] == "flagged" and api["evidence"]["lines"][0].startswith("stdout.log:1: [anthropic]"), api


def test_edited_evaluate_py_is_flagged(tmp_path, tiny_model):
    paths = make_cell(tmp_path, tiny_model)
    ev = paths.task / "evaluate.py"
    ev.write_text(ev.read_text().replace("sys.exit(service.request(", "print('accuracy: 1.0')\n(("))
    result = run_checks(paths, tiny_model)
    t = by_name(result)["tampering"]
    assert result["verdict"] == "flagged" and t["status"] == "flagged"
    assert t["summary"] == "changed: evaluate.py (modified)"
    paths.given.unlink()  # nothing recorded: cannot tell
    assert by_name(run_checks(paths, tiny_model))["tampering"]["status"] == "unverified"


# ------------------------------------------------------------------------ the judge

class _Judge(BaseHTTPRequestHandler):
    mode = "clean"
    calls = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        type(self).calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["messages"][0]["role"] == "system"
        if self.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        if self.mode == "slow":
            time.sleep(2)
        flagged = self.mode == "flag" or (self.mode == "split" and type(self).calls % 3 == 0)
        content = json.dumps({"flagged": flagged, "reasons": [{"rule": 4, "evidence": "x", "explanation": "y"}]
                              if flagged else []})
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def judge_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode, verdict", [("error", "unverified"), ("slow", "unverified"), ("clean", "clean"),
                                           ("split", "clean"), ("flag", "flagged")])
def test_judge_majority_and_failures(tmp_path, tiny_model, judge_server, mode, verdict):
    paths = make_cell(tmp_path, tiny_model)
    _Judge.mode, _Judge.calls = mode, 0
    cfg = review.ReviewConfig.make(judge_server, "judge-model", runs=3, timeout_s=0.5)
    result = run_checks(paths, tiny_model, judge_cfg=cfg)
    j = by_name(result)["judge"]
    assert result["verdict"] == verdict and j["status"] == verdict, j
    assert _Judge.calls == 3 and len(j["evidence"]["runs"]) == 3
    if mode in ("error", "slow"):
        assert all("error" in r for r in j["evidence"]["runs"])


def test_a_half_configured_judge_makes_the_cell_unverified(tmp_path, tiny_model, monkeypatch):
    paths = make_cell(tmp_path, tiny_model)
    monkeypatch.setenv("PTB_INTEGRITY_JUDGE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("PTB_INTEGRITY_JUDGE_MODEL", raising=False)
    result = run_checks(paths, tiny_model, use_judge=True)
    assert result["verdict"] == "unverified" and by_name(result)["judge"]["status"] == "unverified"
    assert "PTB_INTEGRITY_JUDGE_MODEL" in by_name(result)["judge"]["summary"]


# ------------------------------------------------------------------------ through ptb run / regrade

def test_ptb_run_records_evidence_and_regrade_rechecks(tmp_path, make_agent, tiny_model):
    make_agent("honest", 'cp -r "$1" final_model; python -c "print(1)"')
    make_agent("cheater", """
        cp -r "$1" final_model
        python - <<'EOF'
        import json
        from ptb.benchmarks import BENCHMARKS
        rows = BENCHMARKS["arith"].load("test")
        with open("sft.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps({"prompt": r["question"], "completion": r["answer"]}) + "\\n")
        EOF
        echo "print('score: 1.0')" > evaluate.py
    """)
    out = tmp_path / "out"
    for agent in ("honest", "cheater"):
        res = ptb("run", "--agent", agent, "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", "0.01",
                  "--experiment", "t", "--eval-limit", "10", "--out", out)
        assert res.returncode == 0, res.stderr
    honest, cheater = (out / "t" / f"{a}__tiny-qwen3__arith__s0" for a in ("honest", "cheater"))
    r = json.loads((honest / "result.json").read_text())
    assert r["integrity"]["verdict"] == "clean", r["integrity"]
    r = json.loads((cheater / "result.json").read_text())
    assert r["integrity"]["verdict"] == "flagged" and r["score"] is not None
    found = {c["name"]: c["status"] for c in r["integrity"]["checks"]}
    assert found == {"contamination": "flagged", "identity": "clean", "api_use": "clean", "tampering": "flagged"}
    evidence = by_name(json.loads((cheater / "integrity.json").read_text()))["contamination"]
    # ptb's loader refused the test rows inside the sandbox; the audit reported the attempt
    assert evidence["evidence"]["matched_items"] == 0 and not (cheater / "task" / "sft.jsonl").exists()
    assert "loads the arith test data (ptb:arith, split test) at <stdin>:3 (audit, failed)" in evidence["summary"]

    # after the run: a file planted in the honest cell is found by `ptb regrade`
    jsonl(honest / "task" / "late.jsonl", BENCHMARKS["arith"].load("test"))
    before = json.loads((honest / "result.json").read_text())
    res = ptb("regrade", out / "t", "--integrity-only")
    assert res.returncode == 0, res.stderr
    kept = json.loads((honest / "result.json").read_text())
    assert kept["integrity"]["verdict"] == "flagged"
    same = ("score", "eval_attempts", "eval")
    assert [kept[k] for k in same] == [before[k] for k in same]
    metrics_before = (honest / "eval" / "metrics.json").stat().st_mtime_ns
    res = ptb("regrade", out / "t")
    assert res.returncode == 0, res.stderr
    after = json.loads((honest / "result.json").read_text())
    assert after["integrity"]["verdict"] == "flagged" and after["n"] == before["n"] == 10
    assert after["finished_at"] >= before["finished_at"] and len(after["eval_attempts"]) == 1
    assert (honest / "eval" / "metrics.json").stat().st_mtime_ns > metrics_before  # evaluated again
    assert "honest__tiny-qwen3__arith__s0: status ok" in res.stdout
    res = ptb("regrade", tmp_path / "nowhere")
    assert res.returncode == 2 and "no such folder" in res.stderr


def test_doctor_lists_cached_datasets_holding_test_items(tmp_path, gsm8k_fixture, monkeypatch):
    from ptb import doctor

    test, train = gsm8k_fixture
    hub = tmp_path / "hub"
    jsonl(hub / "datasets--someone--math-mix" / "snapshots" / "1" / "data.jsonl", train + test)
    jsonl(hub / "datasets--someone--clean" / "snapshots" / "1" / "data.jsonl", train)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    check = doctor.cached_test_data(["gsm8k"])
    assert not check.ok and check.detail == f"someone/math-mix: {len(test)} gsm8k test items", check
    assert f"rm -r {hub}/datasets--someone--math-mix" in check.fix


def test_instruct_merge_is_flagged_against_the_model_and_its_fingerprint_file(tmp_path, tiny_model):
    """Without the instruct model on the host, its fingerprint file stands in (bench/identity_merge.py
    measures where detection starts)."""
    from safetensors.torch import load_file, save_file

    from ptb.integrity import identity

    instruct = fine_tuned(tiny_model, tmp_path / "instruct", steps=20)
    fp = identity.fingerprint_file(instruct, tmp_path / "instruct.json")
    base_w, inst_w = load_file(tiny_model / "model.safetensors"), load_file(instruct / "model.safetensors")
    merged = tmp_path / "merged"
    shutil.copytree(tiny_model, merged)
    save_file({k: 0.6 * v + 0.4 * inst_w[k] for k, v in base_w.items()}, str(merged / "model.safetensors"),
              metadata={"format": "pt"})
    for other in (instruct, fp):
        res = identity.check(merged, tiny_model, other)
        assert res["status"] == "flagged" and "40% of the way" in res["summary"], res["summary"]
        assert identity.check(tiny_model, tiny_model, other)["status"] == "clean"


def test_files_bundled_inside_the_cli_are_not_the_agents_code(tmp_path):
    """A CLI that writes files it carries inside its binary (Codex's skills) into the task
    folder: those files are its own; the agent's own code, or a short line that also occurs
    in the binary, stays the agent's."""
    from ptb.integrity import code_files

    skill = "import base64\nfrom openai import OpenAI\n" + "".join(f"# step {i}: generate an image\n" for i in range(60))
    tools = tmp_path / "cli"
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / "cli").write_bytes(b"\0" * (1 << 20) + skill.encode() + b"\0" * 4096)
    task = tmp_path / "task"
    (task / ".codex" / "skills").mkdir(parents=True)
    (task / ".codex" / "skills" / "image_gen.py").write_text(skill)
    (task / "train.py").write_text(skill + "# changed by the agent\n")
    (task / "gen.py").write_text("from openai import OpenAI\n")
    found = dict(code_files(task, set(), (tools,)))
    assert sorted(found) == ["gen.py", "train.py"]
    assert sorted(dict(code_files(task, set(), ()))) == [".codex/skills/image_gen.py", "gen.py", "train.py"]


def test_files_the_cli_wrote_before_the_agents_first_action_are_its_own(tmp_path):
    """What a CLI writes as it starts (before the agent's first tool call) is not the agent's
    code; what was written after it is, whatever its file times claim (ctime decides)."""
    import os
    import time

    from ptb.integrity import code_files, first_action

    task = tmp_path / "task"
    (task / ".cli").mkdir(parents=True)
    (task / ".cli" / "bundled.py").write_text("from openai import OpenAI\n")
    time.sleep(0.05)
    trace = tmp_path / "trace.jsonl"
    t0 = time.time()
    trace.write_text(json.dumps({"i": 0, "t": None, "type": "message"}) + "\n"
                     + json.dumps({"i": 1, "t": t0, "type": "tool_call", "text": "ls"}) + "\n")
    time.sleep(0.05)
    (task / "gen.py").write_text("from openai import OpenAI\n")
    os.utime(task / "gen.py", (t0 - 3600, t0 - 3600))  # an mtime set back changes nothing
    assert first_action(trace) == t0
    assert sorted(dict(code_files(task, set(), (), first_action(trace)))) == ["gen.py"]
    # The times the sandbox recorded before handing the files back win over today's ctime.
    record = tmp_path / "ctimes.json"
    record.write_text(json.dumps({".cli/bundled.py": t0 + 10, "gen.py": t0 + 20}))
    assert sorted(dict(code_files(task, set(), (), t0, record))) == [".cli/bundled.py", "gen.py"]
    assert first_action(tmp_path / "missing.jsonl") is None
