"""A scripted model endpoint: what the CLI agents talk to in `ptb rehearse`, instead of a paid API.

It speaks, with streaming (server-sent events) and without, the APIs the four CLIs use:
Anthropic Messages (`POST /v1/messages`: claude, opencode's anthropic provider), OpenAI
Responses (`POST /v1/responses`: codex), OpenAI Chat Completions (`POST /v1/chat/completions`)
and Gemini (`POST /v1beta/models/M:generateContent` / `:streamGenerateContent`: gemini-cli).

Every conversation plays the same fixed script, `SCRIPT`: the model runs `bash timer.sh`,
then writes and runs a tiny training script that saves final_model/, then `python
evaluate.py --limit 2`, then says it is done. The step is the number of tool results the
request already holds, so retries and re-sent histories replay the same step. Each step's
usage (fresh input, cached input, output tokens) is fixed, so a run's totals are known
exactly (`expected_usage`). Requests that offer no shell tool (a CLI's side requests:
titles, summaries) get a short text answer with zero usage.

Every request is recorded (`Endpoint.requests`, and one JSON line per request in `log`):
the API, the model, the step, whether it was part of the script and whether it carried the
expected key; never the key itself.

    python -m ptb.agents.endpoint [--host 127.0.0.1] [--port 0] [--log FILE] [--key KEY]
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class Step:
    say: str  # the text block before the tool call (or the final answer)
    command: str | None  # the shell command the model calls; None: the last step
    input_tokens: int  # fresh (uncached) input
    cached_tokens: int  # input read from the cache
    output_tokens: int


TRAIN_PY = """\
# A few optimiser steps on the base model, then save it with its tokenizer.
import sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
base = sys.argv[1]
tok = AutoTokenizer.from_pretrained(base)
model = AutoModelForCausalLM.from_pretrained(base)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
batch = tok(["What is 2 + 3? #### 5", "What is 10 + 7? #### 17"], return_tensors="pt", padding=True)
for step in range(3):
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    opt.step()
    opt.zero_grad()
    print(f"step {step} loss {loss.item():.3f}")
model.save_pretrained("final_model")
tok.save_pretrained("final_model")
print("saved final_model")
"""

SCRIPT = (
    Step("Let me check the time left.", "bash timer.sh", 1000, 0, 30),
    Step("I will fine-tune the base model for a few steps.",
         f"cat > train.py <<'EOF'\n{TRAIN_PY}EOF\npython train.py {{base_model}}", 2000, 800, 60),
    Step("Now a quick evaluation.", "python evaluate.py --model-path final_model --limit 2", 3000, 1600, 90),
    Step("Done: final_model/ holds the fine-tuned model.", None, 4000, 2400, 20),
)
SHELL_TOOLS = ("Bash", "bash", "run_shell_command", "shell", "exec_command", "local_shell", "shell_command")
BASE_MODEL = re.compile(r"ready to load: `([^`]+)`")


def expected_usage(script: tuple[Step, ...] = SCRIPT) -> dict:
    """The totals one full run of the script implies."""
    return {"turns": len(script), "tool_calls": sum(s.command is not None for s in script),
            "evaluate_calls": sum("evaluate.py" in (s.command or "") for s in script),
            "training_runs": sum("train.py" in (s.command or "") for s in script),
            "input_tokens": sum(s.input_tokens for s in script),
            "cached_input_tokens": sum(s.cached_tokens for s in script),
            "output_tokens": sum(s.output_tokens for s in script)}


def _text_of(body) -> str:
    return json.dumps(body, ensure_ascii=False)


@dataclass(frozen=True)
class Reply:
    """What the model says this time: text, then maybe one shell call, and the usage."""

    text: str
    tool: str | None  # the shell tool's name as the request offered it
    arguments: dict | None
    call_id: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    step: int | None  # None: a side request outside the script


def _arguments(tool: str, command: str) -> dict:
    if tool in ("shell", "local_shell"):
        return {"command": ["bash", "-c", command]}
    if tool == "exec_command":  # a short yield: a run that outlasts it is waited for by a poll
        return {"cmd": command, "yield_time_ms": 250 if "python" in command else 10000}
    if tool == "run_shell_command":
        return {"command": command, "description": "scripted step"}
    return {"command": command, "description": "scripted step"}


def plan(tools: list[str], results: int, body_text: str) -> Reply:
    """The reply to a request offering `tools` and already holding `results` tool results."""
    shell = next((t for t in SHELL_TOOLS if t in tools), None)
    if shell is None:
        return Reply("ok", None, None, "", 0, 0, 0, None)
    k = min(results, len(SCRIPT) - 1)
    s = SCRIPT[k]
    if s.command is None:
        return Reply(s.say, None, None, "", s.input_tokens, s.cached_tokens, s.output_tokens, k)
    base = BASE_MODEL.search(body_text)
    command = s.command.replace("{base_model}", base.group(1) if base else "BASE_MODEL_NOT_IN_PROMPT")
    return Reply(s.say, shell, _arguments(shell, command), f"call_{k}", s.input_tokens, s.cached_tokens,
                 s.output_tokens, k)


# --- one module-level function per API: (request body) -> (reply, events or a JSON body) ---

def anthropic(body: dict) -> tuple[Reply, list[tuple[str, dict]], dict]:
    tools = [t.get("name", "") for t in body.get("tools") or []]
    results = sum(1 for m in body.get("messages", []) if isinstance(m.get("content"), list)
                  for b in m["content"] if b.get("type") == "tool_result")
    r = plan(tools, results, _text_of(body.get("messages", [])))
    model = body.get("model", "")
    content = [{"type": "text", "text": r.text}]
    if r.tool:
        content.append({"type": "tool_use", "id": f"toolu_{r.call_id}", "name": r.tool, "input": r.arguments})
    usage = {"input_tokens": r.input_tokens, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": r.cached_tokens, "output_tokens": r.output_tokens}
    stop = "tool_use" if r.tool else "end_turn"
    message = {"id": f"msg_{time.time_ns()}", "type": "message", "role": "assistant", "model": model,
               "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}
    events = [("message_start", {"type": "message_start", "message": {
        **message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}})]
    for i, block in enumerate(content):
        if block["type"] == "text":
            events += [("content_block_start", {"type": "content_block_start", "index": i,
                                                "content_block": {"type": "text", "text": ""}}),
                       ("content_block_delta", {"type": "content_block_delta", "index": i,
                                                "delta": {"type": "text_delta", "text": block["text"]}})]
        else:
            events += [("content_block_start", {"type": "content_block_start", "index": i,
                                                "content_block": {**block, "input": {}}}),
                       ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                           "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                  "usage": {"output_tokens": r.output_tokens}}),
               ("message_stop", {"type": "message_stop"})]
    return r, events, message


RUNNING = re.compile(r"Process running with session ID (\d+)")


def responses(body: dict) -> tuple[Reply, list[tuple[str, dict]], dict]:
    tools = [t.get("name") or t.get("type", "") for t in body.get("tools") or []]
    items = body.get("input") if isinstance(body.get("input"), list) else []
    outputs = [str(it.get("output", "")) for it in items if it.get("type", "").endswith("call_output")]
    # codex's exec_command returns after yield_time_ms with the process still running; the
    # model then waits for it with write_stdin (a poll: no step of the script, no usage).
    running = RUNNING.search(outputs[-1]) if outputs else None
    if running and "write_stdin" in tools:
        r = Reply("", "write_stdin", {"session_id": int(running.group(1)), "chars": "", "yield_time_ms": 300000},
                  f"poll_{len(outputs)}", 0, 0, 0, None)
    else:
        r = plan(tools, sum(not RUNNING.search(o) for o in outputs), _text_of(items))
    rid = f"resp_{time.time_ns()}"
    output = [{"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": r.text, "annotations": []}]}] if r.text else []
    if r.tool == "local_shell":
        output.append({"type": "local_shell_call", "id": f"lsh_{r.call_id}", "call_id": r.call_id,
                       "status": "completed", "action": {"type": "exec", **r.arguments}})
    elif r.tool:
        output.append({"type": "function_call", "id": f"fc_{r.call_id}", "call_id": r.call_id, "name": r.tool,
                       "arguments": json.dumps(r.arguments), "status": "completed"})
    usage = {"input_tokens": r.input_tokens + r.cached_tokens,
             "input_tokens_details": {"cached_tokens": r.cached_tokens},
             "output_tokens": r.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": r.input_tokens + r.cached_tokens + r.output_tokens}
    response = {"id": rid, "object": "response", "created_at": int(time.time()), "status": "completed",
                "model": body.get("model", ""), "output": output, "usage": usage}
    events = [("response.created", {"type": "response.created", "response": {**response, "status": "in_progress",
                                                                               "output": [], "usage": None}})]
    for i, item in enumerate(output):
        events.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": i,
                                                      "item": {**item, "status": "in_progress"}}))
        if item["type"] == "message":
            events.append(("response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"],
                                                          "output_index": i, "content_index": 0, "delta": r.text}))
        events.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": i,
                                                     "item": item}))
    events.append(("response.completed", {"type": "response.completed", "response": response}))
    return r, events, response


def chat(body: dict) -> tuple[Reply, list[tuple[str, dict]], dict]:
    tools = [(t.get("function") or {}).get("name", "") for t in body.get("tools") or []]
    results = sum(1 for m in body.get("messages", []) if m.get("role") == "tool")
    r = plan(tools, results, _text_of(body.get("messages", [])))
    cid = f"chatcmpl-{time.time_ns()}"
    calls = [{"index": 0, "id": r.call_id, "type": "function",
              "function": {"name": r.tool, "arguments": json.dumps(r.arguments)}}] if r.tool else []
    usage = {"prompt_tokens": r.input_tokens + r.cached_tokens, "completion_tokens": r.output_tokens,
             "total_tokens": r.input_tokens + r.cached_tokens + r.output_tokens,
             "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
             "completion_tokens_details": {"reasoning_tokens": 0}}
    finish = "tool_calls" if calls else "stop"
    head = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": body.get("model", "")}
    message = {"role": "assistant", "content": r.text, **({"tool_calls": calls} if calls else {})}
    whole = {**head, "object": "chat.completion",
             "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
    events = [("", {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": r.text}}]})]
    if calls:
        events.append(("", {**head, "choices": [{"index": 0, "delta": {"tool_calls": calls}}]}))
    events += [("", {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
               ("", {**head, "choices": [], "usage": usage})]
    return r, events, whole


def gemini(body: dict) -> tuple[Reply, list[tuple[str, dict]], dict]:
    tools = [d.get("name", "") for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    contents = body.get("contents", [])
    results = sum(1 for c in contents for p in c.get("parts") or [] if "functionResponse" in p)
    r = plan(tools, results, _text_of(contents))
    parts = [{"text": r.text}]
    if r.tool:
        parts.append({"functionCall": {"name": r.tool, "args": r.arguments}})
    usage = {"promptTokenCount": r.input_tokens + r.cached_tokens, "cachedContentTokenCount": r.cached_tokens,
             "candidatesTokenCount": r.output_tokens,
             "totalTokenCount": r.input_tokens + r.cached_tokens + r.output_tokens}
    whole = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
             "usageMetadata": usage, "modelVersion": "scripted"}
    return r, [("", whole)], whole


ROUTES = {"/v1/messages": ("anthropic", anthropic), "/v1/responses": ("responses", responses),
          "/v1/chat/completions": ("chat", chat)}


class Endpoint:
    """The server, on `host`:`port` (0: any free port) in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log: Path | None = None, key: str | None = None):
        self.key, self.log, self.requests = key, log, []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # the request log is ours
                pass

            def do_GET(self) -> None:  # model lists, health checks
                endpoint._record(self, "get", None)
                self._json(200, {"object": "list", "data": [], "models": []})

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    return self._json(400, {"error": {"message": "body is not JSON"}})
                path = self.path.split("?")[0].removeprefix("/api")
                path = path if path.startswith("/v1") else "/v1" + path
                if path.endswith("/count_tokens") or path.endswith(":countTokens"):
                    endpoint._record(self, "count_tokens", None)
                    return self._json(200, {"input_tokens": 1000, "totalTokens": 1000})
                if ":generateContent" in path or ":streamGenerateContent" in path:
                    api, answer, stream = "gemini", gemini, ":streamGenerateContent" in path
                elif path in ROUTES:
                    (api, answer), stream = ROUTES[path], bool(body.get("stream"))
                else:
                    endpoint._record(self, "unknown", None)
                    return self._json(404, {"error": {"message": f"no such route {self.path}"}})
                reply, events, whole = answer(body)
                endpoint._record(self, api, reply, body.get("model") or path.split("/models/")[-1].split(":")[0])
                if not stream:
                    return self._json(200, whole)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in events:
                    self.wfile.write((f"event: {name}\n" if name else "").encode()
                                     + f"data: {json.dumps(data)}\n\n".encode())
                if api == "chat":
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _json(self, code: int, data: dict) -> None:
                out = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _record(self, handler: BaseHTTPRequestHandler, api: str, reply: Reply | None, model: str = "") -> None:
        headers = handler.headers
        presented = [headers.get("x-api-key"), headers.get("x-goog-api-key"),
                     (headers.get("authorization") or "").removeprefix("Bearer ").strip() or None]
        query_key = re.search(r"[?&]key=([^&]+)", handler.path)
        presented.append(query_key.group(1) if query_key else None)
        entry = {"t": round(time.time(), 3), "api": api, "path": handler.path.split("?")[0], "model": model,
                 "step": None if reply is None else reply.step,
                 "tool_call": None if reply is None else reply.tool,
                 "key_ok": None if self.key is None else self.key in presented,
                 "user_agent": (headers.get("user-agent") or "")[:80]}
        with self._lock:
            self.requests.append(entry)
            if self.log:
                with open(self.log, "a") as f:
                    f.write(json.dumps(entry) + "\n")

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ptb.agents.endpoint", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", type=Path, default=None, help="append one JSON line per request")
    p.add_argument("--key", default=None, help="the API key the CLIs should present (recorded as key_ok)")
    a = p.parse_args(argv)
    with Endpoint(a.host, a.port, a.log, a.key) as ep:
        print(f"scripted endpoint at {ep.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
