"""Pairwise LLM judging of two systems' answers, both orders, with the paper's and FastChat's
aggregation side by side: `run` (the job), `inputs`, `backends` (the API judge; `local`, the
in-process one), `verdicts`, `stats` and `report`."""
