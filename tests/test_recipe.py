import pytest

from plugdata.core.languages import LANGUAGES
from plugdata.errors import RecipeError
from plugdata.pipeline.recipe import load_recipe

from .conftest import RECIPE


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_recipe_loads_with_defaults(tiny):
    recipe = load_recipe(tiny)
    assert recipe.pivot == "en" and list(recipe.targets) == ["zh", "it"]
    assert recipe.methods == ["plug", "plug-pro", "mono", "pivot-only", "code-switch"]
    assert recipe.base_dir == tiny.parent


def test_typo_in_key_names_file_path_and_suggestion(tmp_path):
    path = write(tmp_path, RECIPE.format(join="id").replace("zh: {align:", "zh: {aling:"))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(err.value).startswith(f"{path}: ")
    assert "targets.zh.aling: unknown key (did you mean 'align'?)" in str(err.value)


def test_top_level_typo_is_named(tmp_path):
    path = write(tmp_path, RECIPE.format(join="id").replace("splits:", "split:"))
    with pytest.raises(RecipeError, match=r"split: unknown key \(did you mean 'splits'\?\)"):
        load_recipe(path)


def test_unknown_language_lists_known_codes(tmp_path):
    path = write(tmp_path, RECIPE.format(join="id").replace("  it: {", "  xx: {"))
    with pytest.raises(RecipeError, match=r"unknown language code 'xx'; known: de, en, es"):
        load_recipe(path)


def test_bad_enum_value_names_key(tmp_path):
    path = write(tmp_path, RECIPE.format(join="row"))
    with pytest.raises(RecipeError, match=r"targets\.zh\.align\.join: Input should be"):
        load_recipe(path)


def test_unknown_method_names_key(tmp_path):
    path = write(tmp_path, RECIPE.format(join="id") + "methods: [plug, plugg]\n")
    with pytest.raises(RecipeError, match=r"methods\.1: Input should be 'plug'"):
        load_recipe(path)


def test_target_equal_to_pivot_is_rejected(tmp_path):
    path = write(tmp_path, RECIPE.format(join="id").replace("  it: {", "  en: {"))
    with pytest.raises(RecipeError, match="target 'en' is the pivot language"):
        load_recipe(path)


def test_invalid_yaml_names_line(tmp_path):
    path = write(tmp_path, "name: x\nsource: [unclosed\n")
    with pytest.raises(RecipeError, match=r"r\.yaml:\d+: not valid YAML"):
        load_recipe(path)


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_recipe_can_add_a_language(tmp_path):
    text = RECIPE.format(join="id").replace("  it: {", "  sw: {") + (
        "languages:\n  - {code: sw, name: Swahili, response_header: 'Jibu kwa Kiswahili:',"
        " instruction_header: 'Maagizo kwa Kiswahili:'}\n"
    )
    recipe = load_recipe(write(tmp_path, text))
    assert "sw" in recipe.targets


def test_a_recipes_languages_stay_in_its_own_table(tmp_path):
    swahili = RECIPE.format(join="id").replace("  it: {", "  sw: {")
    declared = swahili + (
        "languages:\n  - {code: sw, name: Swahili, response_header: 'Jibu kwa Kiswahili:',"
        " instruction_header: 'Maagizo kwa Kiswahili:', codes: {nllb: swh_Latn}}\n"
    )
    recipe = load_recipe(write(tmp_path, declared))
    assert recipe.language_table.get("sw").codes == {"nllb": "swh_Latn"}
    assert "sw" not in LANGUAGES and "sw" not in LANGUAGES.codes()
    assert LANGUAGES.find_marker("Jibu kwa Kiswahili: ndiyo") is None
    # The next recipe that uses Swahili without declaring it is refused, as before any other.
    with pytest.raises(RecipeError, match=r"unknown language code 'sw'; known: de, en, es"):
        load_recipe(write(tmp_path, swahili))


def test_unknown_key_in_a_language_entry_suggests_the_field(tmp_path):
    text = RECIPE.format(join="id") + (
        "languages:\n  - {code: sw, name: Swahili, response_header: 'Jibu:',"
        " instruction_header: 'Maagizo:', aliases: [swh]}\n"
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(write(tmp_path, text))
    assert "languages.0.aliases: unknown key (did you mean 'detector_aliases'?)" in str(err.value)


def test_digest_ignores_location_but_not_content(tmp_path, tiny):
    copy = tmp_path / "elsewhere" / "tiny.yaml"
    copy.parent.mkdir()
    copy.write_text(tiny.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_recipe(copy).digest() == load_recipe(tiny).digest()
    copy.write_text(tiny.read_text(encoding="utf-8").replace("0.25", "0.3"), encoding="utf-8")
    assert load_recipe(copy).digest() != load_recipe(tiny).digest()


def test_pivot_rows_for_an_unknown_method_names_key(tmp_path):
    path = write(tmp_path, RECIPE.format(join="id") + "pivot_rows: {mno: true}\n")
    with pytest.raises(RecipeError, match=r"pivot_rows\.mno\.\[key\]: Input should be 'plug'"):
        load_recipe(path)


TRANSLATING = """\
name: mt
source: {name: mt, path: en.jsonl}
targets:
  zh: {translate: {backend: openai-chat, modle: gpt-4o-mini, fallback: [%s]}}
card: {pretty_name: MT, license: cc-by-4.0}
"""


def test_a_typo_in_a_backend_option_is_refused_on_load_with_a_suggestion(tmp_path):
    path = write(tmp_path, TRANSLATING % "")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(err.value) == (
        f"{path}: targets.zh.translate.modle: unknown key (did you mean 'mode' or 'model'?)"
    )


def test_a_fallback_s_options_and_backend_are_checked_on_load_too(tmp_path):
    fixed = TRANSLATING.replace("modle", "model")
    with pytest.raises(
        RecipeError,
        match=r"translate\.fallback\.0\.provder: unknown key \(did you mean 'provider'\?\)",
    ):
        load_recipe(write(tmp_path, fixed % "{backend: deep-translator, provder: google}"))
    with pytest.raises(
        RecipeError,
        match=r"translate\.fallback\.0: unknown backend 'deepl'; choose one of: deep-translator, openai-chat, seq2seq$",
    ):
        load_recipe(write(tmp_path, fixed % "{backend: deepl}"))
    with pytest.raises(
        RecipeError, match=r"targets\.zh\.translate\.temperature: Input should be a valid number"
    ):
        load_recipe(write(tmp_path, fixed.replace("model:", "temperature: warm, model:") % ""))


def test_a_dry_run_refuses_the_typo_before_printing_a_plan(tmp_path):
    from .conftest import invoke, one_line_error

    path = write(tmp_path, TRANSLATING % "")
    line = one_line_error(invoke("build", path, "--dry-run"))
    assert (
        line
        == f"Error: {path}: targets.zh.translate.modle: unknown key (did you mean 'mode' or 'model'?)"
    )


PROMPTS = "system_prompts: {plug: 'Interpret in {pivot}; answer in {pivot} and {target}.'}\n"


def test_system_prompts_resolve_per_language_then_recipe_then_table(tmp_path):
    from plugdata.core.formats import system_prompt

    own = "system_prompts: {plug: 'Rispondi in {target}.', mono: null}"
    text = RECIPE.format(join="id").replace("join: id}}\nsplits", f"join: id}}, {own}}}\nsplits")
    recipe = load_recipe(write(tmp_path, text + PROMPTS))
    zh, it = recipe.system_prompts_of("zh"), recipe.system_prompts_of("it")
    assert zh["plug"] == "Interpret in English; answer in English and Chinese."
    assert it["plug"] == "Rispondi in Italian." and it["mono"] is None
    assert zh["mono"] == system_prompt("mono", "en", "zh")
    assert zh["pivot-only"] is None and list(zh) == recipe.methods


def test_digest_is_unchanged_by_unset_system_prompts_and_changed_by_set_ones(tmp_path, tiny):
    plain = load_recipe(tiny).digest()
    text = RECIPE.format(join="id").replace(
        "join: id}}\nsplits", "join: id}, system_prompts: {}}\nsplits"
    )
    assert load_recipe(write(tmp_path, text + "system_prompts: {}\n")).digest() == plain
    assert load_recipe(write(tmp_path, text + PROMPTS)).digest() != plain


@pytest.mark.parametrize(
    ("added", "message"),
    [
        ("system_prompts: {mno: hi}\n", r"system_prompts\.mno\.\[key\]: Input should be 'plug'"),
        (
            "system_prompts: {plug: 'In {targt}.'}\n",
            r"system_prompts\.plug: unknown placeholder \{targt\}; use \{pivot\} and \{target\}",
        ),
        ("system_prompts: {plug: 'In {target.'}\n", r"system_prompts\.plug: not a template"),
        ("system_prompts: {plug: ' '}\n", r"system_prompts\.plug: empty; write null"),
        (
            "methods: [plug]\nsystem_prompts: {mono: 'Hi.'}\n",
            r"system_prompts\.mono: the recipe does not render 'mono' \(methods: plug\)$",
        ),
        ("kind: eval\n" + PROMPTS, r"system_prompts: an eval recipe renders no training rows"),
    ],
)
def test_a_bad_system_prompt_names_file_and_key(tmp_path, added, message):
    path = write(tmp_path, RECIPE.format(join="id") + added)
    with pytest.raises(RecipeError, match=message) as err:
        load_recipe(path)
    assert str(err.value).startswith(f"{path}: ")


def test_a_targets_system_prompt_for_an_unknown_method_names_the_target(tmp_path):
    text = RECIPE.format(join="id").replace(
        "join: id}}\nsplits", "join: id}, system_prompts: {plugg: x}}\nsplits"
    )
    with pytest.raises(RecipeError, match=r"targets\.it\.system_prompts\.plugg\.\[key\]: Input"):
        load_recipe(write(tmp_path, text))
