"""Packaging promises: a light import, and docs that match the commands."""

import subprocess
import sys
from pathlib import Path

import click

from plugdata.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_import_plugdata_loads_neither_torch_nor_datasets_nor_ray():
    code = (
        "import sys, plugdata, plugdata.cli, plugdata.translate.job; "
        "print(','.join(m for m in ('torch', 'datasets', 'transformers', 'ray') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_library_never_imports_the_trainer():
    """The trainer builds on the library, not the other way round: its commands reach the
    `plugdata` command through an entry point."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n.split(".")[0] == "trainer"
        )
        for path in (ROOT / "plugdata").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_trainer_uses_the_translation_package_but_not_its_engine():
    """Remote calls (client, prices, retries) are shared through `plugdata.remote.calls`; translation
    (the translate-test baseline) through the public API of the `plugdata.translate` package
    alone, never its modules (engine, backends, cache), so those stay free to change."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n.startswith("plugdata.translate.")
        )
        for path in (ROOT / "trainer").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_translation_package_imports_its_modules_only_when_used():
    """`import plugdata.translate` (what the trainer imports) loads no backend, engine or
    HTTP client until a translation is asked for."""
    code = (
        "import sys, plugdata.translate; "
        "print(','.join(m for m in sys.modules if m.startswith('plugdata.translate.') "
        "or m.split('.')[0] in ('torch', 'deep_translator', 'openai', 'requests')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_translation_package_never_imports_what_builds_on_it():
    above = (
        "plugdata.pipeline.build",
        "plugdata.pipeline.configs",
        "plugdata.pipeline.language",
        "plugdata.pipeline.plan",
        "plugdata.hub.publish",
        "plugdata.dataset.staging",
        "plugdata.dataset.cards",
        "plugdata.cli",
    )
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports(path) if n.startswith(above))
        for path in (ROOT / "plugdata" / "translate").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text("utf-8")
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"plugdata {name}" in readme, name


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text("utf-8")
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "plugdata build recipes/demo.yaml --out build/" in readme
    command = next(line for line in readme.splitlines() if "python -m pytest" in line)
    assert command.strip() in ci  # CI runs exactly the README's test command
    assert "pip install -e '.[dev]'" in command


def test_console_script_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "plugdata.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "plugdata" in out.stdout
    assert isinstance(cli, click.Group)
