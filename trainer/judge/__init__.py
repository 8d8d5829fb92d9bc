"""Pairwise LLM judging of two systems' answers, both orders, with the paper's and FastChat's
aggregation side by side (see `run`, `verdicts` and `stats`)."""
