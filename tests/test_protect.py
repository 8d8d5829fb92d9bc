import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugdata.translate.protect import (
    ProtectionError,
    Segment,
    mask,
    parse,
    render,
    source_of,
    split_at_tokens,
    split_long,
    structure,
    unmask,
)

HOSTILE = [
    "Use ``a ` b`` then `x`.\n\n````md\n```py\nnested\n```\n````\nAfter the fence.",
    "See https://en.wikipedia.org/wiki/Python_(programming_language), then (https://a.b/c).",
    "Prose with a lone ` backtick and 3 * 4 = 12, plus {name} and %s and $1 and ${HOME}.",
    "中文句子，包含 `code` 和 https://例子.com/路径。\n- 列表项\n- 第二项",
    "مرحبا بالعالم! هذا نص من اليمين إلى اليسار مع `كود`.",
    "| col `a` | col b |\n|:---|---:|\n| 1 | two words |\n\n# Heading\n> quote\n  1. indented item",
    "```\nunclosed fence\nkeeps going",
    "\n\n  leading blank lines and trailing spaces  \n\n",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_parse_then_rebuild_is_identity_on_hostile_text(text):
    assert source_of(parse(text)) == text


def test_code_urls_placeholders_never_reach_the_translator():
    doc = parse(HOSTILE[0] + "\n" + HOSTILE[1] + "\n" + HOSTILE[2])
    sent = " ".join(s.text for s in doc.segments)
    for secret in ("`x`", "nested", "wikipedia.org", "{name}", "%s", "$1", "${HOME}"):
        assert secret not in sent


def test_markdown_structure_is_frozen():
    doc = parse(HOSTILE[5])
    frozen = "".join(p for p in doc.parts if isinstance(p, str))
    assert "|:---|---:|" in frozen and "# " in frozen and "> " in frozen and "  1. " in frozen
    assert [s.text for s in doc.segments] == [
        "col ⟦1⟧",
        "col b",
        "two words",
        "Heading",
        "quote",
        "indented item",
    ]


def test_unmask_requires_every_token_exactly_once():
    segment = mask("Run `ls` and `pwd` now.")
    assert segment.text == "Run ⟦1⟧ and ⟦2⟧ now."
    assert unmask("Esegui ⟦1⟧ e ⟦2⟧ ora.", segment) == "Esegui `ls` e `pwd` ora."
    assert unmask("Prima ⟦2⟧, poi ⟦1⟧.", segment) == "Prima `pwd`, poi `ls`."
    for broken in ("Esegui ⟦1⟧ ora.", "Esegui ⟦1⟧ ⟦1⟧ ⟦2⟧.", "⟦1⟧ ⟦2⟧ ⟦3⟧"):
        with pytest.raises(ProtectionError):
            unmask(broken, segment)


def test_split_at_tokens_hides_tokens_from_the_translator():
    segment = mask("Call `f()` with `x` please.")
    parts = split_at_tokens(segment)
    assert all("⟦" not in p.text for p in parts if isinstance(p, Segment))
    assert "".join(p if isinstance(p, str) else p.text for p in parts) == segment_source(segment)


def segment_source(segment):
    return unmask(segment.text, segment)


def test_render_replaces_segments_in_order():
    doc = parse("- one\n- two")
    assert render(doc, ["uno", "due"]) == "- uno\n- due"


def test_structure_signature():
    assert structure("# T\n- a\n* b\n1. c\n| x |\ntext") == ["#", "-", "-", "1.", "|"]


texts = st.lists(
    st.sampled_from(
        [*"ab c.!?。\n`{}%s$1|-#>*⟦⟧中文:/()", "https://x.io/p", "```", "word ", "⟦1⟧"]
    ),
    max_size=120,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_parse_then_rebuild_is_identity_property(text):
    assert source_of(parse(text)) == text


@settings(max_examples=300, deadline=None)
@given(texts.map(lambda t: t.replace("\n", " ")), st.integers(min_value=5, max_value=60))
def test_split_long_rejoins_exactly_and_respects_the_limit(text, limit):
    pieces = split_long(mask(text).text, limit)
    assert "".join(p + s for p, s in pieces) == mask(text).text
    assert all(len(p) <= limit or "⟦" in p for p, _ in pieces)
