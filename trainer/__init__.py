"""The trainer behind `plugdata train`, `generate`, `judge`, `score` and `report` (see `cli`):
one module per job (`train`, `generate`, `judge.run`, `score.svamp`, `results`), their options in
`options`. torch, transformers, trl and openai are imported only when a job runs."""
