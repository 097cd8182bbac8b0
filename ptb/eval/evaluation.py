"""Evaluate a model folder on a benchmark, or score recorded outputs: per-sample records
(prompt, output, extracted answer, target, score) plus the mean and its standard error."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ptb.eval import engines, judge, protocol
from ptb.benchmarks import BENCHMARKS, Benchmark, Sample
from ptb.errors import ConfigError, EvalFailed
from ptb.eval.protocol import Protocol


@dataclass(frozen=True)
class EvalResult:
    benchmark: str
    score: float  # mean over samples, 0..1
    stderr: float  # standard error of the mean
    n: int  # samples scored
    records: list[dict]
    metrics: dict = field(default_factory=dict)  # e.g. the judge's calls and failures

    def summary(self, **extra) -> dict:
        by_index: dict[int, list[float]] = {}  # several records per index when seeds were averaged
        for r in self.records:
            if r["score"] is not None:
                by_index.setdefault(r["index"], []).append(r["score"])
        samples = [{"index": i, "score": sum(v) / len(v)} for i, v in by_index.items()]
        unscored = sorted({r["index"] for r in self.records if r["score"] is None})
        return {"benchmark": self.benchmark, "score": self.score, "stderr": self.stderr, "n": self.n,
                **({"unscored": unscored} if unscored else {}), **self.metrics, **extra, "samples": samples}

    def write(self, json_file: Path | None, samples_file: Path | None, **extra) -> dict:
        summary = self.summary(**extra)
        if samples_file:
            with open(samples_file, "w") as f:
                for r in self.records:
                    f.write(json.dumps(r) + "\n")
        if json_file:
            Path(json_file).write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def benchmark(benchmark_id: str, under: Protocol | None = None) -> Benchmark:
    """The benchmark, as the protocol `under` has it (its release's rules, its options)."""
    if benchmark_id not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark '{benchmark_id}' (known: {', '.join(BENCHMARKS)})")
    bench = BENCHMARKS[benchmark_id]
    return bench.under(under) if under and bench.under else bench


def samples_for(bench: Benchmark, rows: list[dict], limit: int | None = None) -> list[Sample]:
    rows = rows[:limit] if limit else rows
    return [bench.to_sample(row, i) for i, row in enumerate(rows)]


def score_outputs(bench: Benchmark, samples: list[Sample], outputs: list[str],
                  under: Protocol = Protocol()) -> EvalResult:
    """Score raw outputs; the scorer sees what the reference's saw (`Benchmark.visible`)
    unless the option `raw-output` is on."""
    seen = outputs if under.has("raw-output") or bench.visible is None else [bench.visible(o) for o in outputs]
    if bench.score_batch:
        batch = bench.score_batch(samples, seen)
        scores, metrics = batch.scores, batch.metrics
    else:
        scores, metrics = [bench.score(s, o) for s, o in zip(samples, seen, strict=True)], {}
    # A benchmark with its own aggregate (HealthBench) may have samples below 0; its score is checked below.
    low = -math.inf if bench.aggregate else 0.0
    records = []
    for sample, output, s in zip(samples, outputs, scores, strict=True):
        if s.value is not None and not low <= s.value <= 1.0:
            raise RuntimeError(f"{bench.id}: scorer returned {s.value} for sample {sample.index}, outside 0..1")
        records.append({"index": sample.index, "score": s.value, "answer": s.answer, "target": sample.target,
                        "explanation": s.explanation, "output": output, "messages": sample.messages})
    scored = [s for s in scores if s.value is not None]
    if samples and not scored:
        raise EvalFailed(f"{bench.id}: no sample could be scored ({json.dumps(metrics)})")
    if bench.aggregate and scored:
        mean, stderr = bench.aggregate(scored)
    else:
        mean, stderr = _mean_stderr([s.value for s in scored])
    if not 0.0 <= mean <= 1.0:
        raise RuntimeError(f"{bench.id}: aggregate score {mean} is outside 0..1")
    return EvalResult(bench.id, mean, stderr, len(scored), records, metrics)


def _mean_stderr(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n if n else 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n) if n else 0.0


def decoding(model_dir: Path, bench: Benchmark, under: Protocol, max_tokens: int | None = None) -> dict:
    """The sampling parameters the evaluation of this model on this benchmark uses."""
    return protocol.sampling(protocol.generation_config(model_dir), max_tokens or bench.max_tokens[0], under,
                             reference=bench.reference)


def evaluate(model_dir: Path, benchmark_id: str, *, limit: int | None = None, engine: engines.Engine = "auto",
             max_tokens: int | None = None, seed: int = 0, shared_gpu: bool = False,
             templates_dir: Path | None = None, under: Protocol = Protocol()) -> tuple[EvalResult, dict]:
    under = under.drawn()
    bench = benchmark(benchmark_id, under)
    if bench.needs_judge:
        judge.from_env()  # no judge configured: fail now, not after generating
    samples = samples_for(bench, bench.load(bench.test_split), limit)
    choice = engines.pick(engine)
    sampling = decoding(model_dir, bench, under, max_tokens)
    seeds = [seed + k for k in range(under.seeds(bench.sampled_seeds, sampling))]
    started = time.monotonic()
    results = [score_outputs(bench, samples, engines.generate(Path(model_dir), samples, engine=choice.engine,
                                                              sampling=sampling, seed=s, shared_gpu=shared_gpu,
                                                              template=bench.chat_template,
                                                              templates_dir=templates_dir),
                             under)
               for s in seeds]
    import transformers

    meta = {"engine": choice.engine, "engine_reason": choice.reason, "transformers": transformers.__version__,
            "max_tokens": sampling["max_tokens"], "seeds": seeds, **under.record(), "sampling": sampling,
            "seconds": round(time.monotonic() - started, 2)}
    return (results[0] if len(results) == 1 else _average_seeds(results, seeds)), meta


def _average_seeds(results: list[EvalResult], seeds: list[int]) -> EvalResult:
    """Mean of the per-seed scores; its standard error from the per-seed ones (independent seeds)."""
    k = len(results)
    records = [r | {"seed": s} for res, s in zip(results, seeds) for r in res.records]
    score = sum(r.score for r in results) / k
    stderr = math.sqrt(sum(r.stderr**2 for r in results)) / k
    metrics = {"seed_scores": [r.score for r in results]}
    return EvalResult(results[0].benchmark, score, stderr, results[0].n, records, metrics)
