"""Chat templates and the reference's files: prompts rendered by ptb equal, byte for byte, the
reference's renderings (its template files from the offline copy in ../shared, rendered by
transformers' apply_chat_template with the arguments vLLM's server passed), for the four model
families with and without system messages and tools; the templates in the agent's task folder and
under the tampering check; every reference path ptb reads exists at the pinned commit."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models

import ptb
from conftest import SHARED_DATA
from ptb.eval import chat, engines, reference
from ptb.run import task
from ptb.benchmarks import BENCHMARKS, Sample, bfcl
from ptb.integrity import tampering
from ptb.paths import CellPaths
from ptb.run.params import Cell

OFFLINE = SHARED_DATA / "reference-9082063"
MANIFEST = set(OFFLINE.joinpath("MANIFEST.txt").read_text().split())
BFCL_ROW = Path(__file__).parent / "fixtures" / "benchmarks" / "gorilla-llm" / \
    "Berkeley-Function-Calling-Leaderboard" / "exec_simple" / "train.jsonl"

# Each family: an architecture, the special tokens of its tokenizer, the reference's template
# files (plain, with tools), and how vLLM 0.11.0's server hands message contents to that template
# (its `_detect_content_format`: a list of text parts where the template loops over a content).
FAMILIES = {
    "qwen3": ("Qwen3ForCausalLM", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
              ("qwen3.jinja", "qwen3.jinja"), "string"),
    "gemma3": ("Gemma3ForCausalLM", {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"},
               ("gemma3.jinja", "gemma3_tool_calling.jinja"), "openai"),
    "smollm3": ("SmolLM3ForCausalLM", {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
                ("smollm.jinja", "smollm.jinja"), "string"),
}
SYSTEM = {"role": "system", "content": "You are a careful assistant. Answer briefly.\n"}
CONVERSATION = [  # few-shot turns with stray whitespace, which some templates trim and others keep
    {"role": "user", "content": "  What is 12 + 30?\n"},
    {"role": "assistant", "content": "\n12 + 30 = 42. ANSWER: 42 "},
    {"role": "user", "content": "Natalia sold clips to 48 friends in April, and half as many in May. How many in all?"},
]


def model_folder(root: Path, family: str) -> tuple[Path, object]:
    """A model folder of the family (config.json and a small offline tokenizer with its special tokens),
    named after another family: the folder name must not matter."""
    from transformers import PreTrainedTokenizerFast

    arch, special, _, _ = FAMILIES[family]
    folder = root / f"qwen3-gemma-smollm-{family}"
    vocab = {t: i for i, t in enumerate(["<unk>", *special.values()])}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                        unk_token="<unk>", **special)
    tokenizer.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"architectures": [arch], "model_type": family}))
    return folder, tokenizer


def bfcl_sample() -> Sample:
    row = json.loads(BFCL_ROW.read_text().splitlines()[0])
    sample = bfcl.to_sample(row, 0)
    # A non-ASCII description: the tools are printed as JSON (kept as is) or as Python reprs.
    tools = [{**t, "function": {**t["function"], "description": t["function"]["description"] + " (p ≤ 1)"}}
             for t in sample.tools]
    return Sample(index=0, messages=sample.messages, target=sample.target, tools=tools)


def as_vllm_served(messages: list[dict], fmt: str) -> list[dict]:
    return [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}] if fmt == "openai"
             else m["content"]} for m in messages]


def reference_rendering(tokenizer, template_file: str, sample: Sample, fmt: str) -> str:
    """As the reference's vLLM server called transformers: the template file's text, the served
    conversation, the OpenAI-style tools, a generation prompt, nothing to continue, no documents."""
    template = (OFFLINE / "src/eval/templates" / template_file).read_text()
    return tokenizer.apply_chat_template(as_vllm_served(sample.messages, fmt), tools=sample.tools,
                                         chat_template=template, tokenize=False, add_generation_prompt=True,
                                         continue_final_message=False, documents=None)


def fixed_date(text: str) -> str:
    """transformers prints today's date into SmolLM3's header; ptb prints chat.TEMPLATE_DATE."""
    import datetime

    today = datetime.datetime.now().strftime("%d %B %Y")
    return text.replace(f"Today Date: {today}\n", f"Today Date: {chat.TEMPLATE_DATE.strftime('%d %B %Y')}\n")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("system", [False, True], ids=["no-system", "system"])
@pytest.mark.parametrize("tools", [False, True], ids=["no-tools", "tools"])
def test_rendered_prompts_equal_the_references_byte_for_byte(tmp_path, family, system, tools):
    folder, tokenizer = model_folder(tmp_path, family)
    base = bfcl_sample() if tools else Sample(index=0, messages=CONVERSATION, target="72")
    sample = Sample(index=0, messages=([SYSTEM] if system else []) + base.messages, target=base.target,
                    tools=base.tools)
    _, _, files, fmt = FAMILIES[family]
    ours = engines.render(tokenizer, folder, [sample])[0]
    assert ours == fixed_date(reference_rendering(tokenizer, files[tools], sample, fmt))
    if family == "smollm3":  # the metadata header, always, with the fixed date
        assert ours.startswith("<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
                               "Today Date: 07 April 2026\nReasoning Mode: /think\n\n")
        assert ("'calc_binomial_probability'" in ours) == tools  # tools as Python reprs
    if family == "gemma3" and tools:  # the tool-calling variant opens a system turn of its own
        assert ours.startswith("<bos>\n<start_of_turn>system") and "<tools>" in ours
    if family == "gemma3" and tools and system:  # the reference printed the served content list here
        assert "<start_of_turn>system[{'type': 'text', 'text': 'You are a careful assistant." in ours


def test_content_format_as_vllm_detects_it():
    for family, (_, _, files, fmt) in FAMILIES.items():
        for file in files:
            assert chat.content_format((OFFLINE / "src/eval/templates" / file).read_text()) == fmt, file
    assert chat.content_format(chat.own_template()) == "string"
    try:
        from vllm.entrypoints.chat_utils import _detect_content_format
    except ImportError:
        return
    for file in {f for _, _, files, _ in FAMILIES.values() for f in files}:
        text = (OFFLINE / "src/eval/templates" / file).read_text()
        assert chat.content_format(text) == _detect_content_format(text, default="string"), file


def test_template_by_architecture_never_by_folder_name(tmp_path):
    for family, (arch, _, (plain, with_tools), _) in FAMILIES.items():
        folder, _ = model_folder(tmp_path, family)
        assert chat.template_for(folder) == (OFFLINE / "src/eval/templates" / plain).read_text()
        assert chat.template_for(folder, tools=True) == (OFFLINE / "src/eval/templates" / with_tools).read_text()
    folder, _ = model_folder(tmp_path / "llama", "qwen3")
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(chat.UnknownArchitecture, match="LlamaForCausalLM has no chat template"):
        chat.template_for(folder)


def test_arith_renders_with_the_models_own_template_offline(tmp_path, monkeypatch, tiny_model):
    """ptb's own benchmark needs nothing from the reference: `ptb demo` runs offline from scratch."""
    from transformers import AutoTokenizer

    monkeypatch.delenv("PTB_DATA_DIR", raising=False)
    monkeypatch.setenv("PTB_CACHE", str(tmp_path / "empty-cache"))
    bench = BENCHMARKS["arith"]
    assert bench.chat_template == "model"
    sample = bench.to_sample(bench.load("test")[0], 0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    text = engines.render(tokenizer, tiny_model, [sample], bench.chat_template)[0]
    assert text == f"<|im_start|>user\n{sample.messages[0]['content']}<|im_end|>\n<|im_start|>assistant\n"
    cell = Cell(experiment="e", agent="zero-shot", model="tiny-qwen3", benchmark="arith")
    prompt = task.prepare(CellPaths(tmp_path), cell, tiny_model, ())
    assert not (tmp_path / "task" / "templates").exists() and "templates/" not in prompt
    with pytest.raises(reference.ReferenceUnavailable):  # the real benchmarks do need the reference
        engines.render(tokenizer, tiny_model, [sample])


def test_task_folder_gets_the_templates_and_tampering_covers_them(tmp_path, tiny_model):
    cell = Cell(experiment="e", agent="zero-shot", model="tiny-qwen3", benchmark="gsm8k")
    task_dir = tmp_path / "task"
    prompt = task.prepare(CellPaths(tmp_path), cell, tiny_model, ())
    names = sorted(p.name for p in (task_dir / "templates").iterdir())
    assert names == ["gemma3.jinja", "gemma3_tool_calling.jinja", "qwen3.jinja", "smollm.jinja"]
    for name in names:
        assert (task_dir / "templates" / name).read_bytes() == (OFFLINE / "src/eval/templates" / name).read_bytes()
    assert "`templates/`" in prompt and "the chat templates in `templates/`" in prompt

    record = tmp_path / "given_files.json"
    tampering.record(task_dir, record)
    assert {f"templates/{n}" for n in names} <= set(tampering.load(record))
    assert tampering.check(task_dir, record)["status"] == "clean"
    smollm = task_dir / "templates" / "smollm.jinja"
    smollm.write_text(smollm.read_text().replace("Reasoning Mode", "Mode"))
    (task_dir / "templates" / "qwen3.jinja").unlink()
    result = tampering.check(task_dir, record)
    assert result["status"] == "flagged"
    assert {(c["file"], c["change"]) for c in result["evidence"]["changes"]} == {
        ("templates/smollm.jinja", "modified"), ("templates/qwen3.jinja", "deleted or replaced")}


# ---- ptb/eval/reference.py ------------------------------------------------------------------------------

def all_ptb_modules() -> None:
    for info in pkgutil.walk_packages(ptb.__path__, "ptb."):
        if info.name != "ptb.__main__":
            importlib.import_module(info.name)


def test_every_path_ptb_reads_exists_at_the_pinned_commit():
    all_ptb_modules()
    assert set(chat.TEMPLATE_FILES.values()) <= reference.PATHS
    assert len(reference.PATHS) >= 10  # templates, judged data, judge prompt and settings files
    missing = sorted(reference.PATHS - MANIFEST)
    assert not missing, f"not in the reference at {reference.COMMIT[:7]}: {missing}"
    assert reference.COMMIT.startswith("9082063") and len(reference.COMMIT) == 40


def test_offline_copy_then_checked_cache(tmp_path, monkeypatch, reference_data):
    path = chat.TEMPLATE_FILES["smollm"]
    monkeypatch.setenv("PTB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PTB_DATA_DIR", str(reference_data))
    assert reference.local(path) == reference_data / reference.REPO / path
    assert reference.text(path) == (OFFLINE / path).read_text()

    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path / "elsewhere"))  # no copy there: the cache, then GitHub
    with pytest.raises(reference.ReferenceUnavailable) as e:
        reference.local(path)
    message = str(e.value)
    assert "\n" not in message and reference.URL + path in message and f"$PTB_DATA_DIR/{reference.REPO}/{path}" \
        in message
    stored = reference.store(path, (OFFLINE / path).read_bytes())
    assert stored == tmp_path / "cache" / "reference" / reference.COMMIT / path
    assert reference.local(path) == stored and not list(stored.parent.glob(".*partial"))
    stored.write_text(stored.read_text() + "{# changed #}")  # a damaged cache entry is not used
    with pytest.raises(reference.ReferenceUnavailable):
        reference.local(path)
    with pytest.raises(KeyError, match="not a declared reference file"):
        reference.local("src/eval/general/prompt.txt")


def test_python_constants_read_without_running_the_file(tmp_path, monkeypatch):
    source = tmp_path / reference.REPO / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text('import os\nA = """\n  text\n""".strip()\nB = {"k": {"p": A, "n": [1, 2]}}\nC = os.getcwd()\n')
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    reference.file("x.py")
    try:
        assert reference.python_constant("x.py", "A") == "text"
        assert reference.python_constant("x.py", "B") == {"k": {"p": "text", "n": [1, 2]}}
        with pytest.raises(ValueError, match="cannot read os.getcwd"):
            reference.python_constant("x.py", "C")
        with pytest.raises(ValueError, match="no constant D"):
            reference.python_constant("x.py", "D")
    finally:
        reference.PATHS.discard("x.py")


def test_in_the_sandbox_the_task_folders_templates_serve_offline(tmp_path, monkeypatch, tiny_model):
    """The sft recipe runs in the task folder, where nothing else of the reference may be
    reachable: it renders with the templates/ given there, as the reference's does."""
    from transformers import AutoTokenizer

    cell = Cell(experiment="e", agent="zero-shot", model="tiny-qwen3", benchmark="bfcl")
    task.prepare(CellPaths(tmp_path), cell, tiny_model, ())
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    sample = bfcl_sample()
    fetched = engines.render(tokenizer, tiny_model, [sample])
    monkeypatch.delenv("PTB_DATA_DIR", raising=False)
    monkeypatch.setenv("PTB_CACHE", str(tmp_path / "empty-cache"))
    assert engines.render(tokenizer, tiny_model, [sample], templates_dir=tmp_path / "task" / "templates") == fetched
    smollm, _ = model_folder(tmp_path, "smollm3")
    assert chat.template_for(smollm, folder=tmp_path / "task" / "templates") == \
        (OFFLINE / "src/eval/templates/smollm.jinja").read_text()
