"""The pairwise judge's prompts and its verdict tokens (read by `reading`).

The default prompt is plugdata's own wording of the paper's protocol (impartial comparison,
explanation first, a final verdict token, attention to fluency and grammar in non-English
answers). FastChat's `judge_prompts.jsonl` entries (e.g. `pair-v2`, which the PLUG paper edited)
can be used instead with `--prompt-file` / `--prompt-name`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from plugdata.core.jsonl import read_json_lines
from plugdata.errors import PlugdataError
from trainer.judge.reading import VerdictTokens

DEFAULT_SYSTEM = (
    "You are an impartial judge. Compare the two AI assistants' answers to the user's question "
    "below and decide which one follows the instruction and answers it better, considering "
    "helpfulness, relevance, accuracy, depth and level of detail. When the answers are not in "
    "English, also weigh how natural, fluent and grammatical the language is. The order in "
    "which the answers appear, their length and the assistants' names must not influence you. "
    "First explain your comparison briefly, then end with your verdict in exactly this form: "
    "[[A]] if assistant A is better, [[B]] if assistant B is better, [[C]] for a tie."
)
DEFAULT_TEMPLATE = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n"
    "[The End of Assistant B's Answer]"
)


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    system: str
    template: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.system}\x00{self.template}".encode()).hexdigest()[:16]

    def render(self, question: str, answer_a: str, answer_b: str) -> str:
        return self.template.format(question=question, answer_a=answer_a, answer_b=answer_b)


DEFAULT_PROMPT = JudgePrompt("plugdata-pair-v1", DEFAULT_SYSTEM, DEFAULT_TEMPLATE)


def load_prompt(file: Path | None, name: str | None) -> JudgePrompt:
    """The default prompt, or one entry of a FastChat-style judge_prompts.jsonl."""
    if file is None:
        return DEFAULT_PROMPT
    entries = {}
    for lineno, entry in read_json_lines(file):
        if not isinstance(entry, dict):
            raise PlugdataError(f"{file}:{lineno}: expected a JSON object")
        entries[entry.get("name")] = entry
    name = name or "pair-v2"
    if name not in entries:
        raise PlugdataError(
            f"{file}: no prompt named {name!r}; have: {', '.join(map(str, entries))}"
        )
    entry = entries[name]
    if entry.get("type") != "pairwise" or "{answer_a}" not in entry.get("prompt_template", ""):
        raise PlugdataError(f"{file}: {name!r} is not a single-turn pairwise prompt")
    return JudgePrompt(name, entry["system_prompt"], entry["prompt_template"])


@dataclass(frozen=True)
class Verdict:
    winner: str  # "A", "B", "tie" or "error"
    ambiguous: bool  # several different verdict tokens: the rule chose among them


# `[[tie]]` is a tie to the default rule only: FastChat's checks for `[[A]]`, `[[B]]`, `[[C]]`.
PAIRWISE = VerdictTokens(
    {"a": "A", "b": "B", "c": "tie", "tie": "tie"},
    (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")),
)


def parse_verdict(text: str | None, rule: str = "last") -> Verdict:
    """The verdict under `rule` (see `reading`); conflicting tokens mark it ambiguous.

    >>> parse_verdict("A is vague. [[B]]"), parse_verdict("[[A]] ... on reflection [[C]]")
    (Verdict(winner='B', ambiguous=False), Verdict(winner='tie', ambiguous=True))
    >>> parse_verdict("[[C]] ... [[B]] ... [[A]]", "paper").winner
    'A'
    >>> parse_verdict("I cannot decide.").winner, parse_verdict("[[tie]]", "paper").winner
    ('error', 'error')
    """
    reading = PAIRWISE.read(text, rule)
    return Verdict(reading.label or "error", reading.ambiguous)
