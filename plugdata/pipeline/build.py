"""Building a dataset folder from a recipe: the orchestration.

Data flows one way: source rows -> (align | translate) -> triples -> validate -> formats ->
splits -> local dataset folder. This module has each language made, checked and routed
(`language`) into a `FolderSink`, and commits the staged folder (`staging`); a dry run prints
`plan` instead. Every language keeps one ledger, and the build refuses to write a manifest whose
ledger does not add up (rows in = kept + quarantined).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plugdata.checks.alignment import least_scores
from plugdata.checks.validate import Validator
from plugdata.core.redact import scrub_obj
from plugdata.dataset import folder, staging
from plugdata.dataset.cards import render_card
from plugdata.dataset.folder import FolderError
from plugdata.dataset.manifest import ConfigEntry, Manifest, QuarantineEntry
from plugdata.dataset.shards import SHARD_ROWS
from plugdata.errors import PlugdataError
from plugdata.hub.publish import PublishError, PublishOptions, PublishReport, publish
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.decontaminate import contamination_index
from plugdata.pipeline.executor import make_executor
from plugdata.pipeline.language import TARGET_DUPLICATE, LanguageResult, run_language
from plugdata.pipeline.layout import Layout
from plugdata.pipeline.manifests import merge_manifest, planned_footprint
from plugdata.pipeline.plan import plan_lines
from plugdata.pipeline.recipe import Recipe, load_recipe
from plugdata.pipeline.run import Run
from plugdata.pipeline.sinks import FolderSink
from plugdata.pipeline.triples import Ledger
from plugdata.sources.hub import check_hub_reachable


class BuildOptions(BaseModel):
    """What `plugdata build` makes (how it runs is its `RunConfig`)."""

    model_config = ConfigDict(extra="forbid")

    recipe: Path = Field(
        description="The recipe (YAML).",
        json_schema_extra={
            "argument": True,
            "metavar": "RECIPE",
            "path": "file",
            "io": "read",
            "role": "the recipe",
        },
    )
    out: Path = Field(
        Path("build"),
        description="Folder that receives <dataset-name>/.",
        # The build guards <dataset-name>/ itself: files it did not write are kept.
        json_schema_extra={"path": "dir", "io": "write"},
    )
    langs: list[str] = Field(
        default_factory=list,
        description="Build only these target languages (repeatable); others already in the "
        "output folder are kept.",
        json_schema_extra={"flag": "--lang", "metavar": "CODE"},
    )
    limit: int | None = Field(None, ge=1, description="Read only the first N source rows.")
    corpora: list[str] = Field(
        default_factory=list,
        description="Use a local file for a language's corpus instead of the recipe's (the "
        "pivot's code replaces the source).",
        json_schema_extra={"flag": "--corpus", "metavar": "LANG=PATH"},
    )
    dry_run: bool = Field(False, description="Print the plan and exit without reading data.")
    shard_rows: int = Field(
        SHARD_ROWS, ge=1, description="Most rows in one parquet file of a split."
    )
    push: bool = Field(
        False,
        description="Publish the built languages to the recipe's `publish:` repo afterwards "
        "(as `plugdata publish`).",
    )
    force: bool = Field(
        False,
        description="Build into a folder that plugdata did not make, or made from another "
        "recipe (files plugdata did not write are kept; those in its way as *.orig).",
    )

    @field_validator("corpora")
    @classmethod
    def _pairs(cls, values: list[str]) -> list[str]:
        for value in values:
            code, sep, path = value.partition("=")
            if not (sep and code and path):
                raise ValueError(f"{value!r}: use LANG=PATH")
        return values

    def load(self) -> Recipe:
        """The recipe, with the corpora `--corpus` swaps in."""
        overrides = dict(value.split("=", 1) for value in self.corpora)
        return load_recipe(self.recipe, overrides)


def build_from(options: BuildOptions, config: RunConfig | None = None) -> BuildReport:
    """`plugdata build`: the recipe `options` name, built as `build` does."""
    return build(
        options.load(),
        options.out,
        langs=options.langs or None,
        limit=options.limit,
        dry_run=options.dry_run,
        force=options.force,
        config=config,
        shard_rows=options.shard_rows,
    )


def push_built(recipe: Recipe, report: BuildReport) -> PublishReport:
    """`plugdata build --push`: publish the languages a build wrote to the repo of the recipe's
    `publish:` section, as `plugdata publish` does."""
    if recipe.publish is None:
        raise PublishError(f"{recipe.file}: --push needs a `publish:` section with `repo_id`")
    target = recipe.publish.model_dump()
    return publish(PublishOptions(folder=report.out_dir, langs=list(report.ledgers), **target))


@dataclass
class BuildReport:
    name: str
    out_dir: Path
    ledgers: dict[str, Ledger]
    configs: dict[str, dict[str, int]]
    pivot_duplicates: dict[str, int]
    seconds: float
    dry_run: bool = False
    plan: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # language -> why nothing was kept
    set_aside: list[str] = field(default_factory=list)  # foreign entries kept as *.orig
    dropped: list[str] = field(default_factory=list)  # broken old configs left out (--force)
    decontamination: dict[str, int] = field(default_factory=dict)  # eval set -> texts indexed
    alignment: str = ""  # the scorer and what it found, one line
    # language -> rows made from cached answers that the content checks reject
    rejected_cached: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if self.dry_run:
            return "\n".join(["Plan (dry run, nothing written):", *self.plan])
        lines = [
            f"Built {self.name} -> {self.out_dir}  ({self.seconds:.1f}s)",
            "",
            f"{'lang':<6}{'in':>8}{'kept':>8}{'quar.':>7}  reasons",
        ]
        for lang, led in self.ledgers.items():
            reasons = top_reasons(led.quarantined, 4)
            lines.append(
                f"{lang:<6}{led.rows_in:>8}{led.kept:>8}"
                f"{sum(led.quarantined.values()):>7}  {reasons or '-'}"
            )
            extra = []
            if led.flagged:
                extra.append(
                    f"{sum(led.flagged.values())} kept but flagged ("
                    + ", ".join(f"{r} {n}" for r, n in led.flagged.most_common(3))
                    + ")"
                )
            if led.orphans:
                extra.append(f"{led.orphans} target rows match no pivot row (unused)")
            if self.rejected_cached.get(lang):
                extra.append(
                    f"{self.rejected_cached[lang]} rows from cached answers the checks reject "
                    "(--retry-rejected asks the backend again)"
                )
            if led.target_duplicates:
                extra.append(f"{led.target_duplicates} target rows repeat a join key (unused)")
            if led.quarantined[TARGET_DUPLICATE]:
                extra.append(
                    f"{led.quarantined[TARGET_DUPLICATE]} duplicate target "
                    "instruction+response pairs (quarantined)"
                )
            if extra:
                lines.append(f"{'':<6}note: {'; '.join(extra)}")
        dups = {k: v for k, v in self.pivot_duplicates.items() if v}
        if dups:
            lines.append(
                "duplicates in the source: " + ", ".join(f"{n} {kind}" for kind, n in dups.items())
            )
        lines.append("")
        total = sum(sum(s.values()) for s in self.configs.values())
        lines.append(
            f"{len(self.configs)} configs, {total} rows: "
            + ", ".join(f"{c} {sum(s.values())}" for c, s in list(self.configs.items())[:8])
            + (" ..." if len(self.configs) > 8 else "")
        )
        if self.decontamination:
            contaminated = Counter()
            for led in self.ledgers.values():
                for reason, n in led.quarantined.items():
                    if reason.startswith("contaminated:"):
                        contaminated[reason.partition(":")[2]] += n
            lines.append(
                "checked against evaluation sets: "
                + ", ".join(
                    f"{name} ({texts} texts, {contaminated[name]} rows quarantined)"
                    for name, texts in self.decontamination.items()
                )
            )
        if self.alignment:
            lines.append(self.alignment)
        lines.append(f"quarantine: {self.out_dir / 'quarantine'}")
        if self.set_aside:
            lines.append(
                f"kept aside as *.orig (not written by plugdata, in its way): "
                f"{', '.join(self.set_aside)}"
            )
        if self.dropped:
            lines.append(f"left out (broken, --force): {', '.join(self.dropped)}")
        if self.failures:
            lines.append(f"not built (nothing kept): {', '.join(self.failures)}")
        return "\n".join(lines)


class BuildError(PlugdataError):
    """Some languages kept no row; the others were built. `report` describes both."""

    def __init__(self, message: str, report: BuildReport):
        super().__init__(message)
        self.report = report


def top_reasons(reasons: Counter, n: int) -> str:
    text = ", ".join(f"{r} {k}" for r, k in reasons.most_common(n))
    more = len(reasons) - n
    return text + (f", +{more} more" if more > 0 else "")


def build(
    recipe: Recipe,
    out: Path,
    *,
    langs: list[str] | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    force: bool = False,
    config: RunConfig | None = None,
    shard_rows: int = SHARD_ROWS,
) -> BuildReport:
    """Build the recipe into `out/<recipe.name>/` and return the report (see `summary()`).

    The folder is replaced in one step once everything in it is written and checked; it must be
    plugdata's own, from this recipe (else `force`). A language that keeps no row is not
    written; the others are, and then BuildError says which failed and why. `config` says how
    the run works (its executor, workers, chunk sizes); every executor writes the same folder.
    A split is written as parquet files of at most `shard_rows` rows.
    """
    started = time.perf_counter()
    config = config or RunConfig()
    langs = langs or list(recipe.targets)
    unknown = [code for code in langs if code not in recipe.targets]
    if unknown:
        raise PlugdataError(
            f"--lang {unknown[0]}: not a target of {recipe.file}; "
            f"targets: {', '.join(recipe.targets)}"
        )
    root = out / recipe.name
    if dry_run:
        plan = plan_lines(recipe, root, langs, limit, force)
        return BuildReport(recipe.name, root, {}, {}, {}, 0.0, dry_run=True, plan=plan)
    aligned = {lang: recipe.targets[lang].align for lang in langs}
    corpora = {recipe.pivot: recipe.source, **{k: v for k, v in aligned.items() if v is not None}}
    check_hub_reachable(corpora, recipe.pivot)
    with staging.Output(out, recipe.name) as output:
        # Everything that can refuse the folder does so before a row is read or paid for.
        existing = staging.inspect(root, recipe.file.name, force=force)
        location = recipe_location(recipe, root)
        _check_same_recipe(existing, recipe, location, force=force)
        staging.check_kept(existing, langs, force=force)
        staging.check_in_the_way(existing, planned_footprint(recipe, langs, existing), force=force)
        validator = Validator(recipe.validation, languages=recipe.language_table)
        contamination = contamination_index(recipe)
        stage = output.stage()
        with make_executor(config) as executor:
            run = Run(config, executor, validator, slice(limit), contamination=contamination)
            built = _build_languages(recipe, langs, (out, stage), run, shard_rows)
        for info in built.configs.values():
            info.recipe["location"] = location
        report = BuildReport(
            recipe.name,
            root,
            {lang: r.ledger for lang, r in built.results.items()},
            {n: i.splits for n, i in built.configs.items()},
            built.pivot_counts,
            0.0,
        )
        report.failures, report.dropped = built.failures, existing.dropped
        report.decontamination = dict(contamination.items) if contamination else {}
        report.alignment = _alignment_line(validator, built.results.values())
        report.rejected_cached = {
            lang: r.translation.rejected_cached
            for lang, r in built.results.items()
            if r.translation is not None and r.translation.rejected_cached
        }
        if len(built.failures) < len(langs):
            manifest = merge_manifest(
                recipe, existing, built.configs, built.quarantine, built.failures
            )
            report.set_aside = _finish_stage(recipe, existing, stage, manifest)
            output.commit(stage)
    report.seconds = time.perf_counter() - started
    if report.failures:
        raise BuildError("; ".join(report.failures.values()), report)
    return report


def recipe_location(recipe: Recipe, root: Path) -> str:
    """Where the recipe lies, seen from the folder it builds: a hash of its path relative to
    `root`, so that the manifest names no local path, and moving the project as a whole (recipe
    and output together) keeps it."""
    relative = os.path.relpath(recipe.file.resolve(), root.resolve())
    return hashlib.sha256(Path(relative).as_posix().encode()).hexdigest()[:16]


def _check_same_recipe(
    existing: staging.Existing, recipe: Recipe, location: str, *, force: bool
) -> None:
    """A folder is rebuilt only from the recipe it was built from: the same file at the same
    place (its content may have changed: that is a rebuild). Two recipes with the same file name
    in different folders would otherwise merge their languages into one dataset."""
    if force:
        return
    for name, info in sorted(existing.configs.items()):
        there = info.recipe.get("location")
        if there and there != location:
            raise FolderError(
                f"{existing.root}: built from another recipe named {recipe.file.name} (config "
                f"{name}), not {recipe.file}; give another --out, or pass --force to build there "
                "anyway"
            )


def _alignment_line(validator: Validator, results: Iterable[LanguageResult]) -> str:
    if validator.alignment is None:
        return ""
    scored = misaligned = 0
    for result in results:
        scored += sum(len(scores) for scores in result.alignment.values())
        led = result.ledger
        for counts in (led.quarantined, led.flagged):
            misaligned += sum(n for r, n in counts.items() if r.startswith("misaligned:"))
    about = validator.alignment.describe()
    return (
        f"agreement: {about['scorer'].partition(':')[0]} "
        f"(least score {least_scores(about['min_score'])}): "
        f"{scored:,} pairs scored, {misaligned:,} misaligned"
    )


@dataclass
class _Built:
    """What the languages of a build wrote, and which kept nothing."""

    results: dict[str, LanguageResult] = field(default_factory=dict)
    configs: dict[str, ConfigEntry] = field(default_factory=dict)
    quarantine: dict[str, QuarantineEntry] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # language -> why nothing was kept
    pivot_counts: dict[str, int] = field(default_factory=dict)


def _build_languages(
    recipe: Recipe, langs: list[str], where: tuple[Path, Path], run: Run, shard_rows: int
) -> _Built:
    """Each language into the stage (`where`: the output folder and the stage); one that keeps
    nothing goes beside the output folder for inspection."""
    out, stage = where
    built = _Built()
    for lang in langs:
        sink = FolderSink(recipe, stage, Layout.of(recipe, lang), shard_rows)
        result = run_language(recipe, lang, sink, run)
        built.results[lang], built.pivot_counts = result, result.pivot_counts
        rejected = folder.rejected_file(out, recipe.name, lang)
        if result.ledger.kept == 0:
            sink.quarantine.move_to(rejected)
            built.failures[lang] = _reject(rejected, result)
            continue
        rejected.unlink(missing_ok=True)
        built.quarantine[lang] = sink.quarantine.entry(stage, lang)
        built.configs.update(sink.finish(result, run))
    return built


def _finish_stage(
    recipe: Recipe, existing: staging.Existing, stage: Path, manifest: Manifest
) -> list[str]:
    """Complete the staged folder (files carried from the old one, manifest, card) and check it
    against its manifest; returns the foreign entries kept aside as *.orig."""
    # Provenance quotes recipe options and paths: no credential reaches the card either.
    manifest = Manifest.model_validate(scrub_obj(manifest.to_json()))
    set_aside = staging.carry(existing, stage, manifest)
    folder.write_manifest(stage, manifest)
    card = render_card(manifest, f"<org>/{recipe.name}")
    (stage / folder.CARD).write_text(card, encoding="utf-8")
    folder.check_folder(stage, manifest)
    return set_aside


def _reject(path: Path, result: LanguageResult) -> str:
    led = result.ledger
    replayed = result.translation.rejected_cached if result.translation is not None else 0
    return (
        f"{result.lang}: no row kept of {led.rows_in} ({top_reasons(led.quarantined, 3) or '-'});"
        f" nothing of {result.lang} was written; quarantined rows: {path}"
        + (
            f"; {replayed} rows came from cached answers the checks reject: --retry-rejected "
            "asks the backend again"
            if replayed
            else ""
        )
    )
