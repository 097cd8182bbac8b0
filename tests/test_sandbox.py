"""The local sandbox (real bubblewrap): deadline kills the whole process tree, writes
stay in the task folder, only granted variables are visible, the network can be cut."""

from __future__ import annotations

import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, survivors
from ptb.sandbox import SandboxSpec
from ptb.sandbox.local import LocalSandbox


def spec(tmp_path: Path, script: str, budget_s: float = 20, **kw) -> SandboxSpec:
    task = tmp_path / "exp" / "cell" / "task"
    task.mkdir(parents=True, exist_ok=True)
    return SandboxSpec(command=["bash", "-c", script], workdir=task, env=kw.pop("env", {"PATH": "/usr/bin:/bin"}),
                       budget_s=budget_s, network=kw.pop("network", False), stdout=tmp_path / "out.log",
                       stderr=tmp_path / "err.log", **kw)


def test_deadline_kills_setsid_and_double_forked_children(tmp_path):
    marker = f"sleep 31{time.time_ns() % 10**6}"
    script = f"""
        setsid {marker}1 &
        ( ( {marker}2 & ) & )
        nohup setsid bash -c '{marker}3' >/dev/null 2>&1 &
        {marker}4
    """
    started = time.monotonic()
    run = LocalSandbox().run(spec(tmp_path, script, budget_s=3))
    assert run.timed_out and run.exit_code is None
    assert 2.5 < run.seconds < 8 and time.monotonic() - started < 10
    time.sleep(0.5)
    assert survivors(marker) == []


def test_clean_exit_leaves_no_background_process(tmp_path):
    marker = f"sleep 32{time.time_ns() % 10**6}"
    run = LocalSandbox().run(spec(tmp_path, f"setsid {marker} & disown; exit 0"))
    assert run.exit_code == 0 and not run.timed_out
    time.sleep(0.5)
    assert survivors(marker) == []


def test_writes_stay_in_the_task_folder(tmp_path):
    outside = ROOT / "outputs" / f".sandbox-probe-{time.time_ns()}"  # on disk, not under /tmp
    sibling = tmp_path / "exp" / "other-cell"
    sibling.mkdir(parents=True)
    (sibling / "result.json").write_text("{}")
    s = spec(tmp_path, f"""
        echo inside > inside.txt
        echo x > {outside} 2>/dev/null && echo WROTE-OUTSIDE
        echo x > {Path.home()}/.ptb-test 2>/dev/null && echo WROTE-HOME
        ls {sibling} 2>/dev/null | grep -q result.json && echo SAW-SIBLING
        echo x > /tmp/scratch && echo TMP-OK
    """, hidden=(tmp_path / "exp",))
    run = LocalSandbox().run(s)
    out = s.stdout.read_text()
    assert run.exit_code == 0
    assert (s.workdir / "inside.txt").read_text() == "inside\n"
    assert not outside.exists() and not (Path.home() / ".ptb-test").exists()
    assert "WROTE" not in out and "SAW-SIBLING" not in out and "TMP-OK" in out


def test_only_granted_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_TEST_SECRET", "hunter2")
    s = spec(tmp_path, "env; echo \"secret=[$PTB_TEST_SECRET]\"", env={"PATH": "/usr/bin:/bin", "GRANTED": "yes"})
    LocalSandbox().run(s)
    out = s.stdout.read_text()
    assert "GRANTED=yes" in out and "secret=[]" in out and "hunter2" not in out


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    threading.Thread(target=lambda: srv.accept(), daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


@pytest.mark.parametrize("network", [False, True])
def test_network_can_be_cut(tmp_path, listener, network):
    s = spec(tmp_path, f"exec 3<>/dev/tcp/127.0.0.1/{listener} && echo CONNECTED", network=network)
    LocalSandbox().run(s)
    assert ("CONNECTED" in s.stdout.read_text()) == network


def test_timer_written_when_the_agent_starts(tmp_path):
    deadlines = []
    before = time.time()
    LocalSandbox().run(spec(tmp_path, "true", budget_s=100, on_start=deadlines.append))
    assert len(deadlines) == 1 and before + 100 <= deadlines[0] <= time.time() + 100


def test_unprivileged_agent_with_cgroup_limits(tmp_path):
    import json

    from ptb.sandbox import cgroups

    if not cgroups.available()[0]:
        pytest.skip("this host does not let ptb create cgroups (see `ptb doctor`)")
    script = """
        id -u; grep '^CapEff' /proc/self/status; tr '\\0' ' ' < /proc/1/cmdline; echo
        head -c 300000000 /dev/zero | python3 -c "import sys; b = sys.stdin.buffer.read(); print('read', len(b))"
        echo "memory exit $?"
        python3 -c "
        import subprocess
        procs = []
        try:
            for _ in range(40):
                procs.append(subprocess.Popen(['sleep', '5']))
        except OSError:
            pass
        print('forks', len(procs))"
    """
    s = spec(tmp_path, textwrap.dedent(script), env={"PATH": "/usr/bin:/bin", "GRANTED": "granted-value-9"},
             memory_gb=0.2, pids_limit=20, cpus=1)
    run = LocalSandbox().run(s)
    out = s.stdout.read_text()
    assert run.exit_code == 0, out + s.stderr.read_text()
    assert out.splitlines()[0] != "0" and "CapEff:\t0000000000000000" in out
    assert "granted-value-9" not in out.splitlines()[2]  # not in bwrap's argv
    assert "memory exit 137" in out and "read 300000000" not in out  # killed by the memory limit
    assert int(out.split("forks ")[1].split()[0]) < 20
    record = json.loads((s.workdir.parent / "sandbox" / "sandbox.json").read_text())
    assert record["cgroup_limits"]["pids.max"] == "20" and record["limits_not_set"] == []
