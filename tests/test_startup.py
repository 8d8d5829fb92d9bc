"""Start-up costs, asserted by what a fresh interpreter imports rather than by timings (shared CI
machines make those flaky): `plugdata --help` loads no options model and no heavy library, and a
judge run whose judgments are all cached loads no SDK. Commands whose options are built on
demand (`ModelCommand`) describe them exactly as the models declare them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from plugdata.cli import ModelCommand, cli

from .conftest import cli_commands, write_jsonl
from .servers import ChatServer

ROOT = Path(__file__).resolve().parents[1]

# What `plugdata --help` used to import before listing the commands: 0.26 s of a 0.29 s run.
HEAVY = (
    "pydantic",
    "openai",
    "requests",
    "pyarrow",
    "numpy",
    "matplotlib",
    "torch",
    "plugdata.core.options",
    "plugdata.pipeline",
    "plugdata.checks",
    "plugdata.translate",
    "plugdata.hub",
    "trainer.options",
    "trainer.judge",
)


# The command run as `plugdata` runs it, then the modules it left loaded, written to a file
# (stderr is no place for them: `-X importtime` loses lines once a library redirects it).
RUN_AND_LIST = """
import json, sys
from plugdata.cli import main
listing, sys.argv = sys.argv[1], ["plugdata", *sys.argv[2:]]
try:
    main()
except SystemExit as done:
    assert not done.code, done.code
with open(listing, "w") as fh:
    json.dump(sorted(sys.modules), fh)
"""


def imported(*args: str, env: dict | None = None) -> tuple[set[str], str]:
    """The modules `plugdata ARGS` imports, run in a fresh interpreter, and its output."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "modules.json"
        done = subprocess.run(
            [sys.executable, "-c", RUN_AND_LIST, str(listing), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return set(json.loads(listing.read_text())), done.stdout


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


def test_plugdata_help_lists_every_command_without_importing_their_options():
    names, out = imported("--help")
    assert heavy(names) == []
    assert "click" in names  # the measurement itself works
    listed = set(out.split("Commands:", 1)[1].split())
    assert {"build", "translate", "publish", "judge", "train", "score", "report"} <= listed


def test_a_command_help_loads_its_own_options_only():
    names, out = imported("merge", "--help")
    assert "plugdata.pipeline.translate_file" in names and "--out" in out
    assert not {"openai", "matplotlib", "trainer.options"} & names
    names, out = imported("judge", "--help")
    assert "trainer.options" in names and "--bad-answers" in out
    assert not {"openai", "matplotlib", "plugdata.pipeline.build"} & names


def _declared(command: ModelCommand) -> click.Command:
    """The same command with its options declared up front, by stacked `click_options`: how
    every command was written before their options were built on demand."""
    import importlib

    from plugdata.core.options import click_options

    def callback(**values) -> None:
        pass

    for name in reversed(command.model_names):
        module, _, attribute = name.partition(":")
        callback = click_options(getattr(importlib.import_module(module), attribute))(callback)
    return click.command(command.name, help=command.help)(callback)


def _described(command: click.Command, path: str) -> tuple:
    """What `--help` shows: usage, text, and each parameter's line (click adds its own
    `--help` line, the same for every command)."""
    ctx = click.Context(command, info_name=f"plugdata {path}", terminal_width=100)
    return (
        command.get_usage(ctx),
        command.help,
        [p.get_help_record(ctx) for p in command.params],
        [(p.name, p.opts, p.required, p.default, p.multiple) for p in command.params],
    )


def test_every_command_built_on_demand_has_the_help_of_its_declared_options():
    checked = []
    for path, command in cli_commands(cli):
        if not isinstance(command, ModelCommand):
            continue
        described = [_described(c, path) for c in (command, _declared(command))]
        assert described[0] == described[1], path
        checked.append(path)
    assert {"build", "translate", "judge", "train", "score svamp", "cache export"} <= set(checked)


def test_a_judge_run_from_the_cache_imports_no_sdk(tmp_path):
    ids = [f"q{i}" for i in range(6)]
    q = write_jsonl(tmp_path / "q.jsonl", [{"id": i, "instruction": f"Question {i}"} for i in ids])
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": f"one {i}"} for i in ids])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": i, "output": f"two {i}"} for i in ids])
    env = {"OPENAI_API_KEY": "sk-test", "PLUGDATA_CACHE_DIR": str(tmp_path / "cache")}
    with ChatServer(translate=lambda text: "A is clearer. [[A]]") as server:
        args = ["judge", "--answers", str(a), "--baseline", str(b), "--questions", str(q)]
        args += ["--judge-model", "judge", "--base-url", f"{server.url}/v1", "--quiet"]
        first, out = imported(*args, "--out", str(tmp_path / "out1"), env=env)
        again, out_again = imported(*args, "--out", str(tmp_path / "out2"), env=env)
        sent = len(server.requests)
    assert sent == 12 and "12 requests" in out
    assert "openai" in first and "openai" not in again
    assert "0 requests (0 retries, 12 judgments from the cache)" in out_again
    for folder in ("out1", "out2"):  # the outputs the command promises, the chart included
        names = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert names == ["judgments.jsonl", "summary.json", "summary.md", "winrate.png"]
        png = (tmp_path / folder / "winrate.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_bench_judge_uses_its_own_cache_and_ends_with_a_result_line(tmp_path):
    user_cache = tmp_path / "user-cache"
    args = ["--items", "8", "--latency", "0.01", "--concurrency", "4", "--skip-baseline"]
    done = subprocess.run(
        [sys.executable, "bench/bench_judge.py", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "PLUGDATA_CACHE_DIR": str(user_cache),
            "XDG_CACHE_HOME": str(user_cache),
        },
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    result = json.loads(last.removeprefix("RESULT "))
    assert result["requests"] == 16 and result["bound_s"] == pytest.approx(16 * 0.01 / 4)
    assert result["code"]["requests"] == 16 and result["code"]["cached_requests"] == 0
    assert 0 < result["code"]["median_share_of_bound"] < 1
    assert "winrate.png" in result["code"]["outputs"]
    assert len(result["load_before"]) == 3 and len(result["load_after"]) == 3
    assert not user_cache.exists()  # every run had a cache of its own
