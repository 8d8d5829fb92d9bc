"""The dataset card: what it says about methods comes from the method table."""

import re

from plugdata.core.formats import METHODS
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
    from plugdata.dataset.folder import read_manifest

    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    manifest = read_manifest(tmp_path / "out" / "tiny")
    assert manifest.language_names == {"en": "English", "zh": "Chinese", "it": "Italian"}
    for info in manifest.configs.values():
        info.pivot = "sw"  # as if a recipe had declared Swahili as its pivot
    manifest.language_names["sw"] = "Swahili"
    assert "language (Swahili)" in render_card(manifest, "org/tiny")
