import pytest

from plugdata.core.languages import LANGUAGES, Language, header_pattern
from plugdata.errors import UnknownLanguageError


def test_get_language_unknown_code_lists_known_codes():
    with pytest.raises(UnknownLanguageError) as err:
        LANGUAGES.get("xx")
    message = str(err.value)
    assert "'xx'" in message
    for code in ("en", "zh", "ko", "it", "es"):
        assert code in message


def test_paper_response_headers_are_in_the_table():
    assert LANGUAGES.get("en").response_header == "English response:"
    assert LANGUAGES.get("zh").response_header == "中文回复："
    assert LANGUAGES.get("ko").response_header == "한국어 응답:"
    assert LANGUAGES.get("it").response_header == "Risposta in italiano:"
    assert LANGUAGES.get("es").response_header == "Respuesta en español:"


def test_every_marker_is_unique_and_no_marker_contains_another():
    markers = LANGUAGES.markers()
    assert len(markers) == len(set(markers)) == 2 * len(LANGUAGES.codes())
    for a in markers:
        for b in markers:
            assert a == b or a not in b


@pytest.mark.parametrize("text", ["中文回复：", "中文回复:", "中文回复 ：", "English response :"])
def test_header_pattern_accepts_either_colon_style(text):
    lang = "zh" if text.startswith("中") else "en"
    assert header_pattern(LANGUAGES.get(lang).response_header).search(text)


def test_detector_aliases_map_to_table_codes():
    assert LANGUAGES.normalize_detector_label("zh-cn") == "zh"
    assert LANGUAGES.normalize_detector_label("ZH-TW") == "zh"
    assert LANGUAGES.normalize_detector_label("ko") == "ko"


SWAHILI = Language(
    "sw",
    "Swahili",
    "Jibu kwa Kiswahili:",
    "Maagizo kwa Kiswahili:",
    detector_aliases=("SWH",),
    codes={"nllb": "swh_Latn"},
)


def test_extended_is_a_new_table_and_the_built_in_one_is_unchanged():
    table = LANGUAGES.extended([SWAHILI])
    assert table.get("sw") is SWAHILI and table.codes() == sorted([*LANGUAGES.codes(), "sw"])
    assert table.normalize_detector_label("swh") == "sw"
    assert table.find_marker("Jibu kwa Kiswahili：ndiyo") == "Jibu kwa Kiswahili："
    assert "sw" not in LANGUAGES and LANGUAGES.normalize_detector_label("swh") == "swh"
    assert LANGUAGES.find_marker("Jibu kwa Kiswahili: ndiyo") is None
    with pytest.raises(UnknownLanguageError, match="'sw'"):
        LANGUAGES.get("sw")


def test_an_entry_with_a_known_code_replaces_it_in_the_new_table_only():
    italian = LANGUAGES.get("it")
    mine = Language("it", "Italian", "Risposta:", "Istruzione:", italian.script)
    table = LANGUAGES.extended([mine])
    assert table.get("it") is mine and LANGUAGES.get("it") is italian
    assert table.find_marker("Risposta in italiano: sì") is None
    assert LANGUAGES.find_marker("Risposta: sì") is None


@pytest.mark.parametrize(
    ("provider", "source", "target"),
    [("mymemory", "en-GB", "zh-CN"), ("google", "en", "zh-CN")],
)
def test_translation_providers_spell_codes_from_the_table(provider, source, target):
    from plugdata.translate.backends.deep import DeepOptions, DeepTranslatorBackend

    client = DeepTranslatorBackend(DeepOptions(provider=provider))._client("en", "zh")
    assert (client._source, client._target) == (source, target)


def test_facts_of_chinese_and_japanese_live_on_their_entries():
    zh, ja = LANGUAGES.get("zh"), LANGUAGES.get("ja")
    assert not zh.spaces_between_sentences and not ja.spaces_between_sentences
    assert LANGUAGES.get("en").spaces_between_sentences
    assert zh.script_excludes_pattern.search("これは") and not zh.script_pattern.search("これ")
    assert (zh.codes["nllb"], ja.codes["nllb"]) == ("zho_Hans", "jpn_Jpan")


def test_google_takes_shorter_units_of_languages_outside_latin_script():
    """The rule comes from the table's scripts: a recipe's own non-Latin language gets it too."""
    from plugdata.translate.backends.deep import DeepOptions, DeepTranslatorBackend

    google = DeepTranslatorBackend(DeepOptions())
    libre = DeepTranslatorBackend(DeepOptions(provider="libre", base_url="http://127.0.0.1:9"))
    assert {c: google.max_chars_for(c) for c in ("zh", "ko", "ja", "ru", "it", "en")} == {
        "zh": 1500,
        "ko": 1500,
        "ja": 1500,
        "ru": 1500,
        "it": 4500,
        "en": 4500,
    }
    assert libre.max_chars_for("zh") == libre.max_chars
