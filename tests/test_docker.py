"""The Docker sandbox on a real engine: a CLI-like scripted agent, misbehaving agents, the
GPU request, limits, and a cell with --sandbox docker next to the same cell run locally.

The sandbox image is built offline once (debootstrap base + the lock's wheels) and reused
while requirements.lock and docker/Dockerfile are unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest

from conftest import ROOT, ptb, survivors
from ptb.agents import traces
from ptb.sandbox import InfraError, SandboxSpec
from ptb.sandbox import image as sandbox_image
from ptb.sandbox.docker import DockerSandbox, agent_ids, container_config

BASE = "ptb-base:bookworm"
SECRET = "sk-test-" + "Q7wX2eR9tY4uI1oP6aS3dF8g"  # granted to the agent, printed by it
TOKEN = "subscription-" + "tok-5f2a9c0e7b1d"  # in a token file the agent logs in with
STRAY_HEAD, STRAY_TAIL = "sk-ant-api03-", "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"
STRAY_KEY = STRAY_HEAD + STRAY_TAIL  # not granted, key-shaped, assembled and printed by the agent
WHEELHOUSE = Path(os.environ.get("PTB_TEST_WHEELHOUSE", "/var/cache/ptb-test/wheelhouse"))


@pytest.fixture(scope="session")
def engine():
    subprocess.run(["bash", ROOT / "tests/services/start_docker.sh"], check=True, timeout=120)
    return docker.from_env()


@pytest.fixture(scope="session")
def sandbox_image_tag(engine) -> str:
    """The sandbox image built offline: a debootstrap base and the lock's wheels from this host's pip."""
    tag = sandbox_image.tag(BASE)
    if not engine.images.list(name=tag):
        subprocess.run(["bash", ROOT / "tests/services/build_base_image.sh", BASE], check=True, timeout=900)
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        runtime = WHEELHOUSE.parent / "runtime.txt"
        runtime.write_text(sandbox_image.runtime_requirements())
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", WHEELHOUSE,
                        "-c", sandbox_image.LOCK, "-r", runtime], check=True, timeout=900)
        sandbox_image.build(BASE, WHEELHOUSE, offline=True)
    os.environ["PTB_SANDBOX_IMAGE"] = tag  # for `ptb run` subprocesses too
    return tag


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """A shared Hugging Face cache in the hub's layout (blobs, refs, snapshot symlinks)."""
    hub = tmp_path / "hf" / "hub"
    repo = hub / "models--org--shared"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "b1").write_text('{"model_type": "qwen3"}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("rev1")
    (repo / "snapshots" / "rev1").mkdir(parents=True)
    (repo / "snapshots" / "rev1" / "config.json").symlink_to("../../blobs/b1")
    (hub / ".locks" / "models--org--shared").mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return hub


def tree_digest(root: Path) -> str:
    """Every entry's path, type, mode, owner, content or link target."""
    h = hashlib.sha256()
    for p in sorted([root, *root.rglob("*")]):
        st = p.lstat()
        h.update(f"{p.relative_to(root)}|{st.st_mode}|{st.st_uid}|{st.st_gid}|".encode())
        h.update(os.readlink(p).encode() if p.is_symlink() else p.read_bytes() if p.is_file() else b"")
    return h.hexdigest()


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def run_cell(tmp_path: Path, agent: str, *extra: str, hours: float = 0.01, sandbox: str = "docker") -> dict:
    res = ptb("run", "--agent", agent, "--model", "tiny-qwen3", "--benchmark", "arith", "--hours", hours,
              "--experiment", sandbox, "--eval-limit", "20", "--sandbox", sandbox, "--out", tmp_path / "out", *extra)
    assert res.returncode == 0, res.stderr[-3000:]
    cell_dir = tmp_path / "out" / sandbox / f"{agent}__tiny-qwen3__arith__s0"
    return json.loads((cell_dir / "result.json").read_text()) | {"_dir": cell_dir}


def stream_json_agent(make_agent, name: str) -> None:
    """Behaves like a CLI agent: stream-json events on stdout, tool calls, a final result."""
    make_agent(name, f"""
        ev() {{ printf '%s\\n' "$1"; }}
        ev '{{"type":"system","subtype":"init","model":"scripted"}}'
        stray={STRAY_HEAD}; stray="${{stray}}{STRAY_TAIL}"
        ev '{{"type":"assistant","message":{{"content":[{{"type":"tool_use","id":"t1","name":"Bash","input":{{"command":"cp -r base final_model"}}}}],"usage":{{"input_tokens":120,"output_tokens":30}}}}}}'
        cp -r "$1" final_model
        # Docker only (the local sandbox has no HF_HUB_CACHE): a link into the shared cache.
        [ -z "$HF_HUB_CACHE" ] || ln -s "$HF_HUB_CACHE/models--org--shared/snapshots/rev1/config.json" \
            final_model/shared_config.json
        sleep 4  # long enough for the resource monitor's first sample
        ev '{{"type":"user","message":{{"content":[{{"type":"tool_result","tool_use_id":"t1","content":"copied"}}]}}}}'
        ev "{{\\"type\\":\\"assistant\\",\\"message\\":{{\\"content\\":[{{\\"type\\":\\"text\\",\\"text\\":\\"my key is $PTB_TEST_API_KEY and $stray\\"}}]}}}}"
        echo "leaking $PTB_TEST_API_KEY" >&2
        cat "$HOME/.fake-cli/auth.json" >&2; cp "$HOME/.fake-cli/auth.json" stolen.json
        mkdir -p .cli-state
        printf '{{"token": "%s", "other": "%s"}}\n' "$PTB_TEST_API_KEY" "$stray" > .cli-state/session.json
        ev '{{"type":"result","subtype":"success","result":"done","total_cost_usd":0.0123,"usage":{{"input_tokens":500,"output_tokens":80}}}}'
    """, env=["PTB_TEST_API_KEY"], network=True)
    agent_file = Path(os.environ["PTB_AGENT_PATH"]) / f"{name}.yaml"
    agent_file.write_text(agent_file.read_text() + "trace: claude-stream-json\ntoken_files: ['~/.fake-cli/auth.json']\n")


def test_docker_cell_matches_local_cell_and_leaks_no_secret(tmp_path, make_agent, monkeypatch, tiny_model,
                                                            sandbox_image_tag, hf_cache):
    monkeypatch.setenv("PTB_TEST_API_KEY", SECRET)
    home = tmp_path / "home"  # the host's home, where a CLI keeps its subscription login
    (home / ".fake-cli").mkdir(parents=True)
    (home / ".fake-cli" / "auth.json").write_text(json.dumps({"access_token": TOKEN, "kind": "oauth"}))
    monkeypatch.setenv("HOME", str(home))
    stream_json_agent(make_agent, "cli-like")
    started = time.monotonic()
    docker_result = run_cell(tmp_path, "cli-like")
    docker_s = time.monotonic() - started
    started = time.monotonic()
    local_result = run_cell(tmp_path, "cli-like", sandbox="local")
    local_s = time.monotonic() - started
    print(f"\nptb run wall time: docker {docker_s:.1f} s, local {local_s:.1f} s")

    assert set(docker_result) == set(local_result)
    for r in (docker_result, local_result):
        assert r["status"] == "ok" and r["score"] is not None and r["n"] == 20, r["reason"]
        assert r["cost_usd"] == 0.0123
        cell = r["_dir"]
        assert SECRET.encode() not in all_bytes(cell) and STRAY_KEY.encode() not in all_bytes(cell)
        assert TOKEN.encode() not in all_bytes(cell) and not (cell / "task" / ".fake-cli" / "auth.json").exists()
        assert '"access_token": "[REDACTED]"' in (cell / "task" / "stolen.json").read_text()  # it was readable
        events = [json.loads(line) for line in (cell / "agent" / "trace.jsonl").read_text().splitlines()]
        assert [e["type"] for e in events if e["type"] != "usage"] == [
            "system", "tool_call", "tool_result", "message", "result"]
        assert "[REDACTED]" in (cell / "agent" / "stderr.log").read_text()
        assert "my key is [REDACTED] and [REDACTED]" in (cell / "agent" / "transcript.md").read_text()
        assert (cell / "task" / ".cli-state" / "session.json").read_text().count("[REDACTED]") == 2
    assert docker_result["score"] == local_result["score"]  # same model, same evaluator
    assert docker_result["sandbox_image"]["name"] == sandbox_image_tag
    assert docker_result["requirements_lock_sha256"] == sandbox_image.lock_hash()
    # transformers as the image's Python imports it, and as the host's evaluator did: one lock, one version.
    assert docker_result["transformers_sandbox"] == docker_result["transformers_evaluator"] is not None
    box = docker_result["_dir"] / "sandbox"
    info = json.loads((box / "container.json").read_text())
    print(f"docker sandbox: set-up (HF layer, preflight, create) {info['setup_s']:.2f} s, "
          f"container start {info['start_s']:.2f} s, teardown {info['teardown_s']:.2f} s")
    sample = json.loads((box / "monitor.jsonl").read_text().splitlines()[0])
    assert sample["mem_mib"] > 0 and sample["disk_free_gib"] > 0
    final = docker_result["_dir"] / "task" / "final_model"
    assert not any(p.is_symlink() for p in final.rglob("*")) and (final / "config.json").is_file()
    # A link into the container's HF cache became a copy of the file it named.
    assert (final / "shared_config.json").read_text() == '{"model_type": "qwen3"}'

    assert engine_leftovers(tmp_path) == []


def engine_leftovers(under: Path) -> list[str]:
    """Sandbox containers and volumes left on the engine for cells under `under` (other
    test sessions may share the engine)."""
    def mine(labels: dict | None) -> bool:
        return (labels or {}).get("ptb.cell", "").startswith(str(under))

    client = docker.from_env()
    return ([c.name for c in client.containers.list(all=True, filters={"label": "ptb.sandbox"}) if mine(c.labels)]
            + [v.name for v in client.volumes.list(filters={"label": "ptb.sandbox"}) if mine(v.attrs.get("Labels"))])


def test_misbehaving_agent_is_contained(tmp_path, make_agent, monkeypatch, tiny_model, sandbox_image_tag, hf_cache):
    monkeypatch.setenv("PTB_TEST_NOT_GIVEN", "not-given-value")
    before = tree_digest(hf_cache)
    marker = f"sleep 52{time.time_ns() % 10**6}"
    repo_probe = ROOT / f".pwned-{os.getpid()}"
    make_agent("rogue", f"""
        cp -r "$1" final_model
        setsid {marker}1 &
        ( ( {marker}2 & ) & )
        nohup {marker}3 >/dev/null 2>&1 &
        touch /etc/pwned /usr/pwned "$1/pwned" {repo_probe} /tmp/private-scratch 2> outside.txt
        env > env.txt
        echo rewritten 2> hf.txt > "$HF_HUB_CACHE/models--org--shared/blobs/b1"
        rm -f "$HF_HUB_CACHE/models--org--shared/refs/main" 2>> hf.txt
        mkdir -p "$HF_HUB_CACHE/models--org--new/blobs" && echo downloaded > "$HF_HUB_CACHE/models--org--new/blobs/b2"
        mkdir -p "$HF_HUB_CACHE/.locks/models--org--new"
        python -c "import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)" 2> net.txt \\
            && echo connected >> net.txt
        {marker}4
    """, network=False)
    # 10.8 s, then SIGTERM, 10 s grace, SIGKILL
    result = run_cell(tmp_path, "rogue", "--cpus", "1", "--memory-gb", "3", hours=0.003)
    task = result["_dir"] / "task"
    assert result["status"] == "timeout" and result["score"] is not None, result["reason"]
    assert survivors(marker) == [] and engine_leftovers(tmp_path) == []
    # Nothing outside the task folder was written, on the host or in the image.
    assert not repo_probe.exists() and not (tiny_model / "pwned").exists()
    assert (task / "outside.txt").read_text().count("Read-only file system") == 3
    # Variables not granted never reached the agent.
    env = (task / "env.txt").read_text()
    assert f"HOME={task}" in env and "not-given-value" not in env and "PTB_TEST_NOT_GIVEN" not in env
    # The shared cache is untouched; the agent's own writes are kept apart for inspection.
    assert "Permission denied" in (task / "hf.txt").read_text()  # the shared files stay read-only
    assert tree_digest(hf_cache) == before
    layer = result["_dir"] / "sandbox" / "hf-layer" / "upper"
    assert (layer / "models--org--new" / "blobs" / "b2").read_text() == "downloaded\n"
    net = (task / "net.txt").read_text()
    assert "Network is unreachable" in net and "connected" not in net
    info = json.loads((result["_dir"] / "sandbox" / "container.json").read_text())
    assert (info["timed_out"], info["cpus"], info["memory_gb"], info["network"]) == (True, 1, 3, False)


def spec_for(tmp_path: Path, command: list[str], **kw) -> SandboxSpec:
    task = tmp_path / "cell" / "task"
    (tmp_path / "cell" / "agent").mkdir(parents=True, exist_ok=True)
    task.mkdir(parents=True, exist_ok=True)
    defaults = dict(command=command, workdir=task, env={"HOME": str(task)}, budget_s=60, network=False,
                    stdout=tmp_path / "cell" / "agent" / "stdout.log",
                    stderr=tmp_path / "cell" / "agent" / "stderr.log")
    return SandboxSpec(**(defaults | kw))


def test_gpu_request_and_limits_in_the_container_config(tmp_path, engine, sandbox_image_tag):
    spec = spec_for(tmp_path, ["true"], gpus=("1",), cpus=1.5, memory_gb=2, pids_limit=256, network=False)
    uid, gid = agent_ids(spec.workdir)
    container = engine.containers.create(**container_config(spec, sandbox_image_tag, uid, gid, None))
    try:
        host = engine.api.inspect_container(container.id)["HostConfig"]
    finally:
        container.remove(force=True)
    request = host["DeviceRequests"][0]
    assert request["DeviceIDs"] == ["1"] and ["gpu", "compute", "utility"] in request["Capabilities"]
    assert (host["NanoCpus"], host["Memory"], host["MemorySwap"], host["PidsLimit"]) == (
        1_500_000_000, 2 * 2**30, 2 * 2**30, 256)
    assert host["ReadonlyRootfs"] and host["NetworkMode"] == "none" and host["CapDrop"] == ["ALL"]
    assert uid != 0


def test_orphan_past_its_deadline_is_removed_by_the_next_run(tmp_path, engine, sandbox_image_tag):
    orphan = engine.containers.run(sandbox_image_tag, ["sleep", "600"], detach=True,
                                   labels={"ptb.sandbox": "docker", "ptb.deadline": str(time.time() - 1)})
    run = DockerSandbox(sandbox_image_tag).run(spec_for(tmp_path, ["true"]))
    assert run.exit_code == 0 and orphan.id not in [c.id for c in engine.containers.list(all=True)]


def test_gpu_preflight_failure_is_infra_error_before_the_clock(tmp_path, engine, sandbox_image_tag):
    started = []
    spec = spec_for(tmp_path, ["touch", "ran"], gpus=("0",), on_start=started.append)
    with pytest.raises(InfraError, match="preflight"):
        DockerSandbox(sandbox_image_tag).run(spec)
    assert started == [] and not (spec.workdir / "ran").exists()
    with pytest.raises(InfraError, match="not found"):
        DockerSandbox("ptb-sandbox:does-not-exist").run(spec_for(tmp_path, ["true"]))
    assert engine_leftovers(tmp_path) == []


def test_limits_are_enforced(tmp_path, engine, sandbox_image_tag):
    script = """
        python -c "b = bytearray(400 * 2**20); print('allocated')" ; echo "memory exit $?"
        python -c "
        import subprocess
        procs = []
        try:
            for _ in range(40):
                procs.append(subprocess.Popen(['sleep', '30']))
        except OSError as e:
            print(e)
        print('forks', len(procs))"
        id -u; cat /proc/self/status | grep -i '^CapEff'
        python -m ptb.agents.reprompt -- echo "first prompt: {message}"  # ptb's code runs in the image's Python
    """
    spec = spec_for(tmp_path, ["bash", "-c", textwrap.dedent(script)], memory_gb=0.25, pids_limit=20)
    (spec.workdir / "prompt.md").write_text("train well")
    run = DockerSandbox(sandbox_image_tag).run(spec)
    out = spec.stdout.read_text()
    assert run.exit_code == 0 and not run.timed_out, out
    assert "memory exit 137" in out and "allocated" not in out  # killed by the memory limit
    forks = int(out.split("forks ")[1].split()[0])
    assert forks < 20 and "Resource temporarily unavailable" in out
    assert "first prompt: train well" in out
    assert "CapEff:\t0000000000000000" in out and f"\n{agent_ids(spec.workdir)[0]}\n" in out


def test_redactor_and_trace_formats():
    redact = traces.Redactor(["granted-secret-value"])
    line = "x granted-secret-value y AIza" + "A" * 35 + " hf_" + "b" * 34 + " ok"
    assert redact(line) == "x [REDACTED] y [REDACTED] [REDACTED] ok"
    codex = ['{"type":"item.completed","item":{"id":"i1","type":"command_execution","command":"ls",'
             '"aggregated_output":"a\\nb","exit_code":0}}',
             '{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"done"}}',
             '{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":0,"output_tokens":5}}']
    events = traces.normalise("codex-json", codex)
    assert [e["type"] for e in events] == ["tool_call", "tool_result", "message", "usage"]
    assert traces.summary("codex-json", events)["input_tokens"] == 10
    gemini = ['{"type":"init","session_id":"s","model":"gemini-x"}',
              '{"type":"tool_use","tool_name":"run_shell_command","tool_id":"t","parameters":{"command":"ls"}}',
              '{"type":"tool_result","tool_id":"t","status":"success","output":"a"}',
              '{"type":"message","role":"assistant","content":"hi","delta":true}',
              '{"type":"result","status":"success","stats":{"input_tokens":7,"output_tokens":3}}']
    assert [e["type"] for e in traces.normalise("gemini-stream-json", gemini)] == [
        "system", "tool_call", "tool_result", "message", "result"]
    opencode = ['{"type":"tool_use","timestamp":1768191337567,"part":{"tool":"bash","callID":"c",'
                '"state":{"input":{"command":"ls"},"output":"a"}}}',
                '{"type":"text","part":{"text":"hello"}}',
                '{"type":"step_finish","part":{"reason":"stop","cost":0.5,"tokens":{"input":9,"output":2}}}',
                'not json at all']
    events = traces.normalise("opencode-json", opencode)
    assert [e["type"] for e in events] == ["tool_call", "tool_result", "message", "usage", "text"]
    assert events[0]["t"] == pytest.approx(1768191337.567) and traces.summary("opencode-json", events)["cost_usd"] == 0.5


def test_doctor_reports_each_problem_with_its_fix(tmp_path, sandbox_image_tag, monkeypatch):
    grid = tmp_path / "grid.yaml"
    grid.write_text("experiment: x\nagents: [claude-code, codex@effort=low, zero-shot]\n"
                    "models: [tiny-qwen3]\nbenchmarks: [arith]\n")
    for name in ("CODEX_API_KEY", "OPENAI_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    res = ptb("doctor", grid, "--out", tmp_path, env={"ANTHROPIC_API_KEY": "present"})
    lines = res.stdout.splitlines()
    assert res.returncode == 1 and lines[-1] == "1 problem(s)", res.stdout
    assert any(line.startswith("ok   docker: engine") for line in lines)
    assert f"ok   sandbox image: {sandbox_image_tag}" in lines
    assert "ok   keys claude-code: set: ANTHROPIC_API_KEY" in lines
    failed = lines.index("FAIL keys codex@effort=low: set: none")
    assert "export one of CODEX_API_KEY, OPENAI_API_KEY" in lines[failed + 1]
    assert any(line.startswith("warn gpus: nvidia-smi not found") for line in lines)  # no GPU on this host


def test_lock_pins_every_dependency_within_its_range():
    """requirements.lock is the one environment: stale after a pyproject.toml change until
    `bash docker/lock.sh` is run again."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = dict(line.split("==") for line in sandbox_image.LOCK.read_text().splitlines() if "==" in line)
    lock = {canonicalize_name(name): version for name, version in lock.items()}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    extras = [line for lines in project["optional-dependencies"].values() for line in lines]
    for line in project["dependencies"] + extras + pyproject["tool"]["ptb"]["oracles"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is not in requirements.lock: run bash docker/lock.sh"
        assert req.specifier.contains(lock[name], prereleases=True), f"{line} vs lock {lock[name]}: run docker/lock.sh"
    assert lock["torch"] == "2.13.0"


def test_hidden_entries_of_the_shared_cache_are_not_seen(tmp_path, engine, sandbox_image_tag, hf_cache):
    """The benchmark's test data and the instruct model, cached on the host by ptb's own
    evaluation and identity check, are whited out of the agent's view of the shared cache."""
    for name in ("datasets--org--test-rows", "models--org--instruct"):
        (hf_cache / name / "blobs").mkdir(parents=True)
        (hf_cache / name / "blobs" / "b").write_text("answers")
    before = tree_digest(hf_cache)
    spec = spec_for(tmp_path, ["bash", "-c", 'ls "$HF_HUB_CACHE" > seen.txt; '
                               'cat "$HF_HUB_CACHE/datasets--org--test-rows/blobs/b" 2> cat.txt; true'],
                    hidden_cache=("datasets--org--test-rows", "models--org--instruct", "datasets--org--absent"))
    run = DockerSandbox(sandbox_image_tag).run(spec)
    assert run.exit_code == 0
    assert (spec.workdir / "seen.txt").read_text().split() == ["models--org--shared"]
    assert "No such file or directory" in (spec.workdir / "cat.txt").read_text()
    assert tree_digest(hf_cache) == before  # the shared cache itself is untouched
    info = json.loads((tmp_path / "cell" / "sandbox" / "container.json").read_text())
    assert info["hf_hidden"] == list(spec.hidden_cache)
