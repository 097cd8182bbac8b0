"""The benchmark registry: id -> Benchmark, found by `discover`: every module of this package
that defines `BENCHMARK` (a new benchmark is one file here). Every loader passes through
`sealed.check` (no test rows inside the sandbox), whether called as `BENCHMARKS[id].load` or as
the module's own `load`."""

import dataclasses
import importlib
import pkgutil

from ptb.benchmarks import sealed
from ptb.benchmarks.base import Benchmark, Sample, Score


def _sealed(bench: Benchmark):
    load = bench.load

    def sealed_load(split: str) -> list[dict]:
        sealed.check(bench.id, split, bench.test_split)
        return load(split)
    return sealed_load


BENCHMARKS: dict[str, Benchmark] = {}
_REGISTERED: set[str] = set()  # the modules whose benchmark is in BENCHMARKS


def discover() -> None:
    """Register the benchmark of every module on this package's path not registered yet, by id."""
    for found in pkgutil.iter_modules(__path__, f"{__name__}."):
        module = importlib.import_module(found.name)
        if found.name in _REGISTERED or not isinstance(getattr(module, "BENCHMARK", None), Benchmark):
            continue
        module.load = _sealed(module.BENCHMARK)  # the module's own callers (few-shot, train_pairs) pass too
        module.BENCHMARK = dataclasses.replace(module.BENCHMARK, load=module.load)
        BENCHMARKS[module.BENCHMARK.id] = module.BENCHMARK
        _REGISTERED.add(found.name)


discover()

__all__ = ["BENCHMARKS", "Benchmark", "Sample", "Score", "discover"]
