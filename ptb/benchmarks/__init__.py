"""The benchmark registry: id -> Benchmark."""

from ptb.benchmarks import arith
from ptb.benchmarks.base import Benchmark, Sample, Score

BENCHMARKS: dict[str, Benchmark] = {
    b.id: b
    for b in (arith.BENCHMARK,)
}

__all__ = ["BENCHMARKS", "Benchmark", "Sample", "Score"]
