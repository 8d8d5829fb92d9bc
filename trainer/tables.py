"""How names and numbers are written into the tables and charts of judge, score and report:
a name is data (a generator, a method, a language or dataset read from a file), so it is
escaped where it would otherwise end a row or become markup; a number of nothing is `n/a`."""

from __future__ import annotations

import re

NOT_MEASURED = "n/a"

# What ends a table row, or becomes markup, inside a GitHub-flavoured markdown cell: the pipe,
# inline markup (emphasis, code, links, strikethrough), HTML tags and entities, and the
# backslash that would otherwise escape what follows it. An underscore inside a word (`a_b`)
# is never emphasis in GFM, and is left as it is so that names stay readable.
_MARKUP = re.compile(r"([\\|`*\[\]<>~&]|(?<![^\W_])_|_(?![^\W_]))")
# Line breaks (\n, \r, U+2028, NEL, ...) and other control or format characters: a cell is one line.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


def cell(text: object) -> str:
    r"""`text` as one markdown table cell (or a heading's words) that shows as written.

    >>> cell("evil\n| x | y |"), cell("llama_7b *x* _y_")
    ('evil \\| x \\| y \\|', 'llama_7b \\*x\\* \\_y\\_')
    """
    return _MARKUP.sub(r"\\\1", one_line(text))


def label(text: object) -> str:
    """`text` as a matplotlib label that shows as written: one line, no mathtext (`$`).

    >>> label("cost $5\\nthen $6")
    'cost \\\\$5 then \\\\$6'
    """
    return one_line(text).replace("$", r"\$")


def one_line(text: object) -> str:
    """`text` with every line break or control character a space: for one-line messages."""
    return _BREAKS.sub(" ", str(text)).strip()


def share(value: float | None, ci95: tuple[float, float] | list[float] | None = None) -> str:
    """A share in percent, with its interval where given; `n/a` for a share of nothing.

    >>> share(0.5, (0.25, 0.75)), share(None, None)
    ('50.0% [25.0%, 75.0%]', 'n/a')
    """
    if value is None:
        return NOT_MEASURED
    text = f"{value:.1%}"
    return text if ci95 is None else f"{text} [{ci95[0]:.1%}, {ci95[1]:.1%}]"


def signed(value: float | None, digits: int = 3) -> str:
    """A signed differential such as (W - L) / N; `n/a` for one of nothing.

    >>> signed(0.25), signed(None)
    ('+0.250', 'n/a')
    """
    return NOT_MEASURED if value is None else f"{value:+.{digits}f}"


def interval(ci95: tuple[float, float] | list[float] | None, digits: int = 3) -> str:
    """A signed interval; `n/a` where there is none.

    >>> interval((-0.1, 0.2)), interval(None)
    ('[-0.100, +0.200]', 'n/a')
    """
    if ci95 is None:
        return NOT_MEASURED
    return f"[{ci95[0]:+.{digits}f}, {ci95[1]:+.{digits}f}]"


def percents(ci95: tuple[float, float] | list[float] | None) -> str:
    """An interval of shares in percent; `n/a` where there is none.

    >>> percents((0.25, 0.5)), percents(None)
    ('[25.0%, 50.0%]', 'n/a')
    """
    return NOT_MEASURED if ci95 is None else f"[{ci95[0]:.1%}, {ci95[1]:.1%}]"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` things, in the number the count needs.

    >>> count(1, "item"), count(0, "item"), count(2, "retry", "retries")
    ('1 item', '0 items', '2 retries')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
