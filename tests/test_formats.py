import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugdata.core.formats import METHODS, extract, prompt_messages, render, system_prompt
from plugdata.core.languages import LANGUAGES

LANGS = ["zh", "ko", "it", "es", "fr", "de", "pt", "ja", "ru"]


def triple(target="zh", **fields):
    base = {
        "id": "t/1",
        "source": "t",
        "pivot_lang": "en",
        "target_lang": target,
        "pivot_instruction": "Name a colour.",
        "pivot_response": "Blue.",
        "target_instruction": "说出一种颜色。",
        "target_response": "蓝色。",
    }
    return {**base, **fields}


def test_render_plug_holds_all_three_blocks_in_order_and_a_pivot_row():
    rows = render("plug", triple())
    assert [r["kind"] for r in rows] == ["plug", "pivot"]
    plug = rows[0]
    assert [m["role"] for m in plug["prompt"]] == ["system", "user"]
    assert plug["prompt"][1]["content"] == "说出一种颜色。"
    text = plug["completion"][0]["content"]
    assert text == (
        "English instruction:\nName a colour.\n\nEnglish response:\nBlue.\n\n中文回复：\n蓝色。"
    )
    assert rows[1]["prompt"] == [{"role": "user", "content": "Name a colour."}]
    assert rows[1]["completion"] == [{"role": "assistant", "content": "Blue."}]


def test_render_plug_pro_has_no_pivot_instruction():
    text = render("plug-pro", triple())[0]["completion"][0]["content"]
    assert "English instruction:" not in text
    assert text.startswith("English response:\nBlue.")


def test_render_mono_pivot_only_code_switch_shapes():
    mono = render("mono", triple())
    assert [r["kind"] for r in mono] == ["mono"]
    assert "Chinese" in mono[0]["prompt"][0]["content"]
    assert mono[0]["completion"][0]["content"] == "蓝色。"
    pivot = render("pivot-only", triple())
    assert pivot[0]["prompt"][-1]["content"] == "Name a colour."
    cs = render("code-switch", triple())
    assert [(r["prompt"][-1]["content"], r["completion"][0]["content"]) for r in cs] == [
        ("说出一种颜色。", "Blue."),
        ("Name a colour.", "蓝色。"),
    ]


def test_pivot_rows_can_be_switched_off_per_call():
    assert [r["kind"] for r in render("plug", triple(), pivot_rows=False)] == ["plug"]
    assert [r["kind"] for r in render("mono", triple(), pivot_rows=True)] == ["mono", "pivot"]


@pytest.mark.parametrize("method", list(METHODS))
def test_generation_prompt_equals_training_prompt(method):
    first = render(method, triple(), pivot_rows=False)[0]
    assert prompt_messages(method, triple()) == first["prompt"]


def test_a_given_system_prompt_replaces_the_tables_and_none_drops_the_turn():
    plug, pivot = render("plug", triple(), system_prompts={"plug": "Be brief."})
    assert plug["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "说出一种颜色。"},
    ]
    assert pivot["prompt"] == [{"role": "user", "content": "Name a colour."}]  # never one
    assert [
        m["role"] for m in prompt_messages("mono", triple(), system_prompts={"mono": None})
    ] == ["user"]
    # Another method's prompt leaves this one's as the table has it.
    assert (
        prompt_messages("plug", triple(), system_prompts={"mono": "x"})
        == render("plug", triple())[0]["prompt"]
    )


def test_system_prompt_fills_in_the_languages_names_of_a_template():
    assert system_prompt("plug", "en", "ko", template="{pivot} first, then {target}.") == (
        "English first, then Korean."
    )
    assert (
        system_prompt("mono", "en", "es")
        == "You are a helpful assistant. Always respond in Spanish."
    )
    assert system_prompt("pivot-only", "en", "es") is None


def test_extract_statuses():
    assert extract("English response:\nx\n\n中文回复：", "plug", "zh").status == "empty"
    assert extract("no header here", "plug", "zh").status == "marker-missing"
    assert extract("English response: x\n中文回复: 好的", "plug", "zh").output == "好的"
    assert extract("  ", "mono", "zh").status == "empty"
    assert extract(" 好的 ", "mono", "zh").output == "好的"


def test_extract_takes_the_last_header():
    text = "中文回复：草稿\n\n中文回复：最终答案"
    assert extract(text, "plug-pro", "zh").output == "最终答案"


def test_extract_a_header_quoted_inside_the_answer_is_not_a_header():
    text = "Risposta in italiano:\nLa frase 'Risposta in italiano:' è solo un'etichetta."
    assert (
        extract(text, "plug", "it").output
        == "La frase 'Risposta in italiano:' è solo un'etichetta."
    )
    assert extract("English response: 中文回复： is the header", "plug", "zh").status == (
        "marker-missing"
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("English response:\nHi.\n\n**中文回复：**\n你好。", "zh"),
        ("English response:\nHi.\n\n**中文回复**：你好。", "zh"),
        ("English response:\nHi.\n\n**Risposta in italiano:** Ciao.", "it"),
        ("English response:\nHi.\n\nrisposta in italiano:\nCiao.", "it"),
        ("English response:\nHi.\n\n  RESPUESTA EN ESPAÑOL：\nHola.", "es"),
    ],
)
def test_extract_accepts_bold_and_any_case_headers_at_line_start(text, lang):
    result = extract(text, "plug-pro", lang)
    assert result.status == "ok"
    assert result.output == {"zh": "你好。", "it": "Ciao.", "es": "Hola."}[lang]


# Awkward text: any unicode, newlines, code fences, colons, other languages' letters.
awkward = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=200,
    )
    .map(str.strip)
    .filter(lambda t: t and LANGUAGES.find_marker(t) is None)
)  # the validator quarantines the rest


@settings(max_examples=150, deadline=None)
@given(
    lang=st.sampled_from(LANGS),
    method=st.sampled_from(["plug", "plug-pro"]),
    pivot_instruction=awkward,
    pivot_response=awkward,
    target_response=awkward,
)
def test_render_then_extract_returns_the_target_response(
    lang, method, pivot_instruction, pivot_response, target_response
):
    t = triple(
        lang,
        pivot_instruction=pivot_instruction,
        pivot_response=pivot_response,
        target_response=target_response,
    )
    completion = render(method, t)[0]["completion"][0]["content"]
    result = extract(completion, method, lang)
    assert result.status == "ok"
    assert result.output == target_response


@pytest.mark.parametrize("lang", LANGS)
def test_round_trip_with_code_and_lists(lang):
    answer = "1. one\n2. two\n\n```python\nprint('x: y')\n```\n\nEnd: `a:b`"
    t = triple(lang, target_response=answer)
    assert extract(render("plug", t)[0]["completion"][0]["content"], "plug", lang).output == answer
    assert LANGUAGES.get(lang).response_header in render("plug", t)[0]["completion"][0]["content"]
