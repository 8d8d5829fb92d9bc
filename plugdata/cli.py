"""The `plugdata` command: a thin shell over the library, one function per command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from plugdata import __version__
from plugdata.checks.detect import DEFAULT_DETECTOR, DETECTORS
from plugdata.core.options import MaxCost, Quiet, TranslationCache, shared_option
from plugdata.errors import PlugdataError


class OneLineUsageError(click.ClickException):
    """A refused option value: one `Error:` line and click's usage-error exit code, without
    the usage block (the message names the option; `-h` lists them all)."""

    exit_code = 2


class PlugdataGroup(click.Group):
    """Turns library errors (and only those) into one line and exit code 1, scrubbed of
    secrets whatever the message quotes; refused option values into one line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.BadParameter as err:
            raise OneLineUsageError(err.format_message()) from err
        except PlugdataError as err:
            from plugdata.core.redact import scrub

            lines = str(err).strip().splitlines() or [type(err).__name__]
            raise click.ClickException(scrub(" ".join(line.strip() for line in lines))) from err


# Options that mean the same in several commands, derived from their one declaration.
quiet_option = shared_option("quiet", Quiet)
max_cost_option = shared_option("max_cost", MaxCost)
cache_option = shared_option("cache_path", TranslationCache)


def engine_options(help_text: str):
    """`--engine local|ray` and `--ray-address`, alike in every command that has them (the
    pairing itself is checked by `ray_engine.check_engine`)."""

    def add(command):
        command = click.option(
            "--ray-address",
            metavar="ADDR",
            help="With --engine ray: the cluster to join (auto: this machine's; default "
            "$RAY_ADDRESS, else a local Ray).",
        )(command)
        return click.option(
            "--engine",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help=help_text,
        )(command)

    return add


@click.group(cls=PlugdataGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="plugdata")
def cli() -> None:
    """Build PLUG cross-lingual instruction datasets from recipes.

    \b
    Typical use:
      plugdata build recipes/demo.yaml --out build/
      plugdata detect answers.jsonl --field output --expect zh
      plugdata languages
    """


def _parse_corpus(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for value in values:
        code, sep, path = value.partition("=")
        if not sep or not code or not path:
            raise click.BadParameter(f"{value!r}: use LANG=PATH", param_hint="--corpus")
        overrides[code] = path
    return overrides


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build"),
    show_default=True,
    help="Folder that receives <dataset-name>/.",
)
@click.option(
    "--lang",
    "langs",
    multiple=True,
    metavar="CODE",
    help="Build only these target languages (repeatable); others already in the "
    "output folder are kept.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Read only the first N source rows.")
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    metavar="LANG=PATH",
    help="Use a local file for a language's corpus instead of the recipe's "
    "(the pivot's code replaces the source).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and exit without reading data.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that check and render the chunks (default: one per core; with --engine "
    "ray, Ray actors, default one per CPU of the cluster).",
)
@click.option(
    "--push",
    is_flag=True,
    help="Publish the built languages to the recipe's "
    "`publish:` repo afterwards (as `plugdata publish`).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Build into a folder that plugdata did not make, or made from another recipe "
    "(files plugdata did not write are kept; those in its way as *.orig).",
)
@engine_options(
    "Content checks (and a recipe's translations) in this machine's processes, or on Ray "
    "actors (needs plugdata[ray])."
)
@quiet_option
def build(
    recipe: Path,
    out: Path,
    langs: tuple[str, ...],
    limit: int | None,
    corpora: tuple[str, ...],
    dry_run: bool,
    workers: int | None,
    push: bool,
    force: bool,
    engine: str,
    ray_address: str | None,
    quiet: bool,
) -> None:
    """Build the dataset described by RECIPE into OUT/<name>/.

    Writes parquet configs `<lang>` (triples) and `<lang>-<method>` (training rows), a
    quarantine table per language, manifest.json and a dataset card, all replaced at once
    when the build ends. A language that keeps no row is an error; the others are built.
    """
    from plugdata.pipeline.build import BuildError
    from plugdata.pipeline.build import build as run_build
    from plugdata.pipeline.language import Engine
    from plugdata.pipeline.recipe import load_recipe

    chosen = Engine(engine, ray_address, workers)
    loaded = load_recipe(recipe, _parse_corpus(corpora))
    try:
        report = run_build(
            loaded,
            out,
            langs=list(langs) or None,
            limit=limit,
            dry_run=dry_run,
            progress=not quiet,
            workers=workers,
            force=force,
            engine=chosen,
        )
    except BuildError as err:
        if err.report.configs:
            click.echo(err.report.summary())
        raise
    click.echo(report.summary())
    if push and not dry_run:
        from plugdata.hub.publish import PublishError
        from plugdata.hub.publish import publish as run_publish

        if loaded.publish is None:
            raise PublishError(f"{recipe}: --push needs a `publish:` section with `repo_id`")
        spec = loaded.publish
        result = run_publish(
            report.out_dir,
            spec.repo_id,
            langs=list(report.ledgers),
            revision=spec.revision,
            replace=spec.replace,
            private=spec.private,
            create_pr=spec.create_pr,
        )
        click.echo("")
        click.echo(result.summary())
        result.raise_if_failed()


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--repo-id", required=True, metavar="ORG/NAME", help="Hub dataset repo.")
@click.option(
    "--lang",
    "langs",
    multiple=True,
    metavar="CODE",
    help="Publish every config of these languages (repeatable).",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    metavar="NAME",
    help="Publish these exact configs (repeatable). Neither option: all.",
)
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", default="main", show_default=True, help="Branch to commit to.")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing.")
@click.option("--replace", is_flag=True, help="Allow replacing configs that changed.")
@click.option("--dry-run", is_flag=True, help="Print the plan; make no request that writes.")
@click.option("--no-verify", is_flag=True, help="Skip loading the configs back afterwards.")
def publish(
    folder: Path,
    repo_id: str,
    langs: tuple[str, ...],
    configs: tuple[str, ...],
    private: bool,
    revision: str,
    create_pr: bool,
    replace: bool,
    dry_run: bool,
    no_verify: bool,
) -> None:
    """Publish a built dataset FOLDER to the Hugging Face Hub, incrementally and verified.

    Adds new configs, keeps every config already in the repo, changes an existing one only
    with --replace, and loads every pushed config back to compare it with FOLDER. The token
    comes from `hf auth login` or HF_TOKEN and is never printed.
    """
    from plugdata.hub.publish import publish as run_publish

    result = run_publish(
        folder,
        repo_id,
        langs=list(langs),
        configs=list(configs),
        revision=revision,
        replace=replace,
        private=private,
        create_pr=create_pr,
        dry_run=dry_run,
        verify=not no_verify,
    )
    if dry_run:
        click.echo("Plan (dry run, nothing written):")
    click.echo(result.summary())
    result.raise_if_failed()


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--field", "field_name", required=True, help="Column holding the text to check.")
@click.option("--expect", metavar="LANG", help="Expected language; adds pass/fail and accuracy.")
@click.option(
    "--detector",
    type=click.Choice(list(DETECTORS)),
    default=DEFAULT_DETECTOR,
    show_default=True,
    help="Language identifier.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JSON line per row (label, score, pass) to this file.",
)
def detect(
    file: Path, field_name: str, expect: str | None, detector: str, report: Path | None
) -> None:
    """Detect the language of one field in every row of FILE (json, jsonl, csv, parquet)."""
    from plugdata.checks.detect_file import detect_file

    result = detect_file(file, field_name, expect=expect, detector=detector, report=report)
    click.echo(result.summary())


@cli.command()
@click.argument("in_file", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "target", required=True, metavar="LANG", help="Target language code.")
@click.option(
    "--from",
    "source",
    default="en",
    show_default=True,
    metavar="LANG",
    help="Source (pivot) language code.",
)
@click.option("--backend", required=True, help="deep-translator or openai-chat.")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backend option, e.g. provider=libre, base_url=..., model=..., mode=joint.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Triples as JSON Lines; failures go to OUT.quarantine.jsonl.",
)
@click.option(
    "--fields",
    type=click.Choice(["instruction", "response"]),
    multiple=True,
    help="Fields to translate (default: both).",
)
@cache_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Concurrent requests.",
)
@max_cost_option
@click.option("--shard", metavar="i/N", help="Translate only the i-th of N slices (0-based).")
@click.option("--offline", is_flag=True, help="Replay from the cache; list what is missing.")
@click.option("--dry-run", is_flag=True, help="Print segments, requests, cache hits and cost.")
@engine_options("Send from this process, or from Ray actors (needs plugdata[ray]).")
@quiet_option
def translate(
    in_file: Path,
    target: str,
    source: str,
    backend: str,
    options: tuple[str, ...],
    out: Path,
    fields: tuple[str, ...],
    cache_path: Path | None,
    workers: int,
    max_cost: float | None,
    shard: str | None,
    offline: bool,
    dry_run: bool,
    engine: str,
    ray_address: str | None,
    quiet: bool,
) -> None:
    """Translate an instruction corpus IN (json, jsonl, csv, parquet) into triples."""
    from plugdata.translate.job import parse_options, translate_file

    result = translate_file(
        in_file,
        out,
        target=target,
        source=source,
        backend=backend,
        options=parse_options(options),
        fields=fields or ("instruction", "response"),
        cache_path=cache_path,
        workers=workers,
        max_cost=max_cost,
        offline=offline,
        dry_run=dry_run,
        shard=shard,
        progress=not quiet,
        engine=engine,
        ray_address=ray_address,
    )
    click.echo(result.summary())


@cli.command()
@click.argument(
    "parts", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Merged triples (JSON Lines).",
)
def merge(parts: tuple[Path, ...], out: Path) -> None:
    """Join the outputs of `plugdata translate --shard i/N` runs, in shard order."""
    from plugdata.translate.job import merge_shards

    rows = merge_shards(list(parts), out)
    click.echo(f"merged {len(parts)} shards, {rows} rows -> {out}")


@cli.group()
def cache() -> None:
    """Move the translation cache between machines (parquet)."""


def _cache_path(cache_path: Path | None) -> Path:
    from plugdata.translate.job import default_cache_path

    return cache_path or default_cache_path()


@cache.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@cache_option
def cache_export(file: Path, cache_path: Path | None) -> None:
    """Write every cached translation to FILE (parquet)."""
    from plugdata.translate.job import export_cache

    click.echo(f"exported {export_cache(_cache_path(cache_path), file)} segments -> {file}")


@cache.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@cache_option
def cache_import(file: Path, cache_path: Path | None) -> None:
    """Add the translations in FILE (from `cache export`) to the cache; rows with empty
    values are skipped and counted."""
    from plugdata.translate.job import import_cache

    path = _cache_path(cache_path)
    done = import_cache(path, file)
    skipped = f" ({done.skipped} rows skipped: null or non-text values)" if done.skipped else ""
    click.echo(f"imported {done.rows} segments{skipped} -> {path}")


@cli.command()
def languages() -> None:
    """List the language table: codes, names and PLUG markers."""
    from plugdata.core.languages import LANGUAGES

    click.echo(f"{'code':<6}{'name':<12}{'response header':<28}instruction header")
    for lang in LANGUAGES:
        click.echo(
            f"{lang.code:<6}{lang.name:<12}{lang.response_header:<28}{lang.instruction_header}"
        )


def _add_plugin_commands(group: click.Group) -> None:
    """Commands registered under the `plugdata.commands` entry point (train, generate, judge,
    score and report, from the trainer). One that cannot be loaded (installed metadata older or
    newer than the code, a missing dependency) does not take the other commands down: it stays
    listed, and running it says why in one line."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="plugdata.commands"):
        if entry.name in group.commands:
            continue
        try:
            command = entry.load()
        except (ImportError, AttributeError) as exc:
            command = _unloadable(entry.name, entry.value, exc)
        group.add_command(command, entry.name)


def _unloadable(name: str, target: str, exc: Exception) -> click.Command:
    reason = f"{target} could not be loaded ({exc}); reinstall plugdata (pip install -e .)"

    @click.command(
        name,
        help=f"(unavailable: {reason})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def unavailable() -> None:
        raise click.ClickException(f"plugdata {name}: {reason}")

    return unavailable


_add_plugin_commands(cli)


def main() -> None:
    cli(prog_name="plugdata")


if __name__ == "__main__":
    sys.exit(main())
