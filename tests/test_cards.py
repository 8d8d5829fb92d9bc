"""The dataset card: what it says about methods comes from the method table; its header is what
`datasets` reads (the default config, `dataset_info`)."""

import re

import datasets
import pytest
from datasets.info import DatasetInfosDict

from plugdata.core.formats import METHODS, prompt_messages, system_prompt
from plugdata.dataset.folder import read_manifest
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import load_recipe


def test_every_method_of_the_table_is_described_in_the_card(tiny, tmp_path):
    recipe = load_recipe(tiny)
    assert recipe.methods == list(METHODS)  # the default: every method of the table
    build(recipe, tmp_path / "out", config=RunConfig(quiet=True))
    card = (tmp_path / "out" / "tiny" / "README.md").read_text(encoding="utf-8")
    for method in METHODS.values():
        assert f"### `{method.name}`\n\n{method.about}" in card


def test_each_method_example_in_the_card_is_a_row_of_its_own_kind(tiny, tmp_path):
    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    card = (tmp_path / "out" / "tiny" / "README.md").read_text(encoding="utf-8")
    own = {
        "plug": ["plug"],
        "plug-pro": ["plug-pro"],
        "mono": ["mono"],
        "pivot-only": ["pivot"],
        "code-switch": ["code-switch-t2p", "code-switch-p2t"],
    }
    shown = re.findall(r"Example \(`\w+-([\w-]+)`, kind `([\w-]+)`\)", card)
    assert {method for method, _ in shown} == set(METHODS)
    for method, kind in shown:
        assert kind in own[method], (method, kind)
    assert "Risposta in italiano:" in card or "中文回复：" in card  # a PLUG completion is shown


def test_the_card_names_a_recipe_declared_pivot_from_the_manifest_alone(tiny, tmp_path):
    """Publishing renders the card without the recipe: the manifest carries the names."""
    from plugdata.dataset.cards import render_card

    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    manifest = read_manifest(tmp_path / "out" / "tiny")
    assert manifest.language_names == {"en": "English", "zh": "Chinese", "it": "Italian"}
    for info in manifest.configs.values():
        info.pivot = "sw"  # as if a recipe had declared Swahili as its pivot
    manifest.language_names["sw"] = "Swahili"
    assert "language (Swahili)" in render_card(manifest, "org/tiny")


def _header(root):
    from huggingface_hub import DatasetCard

    return DatasetCard.load(root / "README.md").data


@pytest.mark.parametrize(("kind", "default"), [("train", "zh-plug"), ("eval", "zh")])
def test_load_dataset_without_a_config_name_loads_the_default_config(tiny, tmp_path, kind, default):
    """The first target's `plug` rows (an eval set's first target), marked once in the header
    and kept when another language is built later."""
    tiny.write_text(tiny.read_text("utf-8") + f"kind: {kind}\n", encoding="utf-8")
    recipe = load_recipe(tiny)
    build(recipe, tmp_path / "out", langs=["zh"], config=RunConfig(quiet=True))
    build(recipe, tmp_path / "out", langs=["it"], config=RunConfig(quiet=True))
    root = tmp_path / "out" / "tiny"
    marked = [c["config_name"] for c in _header(root).configs if c.get("default")]
    assert marked == [default]
    loaded = datasets.load_dataset(str(root), cache_dir=str(tmp_path / "cache"))
    named = datasets.load_dataset(str(root), default, cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == list(named) and all(
        loaded[s].to_list() == named[s].to_list() for s in named
    )
    card = (root / "README.md").read_text(encoding="utf-8")
    assert f"without a config name loads the default config, `{default}`" in card


@pytest.mark.parametrize("kind", ["train", "eval"])
def test_the_headers_dataset_info_is_what_datasets_computes_when_it_loads(tiny, tmp_path, kind):
    """`features` as `datasets` infers them from the parquet files; per split `num_bytes` the
    in-memory Arrow size, `dataset_size` their sum, `download_size` the parquet bytes."""
    from plugdata.dataset.folder import split_pattern

    tiny.write_text(tiny.read_text("utf-8") + f"kind: {kind}\n", encoding="utf-8")
    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    root = tmp_path / "out" / "tiny"
    infos = DatasetInfosDict.from_dataset_card_data(_header(root))
    manifest = read_manifest(root)
    assert set(infos) == set(manifest.configs)
    cache = str(tmp_path / "cache")
    for name, entry in manifest.configs.items():
        info = infos[name]
        files = {s: str(root / split_pattern(name, s)) for s in entry.splits}
        plain = datasets.load_dataset("parquet", data_files=files, cache_dir=cache)  # no card
        via_card = datasets.load_dataset(str(root), name, cache_dir=cache)
        for split, ds in plain.items():
            assert info.features == ds.features == via_card[split].features, name
            assert info.splits[split].num_examples == ds.num_rows
            # The rows' size as written: a table read back can lack a validity buffer that the
            # written one had (no nulls), a fraction of a percent.
            read_back = ds.info.splits[split].num_bytes
            assert info.splits[split].num_bytes == pytest.approx(read_back, rel=0.005), name
            assert via_card[split].info.splits[split].num_bytes == read_back
        assert info.dataset_size == sum(s.num_bytes for s in info.splits.values())
        assert info.download_size == sum((root / f).stat().st_size for f in entry.files)


def test_features_are_written_as_datasets_writes_them_for_every_column_type(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import DatasetInfo, Features
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    from plugdata.dataset.folder import features_of

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    schema = pa.schema(
        [
            ("text", pa.string()),
            ("big", pa.large_string()),
            ("n", pa.int64()),
            ("small", pa.int32()),
            ("x", pa.float64()),
            ("y", pa.float32()),
            ("ok", pa.bool_()),
            ("answers", pa.list_(pa.string())),
            ("nested", pa.list_(pa.list_(pa.int64()))),
            ("prompt", pa.list_(message)),
            ("meta", pa.struct([("flags", pa.list_(pa.string())), ("lid", pa.list_(message))])),
        ]
    )
    pq.write_table(schema.empty_table(), tmp_path / "t.parquet")
    card = DatasetCardData()
    info = DatasetInfo(features=Features.from_arrow_schema(schema))
    DatasetInfosDict({"c": info}).to_dataset_card_data(card)
    assert features_of(tmp_path, {"t.parquet": "train"}) == card["dataset_info"]["features"]


def test_a_recipes_system_prompts_reach_the_rows_the_manifest_and_the_card(tiny, tmp_path):
    own = "system_prompts: {plug: 'Rispondi | in {target}.'}"
    text = tiny.read_text("utf-8").replace("it.jsonl, join: id}}", f"it.jsonl, join: id}}, {own}}}")
    text += "system_prompts: {plug: 'Read in {pivot}; answer in {pivot}, then {target}.', "
    text += "mono: null}\n"
    tiny.write_text(text, encoding="utf-8")
    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    root = tmp_path / "out" / "tiny"
    manifest = read_manifest(root)
    expected = {
        "zh-plug": "Read in English; answer in English, then Chinese.",
        "it-plug": "Rispondi | in Italian.",  # the target's own wins
        "zh-mono": None,
        "zh-plug-pro": system_prompt("plug-pro", "en", "zh"),  # not set: the table's
        "zh-pivot-only": None,
    }
    for config, system in expected.items():
        info = manifest.configs[config]
        assert info.system_prompt == system
        rows = datasets.load_dataset(str(root), config, split="train", cache_dir=str(tmp_path))
        for row in rows:
            if row["kind"] == "pivot" and info.method != "pivot-only":
                assert [m["role"] for m in row["prompt"]] == ["user"]  # the mixture's
                continue
            # Generation, given the manifest's text, prompts exactly as training did.
            user = row["prompt"][-1]["content"]
            triple = {"pivot_lang": "en", "target_lang": info.language}
            triple |= {"target_instruction": user, "pivot_instruction": user}
            assert row["prompt"] == prompt_messages(
                info.method, triple, system_prompts={info.method: system}
            )
            assert (row["prompt"][0]["role"] == "system") == (system is not None)
    card = (root / "README.md").read_text(encoding="utf-8")
    assert "| `zh-plug` | Read in English; answer in English, then Chinese. |" in card
    assert "| `it-plug` | Rispondi \\| in Italian. |" in card
    assert "| `zh-mono` | (none) |" in card
