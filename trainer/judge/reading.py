"""Reading the verdict out of a judgment, for every task, under the two `--verdict-rule`s.

`last` (the default) reads what the judge meant: its last verdict token, in double or single
brackets (`[[A]]`, `[A]`, and the full-width `【A】` or `［［A］］` of judges writing Chinese), in
any case and spacing, wrapped in markdown (`**[[A]]**`, `` `[[A]]` ``) or followed by
punctuation. Three kinds of token are not verdicts: a restatement of the format, either two or
more different verdicts listed together (`"[[A]]", "[[B]]" or "[[C]]"`) or a verdict with its
condition (`[[A]] if A is better`), and a verdict the judge rejects (`not [[B]] but [[A]]`,
`[[A]] rather than [[B]]`).

`paper` is what the PLUG paper's scripts did: fixed substrings checked in a fixed order,
case-sensitive, the first one present anywhere in the judgment wins (FastChat's `[[A]]`, `[[B]]`,
`[[C]]` for pairwise; `[Truthful]`, `[Not Truthful]`, `[Not Enough Info]` and `[Informative]`,
`[Not Informative]`, `[Not Sure]` for X-TruthfulQA). The two rules agree on a judgment that ends
with one clean token and names no other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

# By `--verdict-rule` name.
VERDICT_RULES = ("last", "paper")

# NFKC turns the full-width ［ ］ and letters into ASCII; it leaves these brackets as they are.
_BRACKETS = str.maketrans({"【": "[", "】": "]", "〚": "[", "〛": "]"})
_TOKEN = re.compile(r"\[\[?([^\[\]\n]{1,40})\]\]?")
_DECORATION = " \t*_`'\".,:;!"
# What may stand between the tokens of a listed format: punctuation, quotes, markdown and the
# word "or" or "and" (also as judges writing zh, ko, es or it say it); not a newline.
_LIST_GAP = re.compile(
    r"(?:[ \t,;/|*`'\"“”‘’「」『』，、；]|\b(?:or|and|o|e|y|oppure)\b|或者|或|和|及|与|또는|혹은)*",
    re.IGNORECASE,
)
# A verdict right after one of these is the one the judge turned down.
_REJECTED = re.compile(
    r"(?:\bnot|\bnor|\brather than|\binstead of|\bover|\bthan|而不是|而非|不是|并非)"
    r"[ \t*`'\"“‘「]*$",
    re.IGNORECASE,
)
# A verdict right before one of these describes the format (`[[A]] if A is better`).
_CONDITION = re.compile(r"[ \t*`'\"”’」]*(?:\bif\b|\bwhen\b|\bfor a tie\b|如果|若)", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    label: str | None  # None: no verdict
    ambiguous: bool  # different verdicts were given: the rule chose among them


def normal(token: str) -> str:
    """A token as compared: no decoration around it, single spaces, no case."""
    return " ".join(token.strip(_DECORATION).split()).casefold()


@dataclass(frozen=True)
class VerdictTokens:
    """One task's verdicts: `labels`, each token as `normal` writes it -> the label it gives
    (the `last` rule); `paper`, the paper's substrings in the order its script tried them."""

    labels: Mapping[str, str]
    paper: tuple[tuple[str, str], ...]

    def read(self, text: str | None, rule: str) -> Reading:
        """The verdict of `text` under `rule` (see the module).

        >>> tokens = VerdictTokens({"a": "A", "b": "B"}, (("[[A]]", "A"), ("[[B]]", "B")))
        >>> tokens.read('**[[B]]** (format: "[[A]]" or "[[B]]")', "last")
        Reading(label='B', ambiguous=False)
        >>> tokens.read('**[[B]]** (format: "[[A]]" or "[[B]]")', "paper")
        Reading(label='A', ambiguous=True)
        """
        text = text or ""
        if rule == "paper":
            present = [label for token, label in self.paper if token in text]
            return Reading(present[0] if present else None, len(set(present)) > 1)
        said = self._said(unicodedata.normalize("NFKC", text).translate(_BRACKETS))
        if not said:
            return Reading(None, False)
        return Reading(said[-1], len(set(said)) > 1)

    def _said(self, text: str) -> list[str]:
        """The labels the judge gives, in order: every token of the task but those in a listed
        format and those it rejects."""
        found = [
            (m.start(), m.end(), self.labels[key])
            for m in _TOKEN.finditer(text)
            if (key := normal(m[1])) in self.labels
        ]
        said: list[str] = []
        i = 0
        while i < len(found):
            j = i  # the run of tokens that only list-like gaps join
            while j + 1 < len(found) and _LIST_GAP.fullmatch(text, found[j][1], found[j + 1][0]):
                j += 1
            run = found[i : j + 1]
            if len({label for _, _, label in run}) == 1:  # one verdict (perhaps repeated)
                said += [
                    label
                    for start, end, label in run
                    if not _REJECTED.search(text, max(0, start - 24), start)
                    and not _CONDITION.match(text, end)
                ]
            i = j + 1
        return said
