"""A catalogue of recipes and inputs that must not build what the user did not ask for, and of
what a newcomer meets: each case is the input, the one line the user reads (exit 1, no
traceback), and what stays as it was; or the help and summaries that must say the truth."""

from __future__ import annotations

import logging
import shutil
import socket
import time
from pathlib import Path

import pytest

from .conftest import RECIPE, cli_commands, corpus_rows, invoke, one_line_error, write_jsonl
from .hub_server import configure_endpoint


def two_recipes(root: Path) -> tuple[Path, Path]:
    """`a/tiny.yaml` and `b/tiny.yaml`: same file name, same `name:`, text for text the same,
    but each reads the corpora of its own folder, and b's Chinese rows are other rows."""
    recipes = []
    for folder in ("a", "b"):
        base = root / folder
        base.mkdir()
        for lang in ("en", "zh", "it"):
            rows = corpus_rows(lang)
            if folder == "b" and lang == "zh":
                rows = [{**row, "output": row["output"] + "。"} for row in rows]
            write_jsonl(base / f"{lang}.jsonl", rows)
        recipe = base / "tiny.yaml"
        recipe.write_text(RECIPE.format(join="id"), encoding="utf-8")
        recipes.append(recipe)
    return recipes[0], recipes[1]


# -- a folder knows the recipe it was built from --------------------------------------------------
def test_build_same_named_recipe_from_another_folder_is_refused(tmp_path):
    a, b = two_recipes(tmp_path)
    out = tmp_path / "out"
    assert invoke("build", a, "--out", out, "--quiet", "--lang", "zh").exit_code == 0
    manifest = (out / "tiny" / "manifest.json").read_bytes()
    message = one_line_error(invoke("build", b, "--out", out, "--quiet", "--lang", "it"))
    assert message == (
        f"Error: {out / 'tiny'}: built from another recipe named tiny.yaml (config zh), not {b}; "
        "give another --out, or pass --force to build there anyway"
    )
    assert (out / "tiny" / "manifest.json").read_bytes() == manifest
    assert invoke("build", b, "--out", out, "--quiet", "--lang", "it", "--force").exit_code == 0


def test_build_same_recipe_edited_or_moved_with_its_output_is_a_rebuild(tmp_path):
    a, _ = two_recipes(tmp_path)
    out = a.parent / "out"
    assert invoke("build", a, "--out", out, "--quiet", "--lang", "zh").exit_code == 0
    a.write_text(a.read_text("utf-8").replace("0.25", "0.5"), encoding="utf-8")
    assert invoke("build", a, "--out", out, "--quiet", "--lang", "it").exit_code == 0
    moved = tmp_path / "moved"
    shutil.move(a.parent, moved)
    result = invoke("build", moved / "tiny.yaml", "--out", moved / "out", "--quiet")
    assert result.exit_code == 0, result.output


# -- recipes that would read outside the package or build nothing ---------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "builtin:../../pipeline/recipe.py",
        "builtin:demo/../../../errors.py",
        "builtin:/etc/passwd",
        "builtin:demo\\\\en.jsonl",
        "builtin:.hidden",
        "builtin:",
    ],
)
def test_recipe_builtin_path_outside_the_packaged_corpora_is_refused(tiny, path):
    text = tiny.read_text("utf-8").replace("path: en.jsonl", f'path: "{path}"')
    tiny.write_text(text, encoding="utf-8")
    for args in (["--quiet"], ["--dry-run"]):
        message = one_line_error(invoke("build", tiny, "--out", tiny.parent / "out", *args))
        assert message.startswith(f"Error: {tiny}: source.path: ")
        assert "not a packaged corpus; write builtin:FOLDER/FILE" in message
    assert not (tiny.parent / "out").exists()


def test_builtin_link_out_of_the_package_is_refused(tmp_path):
    from importlib.resources import files

    from plugdata.errors import SourceError
    from plugdata.sources.read import resolve_path

    packaged = Path(str(files("plugdata") / "sources" / "corpora"))
    link = packaged / "zz-test-link.jsonl"
    (tmp_path / "secret.jsonl").write_text("{}\n", encoding="utf-8")
    try:
        link.symlink_to(tmp_path / "secret.jsonl")
    except OSError:
        pytest.skip("the package folder is not writable")
    try:
        with pytest.raises(SourceError, match="leads out of plugdata's packaged corpora"):
            resolve_path("builtin:zz-test-link.jsonl", tmp_path)
    finally:
        link.unlink()
    assert resolve_path("builtin:demo/zh.jsonl", tmp_path).is_file()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "targets:\n  zh: {align: {path: zh.jsonl, join: id}}\n  it: {align: {path: it.jsonl, "
            "join: id}}\n",
            "targets: {}\n",
            "targets: no target language: a recipe builds at least one (e.g. `zh:`)",
        ),
        (
            "splits:",
            "methods: [plug, mono, plug]\nsplits:",
            "methods: 'plug' is listed twice",
        ),
    ],
    ids=["no-targets", "method-twice"],
)
def test_recipe_that_would_build_nothing_or_twice_is_a_recipe_error(tiny, old, new, expected):
    text = tiny.read_text("utf-8")
    assert old in text
    tiny.write_text(text.replace(old, new), encoding="utf-8")
    message = one_line_error(invoke("build", tiny, "--out", tiny.parent / "out", "--quiet"))
    assert message == f"Error: {tiny}: {expected}"
    assert not (tiny.parent / "out").exists()


# -- a Hub that cannot be reached is one line at once, with the way to build without it ----------
RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_build_hub_recipe_with_the_hub_unreachable_fails_at_once(tmp_path, monkeypatch):
    url = closed_port_url()
    configure_endpoint(url, monkeypatch)
    started = time.monotonic()
    result = invoke("build", RECIPES / "x-svamp.yaml", "--out", tmp_path / "out", "--quiet")
    message = one_line_error(result)
    assert time.monotonic() - started < 10  # datasets alone retried for 25 s
    assert message == (
        f"Error: hub dataset zhihz0535/X-SVAMP_en_zh_ko_it_es: cannot reach the Hub at {url} "
        "(connection refused (nothing listening)); languages read from the Hub: en (the source), "
        "zh, ko, it, es; give each a local file with --corpus LANG=PATH, or set HF_HUB_OFFLINE=1 "
        "to use the cached copy"
    )
    assert not (tmp_path / "out").exists()


def test_build_hub_recipe_with_some_local_files_names_the_rest_and_lang(tmp_path, monkeypatch):
    url = closed_port_url()
    configure_endpoint(url, monkeypatch)
    files = []
    for lang in ("en", "zh", "it"):
        rows = [
            {"id": row["id"], "instruction": row["instruction"], "answer": 3}
            for row in corpus_rows(lang)
        ]
        files += ["--corpus", f"{lang}={write_jsonl(tmp_path / f'{lang}.jsonl', rows)}"]
    args = ["build", RECIPES / "x-svamp.yaml", "--out", tmp_path / "out", "--quiet", *files]
    started = time.monotonic()
    message = one_line_error(invoke(*args))
    assert time.monotonic() - started < 10  # datasets alone retried for 25 s
    assert message.endswith(
        "languages read from the Hub: ko, es; give each a local file with --corpus LANG=PATH, or "
        "set HF_HUB_OFFLINE=1 to use the cached copy; or build the others now: --lang zh --lang it"
    )
    # ... and what it says works, without the Hub.
    result = invoke(*args, "--lang", "zh", "--lang", "it")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "x-svamp" / "manifest.json").is_file()


# -- summaries and help that say the truth ---------------------------------------------------------
def test_publish_dry_run_says_what_a_real_run_would_commit(hub, tiny):
    out = tiny.parent / "out"
    assert invoke("build", tiny, "--out", out, "--quiet", "--lang", "zh").exit_code == 0
    dry = invoke("publish", out / "tiny", "--repo-id", "org/tiny", "--dry-run")
    assert dry.exit_code == 0, dry.output
    files = dry.output.split("files     ")[1].split(" to upload")[0]
    assert "nothing changed" not in dry.output
    assert dry.output.rstrip().endswith(
        f"dry run, nothing sent: a real run would commit {files} files ("
        + dry.output.split(" to upload (")[1].split(")")[0]
        + ") and delete 0 to org/tiny@main, creating the repo"
    )
    assert hub.writes() == []


def test_local_ray_token_notice_is_silenced_and_other_ray_warnings_are_not():
    pytest.importorskip("ray")
    from ray._private.authentication import authentication_token_setup as token_setup

    from plugdata.pipeline.executor.ray_cluster import quiet_token_notice

    class Seen(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    seen = Seen()
    token_setup.logger.addHandler(seen)  # Ray's loggers do not propagate to pytest's
    try:
        quiet_token_notice()
        token_setup._warn_token_auth_enabled()  # what every local ray.init logs
        token_setup._warn_token_auth_disabled()
    finally:
        token_setup.logger.removeHandler(seen)
    assert len(seen.messages) == 1
    assert seen.messages[0].startswith("Token authentication is disabled")


def test_languages_columns_line_up_in_terminal_cells():
    from plugdata.core.languages import LANGUAGES, display_width

    lines = invoke("languages").output.splitlines()
    titles = ("name", "response header", "instruction header")
    starts = [lines[0].index(title) for title in titles]
    rows = {line.split()[0]: line for line in lines[1:]}
    for code in ("zh", "ja", "ko", "en"):
        lang, line = LANGUAGES.get(code), rows[code]
        cells = (lang.name, lang.response_header, lang.instruction_header)
        for start, cell in zip(starts, cells, strict=True):
            # The cell begins at its column's start, counted in terminal cells, not characters.
            assert display_width(line[: line.index(cell)]) == start, line


def test_help_marks_required_exactly_the_options_without_a_default():
    """Across every command: an option whose field has a default is never `[required]` (nor
    refused when left out), and one without a default always is."""
    import click

    from plugdata.cli import cli
    from plugdata.core.options import options_of

    checked = 0
    for path, command in cli_commands(cli):
        fields = options_of(command)
        ctx = click.Context(command, info_name=path)
        for param in command.params:
            if param.name not in fields or not isinstance(param, click.Option):
                continue
            help_text = (param.get_help_record(ctx) or ("", ""))[1]
            marked = "required]" in help_text or "; required" in help_text
            needed = fields[param.name].is_required()
            assert marked == needed, f"plugdata {path} {param.opts[0]}: {help_text!r}"
            assert not (marked and "default:" in help_text), f"plugdata {path} {param.opts[0]}"
            checked += 1
    assert checked > 150  # every command's options were seen, the trainer's too


def test_train_and_generate_without_config_list_the_dataset_s_configs(tmp_path):
    recipe_dir = tmp_path / "r"
    recipe_dir.mkdir()
    for lang in ("en", "zh", "it"):
        write_jsonl(recipe_dir / f"{lang}.jsonl", corpus_rows(lang))
    recipe = recipe_dir / "tiny.yaml"
    recipe.write_text(
        RECIPE.format(join="id").replace("splits:", "methods: [plug, mono]\nsplits:"), "utf-8"
    )
    assert invoke("build", recipe, "--out", tmp_path, "--quiet").exit_code == 0
    dataset = tmp_path / "tiny"
    train = ["train", "--dataset", dataset, "--model", "m", "--output-dir", tmp_path / "run"]
    assert one_line_error(invoke(*train)) == (
        f"Error: --config: required; the configs of {dataset}: it-mono, it-plug, zh-mono, zh-plug"
    )
    generate = ["generate", "--dataset", dataset, "--model", "m", "--method", "plug"]
    assert one_line_error(invoke(*generate, "--out", tmp_path / "a.jsonl")) == (
        f"Error: --config: required; the configs of {dataset}: it, zh"
    )
    hub = ["train", "--dataset", "org/data", "--model", "m", "--output-dir", tmp_path / "run"]
    assert one_line_error(invoke(*hub)) == (
        "Error: --config: required; name one of the dataset's configs (its card lists them)"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag", ["--model", "--judge-model"])
def test_a_missing_gguf_file_is_called_a_file(tmp_path, flag):
    from plugdata.remote.locations import LocationError, check_model

    with pytest.raises(LocationError, match=rf"^{flag} x\.gguf: no such file$"):
        check_model("x.gguf", flag)
    (tmp_path / "d.gguf").mkdir()
    with pytest.raises(LocationError, match=r"d\.gguf: a directory, not a \.gguf file$"):
        check_model(str(tmp_path / "d.gguf"), flag)


def test_train_help_describes_each_preset_as_the_trainer_runs_it():
    from trainer.options import TrainOptions
    from trainer.train import PRESETS

    help_text = " ".join(TrainOptions.model_fields["preset"].description.split())
    for name, preset in PRESETS.items():
        described = help_text.split(f"{name}: ")[1].split(";")[0]
        lr = float(described.split("lr ")[1].split(",")[0])
        assert lr == preset["learning_rate"], described
        assert f"{preset['epochs']} epoch" in described, described
        assert f"batch {preset['global_batch_size']}" in described, described
        assert f"{preset['max_length']} tokens" in described, described
        cap, batch = preset["per_device_batch_cap"], preset["global_batch_size"]
        if "per device" in described:  # what one pass takes, and what makes up the batch
            assert f"({cap} per device, {batch // cap} accumulated)" in described, described
    assert "per device" in help_text.split("quick: ")[1]
