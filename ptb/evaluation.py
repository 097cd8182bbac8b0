"""Evaluate a model folder on a benchmark, or score recorded outputs: per-sample records
(prompt, output, extracted answer, target, score) plus the mean and its standard error."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from ptb import engines
from ptb.benchmarks import BENCHMARKS, Benchmark, Sample


@dataclass(frozen=True)
class EvalResult:
    benchmark: str
    score: float  # mean over samples, 0..1
    stderr: float  # standard error of the mean
    n: int
    records: list[dict]

    def summary(self, **extra) -> dict:
        samples = [{"index": r["index"], "score": r["score"]} for r in self.records]
        return {"benchmark": self.benchmark, "score": self.score, "stderr": self.stderr, "n": self.n,
                **extra, "samples": samples}

    def write(self, json_file: Path | None, samples_file: Path | None, **extra) -> dict:
        summary = self.summary(**extra)
        if samples_file:
            with open(samples_file, "w") as f:
                for r in self.records:
                    f.write(json.dumps(r) + "\n")
        if json_file:
            Path(json_file).write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def benchmark(benchmark_id: str) -> Benchmark:
    if benchmark_id not in BENCHMARKS:
        raise ValueError(f"unknown benchmark '{benchmark_id}' (known: {', '.join(BENCHMARKS)})")
    return BENCHMARKS[benchmark_id]


def samples_for(bench: Benchmark, rows: list[dict], limit: int | None = None) -> list[Sample]:
    rows = rows[:limit] if limit else rows
    return [bench.to_sample(row, i) for i, row in enumerate(rows)]


def score_outputs(bench: Benchmark, samples: list[Sample], outputs: list[str]) -> EvalResult:
    records = []
    for sample, output in zip(samples, outputs, strict=True):
        s = bench.score(sample, output)
        if not 0.0 <= s.value <= 1.0:
            raise ValueError(f"{bench.id}: scorer returned {s.value} for sample {sample.index}, outside 0..1")
        records.append({"index": sample.index, "score": s.value, "answer": s.answer, "target": sample.target,
                        "explanation": s.explanation, "output": output, "messages": sample.messages})
    values = [r["score"] for r in records]
    n = len(values)
    mean = sum(values) / n if n else 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return EvalResult(bench.id, mean, math.sqrt(var / n) if n else 0.0, n, records)


def evaluate(model_dir: Path, benchmark_id: str, *, limit: int | None = None, engine: engines.Engine = "auto",
             max_tokens: int | None = None, seed: int = 0, shared_gpu: bool = False) -> tuple[EvalResult, dict]:
    bench = benchmark(benchmark_id)
    samples = samples_for(bench, bench.load(bench.test_split), limit)
    max_tokens = max_tokens or bench.max_tokens[0]
    started = time.monotonic()
    outputs = engines.generate(Path(model_dir), samples, engine=engine, max_tokens=max_tokens, seed=seed,
                               shared_gpu=shared_gpu)
    meta = {"engine": engines.pick(engine), "max_tokens": max_tokens, "seconds": round(time.monotonic() - started, 2)}
    return score_outputs(bench, samples, outputs), meta
