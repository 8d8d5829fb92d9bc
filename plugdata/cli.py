"""The `plugdata` command: a thin shell over the library, one function per command."""

from __future__ import annotations

import errno
import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from plugdata import __version__
from plugdata.errors import PlugdataError

if TYPE_CHECKING:
    from plugdata.checks.detect_file import DetectOptions
    from plugdata.checks.qe_file import QeOptions
    from plugdata.hub.publish import PublishOptions
    from plugdata.pipeline.build import BuildOptions
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.translate_file import MergeOptions, TranslateOptions
    from plugdata.translate.cache import CacheExportOptions, CacheImportOptions


class OneLineUsageError(click.ClickException):
    """A refused option value: one `Error:` line and click's usage-error exit code, without
    the usage block (the message names the option; `-h` lists them all)."""

    exit_code = 2


class Interrupted(click.ClickException):
    """Ctrl-C (SIGINT): one line and the shell's exit code for it, 130, after each command's
    own cleanup has run (a build's folder is replaced only at its end; its workers are ended)."""

    exit_code = 130

    def show(self, file: Any = None) -> None:
        click.echo(f"Interrupted: {self.message}", err=True)


# Failures of the machine, not of plugdata: said in one line like a user error.
FULL_DISK = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}


def system_fault(err: BaseException) -> str | None:
    """The one line for a full disk, a file-size limit (`ulimit -f`) or a read-only disk, as
    an OSError or as SQLite's and Arrow's own errors say it; None for anything else (a bug)."""
    if isinstance(err, OSError):
        code = err.errno
        if code is None:  # Arrow's errors carry the code in their text only
            text = str(err).lower()
            code = next((c for c in FULL_DISK if f"errno {c}]" in text), None)
        if code in FULL_DISK:
            where = f"{err.filename}: " if err.filename else ""
            return f"{where}{os.strerror(code)}; nothing was half-written: free space and run again"
    # SQLite names no file, and says "disk I/O error" for a write the size limit refused.
    if getattr(err, "sqlite_errorname", None) in ("SQLITE_FULL", "SQLITE_IOERR_WRITE"):
        return (
            f"a write failed (SQLite: {err}): the disk is full or a file-size limit was "
            "reached; nothing was half-written: free space and run again"
        )
    return None


class ModelCommand(click.Command):
    """A command whose options are the fields of pydantic models (`plugdata.core.options`),
    named as `module:Class` and imported only when the command runs or shows its own help:
    `plugdata --help` lists every command without importing pydantic, the pipeline or the
    trainer. The callback gets the validated models, in the order named (`parse_all`)."""

    def __init__(self, *args: Any, models: tuple[str, ...], **kwargs: Any):
        self.model_names = models  # `module:Class` each
        self._loaded = True  # nothing to build while click's __init__ sets the attributes
        super().__init__(*args, **kwargs)
        self._loaded = False

    # click reads both attributes to parse, run and describe a command; building them at the
    # first read keeps every other part of click as it is.
    @property  # type: ignore[override]
    def params(self) -> list[click.Parameter]:
        self._load()
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._params = value

    @property  # type: ignore[override]
    def callback(self) -> Callable[..., Any] | None:
        self._load()
        return self._callback

    @callback.setter
    def callback(self, value: Callable[..., Any] | None) -> None:
        self._callback = value

    def _load(self) -> None:
        if self._loaded:
            return
        from plugdata.core.options import click_options, parse_all

        models = [_resolve(name) for name in self.model_names]
        function = self._callback

        @functools.wraps(function)
        def run(**values: Any) -> Any:
            return function(*parse_all(values, *models))

        for model in reversed(models):  # as stacked decorators would, the first model on top
            run = click_options(model)(run)
        self._callback = run
        # click reverses the decorators' list, to declaration order.
        self._params = [*reversed(run.__click_params__), *self._params]
        self._loaded = True  # only now: a model that failed to import fails again when asked


def _resolve(name: str) -> Any:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def model_command(
    *models: str, group: click.Group | None = None, name: str | None = None
) -> Callable[[Callable[..., Any]], click.Command]:
    """A command (of `group`, or standalone) whose options come from `models`, each
    `module:Class` (see `ModelCommand`)."""
    make = group.command if group is not None else click.command
    return make(name, cls=ModelCommand, models=models)


class PlugdataGroup(click.Group):
    """Turns library errors (and only those) into one line and exit code 1, scrubbed of
    secrets whatever the message quotes; refused option values into one line and exit code 2.

    Commands registered under the `plugdata.commands` entry point (train, generate, judge,
    score and report, from the trainer) are listed by name and loaded when one is asked for,
    so that the library's commands never import the trainer. One that cannot be loaded
    (installed metadata older or newer than the code, a missing dependency) does not take the
    other commands down: it stays listed, and running it says why in one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._plugins()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        entry = self._plugins().get(name)
        if entry is None:
            return None
        try:
            command = entry.load()
        except (ImportError, AttributeError) as exc:
            command = _unloadable(name, entry.value, exc)
        self.add_command(command, name)
        return command

    def _plugins(self) -> dict[str, Any]:
        # Read once: a scan of every installed package's metadata, and `--help` asks for each
        # plugin by name after listing them.
        if getattr(self, "_entry_points", None) is None:
            from importlib.metadata import entry_points

            self._entry_points = {e.name: e for e in entry_points(group="plugdata.commands")}
        return self._entry_points

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.BadParameter as err:
            raise OneLineUsageError(err.format_message()) from err
        except PlugdataError as err:
            from plugdata.core.redact import scrub

            lines = str(err).strip().splitlines() or [type(err).__name__]
            raise click.ClickException(scrub(" ".join(line.strip() for line in lines))) from err
        except KeyboardInterrupt as err:
            raise Interrupted("stopped by Ctrl-C; run the command again to finish") from err
        except Exception as err:  # a full disk is the machine's fault, anything else a bug
            line = system_fault(err)
            if line is None:
                raise
            raise click.ClickException(line) from err


@click.group(cls=PlugdataGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="plugdata")
def cli() -> None:
    """Build, publish, train on and judge PLUG cross-lingual instruction datasets.

    \b
    Typical use:
      plugdata build recipes/demo.yaml --out build/
      plugdata translate en.jsonl --to zh --backend openai-chat --out zh.jsonl --dry-run
      plugdata publish build/plug-demo --repo-id my-org/plug-demo --dry-run
      plugdata train --dataset build/plug-demo --config zh-plug --model MODEL --output-dir run
    """


@model_command(
    "plugdata.pipeline.build:BuildOptions", "plugdata.pipeline.config:RunConfig", group=cli
)
def build(options: BuildOptions, config: RunConfig) -> None:
    """Build the dataset described by RECIPE into OUT/<name>/.

    Writes parquet configs `<lang>` (triples) and `<lang>-<method>` (training rows), a
    quarantine table per language, manifest.json and a dataset card, all replaced at once
    when the build ends. A language that keeps no row is an error; the others are built.
    """
    from plugdata.pipeline.build import BuildError, build_from

    try:
        report = build_from(options, config)
    except BuildError as err:
        if err.report.configs:
            click.echo(err.report.summary())
        raise
    click.echo(report.summary())
    if options.push and not options.dry_run:
        from plugdata.pipeline.build import push_built

        result = push_built(options.load(), report)
        click.echo("")
        click.echo(result.summary())
        result.raise_if_failed()


@model_command("plugdata.hub.publish:PublishOptions", group=cli)
def publish(options: PublishOptions) -> None:
    """Publish a built dataset FOLDER to the Hugging Face Hub, incrementally and verified.

    Adds new configs, keeps every config already in the repo, changes an existing one only
    with --replace, and loads every pushed config back to compare it with FOLDER. The token
    comes from `hf auth login` or HF_TOKEN and is never printed.
    """
    from plugdata.hub.publish import publish as run_publish

    result = run_publish(options)
    if options.dry_run:
        click.echo("Plan (dry run, nothing written):")
    click.echo(result.summary())
    result.raise_if_failed()


@model_command("plugdata.checks.qe_file:QeOptions", group=cli)
def qe(options: QeOptions) -> None:
    """Score how well each pair of texts in FILE agrees in meaning (json, jsonl, csv, parquet)."""
    from plugdata.checks.qe_file import qe_file

    click.echo(qe_file(options).summary())


@model_command("plugdata.checks.detect_file:DetectOptions", group=cli)
def detect(options: DetectOptions) -> None:
    """Detect the language of one field in every row of FILE (json, jsonl, csv, parquet)."""
    from plugdata.checks.detect_file import detect_file

    click.echo(detect_file(options).summary())


@model_command(
    "plugdata.pipeline.translate_file:TranslateOptions",
    "plugdata.pipeline.config:RunConfig",
    group=cli,
)
def translate(options: TranslateOptions, config: RunConfig) -> None:
    """Translate an instruction corpus IN (json, jsonl, csv, parquet) into triples."""
    from plugdata.pipeline.translate_file import translate_file

    click.echo(translate_file(options, config).summary())


@model_command("plugdata.pipeline.translate_file:MergeOptions", group=cli)
def merge(options: MergeOptions) -> None:
    """Join the outputs of `plugdata translate --shard i/N` runs, in shard order."""
    from plugdata.pipeline.translate_file import merge_shards

    rows = merge_shards(options.parts, options.out)
    click.echo(f"merged {len(options.parts)} shards, {rows} rows -> {options.out}")


@cli.group()
def cache() -> None:
    """Move the translation cache between machines (parquet)."""


@model_command("plugdata.translate.cache:CacheExportOptions", group=cache, name="export")
def cache_export(options: CacheExportOptions) -> None:
    """Write every cached translation to FILE (parquet)."""
    from plugdata.translate.cache import export_cache

    click.echo(f"exported {export_cache(options)} segments -> {options.file}")


@model_command("plugdata.translate.cache:CacheImportOptions", group=cache, name="import")
def cache_import(options: CacheImportOptions) -> None:
    """Add the translations in FILE (from `cache export`) to the cache; rows with empty
    values are skipped and counted."""
    from plugdata.translate.cache import import_cache

    done = import_cache(options)
    skipped = f" ({done.skipped} rows skipped: null or non-text values)" if done.skipped else ""
    click.echo(f"imported {done.rows} segments{skipped} -> {options.cache}")


@cli.command()
def languages() -> None:
    """List the language table: codes, names and PLUG markers."""
    from plugdata.core.languages import LANGUAGES

    click.echo("\n".join(LANGUAGES.listing()))


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


def main() -> None:
    try:
        cli(prog_name="plugdata")
    except SystemExit as done:
        if done.code == Interrupted.exit_code:
            _exit_now(Interrupted.exit_code)
        raise


def _exit_now(code: int) -> None:
    """Exit after Ctrl-C without joining the threads still waiting on a service (Python joins
    a thread pool's threads at exit, which would wait out every request in flight): the
    command's own cleanup has run as the interrupt unwound it; the exit handlers run here."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
