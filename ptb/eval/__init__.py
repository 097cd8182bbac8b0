"""Evaluation: the protocol, chat templates, engines (vLLM, transformers), the LLM judge client,
the reference's files, and the service that runs the agent's evaluate.py outside the sandbox."""
