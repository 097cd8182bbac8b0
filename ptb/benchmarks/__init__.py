"""The benchmark registry: id -> Benchmark. Every loader passes through `sealed.check`
(no test rows inside the sandbox), whether called as `BENCHMARKS[id].load` or as the
module's own `load`."""

import dataclasses

from ptb.benchmarks import aime2025, arenahardwriting, arith, bfcl, gpqamain, gsm8k, healthbench, humaneval, sealed
from ptb.benchmarks.base import Benchmark, Sample, Score


def _sealed(bench: Benchmark):
    load = bench.load

    def sealed_load(split: str) -> list[dict]:
        sealed.check(bench.id, split, bench.test_split)
        return load(split)
    return sealed_load


BENCHMARKS: dict[str, Benchmark] = {}
for _module in (arith, arenahardwriting, healthbench, aime2025, bfcl, gpqamain, gsm8k, humaneval):
    _module.load = _sealed(_module.BENCHMARK)  # the module's own callers (few-shot, train_pairs) pass too
    _module.BENCHMARK = dataclasses.replace(_module.BENCHMARK, load=_module.load)
    BENCHMARKS[_module.BENCHMARK.id] = _module.BENCHMARK

__all__ = ["BENCHMARKS", "Benchmark", "Sample", "Score"]
