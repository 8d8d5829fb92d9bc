"""Protection and segmentation: what a translator may touch, and putting it back exactly.

A text is parsed into a skeleton of frozen parts (fenced code, markdown prefixes such as list
markers, heading hashes, quote marks and table pipes, blank lines, surrounding spaces) and
translatable segments. Inside a segment, inline code, URLs and placeholders (`{name}`, `%s`,
`$1`) become numbered tokens (`⟦1⟧`). After translation each token must come back exactly once;
`restore` puts the original spans back byte for byte, so code and structure cannot be mangled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from plugdata.core.textproc import FENCED_CODE, INLINE_CODE, URL

TOKEN = "⟦{}⟧"
_TOKEN_RE = re.compile(r"⟦(\d+)⟧")
PLACEHOLDER = re.compile(
    r"\{[A-Za-z_][A-Za-z0-9_.]*\}|\{\d*\}|%(?:\([A-Za-z_]+\))?[-+ #0]*\d*(?:\.\d+)?[sdifrxXeEgGc%]"
    r"|\$\d+|\$\{[A-Za-z_][A-Za-z0-9_]*\}"
)
# Markdown line prefixes kept frozen: indentation, quote marks, list markers, heading hashes.
_PREFIX = re.compile(r"^(\s*(?:>\s*)*(?:[-*+]\s+(?:\[[ xX]\]\s+)?|\d+[.)]\s+|#{1,6}\s+)?)")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
# A literal token-like text in the source is protected like code, so it cannot be confused
# with our own tokens.
_PROTECTED = [re.compile(r"⟦\d+⟧"), INLINE_CODE, URL, PLACEHOLDER]


class ProtectionError(ValueError):
    """A translation lost, duplicated or invented a protected token."""


@dataclass
class Segment:
    text: str  # masked text sent to the translator
    spans: list[str] = field(default_factory=list)  # original span of token `start + i`
    start: int = 1


@dataclass
class Document:
    """Frozen strings and segments, in order; `str` parts are frozen."""

    parts: list[str | Segment]

    @property
    def segments(self) -> list[Segment]:
        return [p for p in self.parts if isinstance(p, Segment)]


def mask(text: str, *, start: int = 1, fenced: bool = False) -> Segment:
    """Replace inline code, URLs and placeholders (and, with `fenced`, whole fenced code blocks)
    with tokens numbered from `start`.

    >>> mask("Run `ls` on {path}, see https://x.org/a_(b).").text
    'Run ⟦1⟧ on ⟦2⟧, see ⟦3⟧.'
    """
    spans: list[tuple[int, int]] = []
    for pattern in ([FENCED_CODE] if fenced else []) + _PROTECTED:
        for m in pattern.finditer(text):
            if not any(m.start() < end and start < m.end() for start, end in spans):
                spans.append((m.start(), m.end()))
    spans.sort()  # tokens numbered in reading order
    originals = [text[s:e] for s, e in spans]
    out, last = [], 0
    for number, (begin, end) in enumerate(spans, start):
        out.append(text[last:begin])
        out.append(TOKEN.format(number))
        last = end
    out.append(text[last:])
    return Segment("".join(out), originals, start)


def unmask(translated: str, segment: Segment) -> str:
    """Put the original spans back; every token exactly once, no unknown tokens."""
    found = [int(n) for n in _TOKEN_RE.findall(translated)]
    expected = list(range(segment.start, segment.start + len(segment.spans)))
    if sorted(found) != expected:
        raise ProtectionError(f"protected tokens changed: sent {expected}, got {sorted(found)}")
    return _TOKEN_RE.sub(lambda m: segment.spans[int(m.group(1)) - segment.start], translated)


def split_at_tokens(segment: Segment) -> list[str | Segment]:
    """The fallback chunking: prose between tokens as separate segments, tokens frozen, so a
    translator that mangles tokens never sees one."""
    parts: list[str | Segment] = []
    last = 0
    for m in _TOKEN_RE.finditer(segment.text):
        parts.extend(_content_parts(segment.text[last : m.start()]))
        parts.append(segment.spans[int(m.group(1)) - segment.start])
        last = m.end()
    parts.extend(_content_parts(segment.text[last:]))
    return parts


_STRUCTURE = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|#{1,6}\s|\|)")


def structure(text: str) -> list[str]:
    """Markdown skeleton for checking whole-text translations: the prefix kind of every
    structured line (list item, numbered item, heading, table row), in order."""
    out = []
    for line in text.splitlines():
        m = _STRUCTURE.match(line)
        if m:
            token = m.group(0).strip()
            out.append("1." if token[:1].isdigit() else "-" if token in "-*+" else token)
    return out


def _line_parts(line: str) -> list[str | Segment]:
    """One line outside code: frozen prefix, then the content (table cells one by one)."""
    if _TABLE_SEPARATOR.match(line) and "|" in line:
        return [line]
    if line.lstrip().startswith("|") and line.rstrip().endswith("|") and line.count("|") >= 2:
        parts: list[str | Segment] = []
        cells = line.split("|")
        for i, cell in enumerate(cells):
            parts.extend(_content_parts(cell))
            if i < len(cells) - 1:
                parts.append("|")
        return parts
    prefix = _PREFIX.match(line).group(1)
    return [prefix, *_content_parts(line[len(prefix) :])]


def _content_parts(content: str) -> list[str | Segment]:
    stripped = content.strip()
    if not stripped or not re.search(r"[^\W\d_]", stripped):  # nothing to translate
        return [content]
    lead = content[: len(content) - len(content.lstrip())]
    trail = content[len(content.rstrip()) :]
    segment = mask(stripped)
    if not re.search(r"[^\W\d_]", _TOKEN_RE.sub("", segment.text)):  # only code/URLs
        return [content]
    return [lead, segment, trail]


@lru_cache(maxsize=16384)
def parse(text: str) -> Document:
    """Split a text into frozen parts and masked segments (see module docstring).

    Memoised: the engine asks for the same field under several strategies. Callers never
    mutate the returned document."""
    parts: list[str | Segment] = []
    pos = 0
    for fence in FENCED_CODE.finditer(text):
        parts.extend(_parse_prose(text[pos : fence.start()]))
        parts.append(fence.group(0))
        pos = fence.end()
    parts.extend(_parse_prose(text[pos:]))
    merged: list[str | Segment] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return Document(merged)


def _parse_prose(text: str) -> list[str | Segment]:
    parts: list[str | Segment] = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        parts.extend(_line_parts(body))
        parts.append(line[len(body) :])
    return parts


def render(doc: Document, translations: list[str]) -> str:
    """The document with each segment replaced by its (already unmasked) translation."""
    it = iter(translations)
    return "".join(p if isinstance(p, str) else next(it) for p in doc.parts)


def source_of(doc: Document) -> str:
    """Rebuild the original text: parse followed by this is the identity."""
    return render(doc, [unmask(s.text, s) for s in doc.segments])


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])(\s+)|(?<=[。！？])()")


def split_long(text: str, limit: int) -> list[tuple[str, str]]:
    """Cut a segment into (piece, separator) pairs under `limit` characters: at the last sentence
    end that fits, else the last space, else a hard cut; never inside a token.
    ''.join(piece + separator) gives the text back exactly.

    >>> split_long("One here. Two here! Three.", 12)
    [('One here.', ' '), ('Two here!', ' '), ('Three.', '')]
    """
    pieces: list[tuple[str, str]] = []
    start = 0
    sentence_ends = [(m.start(), m.end()) for m in _SENTENCE_END.finditer(text)]
    spaces = [(m.start(), m.end()) for m in re.finditer(r"\s+", text)]
    while len(text) - start > limit:
        cut = None
        for candidates in (sentence_ends, spaces):
            fitting = [
                (a, b)
                for a, b in candidates
                if start < a <= start + limit and not _inside_token(text, a)
            ]
            if fitting:
                cut = fitting[-1]
                break
        if cut is None:  # one unbroken run longer than the limit: hard cut outside tokens
            end = start + limit
            while _inside_token(text, end):
                end -= 1
            cut = (end, end)
        pieces.append((text[start : cut[0]], text[cut[0] : cut[1]]))
        start = cut[1]
    pieces.append((text[start:], ""))
    return pieces


def _inside_token(text: str, index: int) -> bool:
    return any(m.start() < index < m.end() for m in _TOKEN_RE.finditer(text))
