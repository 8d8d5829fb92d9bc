"""How one row is cut into units for a backend and put back together: the translation strategies.

The engine tries them in order until one succeeds for a row: `joint` (instruction and response
in one request, between tags: the paper's way, for chat backends in joint mode), `lines` (each
field's segments packed into newline-joined units, one request per field for most rows),
`segments` (one unit per protected segment) and `split` (segments also cut at protected tokens).
Every strategy answers the same three questions, so the engine has no branch per strategy.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from plugdata.core.languages import Language
from plugdata.translate import protect
from plugdata.translate.backends.base import Translator

FIELDS = ("instruction", "response")
Lookup = Callable[[str], str]  # a unit's text -> its translation
_JOINT = re.compile(
    r"^\s*<instruction>\s*\n?(.*?)\n?\s*</instruction>\s*<response>\s*\n?(.*?)\n?\s*</response>\s*$",
    re.S,
)


class Strategy(ABC):
    name: ClassVar[str]

    def __init__(self, limit: int, target: Language):
        self.limit = limit  # longest unit the backend takes, in characters
        self.target = target

    def fits(self, texts: dict[str, str]) -> bool:
        """Whether this strategy can take the row; rows it cannot go to the next one."""
        return True

    @abstractmethod
    def units(self, texts: dict[str, str]) -> list[str]:
        """The texts to send for one row (field name -> source text)."""

    @abstractmethod
    def assemble(self, texts: dict[str, str], lookup: Lookup) -> dict[str, str]:
        """The row's translated fields; raises ProtectionError when anything did not survive."""


def strategies_for(translator: Translator, source: str, target: Language) -> list[Strategy]:
    """The strategies a backend is tried with, in order."""
    limit = translator.max_chars_for(source)
    first: list[type[Strategy]] = [Joint] if translator.joint else []
    return [kind(limit, target) for kind in (*first, Lines, Segments, Split)]


class Joint(Strategy):
    name = "joint"

    def fits(self, texts: dict[str, str]) -> bool:
        # A row translated for one field alone (`--fields`, translate-test) has no pair to join.
        return texts.keys() == set(FIELDS) and sum(len(v) for v in texts.values()) <= self.limit

    def units(self, texts: dict[str, str]) -> list[str]:
        return [joint_text(texts)[0]]

    def assemble(self, texts: dict[str, str], lookup: Lookup) -> dict[str, str]:
        body, masked = joint_text(texts)
        m = _JOINT.match(lookup(body))
        if m is None:
            raise protect.ProtectionError("joint markers did not come back")
        out = {}
        for name, translated in zip(FIELDS, m.groups(), strict=True):
            restored = protect.unmask(translated.strip(), masked[name])
            if protect.structure(restored) != protect.structure(texts[name]):
                raise protect.ProtectionError(f"markdown structure of the {name} changed")
            out[name] = restored
        return out


class Lines(Strategy):
    name = "lines"

    def fits(self, texts: dict[str, str]) -> bool:
        return all(_line_groups(v, self.limit) is not None for v in texts.values())

    def units(self, texts: dict[str, str]) -> list[str]:
        return [
            "\n".join(s.text for s in group)
            for text in texts.values()
            for group in _line_groups(text, self.limit) or []
        ]

    def assemble(self, texts: dict[str, str], lookup: Lookup) -> dict[str, str]:
        return {name: self._field(text, lookup) for name, text in texts.items()}

    def _field(self, text: str, lookup: Lookup) -> str:
        doc = protect.parse(text)
        translated: list[str] = []
        for group in _line_groups(text, self.limit) or []:
            lines = lookup("\n".join(s.text for s in group)).strip("\n").split("\n")
            if len(lines) != len(group):
                raise protect.ProtectionError(f"{len(group)} lines sent, {len(lines)} came back")
            translated.extend(
                protect.unmask(line.strip(), s) for line, s in zip(lines, group, strict=True)
            )
        return protect.render(doc, translated)


class Segments(Strategy):
    name = "segments"
    split = False  # also cut segments at protected tokens

    def _parts(self, segment: protect.Segment) -> list:
        return protect.split_at_tokens(segment) if self.split else [segment]

    def units(self, texts: dict[str, str]) -> list[str]:
        return [
            piece
            for text in texts.values()
            for segment in protect.parse(text).segments
            for part in self._parts(segment)
            if isinstance(part, protect.Segment)
            for piece, _ in protect.split_long(part.text, self.limit)
        ]

    def assemble(self, texts: dict[str, str], lookup: Lookup) -> dict[str, str]:
        return {name: self._field(text, lookup) for name, text in texts.items()}

    def _field(self, text: str, lookup: Lookup) -> str:
        doc = protect.parse(text)
        out = []
        for segment in doc.segments:
            rendered = []
            for part in self._parts(segment):
                if not isinstance(part, protect.Segment):
                    rendered.append(part)
                    continue
                pieces = protect.split_long(part.text, self.limit)
                rendered.append(protect.unmask(self._join(pieces, lookup), part))
            out.append("".join(rendered))
        return protect.render(doc, out)

    def _join(self, pieces: list[tuple[str, str]], lookup: Lookup) -> str:
        """Translated pieces of a long segment, separated as the source was (unless the target
        puts no space between sentences, as Chinese and Japanese do)."""
        out = []
        for piece, sep in pieces:
            if (
                not self.target.spaces_between_sentences
                and sep
                and not sep.strip()
                and "\n" not in sep
            ):
                sep = ""
            out.append(lookup(piece) + sep)
        return "".join(out)


class Split(Segments):
    name = "split"
    split = True


def _line_groups(text: str, limit: int) -> list[list[protect.Segment]] | None:
    """The segments of a field packed into newline-joined units under `limit` characters;
    None when one segment alone is too long."""
    groups: list[list[protect.Segment]] = []
    size = 0
    for segment in protect.parse(text).segments:
        if len(segment.text) > limit:
            return None
        if not groups or size + len(segment.text) + 1 > limit:
            groups.append([])
            size = 0
        groups[-1].append(segment)
        size += len(segment.text) + 1
    return groups


def joint_text(texts: dict[str, str]) -> tuple[str, dict[str, protect.Segment]]:
    masked, start = {}, 1
    for name in FIELDS:
        masked[name] = protect.mask(texts[name], start=start, fenced=True)
        start += len(masked[name].spans)
    body = (
        f"<instruction>\n{masked['instruction'].text}\n</instruction>\n"
        f"<response>\n{masked['response'].text}\n</response>"
    )
    return body, masked
