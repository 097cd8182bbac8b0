"""ptb: run PostTrainBench cells (agent x base model x benchmark) and rank the agents.

The data flows through the packages in this order:
    run (grid -> cell) -> sandbox (agent under a budget, agents/ reads its trace) -> integrity
    -> eval (benchmarks/ scored by vLLM) -> result.json -> report (leaderboard, charts)
"""

__version__ = "0.1.0"
