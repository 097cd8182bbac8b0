"""Chat templates and prompt rendering, as the reference renders its prompts.

For the PostTrainBench benchmarks the template is the reference's own file for the model's family
(fetched from the pinned commit, see ptb/eval/reference.py), chosen from the model's declared
architecture in config.json, never from its folder name: the reference guessed the family from the
path string, so a folder named after another family silently changed the template. Gemma uses the
reference's tool-calling variant where the benchmark offers tools (BFCL), as the reference did.

The reference rendered through vLLM's OpenAI-compatible server (vLLM 0.11.0, transformers 4.57.3):
the template file as given by `--chat-template`, each request's messages and OpenAI-style tools,
`add_generation_prompt=True`, the tokenizer's special tokens (`bos_token`, ...) as variables, in
transformers' Jinja environment. `render` does the same here, in an environment built the same way,
so the text does not depend on the transformers version of the host or of the agent's tokenizer.
Two details of that path matter for the bytes:
- vLLM hands message contents to a template that loops over a message's content (Gemma's) as a list
  of `{"type": "text", "text": ...}` parts, to the others as a string (`content_format`);
- SmolLM3's template prints the date (`strftime_now`); it is fixed to `TEMPLATE_DATE` so that a
  prompt is the same on every day (the reference printed the day of each evaluation).
"""

from __future__ import annotations

import datetime
import json
from functools import cache
from pathlib import Path
from typing import Literal

from ptb import paths
from ptb.errors import ConfigError
from ptb.eval import reference

# architecture in config.json -> the reference's template family
FAMILIES = {
    "Qwen3ForCausalLM": "qwen3",
    "Gemma3ForCausalLM": "gemma3",
    "Gemma3ForConditionalGeneration": "gemma3",
    "SmolLM3ForCausalLM": "smollm",
}
TEMPLATES_DIR = "src/eval/templates/"  # in the reference; copied whole into the agent's task folder, as there
TEMPLATE_FILES = {name: reference.file(f"{TEMPLATES_DIR}{name}.jinja")
                  for name in ("qwen3", "gemma3", "gemma3_tool_calling", "smollm")}
TOOLS_VARIANTS = {"gemma3": "gemma3_tool_calling"}  # where the benchmark offers tools (BFCL)

# The date SmolLM3's header prints: the day of the pinned commit, 9082063 (2026-04-07).
TEMPLATE_DATE = datetime.date(2026, 4, 7)

ContentFormat = Literal["string", "openai"]


class UnknownArchitecture(ConfigError):
    """A model that PostTrainBench has no chat template for: the model given is the one to change."""


def architecture(model_dir: str | Path) -> str:
    config = json.loads((Path(model_dir) / "config.json").read_text())
    archs = config.get("architectures") or []
    if len(archs) != 1:
        raise UnknownArchitecture(f"{model_dir}/config.json: expected one entry in 'architectures', got {archs}")
    return archs[0]


def family(model_dir: str | Path) -> str:
    arch = architecture(model_dir)
    if arch not in FAMILIES:
        raise UnknownArchitecture(
            f"{model_dir}: architecture {arch} has no chat template in PostTrainBench (known: {', '.join(FAMILIES)})"
        )
    return FAMILIES[arch]


def template_name(model_dir: str | Path, tools: bool = False) -> str:
    """The reference template for the model; `tools`: the benchmark offers tools (decided by the samples)."""
    name = family(model_dir)
    return TOOLS_VARIANTS.get(name, name) if tools else name


def template(name: str) -> str:
    return reference.text(TEMPLATE_FILES[name])


def template_for(model_dir: str | Path, tools: bool = False, folder: Path | None = None) -> str:
    """The model's reference template; from `folder` where given, a copy of the reference's templates/
    (the task folder's: the agent's evaluate.py and the sft recipe run in the sandbox, as the reference's)."""
    name = template_name(model_dir, tools)
    return (folder / f"{name}.jinja").read_text() if folder is not None else template(name)


def write_templates(dest: Path) -> list[Path]:
    """The reference's templates/ folder, byte for byte, into `dest` (the agent's task folder gets it)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in TEMPLATE_FILES.values():
        target = dest / Path(path).name
        target.write_bytes(reference.local(path).read_bytes())
        written.append(target)
    return written


# ---- rendering --------------------------------------------------------------------------------------

def render(template_text: str, messages: list[dict], tools: list[dict] | None = None, *,
           special_tokens: dict | None = None, add_generation_prompt: bool = True,
           today: datetime.date = TEMPLATE_DATE) -> str:
    """The prompt text, as the reference's vLLM server rendered these messages and tools."""
    fmt = content_format(template_text)
    conversation = [_as_served(m, fmt) for m in messages]
    return _compile(template_text).render(
        **(special_tokens or {}), messages=conversation, tools=tools, documents=None,
        add_generation_prompt=add_generation_prompt, strftime_now=lambda f: today.strftime(f))


def _as_served(message: dict, fmt: ContentFormat) -> dict:
    """A message as vLLM passes it to the template: role and content (text parts for the "openai"
    format), plus the tool-call fields where present (arguments as objects)."""
    content = message.get("content")
    parts = [] if content is None else [content] if isinstance(content, str) else \
        [p if isinstance(p, str) else p["text"] for p in content]
    out = {"role": message["role"],
           "content": [{"type": "text", "text": p} for p in parts] if fmt == "openai" else "\n".join(parts)}
    if message.get("tool_calls") is not None and message["role"] == "assistant":
        out["tool_calls"] = [_with_object_arguments(c) for c in message["tool_calls"]]
    if "tool_call_id" in message and message["role"] == "tool":
        out["tool_call_id"] = message["tool_call_id"]
    if isinstance(message.get("name"), str):
        out["name"] = message["name"]
    return out


def _with_object_arguments(call: dict) -> dict:
    function = dict(call["function"])
    arguments = function.get("arguments")
    function["arguments"] = (json.loads(arguments) if arguments else {}) if isinstance(arguments, str | None) \
        else arguments
    return {**call, "function": function}


@cache
def content_format(template_text: str) -> ContentFormat:
    """vLLM's automatic choice: "openai" where the template loops over the content of a message
    (a loop variable over `messages`, or over a variable assigned from it), else "string"."""
    from jinja2 import nodes

    ast = _environment().parse(template_text)
    lists = {"messages"}
    for assign in ast.find_all(nodes.Assign):  # e.g. loop_messages = messages[1:]
        if isinstance(assign.target, nodes.Name) and _reads(assign.node, lists):
            lists.add(assign.target.name)
    loops = list(ast.find_all(nodes.For))
    message_vars = {loop.target.name for loop in loops
                    if isinstance(loop.target, nodes.Name) and _reads(loop.iter, lists)}
    for loop in loops:
        node = _unwrap(loop.iter)
        key = node.attr if isinstance(node, nodes.Getattr) else \
            node.arg.value if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) else None
        if key == "content" and _reads(node.node, message_vars):
            return "openai"
    return "string"


def _unwrap(node):
    """The variable access under filters, tests and slices (`messages[1:] | list` -> `messages`)."""
    from jinja2 import nodes

    while True:
        if isinstance(node, nodes.Filter | nodes.Test) and node.node is not None:
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
            node = node.node
        else:
            return node


def _reads(node, names: set[str]) -> bool:
    from jinja2 import nodes

    node = _unwrap(node)
    return isinstance(node, nodes.Name) and node.ctx == "load" and node.name in names


@cache
def _compile(template_text: str):
    return _environment().from_string(template_text)


@cache
def _environment():
    """transformers' chat-template environment (4.57.3, the reference's): sandboxed, trim_blocks and
    lstrip_blocks, loop controls, the `{% generation %}` tag, a JSON `tojson` that keeps non-ASCII text,
    `raise_exception` and `strftime_now` (here a render variable, so that the date can be fixed)."""
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """`{% generation %}...{% endgeneration %}` marks assistant text for training masks; renders its body."""
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def own_template() -> str:
    """ptb's ChatML template (tiny-qwen3's, and so the arith benchmark's)."""
    return (paths.TEMPLATES / "chatml.jinja").read_text()
