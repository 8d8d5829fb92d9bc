"""Packaging promises: a light import, and docs that match the commands."""

import subprocess
import sys
from pathlib import Path

import click

from plugdata.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_import_plugdata_loads_neither_torch_nor_datasets():
    code = (
        "import sys, plugdata, plugdata.cli; "
        "print(','.join(m for m in ('torch', 'datasets', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


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
