"""A build whose recipe declares a language of its own (Dutch, which the built-in table lacks):
translation, validation, rendering, extraction and the card all use the recipe's table, and
the built-in table never learns the language."""

import datasets
import pyarrow.parquet as pq

from plugdata.core.formats import extract
from plugdata.core.languages import LANGUAGES
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import load_recipe
from plugdata.translate import protect

from .conftest import write_jsonl

# (English instruction, English response, Dutch instruction, Dutch response). The last Dutch
# response opens with the recipe's own response header: only that recipe's table knows it.
ITEMS = [
    (
        "Why do leaves change colour in autumn?",
        "In autumn the days get shorter and trees stop producing chlorophyll, the green pigment. "
        "As it breaks down, yellow and orange pigments that were always present become visible.",
        "Waarom veranderen bladeren in de herfst van kleur?",
        "In de herfst worden de dagen korter en stoppen bomen met het aanmaken van chlorofyl, het "
        "groene pigment. Wanneer het wordt afgebroken, worden de gele en oranje pigmenten "
        "zichtbaar die er altijd al waren.",
    ),
    (
        "Describe how to boil an egg so that the yolk stays soft.",
        "Bring water to a boil, lower the egg in gently with a spoon and cook it for six minutes. "
        "Then move it to cold water for one minute before peeling.",
        "Beschrijf hoe je een ei kookt zodat de dooier zacht blijft.",
        "Breng water aan de kook, laat het ei voorzichtig met een lepel in de pan zakken en kook "
        "het zes minuten. Leg het daarna een minuut in koud water voordat je het pelt.",
    ),
    (
        "Suggest a name for a small bakery that sells bread made with local flour.",
        "How about Field and Oven? It tells customers that the flour comes from nearby fields "
        "and that the bread is baked fresh every day.",
        "Bedenk een naam voor een kleine bakkerij die brood verkoopt van meel uit de streek.",
        "Wat dacht je van Veld en Oven? De naam vertelt klanten dat het meel van velden in de "
        "buurt komt en dat het brood elke dag vers wordt gebakken.",
    ),
    (
        "Explain why the sky looks blue on a clear day.",
        "Sunlight is scattered by the molecules of the air, and blue light is scattered much "
        "more than red light, so the sky looks blue from every direction.",
        "Leg uit waarom de lucht op een heldere dag blauw lijkt.",
        "Nederlands antwoord: zonlicht wordt verstrooid door de moleculen in de lucht, en blauw "
        "licht wordt veel sterker verstrooid dan rood licht, dus de lucht lijkt overal blauw.",
    ),
]

RECIPE = """\
name: dutch
pivot: en
languages:
  - code: nl
    name: Dutch
    response_header: "Nederlands antwoord:"
    instruction_header: "Nederlandse instructie:"
    script: "[A-Za-z\\u00c0-\\u024f]"
    length_factor: 1.1
    codes: {nllb: nld_Latn}
source: {name: dutch, path: en.jsonl}
targets:
  nl: {translate: {backend: phrasebook, cache: cache.sqlite, concurrency: 1}}
splits: {validation: 0}
card: {pretty_name: Dutch test set, license: cc-by-4.0}
"""


def _phrase_book() -> dict[str, str]:
    """English segment -> Dutch segment, segmented as the engine segments."""
    book = {}
    for en_i, en_r, nl_i, nl_r in ITEMS:
        for en, nl in ((en_i, nl_i), (en_r, nl_r)):
            pairs = zip(protect.parse(en).segments, protect.parse(nl).segments, strict=True)
            book.update({a.text: b.text for a, b in pairs})
    return book


def test_build_with_a_recipe_declared_language_translates_renders_and_validates_with_it(
    tmp_path, monkeypatch
):
    from plugdata.translate.backends import TRANSLATORS
    from plugdata.translate.backends.base import Translator

    book, asked = _phrase_book(), []

    class PhraseBook(Translator):  # Dutch from the book; notes how the language was named
        name = "phrasebook"

        def translate_batch(self, texts, source, target):
            asked.append((self.language_name(target), self.language_code(target, "nllb")))
            return ["\n".join(book[line] for line in text.split("\n")) for text in texts]

    monkeypatch.setitem(TRANSLATORS, "phrasebook", PhraseBook)
    write_jsonl(
        tmp_path / "en.jsonl",
        [{"instruction": i, "input": "", "output": r} for i, r, _, _ in ITEMS],
    )
    (tmp_path / "dutch.yaml").write_text(RECIPE, encoding="utf-8")
    recipe = load_recipe(tmp_path / "dutch.yaml")

    report = build(recipe, tmp_path / "out", config=RunConfig(quiet=True))

    assert "nl" not in LANGUAGES
    assert set(asked) == {("Dutch", "nld_Latn")}
    # Validated with the recipe's table: fastText's `nl` is the declared code, and the header
    # only the recipe declares is a leaked marker.
    root = tmp_path / "out" / "dutch"
    assert report.ledgers["nl"].kept == 3
    quarantine = pq.read_table(root / "quarantine" / "nl.parquet").to_pylist()
    assert [q["reason"] for q in quarantine] == ["marker-leak:target_response"]
    triples = datasets.load_dataset(str(root), "nl", split="train")
    assert all(
        lid["label"] == "nl" and lid["passed"]
        for t in triples
        for lid in t["meta"]["lid"]
        if lid["expected"] == "nl"
    )
    # Rendered with the recipe's headers and names, and extracted back with its table.
    row = next(
        r for r in datasets.load_dataset(str(root), "nl-plug", split="train") if r["kind"] == "plug"
    )
    system, completion = row["prompt"][0]["content"], row["completion"][0]["content"]
    assert "in English, and finally give the answer in Dutch." in system
    assert "\n\nNederlands antwoord:\n" in completion
    target = {t["id"]: t["target_response"] for t in triples}[row["id"]]
    assert extract(completion, "plug", "nl", recipe.language_table).output == target
    card = (root / "README.md").read_text(encoding="utf-8")
    assert "`nl-plug`" in card and "- nl" in card
