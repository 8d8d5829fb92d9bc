"""LLM judging of answers: the shared run (`run`: cache, dry run, asking the judge, outputs),
judge backends behind one protocol (`base`; `backends`, the API judge; `local`, the in-process
one), and one task per evaluation (`task`): `pairwise` (two systems, both orders, read by
`inputs`; the paper's and FastChat's aggregation, with `verdicts` and `stats`) and `truthfulqa`
(truthfulness and informativeness, with `aspects`); `reading` reads the verdicts of both."""
