"""ptb: run PostTrainBench cells (agent x base model x benchmark) and rank the agents.

The data flow is the module list:
    params -> task -> sandbox (agent under a budget) -> finalmodel -> integrity
    -> evaluation -> cell (result.json) -> grid -> leaderboard
"""

__version__ = "0.1.0"
