"""The agent's evaluation, served from outside the sandbox: the test rows never enter it.

The agent's `evaluate.py` and its contamination tool read no test data. They send one
request over a Unix socket that ptb holds outside the sandbox (bound read-only into it at
its own path, as the audit's socket), and ptb runs the job on the host, with the cell's
own benchmark, engine, scoring rules and GPUs: `ptb eval` on the agent's model folder, or
the contamination scan of its files. The job's output comes back as it is printed: scores,
item numbers and file places, never a test item's text (`ptb eval` prints its summary
only; the scan prints item numbers).

    request  one JSON line:  {"op": "eval", "model": PATH, "limit": N}
                             {"op": "contamination", "benchmark": ID, "paths": [PATH, ...], "json": false}
    answer   JSON lines:     {"stdout": TEXT} | {"stderr": TEXT} ... then {"exit": CODE}
                             (an eval's last line also carries its "metrics", samples left out)

Paths are as the sandbox sees them, which is the host's path in both sandboxes (the task
folder is mounted at its own path). A path must resolve inside the task folder, and a
model folder may hold no link out of it; the given base model may be scored as well. Requests are served one at a time, in order; the
running job is killed when its client goes or when the agent's time ends. Every request is
recorded in `<cell>/sandbox/dev_eval.jsonl` and the jobs' output in `dev_eval.log`,
outside the agent's reach.

What the agent can still learn is what the reference's evaluate.py shows it: the score of
any model folder it writes, as often as it asks.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ptb.paths import agent_socket

SOCKET_ENV = "PTB_EVAL_SOCKET"
MAX_REQUEST = 1 << 16
REQUEST_TIMEOUT_S = 30  # to send the request line, once connected


class BadRequest(ValueError):
    pass


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)


def model_folder(value, task_dir: Path, given: tuple[Path, ...] = ()) -> Path:
    """The model folder a request names, checked: one of the `given` model folders, or a
    folder inside the task folder with no link out of it."""
    if not isinstance(value, str) or not value:
        raise BadRequest("no model folder given")
    path = Path(value) if os.path.isabs(value) else task_dir / value
    if any(path.resolve() == g.resolve() for g in given):
        return path.resolve()
    if not _inside(path, task_dir) or not path.resolve().is_dir():
        raise BadRequest(f"{value}: not a folder inside the task folder (nor the given model)")
    for f in path.rglob("*"):
        if f.is_symlink() and not _inside(f, task_dir):
            raise BadRequest(f"{f}: links outside the task folder")
    return path.resolve()


def scan_paths(values, task_dir: Path) -> list[Path]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise BadRequest("no files or folders given")
    out = []
    for v in values:
        path = Path(v) if os.path.isabs(v) else task_dir / v
        if not path.exists():
            raise BadRequest(f"{v}: no such file")
        if not _inside(path, task_dir):
            raise BadRequest(f"{v}: outside the task folder")
        out.append(path.resolve())
    return out


class DevService:
    """Serves evaluate.py's and the contamination tool's requests of one cell until closed.

    eval_args: `ptb eval`'s arguments for this cell (benchmark, engine, scoring rules), to
    which a request adds only the model folder and its --limit. env: the jobs' environment.
    models: the model folders ptb gave the agent, which it may score too (the base model).
    """

    def __init__(self, task_dir: Path, benchmark: str, eval_args: list[str], env: dict[str, str],
                 record: Path, log: Path, models: tuple[Path, ...] = ()):
        self.task_dir = task_dir.resolve()
        self.models = models
        self.benchmark, self.eval_args, self.env = benchmark, eval_args, env
        self.record, self.log = record, log
        record.parent.mkdir(parents=True, exist_ok=True)
        self.socket, self._sock = agent_socket("ptb-eval-", socket.SOCK_STREAM)
        self._dir = self.socket.parent
        self._sock.listen(8)
        self._stop = False
        self._job: subprocess.Popen | None = None
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def env_for_agent(self) -> dict[str, str]:
        return {SOCKET_ENV: str(self.socket)}

    def close(self) -> None:
        """Stop serving; a job still running is killed (the agent's time is over)."""
        self._stop = True
        job, conn = self._job, self._conn
        if job and job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        if conn is not None:  # a client that stopped reading blocks no send
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes accept(), however full its backlog
        except OSError:
            pass
        self._thread.join(timeout=30)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # shut down by close()
                return
            with conn:
                if self._stop:
                    return
                self._conn = conn
                try:
                    self._handle(conn)
                except OSError:  # the client went away mid-answer: its job was killed
                    pass
                finally:
                    self._conn = None

    def _read_request(self, conn: socket.socket) -> dict:
        conn.settimeout(REQUEST_TIMEOUT_S)
        data = b""
        while b"\n" not in data and len(data) < MAX_REQUEST:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        conn.settimeout(None)
        try:
            req = json.loads(data.split(b"\n", 1)[0])
        except ValueError:
            raise BadRequest("the request is not one JSON line") from None
        if not isinstance(req, dict):
            raise BadRequest("the request is not a JSON object")
        return req

    def command(self, req: dict, metrics: Path) -> list[str]:
        """The host command a request runs (BadRequest: it names no allowed job)."""
        op = req.get("op")
        if op == "eval":
            limit = req.get("limit")
            if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
                raise BadRequest(f"--limit {limit!r}: a positive integer")
            model = model_folder(req.get("model"), self.task_dir, self.models)
            # as the agent would name it from its folder (the jobs run there): final_model
            named = str(model.relative_to(self.task_dir)) if model.is_relative_to(self.task_dir) else str(model)
            cmd = [sys.executable, "-m", "ptb", "eval", "--model", named, *self.eval_args,
                   "--json-output-file", str(metrics)]
            return cmd + (["--limit", str(limit)] if limit else [])
        if op == "contamination":
            if req.get("benchmark", self.benchmark) != self.benchmark:
                raise BadRequest(f"--benchmark {req['benchmark']!r}: this run's benchmark is {self.benchmark}")
            cmd = [sys.executable, "-m", "ptb.integrity.contamination", "--benchmark", self.benchmark]
            return cmd + (["--json"] if req.get("json") else []) + [str(p) for p in scan_paths(req.get("paths"),
                                                                                                self.task_dir)]
        raise BadRequest(f"unknown request {op!r} (known: eval, contamination)")

    def _handle(self, conn: socket.socket) -> None:
        started = time.time()
        entry: dict = {"t": round(started, 3)}
        metrics = self._dir / "metrics.json"
        metrics.unlink(missing_ok=True)
        try:
            req = self._read_request(conn)
            entry |= {k: req.get(k) for k in ("op", "model", "limit", "paths") if k in req}
            cmd = self.command(req, metrics)
        except (BadRequest, OSError) as e:
            entry |= {"exit": 2, "error": str(e)[:300]}
            self._write_record(entry)
            _send(conn, {"stderr": f"evaluation service: {e}\n"}, {"exit": 2})
            return
        code = self._run(cmd, conn)
        last: dict = {"exit": code}
        if req["op"] == "eval" and code == 0 and metrics.is_file():
            summary = {k: v for k, v in json.loads(metrics.read_text()).items() if k != "samples"}
            last["metrics"] = summary
            entry["score"] = summary.get("score")
        entry |= {"exit": code, "seconds": round(time.time() - started, 2)}
        self._write_record(entry)
        _send(conn, last)

    def _run(self, cmd: list[str], conn: socket.socket) -> int:
        """Run the job, its stdout and stderr sent to the client as they come; killed if the client goes."""
        with open(self.log, "ab") as log:
            log.write(f"\n$ {' '.join(cmd)}\n".encode())
            job = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=self.env, cwd=self.task_dir, start_new_session=True)
            self._job = job
            if self._stop:  # closed while this job was starting
                os.killpg(job.pid, signal.SIGKILL)
            sel = selectors.DefaultSelector()
            sel.register(job.stdout, selectors.EVENT_READ, "stdout")
            sel.register(job.stderr, selectors.EVENT_READ, "stderr")
            try:
                while sel.get_map():
                    for key, _ in sel.select():
                        chunk = os.read(key.fileobj.fileno(), 1 << 16)
                        if not chunk:
                            sel.unregister(key.fileobj)
                            continue
                        log.write(chunk)
                        _send(conn, {key.data: chunk.decode(errors="replace")})
            except OSError:
                os.killpg(job.pid, signal.SIGKILL)
                raise
            finally:
                sel.close()
                code = job.wait()
                self._job = None
        return code

    def _write_record(self, entry: dict) -> None:
        with open(self.record, "a") as f:
            f.write(json.dumps(entry) + "\n")


def _send(conn: socket.socket, *messages: dict) -> None:
    conn.sendall(b"".join(json.dumps(m).encode() + b"\n" for m in messages))


def request(req: dict, json_output_file: str | None = None) -> int:
    """Send one request to the cell's service (inside the sandbox) and relay its answer:
    the job's output to this process's stdout and stderr; returns the job's exit code."""
    path = os.environ.get(SOCKET_ENV)
    if not path:
        print(f"evaluation service: {SOCKET_ENV} is not set (this runs inside a ptb sandbox)", file=sys.stderr)
        return 2
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError as e:
            print(f"evaluation service: cannot reach {path}: {e}", file=sys.stderr)
            return 2
        s.sendall(json.dumps(req).encode() + b"\n")
        with s.makefile("rb") as answer:
            for line in answer:
                msg = json.loads(line)
                for stream in ("stdout", "stderr"):
                    if stream in msg:
                        out = getattr(sys, stream)
                        out.write(msg[stream])
                        out.flush()
                if "exit" in msg:
                    if json_output_file and "metrics" in msg:
                        Path(json_output_file).write_text(json.dumps(msg["metrics"], indent=2) + "\n")
                    return msg["exit"]
    print("evaluation service: the answer ended early (the run's time is over?)", file=sys.stderr)
    return 1
