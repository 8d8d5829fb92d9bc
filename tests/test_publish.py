"""plugdata publish against a Hub-protocol server on 127.0.0.1: the upload and the read-back
go through the real, unpatched huggingface_hub and datasets code."""

import json

import datasets
import pytest
from click.testing import CliRunner

from plugdata.cli import cli
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import METHOD_NAMES, load_recipe

from .conftest import corpus_rows, write_jsonl

REPO = "plug-org/tiny"


@pytest.fixture
def built(tiny, tmp_path):
    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    return tmp_path / "out" / "tiny"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def lang_configs(lang):
    return {lang} | {f"{lang}-{m}" for m in METHOD_NAMES}


def hub_configs(hub):
    manifest = json.loads(hub.files(REPO)["manifest.json"])
    return set(manifest["configs"])


def test_first_publish_creates_repo_and_every_config_loads(hub, built):
    result = run("publish", built, "--repo-id", REPO, "--lang", "zh")
    assert result.exit_code == 0, result.output
    assert hub_configs(hub) == lang_configs("zh")
    files = hub.files(REPO)
    assert "data/zh-plug/train-00000-of-00001.parquet" in files
    assert "quarantine/zh.parquet" in files and "quarantine/it.parquet" not in files
    assert result.output.count(" same") == 2 * len(lang_configs("zh"))  # train + validation
    for config in lang_configs("zh"):
        ds = datasets.load_dataset(REPO, config, split="train")
        assert ds.num_rows > 0
    plug = datasets.load_dataset(REPO, "zh-plug", split="train")
    assert set(plug.column_names) == {"id", "kind", "prompt", "completion"}


def test_second_language_later_keeps_the_first(hub, built):
    assert run("publish", built, "--repo-id", REPO, "--lang", "zh").exit_code == 0
    before = {p: b for p, b in hub.files(REPO).items() if p.startswith("data/zh")}
    result = run("publish", built, "--repo-id", REPO, "--lang", "it")
    assert result.exit_code == 0, result.output
    after = hub.files(REPO)
    assert {p: after[p] for p in before} == before  # every zh file untouched
    assert hub_configs(hub) == lang_configs("zh") | lang_configs("it")
    card = after["README.md"].decode()
    assert "config_name: zh-plug" in card and "config_name: it-plug" in card
    assert "| zh | 8 | 8 | 0 |" in card and "| it | 8 | 8 | 0 |" in card
    assert "kept      zh, zh-code-switch" in result.output
    assert datasets.load_dataset(REPO, "zh-mono", split="train").num_rows > 0


def test_a_language_published_later_keeps_the_one_default_config(hub, built):
    """A new repo takes the first `plug` config it gets (the folder's own default, zh-plug,
    is not published first); zh published later leaves it where it is."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    assert run("publish", built, "--repo-id", REPO, "--lang", "it").exit_code == 0
    assert run("publish", built, "--repo-id", REPO, "--lang", "zh").exit_code == 0
    card = DatasetCard(hub.files(REPO)["README.md"].decode())
    assert [c["config_name"] for c in card.data.configs if c.get("default")] == ["it-plug"]
    assert MetadataConfigs.from_dataset_card_data(card.data).get_default_config_name() == "it-plug"
    loaded = datasets.load_dataset(REPO, split="train")
    assert loaded.to_list() == datasets.load_dataset(REPO, "it-plug", split="train").to_list()


def test_republishing_unchanged_configs_makes_no_commit(hub, built):
    assert run("publish", built, "--repo-id", REPO).exit_code == 0
    commits = len(hub.commits(REPO))
    result = run("publish", built, "--repo-id", REPO)
    assert result.exit_code == 0, result.output
    assert "nothing changed: no commit made" in result.output
    assert len(hub.commits(REPO)) == commits


def test_changed_config_needs_replace(hub, built, tiny, tmp_path):
    assert run("publish", built, "--repo-id", REPO, "--lang", "zh").exit_code == 0
    write_jsonl(tiny.parent / "zh.jsonl", corpus_rows("zh")[:6])  # zh changes: 2 rows missing
    build(load_recipe(tiny), tmp_path / "out", langs=["zh"], config=RunConfig(quiet=True))
    commits = len(hub.commits(REPO))
    result = run("publish", built, "--repo-id", REPO, "--lang", "zh")
    assert result.exit_code == 1
    assert "changed since they were published; pass --replace" in result.output
    assert len(hub.commits(REPO)) == commits
    dry = run("publish", built, "--repo-id", REPO, "--lang", "zh", "--replace", "--dry-run")
    assert "replace   zh, zh-code-switch" in dry.output
    result = run("publish", built, "--repo-id", REPO, "--lang", "zh", "--replace")
    assert result.exit_code == 0, result.output
    ds = datasets.load_dataset(REPO, "zh", download_mode="force_redownload")
    assert ds["train"].num_rows + ds["validation"].num_rows == 6


def test_dry_run_makes_no_request_that_writes(hub, built):
    result = run("publish", built, "--repo-id", REPO, "--dry-run")
    assert result.exit_code == 0, result.output
    assert hub.writes() == []
    assert (
        "(new repo)" in result.output
        and "+ data/zh-plug/train-00000-of-00001.parquet" in result.output
    )
    assert "+ README.md" in result.output and "bytes" in result.output


def test_concurrent_commit_412_is_retried(hub, built, waits):
    hub.fail_next("POST", "/commit/", 412, body={"error": "A commit has happened since."})
    result = run("publish", built, "--repo-id", REPO, "--lang", "it")
    assert result.exit_code == 0, result.output
    assert "after 2 attempt(s)" in result.output and len(waits) == 1
    assert hub_configs(hub) == lang_configs("it")


def test_transient_503_is_retried(hub, built, waits):
    hub.fail_next("POST", "/commit/", 503, headers={"Retry-After": "0"})
    result = run("publish", built, "--repo-id", REPO, "--lang", "it", "--no-verify")
    assert result.exit_code == 0, result.output
    assert waits == [0.0]  # the server's Retry-After, honoured


def test_bad_token_gives_login_hint_and_never_prints_it(hub, built, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrongwrongwrong123")
    result = run("publish", built, "--repo-id", REPO)
    assert result.exit_code == 1
    assert "hf auth login" in result.output and "HF_TOKEN" in result.output
    assert "hf_wrongwrongwrong123" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_card_is_valid_hub_card_data(hub, built):
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    assert run("publish", built, "--repo-id", REPO).exit_code == 0
    card = DatasetCard(hub.files(REPO)["README.md"].decode())
    data = card.data.to_dict()
    assert set(data["language"]) == {"en", "zh", "it"} and data["license"] == "cc-by-4.0"
    assert data["task_categories"] == ["text-generation"] and data["size_categories"]
    assert data["pretty_name"] == "Tiny test set"
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert set(configs) == lang_configs("zh") | lang_configs("it")
    for method in METHOD_NAMES:
        assert f"### `{method}`" in card.text
    assert "zhang-etal-2024-plug" in card.text and f'load_dataset("{REPO}"' in card.text
    assert "SFTTrainer" in card.text


def test_branch_and_pull_request(hub, built):
    result = run("publish", built, "--repo-id", REPO, "--lang", "zh")
    assert result.exit_code == 0, result.output
    result = run("publish", built, "--repo-id", REPO, "--lang", "it", "--create-pr")
    assert result.exit_code == 0, result.output
    assert "pull request" in result.output
    assert hub_configs(hub) == lang_configs("zh")  # main untouched until the PR is merged
    result = run("publish", built, "--repo-id", REPO, "--lang", "it", "--revision", "dev")
    assert result.exit_code == 0, result.output
    assert datasets.load_dataset(REPO, "it-mono", revision="dev", split="train").num_rows > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repo-id", "no-slash"], "use ORG/NAME"),
        (["--repo-id", "org/../x"], "use ORG/NAME"),
        (["--repo-id", REPO, "--config", "zh-nope"], "--config zh-nope: not in the folder"),
        (["--repo-id", REPO, "--lang", "ko"], "--lang ko: no config of that language"),
    ],
)
def test_bad_names_are_one_line_errors(hub, built, args, message):
    result = run("publish", built, *args)
    assert result.exit_code == 1 and message in result.output
    assert hub.writes() == []


def test_build_push_publishes_what_it_built(hub, tiny, tmp_path):
    tiny.write_text(tiny.read_text("utf-8") + f"publish: {{repo_id: {REPO}}}\n", "utf-8")
    result = run("build", tiny, "--out", tmp_path / "out", "--lang", "it", "--push", "--quiet")
    assert result.exit_code == 0, result.output
    assert hub_configs(hub) == lang_configs("it")
    assert "same" in result.output


def test_the_publish_options_model_gives_the_flags_of_plugdata_publish(tmp_path):
    import click

    from plugdata.core.options import click_options, parse_options
    from plugdata.hub.publish import PublishOptions

    command = click.command()(click_options(PublishOptions)(lambda **values: None))
    declared = {p.name: (p.opts, p.secondary_opts) for p in command.params}
    assert declared == {
        "folder": (["folder"], []),
        "repo_id": (["--repo-id"], []),
        "langs": (["--lang"], []),
        "configs": (["--config"], []),
        "private": (["--private"], []),
        "revision": (["--revision"], []),
        "create_pr": (["--create-pr"], []),
        "replace": (["--replace"], []),
        "dry_run": (["--dry-run"], []),
        "verify": (["--verify"], ["--no-verify"]),
    }
    args = [str(tmp_path), "--repo-id", REPO, "--lang", "zh", "--lang", "it", "--no-verify"]
    values = command.make_context("publish", args).params
    options = parse_options(PublishOptions, values)
    assert (options.langs, options.configs, options.verify, options.revision) == (
        ["zh", "it"],
        [],
        False,
        "main",
    )
