"""`plugdata translate` and `plugdata merge`: a corpus file in, triples out as JSON Lines.

A translate run is a one-target run of the build's pipeline: its options make a recipe with one
translated target, and the same reading, duplicate checks, windows, translation, content checks,
routing and ledger as a build write to a `JsonLinesSink` instead of a dataset folder. `--shard
i/N` translates one contiguous slice of the input; `merge` joins the slices in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from plugdata.checks.alignment import DEFAULT_SCORER
from plugdata.checks.validate import Validator
from plugdata.core.digests import sha256_file
from plugdata.core.jsonl import read_json_file, read_json_lines, write_json, write_json_lines
from plugdata.core.languages import LANGUAGES
from plugdata.core.options import MaxCost, TranslationCache
from plugdata.core.outputs import Role, refuse_overwrite
from plugdata.errors import PlugdataError
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.decontaminate import contamination_index
from plugdata.pipeline.executor import make_executor
from plugdata.pipeline.language import plan_translation, run_language
from plugdata.pipeline.layout import Layout
from plugdata.pipeline.recipe import Recipe, Translate
from plugdata.pipeline.run import Run
from plugdata.pipeline.sinks import JsonLinesSink, quarantine_path
from plugdata.translate.backends import backend_options, parse_options
from plugdata.translate.cache import default_cache_path
from plugdata.translate.engine import DEFAULT_CONCURRENCY, Concurrency, TranslateReport


class TranslateOptions(BaseModel):
    """What `plugdata translate` makes (how it runs is its `RunConfig`)."""

    model_config = ConfigDict(extra="forbid")

    in_file: Path = Field(
        description="Instruction corpus (json, jsonl, csv, parquet).",
        json_schema_extra={
            "argument": True,
            "metavar": "IN",
            "path": "file",
            "io": "read",
            "role": "the input",
        },
    )
    target: str = Field(
        description="Target language code.", json_schema_extra={"flag": "--to", "metavar": "LANG"}
    )
    source: str = Field(
        "en",
        description="Source (pivot) language code.",
        json_schema_extra={"flag": "--from", "metavar": "LANG"},
    )
    backend: str = Field(description="deep-translator, openai-chat or seq2seq.")
    options: list[str] = Field(
        default_factory=list,
        description="Backend option, e.g. provider=libre, base_url=..., model=..., mode=joint.",
        json_schema_extra={"flag": "--option", "metavar": "KEY=VALUE"},
    )
    out: Path = Field(
        description="Triples as JSON Lines; failures go to OUT.quarantine.jsonl.",
        json_schema_extra={"path": "file", "io": "write"},
    )
    fields: list[Literal["instruction", "response"]] = Field(
        default_factory=list,
        description="Fields to translate (default: both; instruction alone makes triples "
        "without responses, as an eval set's).",
    )
    name: str | None = Field(
        None, description="Corpus name: ids are <name>/<id or index> (default: IN's stem)."
    )
    cache_path: TranslationCache = None
    concurrency: Concurrency = DEFAULT_CONCURRENCY
    max_cost: MaxCost = None
    dedupe: bool = Field(
        False,
        description="Quarantine exact duplicate instruction+response pairs after the first, "
        "as a recipe's `dedupe` (they are then never sent).",
    )
    alignment: str = Field(
        DEFAULT_SCORER,
        description="How each translated field is scored against its source: a scorer "
        "(use-m3, sentence-transformers, llm, round-trip), or off.",
        json_schema_extra={"metavar": "SCORER|off"},
    )
    min_score: float | None = Field(
        None, description="Least score a kept pair has (default: the scorer's own)."
    )
    alignment_options: list[str] = Field(
        default_factory=list,
        description="A scorer option, e.g. model=..., base_url=... (repeatable).",
        json_schema_extra={"flag": "--alignment-option", "metavar": "KEY=VALUE"},
    )
    decontaminate: list[str] = Field(
        default_factory=list,
        description="An evaluation set whose instructions no kept row may overlap, as NAME=PATH "
        "(a file of items, or a folder built from an eval recipe); repeatable.",
        json_schema_extra={"metavar": "NAME=PATH"},
    )
    shard: str | None = Field(
        None,
        description="Translate only the i-th of N slices (0-based).",
        json_schema_extra={"metavar": "i/N"},
    )
    dry_run: bool = Field(False, description="Print segments, requests, cache hits and cost.")

    @field_validator("target", "source")
    @classmethod
    def _known(cls, code: str) -> str:
        try:
            LANGUAGES.get(code)
        except PlugdataError as exc:
            raise ValueError(str(exc)) from None
        return code

    @field_validator("fields")
    @classmethod
    def _with_instruction(cls, fields: list[str]) -> list[str]:
        if fields and "instruction" not in fields:
            raise ValueError("a triple's target instruction is always translated: add instruction")
        return fields

    @model_validator(mode="after")
    def _two_languages(self) -> TranslateOptions:
        if self.source == self.target:
            raise ValueError(f"--to {self.target}: the same language as --from")
        return self

    def _alignment(self) -> str | dict[str, Any]:
        if self.alignment == "off":
            return "off"
        scores = {} if self.min_score is None else {"default": self.min_score}
        options = parse_options(self.alignment_options)
        return {"scorer": self.alignment, "min_score": scores, "options": options}

    def recipe(self) -> Recipe:
        """The one-target recipe this run is: IN translated into `--to` by `--backend`."""
        options = parse_options(self.options)
        own = set(Translate.model_fields) & set(options)
        if own:
            raise PlugdataError(f"--option {sorted(own)[0]}: not a backend option; use its flag")
        backend_options(self.backend, options, "translate", in_recipe=False)
        cache = (self.cache_path or default_cache_path()).resolve()
        responses = not self.fields or "response" in self.fields
        raw: dict[str, Any] = {
            "name": "translate",
            "kind": "train" if responses else "eval",
            "pivot": self.source,
            "source": {"name": self.name or self.in_file.stem, "path": str(self.in_file)},
            "targets": {self.target: {"translate": {**options, "backend": self.backend}}},
            "methods": [],
            "dedupe": self.dedupe,
            "on_check_failure": "quarantine",  # never kept with a flag: nothing to publish
            "card": {"pretty_name": "translate", "license": "other"},  # no folder, no card
            "decontaminate": [_eval_set(value) for value in self.decontaminate],
            "validation": {"alignment": self._alignment()},
        }
        spec = raw["targets"][self.target]["translate"]
        spec.update(concurrency=self.concurrency, max_cost=self.max_cost, cache=str(cache))
        try:
            return Recipe.model_validate(raw)
        except ValidationError as err:  # what the flags above did not refuse already
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlugdataError(f"translate: {where}: {first['msg']}") from None


def _eval_set(value: str) -> dict[str, str]:
    """`--decontaminate NAME=PATH`: a folder, or a file of items."""
    name, sep, path = value.partition("=")
    if not (sep and name and path):
        raise PlugdataError(f"--decontaminate {value!r}: use NAME=PATH")
    return {"name": name, ("folder" if Path(path).is_dir() else "path"): path}


@dataclass
class TranslateResult:
    out: Path
    report: TranslateReport
    kept: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def summary(self) -> str:
        r = self.report
        lines = [
            f"rows {r.rows} ({r.cached_rows} finished in the cache), segments {r.units} "
            f"({r.unique_units} unique), "
            f"cache hits {r.cache_hits}, to send {r.unique_units - r.cache_hits} "
            f"({r.chars:,} characters, {r.requests_needed} requests)",
            f"estimated cost {r.estimated_cost:.4f} USD, time at the configured rates "
            + (
                f"{r.estimated_seconds / 60:.1f} min"
                if r.estimated_seconds is not None
                else "not bounded (no requests_per_second / chars_per_minute set)"
            ),
        ]
        if self.dry_run:
            return "Plan (dry run, nothing sent):\n" + "\n".join(lines)
        s = r.stats
        lines.append(
            f"sent {s.requests} requests ({s.retries} retries), {s.chars_sent:,} "
            f"characters, about {s.cost:.4f} USD"
        )
        if note := r.rejected_note():
            lines.append(note)
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined.items())) or "-"
        lines.append(
            f"kept {self.kept}, quarantined {sum(self.quarantined.values())} "
            f"({reasons}) -> {self.out}"
        )
        return "\n".join(lines)


def translate_file(options: TranslateOptions, config: RunConfig | None = None) -> TranslateResult:
    """Translate IN into OUT (see the module doc). Every executor writes the same bytes for
    the same input and cache. OUT and its quarantine replace the old ones only when the whole
    run succeeded."""
    config = config or RunConfig()
    out, lang = options.out, options.target
    cache = options.cache_path or default_cache_path()
    refuse_overwrite(
        reads=[("the input", options.in_file)],
        writes=[("the cache", cache), *_outputs(out, sharded=bool(options.shard))],
    )
    recipe = options.recipe()
    validator = Validator(recipe.validation, languages=recipe.language_table)
    contamination = contamination_index(recipe)
    with make_executor(config) as executor:
        run = Run(config, executor, validator, contamination=contamination)
        # One pass over the input before anything is sent: a bad row anywhere stops the run
        # at no cost, and `--shard` slices by the count.
        shard = shard_bounds(run.source_rows(recipe), options.shard)
        if shard is not None:
            rows = slice(shard.start, shard.end)
            counted = shard.end - shard.start
            run = Run(config, executor, validator, rows, counted, contamination)
        if options.dry_run:
            return TranslateResult(out, plan_translation(recipe, lang, run), dry_run=True)
        with JsonLinesSink(out, Layout.of(recipe, lang, stream=True)) as sink:
            result = run_language(recipe, lang, sink, run)
            sink.commit()
    if shard is not None:
        shard.input_sha256 = sha256_file(options.in_file)
        write_json(sidecar_path(out), shard.model_dump())
    ledger = result.ledger
    return TranslateResult(out, result.translation, ledger.kept, dict(ledger.quarantined))


class Shard(BaseModel):
    """Which slice of which input a `--shard` run translated: rows `start` to `end` (exclusive)
    of the input's `rows`, written beside OUT (`sidecar_path`) for `merge` to check."""

    model_config = ConfigDict(extra="forbid")

    shard: int = Field(ge=0)
    of: int = Field(ge=1)
    input_sha256: str = ""
    # Where the slice lies: for the reader; `merge` needs only which slice of which input.
    start: int = 0
    end: int = 0
    rows: int = 0


def shard_bounds(rows: int, shard: str | None) -> Shard | None:
    """The slice `i/N` of `rows` rows (None: no `--shard`): the i-th of N contiguous slices
    (0-based), so shards concatenate in order."""
    if not shard:
        return None
    i_text, slash, n_text = shard.partition("/")
    if not (slash and i_text.isdigit() and n_text.isdigit() and int(i_text) < int(n_text)):
        raise PlugdataError(f"--shard {shard!r}: use i/N with 0 <= i < N")
    i, n = int(i_text), int(n_text)
    return Shard(shard=i, of=n, start=rows * i // n, end=rows * (i + 1) // n, rows=rows)


def _outputs(out: Path, sharded: bool) -> list[Role]:
    """The files a translate run writes besides the cache."""
    written = [("--out", out), ("the quarantine of --out", quarantine_path(out))]
    return written + ([("the shard sidecar of --out", sidecar_path(out))] if sharded else [])


def sidecar_path(out: Path) -> Path:
    """Where `--shard` notes which slice of which input `out` holds."""
    return Path(f"{out}.shard.json")


class MergeOptions(BaseModel):
    """`plugdata merge`."""

    model_config = ConfigDict(extra="forbid")

    parts: list[Path] = Field(
        min_length=1,
        description="The outputs of `plugdata translate --shard i/N`, in any order.",
        json_schema_extra={
            "argument": True,
            "metavar": "PARTS...",
            "path": "file",
            "exists": True,
            "io": "read",
            "role": "a part",
        },
    )
    out: Path = Field(
        description="Merged triples (JSON Lines).",
        json_schema_extra={"path": "file", "io": "write"},
    )


def merge_shards(parts: list[Path], out: Path) -> int:
    """Concatenate shard outputs in shard order after checking they cover one input exactly."""
    reads: list[Role] = []
    for part in parts:
        reads += [("a part", part), ("the quarantine of a part", quarantine_path(part))]
        reads += [("the shard sidecar of a part", sidecar_path(part))]
    refuse_overwrite(reads, _outputs(out, sharded=False))
    infos = sorted(((_read_sidecar(part), part) for part in parts), key=lambda x: x[0].shard)
    n = infos[0][0].of
    got = [info.shard for info, _ in infos]
    if got != list(range(n)) or len({info.input_sha256 for info, _ in infos}) != 1:
        raise PlugdataError(
            f"shards do not cover one input: have {got} of {n} "
            "(all must come from the same input file)"
        )
    total = 0
    for target, suffix in ((out, ""), (quarantine_path(out), "quarantine")):
        rows = []
        for _, part in infos:
            src = quarantine_path(part) if suffix else part
            if src.exists():
                rows.extend(row for _, row in read_json_lines(src))
        write_json_lines(target, rows)
        total += len(rows)
    return total


def _read_sidecar(part: Path) -> Shard:
    """The `--shard` record written beside a part: which slice of which input it holds."""
    sidecar = sidecar_path(part)
    if not sidecar.exists():
        raise PlugdataError(f"{part}: no {sidecar.name}; was it written with --shard i/N?")
    try:
        shard = Shard.model_validate(read_json_file(sidecar))
    except ValidationError:
        shard = None
    if shard is None or not shard.input_sha256:
        raise PlugdataError(f"{sidecar}: not a shard record written by plugdata translate --shard")
    return shard
