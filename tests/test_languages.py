import pytest

from plugdata.errors import UnknownLanguageError
from plugdata.languages import (
    all_markers,
    get_language,
    header_pattern,
    known_codes,
    normalize_detector_label,
)


def test_get_language_unknown_code_lists_known_codes():
    with pytest.raises(UnknownLanguageError) as err:
        get_language("xx")
    message = str(err.value)
    assert "'xx'" in message
    for code in ("en", "zh", "ko", "it", "es"):
        assert code in message


def test_paper_response_headers_are_in_the_table():
    assert get_language("en").response_header == "English response:"
    assert get_language("zh").response_header == "中文回复："
    assert get_language("ko").response_header == "한국어 응답:"
    assert get_language("it").response_header == "Risposta in italiano:"
    assert get_language("es").response_header == "Respuesta en español:"


def test_every_marker_is_unique_and_no_marker_contains_another():
    markers = all_markers()
    assert len(markers) == len(set(markers)) == 2 * len(known_codes())
    for a in markers:
        for b in markers:
            assert a == b or a not in b


@pytest.mark.parametrize("text", ["中文回复：", "中文回复:", "中文回复 ：", "English response :"])
def test_header_pattern_accepts_either_colon_style(text):
    lang = "zh" if text.startswith("中") else "en"
    assert header_pattern(get_language(lang).response_header).search(text)


def test_detector_aliases_map_to_table_codes():
    assert normalize_detector_label("zh-cn") == "zh"
    assert normalize_detector_label("ZH-TW") == "zh"
    assert normalize_detector_label("ko") == "ko"
