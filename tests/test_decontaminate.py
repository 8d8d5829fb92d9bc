"""Decontamination against evaluation sets, with real text: the demo corpus written for this
project (44 instructions in en, zh, ko, it, es) stands in for an evaluation set. Its items mixed
into a training corpus, verbatim, with changed case, punctuation and spacing, or inside a longer
instruction, are caught in English and in Chinese; rows that share only a stock phrase are
kept; `build` and `translate` both quarantine them as `contaminated:<set>`."""

import json
import random

import pyarrow.parquet as pq
import pytest

from plugdata.checks.contamination import ContaminationIndex
from plugdata.dataset.folder import read_manifest
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import load_recipe
from plugdata.sources.read import resolve_path

from .conftest import DEMO_RECIPE, corpus_rows, invoke, translate_args, write_jsonl
from .servers import LibreServer

DEMO = resolve_path("builtin:demo", None)


def demo(lang: str) -> list[dict]:
    return [json.loads(line) for line in (DEMO / f"{lang}.jsonl").read_text("utf-8").splitlines()]


def disguise(text: str, seed: int) -> str:
    """The same item as a careless copy would have it: other case, punctuation, spacing."""
    rng = random.Random(seed)
    words = text.replace("?", " ?").replace("，", " , ").split()
    words = [w.upper() if rng.random() < 0.3 else w.lower() for w in words]
    return "  ".join(words).rstrip("?") + "!!"


@pytest.fixture(scope="module")
def index() -> ContaminationIndex:
    built = ContaminationIndex()
    for lang in ("en", "zh"):
        for row in demo(lang):
            built.add("demo", row["instruction"])
    return built


def test_eval_items_verbatim_or_disguised_are_found_in_english_and_chinese(index):
    for lang in ("en", "zh"):
        for i, row in enumerate(demo(lang)):
            item = row["instruction"]
            assert index.find(item) == "demo", item
            assert index.find(disguise(item, i)) == "demo", disguise(item, i)


def test_an_eval_item_inside_a_longer_instruction_is_found():
    index = ContaminationIndex()
    en = next(r["instruction"] for r in demo("en") if len(r["instruction"].split()) >= 13)
    zh = next(r["instruction"] for r in demo("zh") if len(r["instruction"]) >= 25)
    index.add("demo", en)
    index.add("demo", zh)
    assert index.find(f"Please answer carefully. {en} Use at most three sentences.") == "demo"
    assert index.find(f"请认真回答。{zh}请用三句话以内回答。") == "demo"


@pytest.mark.parametrize(
    "text",
    [
        "What is the best way to learn a new language as an adult?",
        "What is the best way to store fresh herbs in the fridge?",
        "Give three tips for staying focused while studying at home.",
        "请解释以下概念，并举一个例子。",
        "请用简单的语言解释为什么天空是蓝色的，并给出一个例子。",
        "How do I cook?",
    ],
)
def test_rows_that_share_only_a_stock_phrase_with_an_item_are_kept(index, text):
    assert index.find(text) is None


def test_short_items_match_only_whole():
    index = ContaminationIndex()
    index.add("eval", "Tell me a joke.")
    assert index.find("tell me a JOKE") == "eval"
    assert index.find("Tell me a joke about cats and dogs, please.") is None


def training_corpus(folder):
    """The test items, the first two demo items verbatim and disguised, and a demo item
    inside a longer instruction."""
    items = demo("en")
    rows = corpus_rows("en")
    rows += [
        {"id": "leak-1", "instruction": items[0]["instruction"], "input": "", "output": "Boil it."},
        {
            "id": "leak-2",
            "instruction": disguise(items[1]["instruction"], 1),
            "input": "",
            "output": "Nitrogen makes up most of it.",
        },
        {
            "id": "leak-3",
            "instruction": "Answer briefly: " + items[30]["instruction"],
            "input": "",
            "output": "It depends.",
        },
    ]
    return write_jsonl(folder / "en.jsonl", rows)


def test_a_build_quarantines_contaminated_rows_and_says_against_what(tmp_path, tiny):
    """The tiny recipe's corpus with demo items mixed in, checked against the demo build's
    folder (an evaluation set as a folder) and against a file of its Chinese items."""
    build(load_recipe(DEMO_RECIPE), tmp_path / "evals", config=RunConfig(quiet=True))
    write_jsonl(tmp_path / "zh-items.jsonl", [{"prompt": r["instruction"]} for r in demo("zh")])
    recipe = tiny.read_text("utf-8") + (
        "decontaminate:\n"
        f"  - {{name: demo, folder: {tmp_path / 'evals' / 'plug-demo'}}}\n"
        "  - {name: demo-zh, path: zh-items.jsonl, column: prompt}\n"
    )
    (tiny.parent / "checked.yaml").write_text(recipe, "utf-8")
    (tiny.parent / "zh-items.jsonl").write_bytes((tmp_path / "zh-items.jsonl").read_bytes())
    en = [json.loads(x) for x in (tiny.parent / "en.jsonl").read_text("utf-8").splitlines()]
    zh = [json.loads(x) for x in (tiny.parent / "zh.jsonl").read_text("utf-8").splitlines()]
    en.append({**en[0], "id": "leak", "instruction": demo("en")[3]["instruction"]})
    zh.append({**zh[0], "id": "leak", "instruction": demo("zh")[5]["instruction"]})
    write_jsonl(tiny.parent / "en.jsonl", en)
    write_jsonl(tiny.parent / "zh.jsonl", zh)
    result = invoke(
        "build", tiny.parent / "checked.yaml", "--out", tmp_path / "out", "--quiet", "--lang", "zh"
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "out" / "tiny"
    quarantined = pq.read_table(root / "quarantine" / "zh.parquet").to_pylist()
    assert [
        (q["id"], q["reason"]) for q in quarantined if q["reason"].startswith("contaminated")
    ] == [("tiny/leak", "contaminated:demo")]
    assert "checked against evaluation sets: demo (" in result.output
    assert "demo-zh (44 texts, 0 rows quarantined)" in result.output
    entry = read_manifest(root).configs["zh"].decontamination
    assert [(e["name"], e["kind"]) for e in entry] == [("demo", "folder"), ("demo-zh", "file")]
    assert str(tmp_path) not in json.dumps(entry)  # no absolute local path
    card = (root / "README.md").read_text("utf-8")
    assert "## Checked against evaluation sets" in card and "| demo-zh | file" in card


def test_translate_quarantines_contaminated_rows_before_sending_them(tmp_path, monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")
    corpus = training_corpus(tmp_path)
    items = write_jsonl(tmp_path / "eval.jsonl", demo("en"))
    with LibreServer() as server:
        options = ["provider=libre", f"base_url={server.url}"]
        args = translate_args(corpus, tmp_path, "deep-translator", options)
        result = invoke(*args, "--decontaminate", f"demo={items}")
        sent = [r["q"] for r in server.requests]
    assert result.exit_code == 0, result.output
    reasons = {
        q["id"]: q["reason"]
        for q in map(json.loads, (tmp_path / "it.quarantine.jsonl").read_text("utf-8").splitlines())
    }
    assert reasons == {
        "en/leak-1": "contaminated:demo",
        "en/leak-2": "contaminated:demo",
        "en/leak-3": "contaminated:demo",
    }
    assert sent  # the other rows were translated


def test_a_recipe_names_its_evaluation_sets_and_each_is_read_as_it_is_given(tmp_path, tiny):
    from plugdata.pipeline.decontaminate import contamination_index

    text = tiny.read_text("utf-8")
    (tiny.parent / "r.yaml").write_text(
        text + f"decontaminate:\n  - {{name: demo, recipe: {DEMO_RECIPE}}}\n", "utf-8"
    )
    index = contamination_index(load_recipe(tiny.parent / "r.yaml"))
    assert index.items == {"demo": 44 * 5}  # the recipe's five corpora, as they are
    assert index.find(demo("it")[7]["instruction"]) == "demo"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("  - {name: a, path: x.jsonl, folder: y}\n", "give exactly one of `folder`, `path`"),
        ("  - {name: a, path: x.jsonl}\n  - {name: a, path: y.jsonl}\n", "a name of its own"),
        ("  - {name: 'a b', path: x.jsonl}\n", "use letters, digits"),
        ("  - {name: a, folder: y, column: q}\n", "`column` goes with `path`"),
    ],
)
def test_a_wrong_decontaminate_section_is_one_line(tmp_path, tiny, entries, message):
    from plugdata.errors import RecipeError

    (tiny.parent / "r.yaml").write_text(tiny.read_text("utf-8") + "decontaminate:\n" + entries)
    with pytest.raises(RecipeError, match=message):
        load_recipe(tiny.parent / "r.yaml")


def test_an_evaluation_set_without_items_stops_the_build_in_one_line(tmp_path, tiny):
    (tiny.parent / "empty.jsonl").write_text('{"instruction": ""}\n', "utf-8")
    text = tiny.read_text("utf-8") + "decontaminate:\n  - {name: nothing, path: empty.jsonl}\n"
    (tiny.parent / "r.yaml").write_text(text, "utf-8")
    result = invoke("build", tiny.parent / "r.yaml", "--out", tmp_path / "out", "--quiet")
    assert "decontaminate nothing: no evaluation item found in empty.jsonl" in result.output
    assert result.exit_code == 1


def test_an_eval_recipe_is_not_checked_against_eval_sets(tmp_path, tiny):
    from plugdata.errors import RecipeError

    text = tiny.read_text("utf-8") + "kind: eval\ndecontaminate:\n  - {name: a, path: x.jsonl}\n"
    (tiny.parent / "r.yaml").write_text(text, "utf-8")
    with pytest.raises(RecipeError, match="only a training recipe is checked against eval sets"):
        load_recipe(tiny.parent / "r.yaml")
