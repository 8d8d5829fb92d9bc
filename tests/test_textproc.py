from plugdata.core.textproc import has_letters, normalize_for_compare, strip_code_and_urls


def test_strip_removes_fenced_inline_code_and_urls():
    text = (
        "Usa `pip install x` e poi guarda https://example.org/docs?a=1.\n\n"
        "```python\nprint('hello world, this is English code')\n```\nFine del testo."
    )
    assert strip_code_and_urls(text) == "Usa e poi guarda . Fine del testo."


def test_strip_handles_unclosed_fence_and_tilde_fences():
    assert strip_code_and_urls("Testo.\n```\ncode never closed") == "Testo."
    assert strip_code_and_urls("A\n~~~\nx = 1\n~~~\nB") == "A B"


def test_strip_keeps_prose_without_code_unchanged_but_folds_whitespace():
    assert strip_code_and_urls("  due   righe\n\nqui ") == "due righe qui"


def test_has_letters_counts_any_script():
    assert has_letters("中文", 2)
    assert not has_letters("12 + 30 = 42", 1)
    assert has_letters("x", 0)


def test_normalize_for_compare_ignores_case_and_spacing():
    assert normalize_for_compare("Hello\n  World") == normalize_for_compare("hello world")


def test_folding_whitespace_knows_every_whitespace_character_the_regex_knows():
    # fold_whitespace splits where `\s` matches: the same set of characters, one by one.
    import re
    import sys

    from plugdata.core.textproc import fold_whitespace

    regex = re.compile(r"\s")
    spaces = [chr(i) for i in range(sys.maxunicode + 1) if regex.match(chr(i))]
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()] == spaces
    text = "".join(f"{space}w{i}{space * 2}" for i, space in enumerate(spaces))
    assert fold_whitespace(text) == re.sub(r"\s+", " ", text).strip()
    assert fold_whitespace(text).count(" ") == len(spaces) - 1
