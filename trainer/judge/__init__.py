"""LLM judging of answers: the shared run (`run`: cache, dry run, asking the judge, outputs)
and judge backends (`backends`, the API judge; `local`, the in-process one), and one task per
evaluation (`task`): `pairwise` (two systems, both orders, the paper's and FastChat's
aggregation, with `verdicts` and `stats`) and `truthfulqa` (truthfulness and informativeness,
with `aspects`)."""
