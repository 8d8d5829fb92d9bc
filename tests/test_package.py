"""Packaging promises: a light import, and docs that match the commands."""

import subprocess
import sys
from pathlib import Path

import click

from plugdata.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_import_plugdata_loads_neither_torch_nor_datasets_nor_ray():
    code = (
        "import sys, plugdata, plugdata.cli, plugdata.pipeline.translate_file; "
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


# The groups of `plugdata/`, lowest first: a module imports only from its own group and the
# groups before it (the package itself stands with its errors).
LAYERS = [
    "plugdata.errors",
    "plugdata.core",
    "plugdata.remote",
    "plugdata.sources",
    "plugdata.translate",
    "plugdata.checks",
    "plugdata.dataset",
    "plugdata.hub",
    "plugdata.pipeline",
    "plugdata.cli",
]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    """The rank of a plugdata module's group."""
    if module == "plugdata":
        return 0
    return next(i for i, g in enumerate(LAYERS) if module == g or module.startswith(g + "."))


def test_each_group_of_the_library_imports_only_the_groups_below_it():
    offenders = {}
    for path in (ROOT / "plugdata").rglob("*.py"):
        rank = _layer(_module(path))
        for name in _imports(path):
            if name.split(".")[0] == "plugdata" and _layer(name) > rank:
                offenders.setdefault(_module(path), []).append(name)
    assert offenders == {}


def test_there_is_no_import_cycle_not_even_through_imports_inside_functions():
    graph: dict[str, set[str]] = {}
    for path in [*(ROOT / "plugdata").rglob("*.py"), *(ROOT / "trainer").rglob("*.py")]:
        module = _module(path)
        # A module's own package is imported before it anyway: no edge to draw.
        graph[module] = {n for n in _imports(path) if not module.startswith(n + ".")}
    modules = set(graph)
    for module, names in graph.items():
        graph[module] = {n for n in names if n in modules and n != module}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        return False

    cycles = sorted((a, b) for a, names in graph.items() for b in names if a < b and reaches(b, a))
    assert cycles == []


def test_the_top_level_of_the_library_is_a_short_map():
    entries = [p.name for p in (ROOT / "plugdata").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 12, sorted(entries)


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text("utf-8")
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert {"build", "translate", "publish", "train", "judge", "report"} <= set(names)
    for name in names:
        assert cli.get_command(ctx, name).help, name
        assert f"plugdata {name}" in readme, name


def test_importing_the_cli_loads_no_command_of_the_trainer():
    code = (
        "import sys, plugdata.cli; print(sorted(m for m in sys.modules if m.startswith('trainer')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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
