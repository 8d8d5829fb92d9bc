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


# -- characters and translator chatter ----------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("A tab\tand a line\nare text.", None),
        ("A NUL\x00 in the middle.", "U+0000"),
        ("An override \u202eabc hides what it reorders.", "U+202E"),
        ("An isolate \u2066abc\u2069.", "U+2066"),
        ("A zero-width space\u200bbetween Latin words.", "U+200B"),
        ("ภาษาไทย\u200bใช้ช่องว่างความกว้างศูนย์", None),  # Thai separates words with it
        ("नमस्\u200dते and مرحبا\u200cبك", None),  # joiners shape Devanagari and Arabic
        ("A family 👨\u200d👩\u200d👧 emoji.", None),  # and join emoji
        ("A right-to-left mark\u200f in English.", "U+200F"),
        ("A byte order mark \ufeffinside.", "U+FEFF"),
        ("A C1 control \x85 from a broken decoder.", "U+0085"),
    ],
)
def test_stray_characters_are_named_and_the_scripts_that_need_them_keep_theirs(text, found):
    from plugdata.checks.characters import stray_character

    assert stray_character(text) == found


def test_a_control_character_in_any_field_is_a_reason_of_its_own(validator):
    verdict = validator.check(triple(target_response=ZH_R[:10] + "\u202e" + ZH_R[10:]))
    assert verdict.reasons == ["control-character:target_response"]
    verdict = validator.check(triple(pivot_instruction=EN_I + "\x00"))
    assert "control-character:pivot_instruction" in verdict.reasons


@pytest.mark.parametrize(
    "target",
    [
        "以下是中文翻译：\n\n" + ZH_R,
        "翻译：" + ZH_R,
        "**译文：**\n" + ZH_R,
        ZH_R + "\n\n注：这是直译，保留了原文的结构。",
        ZH_R + "\n\n（注意：“散射”是物理学术语。）",
        EN_R + "\n\n" + ZH_R,  # the source quoted back before the translation
    ],
)
def test_translator_chatter_around_a_translation_is_commentary(validator, target):
    assert "commentary:target_response" in validator.check(triple(target_response=target)).reasons


@pytest.mark.parametrize(
    ("lang", "target"),
    [
        ("it", "Ecco la traduzione in italiano:\n\n" + IT_R),
        ("it", IT_R + "\n\nNota del traduttore: ho mantenuto il registro formale."),
        ("es", "Aquí está la traducción:\n\nLa luz del sol se dispersa en el aire."),
        ("ko", "다음은 한국어 번역입니다:\n\n햇빛은 공기 분자에 의해 산란됩니다."),
    ],
)
def test_chatter_is_found_in_every_language_of_the_table(validator, lang, target):
    reasons = validator.check(triple(target_lang=lang, target_response=target)).reasons
    assert "commentary:target_response" in reasons


@pytest.mark.parametrize(
    ("pivot", "target"),
    [
        # The pivot has the same framing: translating it is right.
        (
            EN_R + "\n\nNote: the sky at sunset is red for the same reason.",
            ZH_R + "\n\n注：日落时天空发红也是同样的原因。",
        ),
        ("Translation: Bonjour means hello.", "翻译：Bonjour 的意思是你好。"),
        # A labelled last paragraph may become the target language's note.
        (EN_R + "\n\nImportant: never look at the sun.", ZH_R + "\n\n注意：切勿直视太阳。"),
        # A word such as "translation" inside the text is not a preamble.
        ("Machine translation has improved a lot in ten years.", "机器翻译在十年里有了很大进步。"),
        # A short pivot repeated inside a longer answer is not a quoted source.
        ("Hello.", "Hello. 你好，这是一个问候。"),
    ],
)
def test_framing_the_pivot_has_or_words_about_translation_are_not_commentary(
    validator, pivot, target
):
    verdict = validator.check(triple(pivot_response=pivot, target_response=target))
    assert not [r for r in verdict.reasons if r.startswith("commentary")], verdict.reasons


def test_the_commentary_check_can_be_turned_off():
    v = Validator(ValidationSettings(commentary=False))
    assert (
        "commentary:target_response" not in v.check(triple(target_response="翻译：" + ZH_R)).reasons
    )


def test_a_text_remembered_from_one_field_is_named_by_the_field_it_is_in():
    # A field's own reasons are remembered by its text: the same loop met again, as a pivot
    # response for another target language or as another field, names the field it is in now.
    v = Validator(ValidationSettings(alignment=None))
    loop = "I think so. " * 60
    first = v.check(triple(pivot_response=loop)).reasons
    again = v.check(triple(pivot_response=loop, target_lang="it", target_response=IT_R)).reasons
    moved = v.check(triple(pivot_instruction=loop)).reasons
    assert "repetition:pivot_response" in first
    assert "repetition:pivot_response" in again
    assert "repetition:pivot_instruction" in moved and "repetition:pivot_response" not in moved
    assert v.check(triple(pivot_response=loop)).reasons == first


@pytest.mark.parametrize(
    "target",
    [
        "  " + EN_R.upper() + "\n\n" + ZH_R,  # quoted back after spaces, in capitals
        "\n" + EN_R.replace(" ", "\n") + "\n\n" + ZH_R,  # quoted back with its lines broken
    ],
)
def test_a_pivot_quoted_back_is_found_whatever_its_case_and_spacing(validator, target):
    assert "commentary:target_response" in validator.check(triple(target_response=target)).reasons


@pytest.mark.parametrize("script", ["[\u4e00-\u9fff]", "(?:[\u4e00-\u9fff])"])
def test_script_share_reads_a_character_class_and_any_other_pattern_alike(script):
    # A script of one character class is counted in one pass; any other pattern word by word.
    from plugdata.checks.validate import script_share
    from plugdata.core.languages import Language

    language = Language("xx", "Test", "XX:", "YY:", script)
    assert script_share("介绍说明TypeScript和Duck Typing", language) == 0.625
    assert script_share("只有中文", language) == 1.0
    assert script_share("only English here", language) == 0.0
    assert script_share("42 + 17", language) == 0.0
