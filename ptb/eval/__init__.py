"""Evaluation: the protocol, chat templates, engines (vLLM, transformers), the LLM judge client and the reference's files."""
