"""The dataset card: what it says about methods comes from the method table."""

from plugdata.build import build
from plugdata.formats import METHODS
from plugdata.recipe import load_recipe


def test_every_method_of_the_table_is_described_in_the_card(tiny, tmp_path):
    recipe = load_recipe(tiny)
    assert recipe.methods == list(METHODS)  # the default: every method of the table
    build(recipe, tmp_path / "out", progress=False)
    card = (tmp_path / "out" / "tiny" / "README.md").read_text(encoding="utf-8")
    for method in METHODS.values():
        assert f"### `{method.name}`\n\n{method.about}" in card
