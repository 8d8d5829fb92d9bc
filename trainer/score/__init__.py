"""Scoring answers against gold answers (`plugdata score ...`): `numbers` reads the final number
of a worked answer by rules, `llm` asks a judge model for it instead, `svamp` is the X-SVAMP
accuracy job."""
