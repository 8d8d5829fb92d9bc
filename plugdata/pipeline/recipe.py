"""Recipes: the YAML description of one dataset build, validated into typed models.

Unknown keys are errors, and every error names the file and the key path, e.g.
`recipes/demo.yaml: targets.zh.aling: unknown key (did you mean 'align'?)`. YAML is read with
`safe_yaml_load`, which also refuses aliases that expand a small file into a huge structure.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

from plugdata.checks.validate import ValidationSettings
from plugdata.core.formats import METHODS, PLACEHOLDERS, placeholders, system_prompt
from plugdata.core.languages import LANGUAGES, Language, LanguageTable
from plugdata.core.safe_yaml import safe_yaml_load
from plugdata.errors import PlugdataError, RecipeError
from plugdata.hub.publish import PublishTarget
from plugdata.sources.corpus import _NAME, Align, Source, Strict, Text, keep_kind, not_blank
from plugdata.translate.backends import backend_options
from plugdata.translate.engine import DEFAULT_CONCURRENCY, Concurrency

METHOD_NAMES = tuple(METHODS)  # the method table's names, in its order
_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SYSTEM_PROMPTS = "system_prompts"


def _template_ok(v: str) -> str:
    """A system prompt template fills in only the languages' names: a typo such as `{targt}`
    would otherwise stop the build at the first row, or a lone brace print as it is."""
    if not v.strip():
        raise ValueError("empty; write null for no system turn")
    hint = "write a literal brace as {{ or }}"
    try:
        names = placeholders(v)
    except ValueError as exc:
        raise ValueError(f"not a template ({exc}); {hint}") from None
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}; use {{pivot}} and {{target}} (the languages' "
            f"names), and {hint}"
        )
    return v


# A method's system prompt: a template over {pivot} and {target}, or null for no system turn.
SystemPromptTemplates = dict[
    Literal[METHOD_NAMES], Annotated[str, AfterValidator(_template_ok)] | None
]


class Fallback(BaseModel):
    """Another backend to try for rows the first one could not translate safely; other keys
    are the backend's options (the names of `plugdata translate --option`), checked on load by
    the backend's own options model."""

    model_config = ConfigDict(extra="allow")
    backend: Text

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Translate(Fallback):
    """Machine translation of the pivot corpus with a backend (and fallbacks)."""

    fallback: list[Fallback] = Field(default_factory=list)
    concurrency: Concurrency = DEFAULT_CONCURRENCY
    max_cost: float | None = Field(None, ge=0, description="USD cap for this language")
    cache: Text | None = Field(None, description="segment cache file (default: user cache)")


def _check_backends(spec: Translate, where: str) -> None:
    """Each backend's options checked by its own model when the recipe is read, so that a typo
    stops a dry run too, before any language is paid for."""
    backend_options(spec.backend, spec.options, where)
    for i, fallback in enumerate(spec.fallback):
        backend_options(fallback.backend, fallback.options, f"{where}.fallback.{i}")


class EvalSet(Strict):
    """An evaluation set a training build is checked against (`decontaminate:`): a dataset
    folder plugdata built from an eval recipe, a file of evaluation items, or an eval recipe
    whose corpora are read as they are. Relative paths are relative to the recipe."""

    name: Text = Field(description="names the set in `contaminated:<name>` and the card")
    folder: Text | None = Field(None, description="a dataset folder built from an eval recipe")
    path: Text | None = Field(None, description="a json, jsonl, csv or parquet file of items")
    column: Text | None = Field(None, description="the instruction column of `path`")
    recipe: Text | None = Field(None, description="an eval recipe, its corpora read as they are")
    corpus: dict[str, Text] = Field(
        default_factory=dict, description="with `recipe`: local files for its languages"
    )

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use letters, digits, '.', '_' or '-'")
        return v

    @model_validator(mode="after")
    def _one_place(self) -> EvalSet:
        if sum(x is not None for x in (self.folder, self.path, self.recipe)) != 1:
            raise ValueError("give exactly one of `folder`, `path` or `recipe`")
        if self.column is not None and self.path is None:
            raise ValueError("`column` goes with `path`")
        if self.corpus and self.recipe is None:
            raise ValueError("`corpus` goes with `recipe`")
        return self


class Target(Strict):
    align: Align | None = None
    translate: Translate | None = None
    system_prompts: SystemPromptTemplates = Field(
        default_factory=dict,
        description="this language's system prompt per method, over the recipe's `system_prompts`",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Target:
        if (self.align is None) == (self.translate is None):
            raise ValueError("give exactly one of `align` or `translate`")
        return self


class Splits(Strict):
    validation: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="share of ids in the validation split; chosen by a hash of the id, so a row "
        "never changes split when the corpus grows",
    )
    salt: str = "plugdata"


class Card(Strict):
    pretty_name: Text
    license: Text = Field(description="SPDX-style license id for the Hub card, e.g. cc-by-nc-4.0")
    description: str = ""
    source_datasets: list[str] = Field(default_factory=list)


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class LanguageEntry(Language):
    """A `Language` declared in a recipe's `languages:` section: the table's own fields, checked
    as a recipe is (so the entry is a `Language`, and its fields are declared once)."""

    @field_validator("code")
    @classmethod
    def _code_ok(cls, v: str) -> str:
        if not _CODE.match(v):
            raise ValueError("use an ISO 639 code such as 'sw', 'yue' or 'zh-TW'")
        return v

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        return not_blank(v)

    @field_validator("response_header", "instruction_header")
    @classmethod
    def _header_ok(cls, v: str) -> str:
        # Headers are matched without their colon (languages.header_pattern): one that is only
        # spaces and colons would match every colon of every text.
        if not v.rstrip(" :：").strip():
            raise ValueError("must hold words, not only spaces or a colon")
        return v

    @field_validator("script", "script_excludes")
    @classmethod
    def _script_ok(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc})") from None
        return v

    @field_validator("preambles", "notes")
    @classmethod
    def _patterns_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r}: not a regular expression ({exc})") from None
        return v

    @field_validator("length_factor")
    @classmethod
    def _factor_ok(cls, v: float) -> float:
        if not v > 0:
            raise ValueError("Input should be greater than 0")
        return v


class Recipe(Strict):
    name: str = Field(description="dataset name: the output folder and the Hub repo name")
    kind: Literal["train", "eval"] = Field(
        "train", description="train: triples and method configs; eval: instructions only"
    )
    pivot: str = "en"
    languages: list[LanguageEntry] = Field(
        default_factory=list,
        description="languages this recipe adds to the built-in table (or replaces in it)",
    )
    source: Source
    targets: dict[str, Target]
    methods: list[Literal[METHOD_NAMES]] = Field(default_factory=lambda: list(METHOD_NAMES))
    pivot_rows: dict[Literal[METHOD_NAMES], bool] = Field(
        default_factory=dict,
        description="override per method whether pivot monolingual rows join the mixture",
    )
    system_prompts: SystemPromptTemplates = Field(
        default_factory=dict,
        description="the system turn of a method's training rows in every target language: a "
        "template over {pivot} and {target} (the languages' English names), or null for none; "
        "a target's own `system_prompts` override it. Unset: plugdata's wording "
        "(`METHODS` in plugdata/core/formats.py)",
    )
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    dedupe: bool = Field(True, description="quarantine exact duplicate instruction+response pairs")
    on_check_failure: Literal["quarantine", "flag"] | None = Field(
        None,
        description="what a failed content check does: quarantine the row, or keep it with the "
        "reason in meta.flags; default quarantine for train, flag for eval (a benchmark keeps "
        "every item). Unreadable, empty or unmatched rows are always quarantined.",
    )
    splits: Splits = Field(default_factory=Splits)
    decontaminate: list[EvalSet] = Field(
        default_factory=list,
        description="evaluation sets a training row's instructions must not overlap "
        "(`contaminated:<name>`)",
    )
    card: Card
    publish: PublishTarget | None = Field(
        None, description="where `plugdata build --push` publishes"
    )

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 96)")
        return v

    @field_validator("targets")
    @classmethod
    def _some_target(cls, v: dict[str, Target]) -> dict[str, Target]:
        if not v:
            raise ValueError("no target language: a recipe builds at least one (e.g. `zh:`)")
        return v

    @field_validator("methods")
    @classmethod
    def _methods_once(cls, v: list[str]) -> list[str]:
        twice = [m for i, m in enumerate(v) if m in v[:i]]
        if twice:
            raise ValueError(f"{twice[0]!r} is listed twice")
        return v

    @property
    def responses(self) -> bool:
        """Whether the rows have responses: a training set's do; an eval set is instructions
        (and the references it keeps)."""
        return self.kind == "train"

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields of a source row that are translated."""
        return ("instruction", "response") if self.responses else ("instruction",)

    @property
    def failure_action(self) -> str:
        if self.on_check_failure is not None:
            return self.on_check_failure
        return "flag" if self.kind == "eval" else "quarantine"

    @model_validator(mode="after")
    def _languages_known(self) -> Recipe:
        # The recipe's own table: the built-in one is never changed, so no other recipe (or
        # test) sees this recipe's languages.
        table = LANGUAGES.extended(self.languages) if self.languages else LANGUAGES
        table.get(self.pivot)
        for code, target in self.targets.items():
            table.get(code)
            if code == self.pivot:
                raise ValueError(f"target {code!r} is the pivot language")
            both = set(self.source.keep) & set(target.align.keep if target.align else {})
            if both:
                raise RecipeError(
                    f"targets.{code}.align.keep: {sorted(both)[0]!r} is kept from the source "
                    "too; one column, one origin"
                )
            if target.translate is not None:
                _check_backends(target.translate, f"targets.{code}.translate")
        self._check_system_prompts()
        if self.decontaminate and self.kind != "train":
            raise ValueError("decontaminate: only a training recipe is checked against eval sets")
        names = [s.name for s in self.decontaminate]
        if len(set(names)) != len(names):
            raise ValueError("decontaminate: every evaluation set needs a name of its own")
        for code in self.validation.thresholds:
            if code != "default":  # a threshold for a code no row has would be silently unused
                try:
                    table.get(code)
                except PlugdataError as exc:
                    raise RecipeError(f"validation.thresholds.{code}: {exc}") from None
        self._language_table = table
        return self

    def _check_system_prompts(self) -> None:
        """A system prompt for a method this recipe does not render would be silently unused."""
        places = {_SYSTEM_PROMPTS: self.system_prompts}
        places |= {
            f"targets.{c}.{_SYSTEM_PROMPTS}": t.system_prompts for c, t in self.targets.items()
        }
        for where, prompts in places.items():
            if prompts and not self.responses:
                raise RecipeError(
                    f"{where}: an eval recipe renders no training rows; set system prompts in "
                    "the training recipe"
                )
            for method in prompts:
                if method not in self.methods:
                    raise RecipeError(
                        f"{where}.{method}: the recipe does not render {method!r} "
                        f"(methods: {', '.join(self.methods)})"
                    )

    def system_prompts_of(self, lang: str) -> dict[str, str | None]:
        """The system turn of each method's rows in `lang`, filled in: the target's own
        template, else the recipe's, else the method table's; None: no system turn."""
        templates = {**self.system_prompts, **self.targets[lang].system_prompts}
        resolved: dict[str, str | None] = {}
        for method in self.methods:
            if method in templates and templates[method] is None:
                resolved[method] = None
            else:
                resolved[method] = system_prompt(
                    method, self.pivot, lang, self.language_table, templates.get(method)
                )
        return resolved

    def kept_columns(self, lang: str) -> dict[str, str]:
        """The extra columns of `lang`'s triples (the source's, then the aligned corpus's) and
        their kinds (`KEEP_TYPES`: an optional column is a column of its kind, null where it
        was missing)."""
        align = self.targets[lang].align
        kept = {**self.source.keep, **(align.keep if align else {})}
        return {name: keep_kind(kind)[0] for name, kind in kept.items()}

    @property
    def language_table(self) -> LanguageTable:
        """The languages this recipe's build knows: the built-in table plus its `languages:`."""
        return self._language_table

    # Where the recipe was read from: relative corpus paths resolve against `base_dir`.
    _language_table: LanguageTable = PrivateAttr(default=LANGUAGES)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _file: Path = PrivateAttr(default=Path("recipe.yaml"))

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def file(self) -> Path:
        return self._file

    def digest(self) -> str:
        """Hash of everything that determines the output (not where the recipe lies)."""
        data = self.model_dump(mode="json")
        # Unset system prompts are left out, so that a recipe which sets none hashes as it did
        # before the setting existed (its rows did not change either).
        for part in [data, *data["targets"].values()]:
            if not part[_SYSTEM_PROMPTS]:
                del part[_SYSTEM_PROMPTS]
        payload = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Walk the model along `loc` to list the keys allowed where an unknown key appeared."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "__pydantic_fields__", None)
        if fields is None:
            return []
        if part in fields:
            annotation = fields[part].annotation
            current = _model_in(annotation)
        # dict keys (language codes) leave `current` on the dict's value model
    fields = getattr(current, "__pydantic_fields__", {}) if current else {}
    return list(fields)


def _model_in(annotation: Any) -> Any:
    """The model (or pydantic dataclass, such as `LanguageEntry`) inside an annotation."""
    import typing

    if isinstance(annotation, type) and hasattr(annotation, "__pydantic_fields__"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _format_errors(path: Path, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(e["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        # A pydantic dataclass (`LanguageEntry`) reports an unknown key as an unexpected argument.
        if e["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            choices = _known_keys(Recipe, loc)
            close = difflib.get_close_matches(str(loc[-1]), choices, n=1)
            hint = (
                f" (did you mean {close[0]!r}?)"
                if close
                else (f" (allowed: {', '.join(choices)})" if choices else "")
            )
            parts.append(f"{where}: unknown key{hint}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {msg}")
    return f"{path}: " + "; ".join(parts)


def load_recipe(path: str | Path, overrides: dict[str, str] | None = None) -> Recipe:
    """Read and validate a recipe file; `overrides` maps a language code to a local corpus path
    (the pivot's code replaces the source file, a target's code its aligned corpus)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    raw = safe_yaml_load(text, str(path))
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of keys")
    for code, file in (overrides or {}).items():
        _override_corpus(path, raw, code, str(Path(file).resolve()))
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as err:
        raise RecipeError(_format_errors(path, err)) from None
    except PlugdataError as exc:  # raised by our validators (e.g. unknown language)
        raise RecipeError(f"{path}: {exc}") from None
    recipe._base_dir = path.resolve().parent
    recipe._file = path
    return recipe


def _override_corpus(path: Path, raw: dict, code: str, file: str) -> None:
    if code == raw.get("pivot", "en"):
        spec = raw.get("source")
    else:
        spec = (raw.get("targets") or {}).get(code, {})
        if not isinstance(spec, dict) or "align" not in spec:
            raise RecipeError(
                f"{path}: --corpus {code}=...: the recipe has no aligned target {code!r}"
            )
        spec = spec["align"]
    if not isinstance(spec, dict):
        raise RecipeError(f"{path}: --corpus {code}=...: no corpus to replace")
    spec.pop("hub", None)
    spec["path"] = file
