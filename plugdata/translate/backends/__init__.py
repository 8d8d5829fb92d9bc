"""Translator backends by name, and the one way to make one: its options checked against its own
typed model, wherever they come from (a recipe, `--option KEY=VALUE`, a Ray worker). Tests add
their own backends with `monkeypatch.setitem(TRANSLATORS, ...)`."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from plugdata.core.languages import LANGUAGES, LanguageTable
from plugdata.core.safe_yaml import safe_yaml_load
from plugdata.errors import PlugdataError
from plugdata.translate.backends.base import BackendOptions, Translator
from plugdata.translate.backends.chat import ChatBackend
from plugdata.translate.backends.deep import DeepTranslatorBackend
from plugdata.translate.backends.seq2seq import Seq2SeqBackend

TRANSLATORS: dict[str, type[Translator]] = {
    DeepTranslatorBackend.name: DeepTranslatorBackend,
    ChatBackend.name: ChatBackend,
    Seq2SeqBackend.name: Seq2SeqBackend,
}


def backend_options(
    name: str, options: dict[str, Any], where: str, *, in_recipe: bool = True
) -> BackendOptions:
    """`options` checked by backend `name`'s own model; a refusal is one line naming where the
    key is, with the closest known key. `where`: the recipe key path that holds the options
    (`targets.zh.translate`), or, not `in_recipe`, the command whose `--option` gave them."""
    if name not in TRANSLATORS:
        close = difflib.get_close_matches(name, TRANSLATORS, n=1)
        known = ", ".join(TRANSLATORS)
        hint = f"did you mean {close[0]!r}?" if close else f"choose one of: {known}"
        raise PlugdataError(f"{where}: unknown backend {name!r}; {hint}")
    model = TRANSLATORS[name].Options
    try:
        return model(**options)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        unknown = first["type"] == "extra_forbidden"
        # Two suggestions: a backend's keys can be one letter apart (`mode`, `model`).
        close = difflib.get_close_matches(key, model.model_fields, n=2) if unknown else []
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        if unknown and not close:
            hint = f" (options of {name}: {', '.join(model.model_fields)})"
        if not in_recipe:
            raise PlugdataError(f"{where}: option {key!r}: {first['msg']}{hint}") from None
        problem = "unknown key" if unknown else first["msg"]
        raise PlugdataError(f"{where}.{key}: {problem}{hint}") from None


def make_translator(
    name: str,
    options: dict[str, Any],
    where: str = "translate",
    languages: LanguageTable = LANGUAGES,
    *,
    in_recipe: bool = False,
) -> Translator:
    """Backend `name` with its checked options (see `backend_options`). `languages` names and
    spells the codes it is asked for (a recipe's own table)."""
    checked = backend_options(name, options, where, in_recipe=in_recipe)
    translator = TRANSLATORS[name](checked)
    translator.languages = languages
    return translator


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`KEY=VALUE` strings (`--option`); values read as YAML scalars (numbers, booleans,
    strings)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PlugdataError(f"--option {pair!r}: use KEY=VALUE")
        options[key.strip()] = safe_yaml_load(value, f"--option {key.strip()}") if value else ""
    return options
