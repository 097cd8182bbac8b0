"""The benchmark registry: id -> Benchmark."""

from ptb.benchmarks import aime2025, arenahardwriting, arith, bfcl, gpqamain, gsm8k, healthbench, humaneval
from ptb.benchmarks.base import Benchmark, Sample, Score

BENCHMARKS: dict[str, Benchmark] = {
    b.id: b
    for b in (arith.BENCHMARK, arenahardwriting.BENCHMARK, healthbench.BENCHMARK, aime2025.BENCHMARK,
              bfcl.BENCHMARK, gpqamain.BENCHMARK, gsm8k.BENCHMARK, humaneval.BENCHMARK)
}

__all__ = ["BENCHMARKS", "Benchmark", "Sample", "Score"]
