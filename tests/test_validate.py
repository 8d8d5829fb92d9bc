import pytest

from plugdata.checks.validate import ValidationSettings, Validator

EN_I = "Explain in two sentences why the sky looks blue during the day."
EN_R = (
    "Sunlight is scattered by the molecules of the air, and blue light is scattered much "
    "more than red light because of its shorter wavelength. That scattered blue light "
    "reaches our eyes from every direction of the sky."
)
ZH_I = "用两句话解释为什么白天的天空看起来是蓝色的。"
ZH_R = "阳光会被空气分子散射，而蓝光的波长较短，比红光散射得多得多。这些被散射的蓝光从天空的各个方向进入我们的眼睛。"
IT_R = (
    "La luce del sole viene diffusa dalle molecole dell'aria e la luce blu viene diffusa "
    "molto più di quella rossa perché ha una lunghezza d'onda più corta."
)


@pytest.fixture(scope="module")
def validator():
    return Validator()


def triple(**fields):
    base = {
        "id": "t/1",
        "pivot_lang": "en",
        "target_lang": "zh",
        "pivot_instruction": EN_I,
        "pivot_response": EN_R,
        "target_instruction": ZH_I,
        "target_response": ZH_R,
    }
    return {**base, **fields}


def test_clean_triple_passes_with_lid_for_every_field(validator):
    verdict = validator.check(triple())
    assert verdict.ok, verdict.reasons
    assert {r.field for r in verdict.lid} == {
        "pivot_instruction",
        "pivot_response",
        "target_instruction",
        "target_response",
    }
    assert all(r.passed for r in verdict.lid)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"target_response": ""}, "empty:target_response"),
        ({"target_response": "   "}, "empty:target_response"),
        ({"target_response": EN_R}, "untranslated:target_response"),
        ({"target_response": IT_R}, "wrong-language:target_response"),
        ({"target_response": "阳光。"}, "length-ratio:target_response"),
        ({"target_response": ZH_R + "\n\n中文回复：" + ZH_R}, "marker-leak:target_response"),
        ({"target_response": ZH_R + "\n中文回复:" + ZH_R}, "marker-leak:target_response"),
        ({"pivot_response": "I think so. " * 60}, "repetition:pivot_response"),
        ({"target_response": "x" * 100_001}, "too-long:target_response"),
    ],
)
def test_each_check_names_its_reason(validator, fields, reason):
    assert reason in validator.check(triple(**fields)).reasons


def test_repeated_line_loop_is_caught(validator):
    loop = ZH_R + "\n" + "\n".join(["我认为这是一个很好的问题，值得思考。"] * 6)
    assert "repetition:target_response" in validator.check(triple(target_response=loop)).reasons


CHORUS = (
    "[Chorus]\nWe keep on rolling down the line\nWe keep on rolling down the line\n"
    "And every mile we leave behind\nWe keep on rolling down the line, yeah\n"
)
LYRICS = "Rewrite this song to be about cooking\n" + "\n".join(
    f"[Verse {n}]\n{verse}\n\n{CHORUS}"
    for n, verse in enumerate(
        [
            "The engine hums beneath the floor\nThe station lights are gone\n"
            "We never cared what came before\nWe only carry on",
            "The river bends, the fields go by\nA town without a name\n"
            "The driver sings a lullaby\nAnd nothing stays the same",
            "So if you see us passing through\nJust raise a hand and wave\n"
            "We'll bring the morning back to you\nWith every song we gave",
        ],
        1,
    )
)


def test_song_with_a_repeated_chorus_is_not_a_loop(validator):
    verdict = validator.check(triple(pivot_instruction=LYRICS))
    assert not any(r.startswith("repetition") for r in verdict.reasons), verdict.reasons


def test_block_of_lines_looping_after_a_good_start_is_caught(validator):
    loop = EN_R + "\n\n" + "\n".join(["Let me explain again.", "The sky is blue."] * 5)
    assert "repetition:pivot_response" in validator.check(triple(pivot_response=loop)).reasons


def test_code_heavy_target_is_judged_on_its_prose(validator):
    code = "```python\n" + "\n".join(f"print('value number {i}')" for i in range(30)) + "\n```"
    verdict = validator.check(
        triple(target_response=ZH_R + "\n\n" + code, pivot_response=EN_R + "\n\n" + code)
    )
    assert verdict.ok, verdict.reasons


def test_identical_short_answers_are_not_untranslated(validator):
    verdict = validator.check(triple(pivot_response="42", target_response="42"))
    assert verdict.ok, verdict.reasons
    assert "lid-short:target_response" in verdict.flags


def test_short_policy_script_rejects_wrong_script():
    v = Validator(ValidationSettings(short_text="script"))
    assert v.check_language("是的。", "zh").passed
    assert not v.check_language("Yes.", "zh").passed
    assert not v.check_language("是的。", "it").passed
    assert v.check_language("Sì.", "it").passed


def test_short_policy_reject_and_accept():
    assert not Validator(ValidationSettings(short_text="reject")).check_language("Sì.", "it").passed
    accept = Validator(ValidationSettings(short_text="accept")).check_language("Yes.", "zh")
    assert accept.passed and accept.basis == "short"


def test_script_decides_for_mixed_chinese_with_english_terms():
    v = Validator()
    result = v.check_language("介绍说明TypeScript和Duck Typing", "zh")
    assert result.passed
    assert not v.check_language(ZH_I, "en").passed


def test_japanese_text_is_not_accepted_as_chinese_by_script():
    result = Validator().check_language("これは日本語の文章です。東京に住んでいます。", "zh")
    assert not result.passed


def test_per_language_threshold_is_applied():
    strict = Validator(ValidationSettings(thresholds={"default": 0.3, "it": 0.999999}))
    assert not strict.check_language(IT_R, "it").passed
    assert Validator().check_language(IT_R, "it").passed


@pytest.mark.parametrize(
    "text", ["Create an AI chatbot", "Make ASCII art of a cat", "Is a thumb war violent?"]
)
def test_short_plain_english_passes_as_english(validator, text):
    assert validator.check_language(text, "en").passed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¿Es violenta una guerra de pulgares?", "en"),
        ("Crea un chatbot de inteligencia artificial", "it"),
        ("Descrivi un cocktail mojito.", "es"),
        ("Is a thumb war violent?", "it"),
    ],
)
def test_short_text_in_another_language_still_fails(validator, text, expected):
    assert not validator.check_language(text, expected).passed


def test_langdetect_backend_works_through_the_same_checks():
    v = Validator(ValidationSettings(detector="langdetect"))
    assert v.check(triple()).ok
    assert "wrong-language:target_response" in v.check(triple(target_response=IT_R)).reasons


def test_check_lid_off_skips_language_checks_but_not_the_others():
    v = Validator(ValidationSettings(check_lid=False))
    verdict = v.check(triple(target_response=IT_R))
    assert verdict.ok and verdict.lid == []
    assert v.check(triple(target_response="")).reasons == ["empty:target_response"]
