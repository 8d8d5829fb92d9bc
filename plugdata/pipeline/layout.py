"""Where one language's rows go: the configs (`<lang>` and each `<lang>-<method>`), their splits
and Arrow schemas, computed once per language and read by both the chunk stages (which route,
split and render every row) and the sink (which writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa

from plugdata.core.formats import METHODS
from plugdata.core.languages import LanguageTable
from plugdata.core.schema import quarantine_schema, triple_schema
from plugdata.dataset.folder import config_name
from plugdata.dataset.splits import split_of
from plugdata.pipeline.recipe import Recipe

ALL = "all"  # the one split of a stream of triples (`plugdata translate`)


class MethodConfig(NamedTuple):
    """A `<lang>-<method>` config: its method, whether the pivot rows join its mixture, and
    the text of its rows' system turn (None: none), as `Recipe.system_prompts_of` resolves it."""

    method: str
    pivot_rows: bool
    system_prompt: str | None


@dataclass(frozen=True)
class Layout:
    """`methods`: each method config by name. With two splits (`train`, `validation`), a
    row's split comes from its id (`dataset.splits`)."""

    lang: str
    responses: bool
    schema: pa.Schema
    quarantine_schema: pa.Schema
    splits: tuple[str, ...]
    methods: dict[str, MethodConfig]
    languages: LanguageTable
    validation: float = 0.0
    salt: str = ""

    @classmethod
    def of(cls, recipe: Recipe, lang: str, *, stream: bool = False) -> Layout:
        """The layout of a dataset folder: a training recipe's triples in `train` and
        `validation`, with every method's config; an eval set's in `test`. `stream`: the
        triples alone, in one split, in corpus order (for a JSON Lines file)."""
        kept = recipe.kept_columns(lang)
        train = recipe.responses and not stream
        if stream:
            splits: tuple[str, ...] = (ALL,)
        else:
            splits = ("train", "validation") if recipe.responses else ("test",)
        prompts = recipe.system_prompts_of(lang) if train else {}
        methods = {
            config_name(lang, m): MethodConfig(
                m, recipe.pivot_rows.get(m, METHODS[m].pivot_rows), prompts[m]
            )
            for m in (recipe.methods if train else [])
        }
        return cls(
            lang,
            recipe.responses,
            triple_schema(recipe.responses, kept),
            quarantine_schema(recipe.responses, kept),
            splits,
            methods,
            recipe.language_table,
            recipe.splits.validation,
            recipe.splits.salt,
        )

    @property
    def configs(self) -> list[str]:
        return [self.lang, *self.methods]

    def split_of(self, row_id: str) -> str:
        if len(self.splits) == 1:
            return self.splits[0]
        return split_of(row_id, self.validation, self.salt)
