"""Building a dataset folder from a recipe: the orchestration.

Data flows one way: source rows -> (align | translate) -> triples -> validate -> formats ->
splits -> local dataset folder. This module reads the pivot corpus, has each language checked
(`language_check`) and written (`configs`), and commits the staged folder (`staging`); a dry run
prints `plan` instead. Every language keeps one ledger, and the build refuses to write a
manifest whose ledger does not add up (rows in = kept + quarantined).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from plugdata.checks.validate import Validator, default_workers
from plugdata.core.redact import scrub_obj
from plugdata.dataset import folder, staging
from plugdata.dataset.cards import render_card
from plugdata.dataset.manifest import ConfigEntry, Manifest, QuarantineEntry
from plugdata.errors import PlugdataError
from plugdata.pipeline.configs import LanguageWriter, merge_manifest, planned_manifest
from plugdata.pipeline.language import TARGET_DUPLICATE, Engine, LanguageResult, check_language
from plugdata.pipeline.plan import plan_lines
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.triples import Ledger


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
    progress: bool = True,
    workers: int | None = None,
    force: bool = False,
    engine: Engine | None = None,
) -> BuildReport:
    """Build the recipe into `out/<recipe.name>/` and return the report (see `summary()`).

    The folder is replaced in one step once everything in it is written and checked; it must be
    plugdata's own, from this recipe (else `force`). A language that keeps no row is not
    written; the others are, and then BuildError says which failed and why. `workers`
    processes check and render the chunks (default: one per available core); with a Ray
    `engine`, Ray actors do, and a recipe's translations run on Ray too. Both engines write the same
    folder.
    """
    started = time.perf_counter()
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
    with staging.Output(out, recipe.name) as output:
        # Everything that can refuse the folder does so before a row is read or paid for.
        existing = staging.inspect(root, recipe.file.name, force=force)
        staging.check_kept(existing, langs, force=force)
        staging.check_in_the_way(existing, planned_manifest(recipe, langs, existing), force=force)
        validator = Validator(
            recipe.validation,
            workers=workers or default_workers(),
            languages=recipe.language_table,
        )
        stage = output.stage()
        ledgers: dict[str, Ledger] = {}
        built: dict[str, ConfigEntry] = {}
        quarantine: dict[str, QuarantineEntry] = {}
        failures: dict[str, str] = {}
        dup_counts: dict[str, int] = {}
        engine = engine or Engine()
        try:
            for lang in langs:
                writer = LanguageWriter(recipe, stage, lang)
                result = check_language(recipe, lang, validator, writer, limit, progress, engine)
                ledgers[lang], dup_counts = result.ledger, result.pivot_counts
                rejected = folder.rejected_file(out, recipe.name, lang)
                if result.ledger.kept == 0:
                    writer.quarantine.move_to(rejected)
                    failures[lang] = _reject(rejected, result)
                    continue
                rejected.unlink(missing_ok=True)
                quarantine[lang] = writer.quarantine.entry(stage, lang)
                built.update(writer.finish(result, validator))
        finally:
            engine.close()
        report = BuildReport(
            recipe.name, root, ledgers, {n: i.splits for n, i in built.items()}, dup_counts, 0.0
        )
        report.failures, report.dropped = failures, existing.dropped
        if len(failures) < len(langs):
            manifest = merge_manifest(recipe, existing, built, quarantine, failures)
            report.set_aside = _finish_stage(recipe, existing, stage, manifest)
            output.commit(stage)
    report.seconds = time.perf_counter() - started
    if failures:
        raise BuildError("; ".join(failures.values()), report)
    return report


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
    return (
        f"{result.lang}: no row kept of {led.rows_in} ({top_reasons(led.quarantined, 3) or '-'});"
        f" nothing of {result.lang} was written; quarantined rows: {path}"
    )
