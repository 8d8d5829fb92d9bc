"""What publish promises: it pushes only files whose sha256 the manifest vouches for, from inside
the folder, and only configs that load locally with the manifest's row counts; any mismatch is
one line and nothing is committed (the Hub-protocol server's repo stays byte-identical).

Each test: the tampering, the expected line, and the repo before and after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import load_recipe

from .conftest import invoke, one_line_error

REPO = "plug-org/tiny"


@pytest.fixture
def folder(tiny, tmp_path) -> Path:
    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    return tmp_path / "out" / "tiny"


@pytest.fixture
def published(hub, folder) -> Path:
    """The folder, its zh configs already published: later tests change it and try again."""
    assert (
        invoke("publish", folder, "--repo-id", REPO, "--lang", "zh", "--no-verify").exit_code == 0
    )
    return folder


def refused(hub, folder: Path, *extra: str) -> str:
    """Publish (and its dry run) fail with one line; the repo is exactly as it was."""
    before = (hub.files(REPO), len(hub.commits(REPO))) if REPO in hub.repos else None
    writes = len(hub.writes())
    lines = []
    for dry in ([], ["--dry-run"]):
        result = invoke("publish", folder, "--repo-id", REPO, *extra, *dry)
        output = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1 and len(output) == 1, result.output
        assert output[0].startswith("Error: ") and "Traceback" not in result.output
        lines.append(output[0])
    assert len(hub.writes()) == writes
    assert ((hub.files(REPO), len(hub.commits(REPO))) if REPO in hub.repos else None) == before
    assert lines[0] == lines[1]  # the dry run makes the same check
    return lines[0]


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


SHARD = "data/zh-plug/train-00000-of-00001.parquet"


def test_a_changed_data_file_is_refused_before_any_request(hub, folder):
    path = folder / SHARD
    path.write_bytes(path.read_bytes() + b"\0")
    line = refused(hub, folder)
    assert f"{SHARD}: content differs from manifest.json" in line
    assert "nothing was published" in line and hub.writes() == []


def test_stale_files_after_a_killed_rebuild_never_replace_what_is_published(hub, published):
    # A rebuild by an older plugdata, killed half-way: one config's files are from the new
    # build, the manifest still describes the old one.
    shutil.copy(published / "data/zh/train-00000-of-00001.parquet", published / SHARD)
    line = refused(hub, published, "--replace")
    assert f"{SHARD}: content differs" in line


def test_a_shard_the_manifest_does_not_list_is_refused(hub, folder):
    shutil.copy(folder / SHARD, folder / "data/zh-plug/train-00001-of-00002.parquet")
    line = refused(hub, folder)
    assert "train-00001-of-00002.parquet: not in manifest.json" in line


def test_an_absolute_path_in_the_manifest_is_never_uploaded(hub, folder, tmp_path):
    secret = tmp_path / "secret.parquet"
    secret.write_bytes(b"local file outside the folder")

    def add(manifest):
        manifest["configs"]["zh"]["files"][str(secret)] = "0" * 64

    edit_manifest(folder, add)
    line = refused(hub, folder)
    assert f"file {str(secret)!r} of config zh is not data/zh/" in line


@pytest.mark.parametrize("path", ["data/zh/../../../etc/passwd", "../outside.parquet"])
def test_a_path_out_of_the_folder_in_the_manifest_is_one_line(hub, folder, path):
    edit_manifest(folder, lambda m: m["configs"]["zh"]["files"].update({path: "0" * 64}))
    assert f"{path!r}" in refused(hub, folder)


def test_a_data_file_that_is_a_link_out_of_the_folder_is_refused(hub, folder, tmp_path):
    outside = tmp_path / "elsewhere.parquet"
    shutil.copy(folder / SHARD, outside)  # the same bytes: only where it lies is wrong
    (folder / SHARD).unlink()
    (folder / SHARD).symlink_to(outside)
    assert "a symbolic link that leads out of the folder" in refused(hub, folder)


def test_a_changed_quarantine_table_is_refused(hub, folder):
    path = folder / "quarantine" / "it.parquet"
    path.write_bytes(path.read_bytes()[:-1])
    assert "quarantine/it.parquet: content differs" in refused(hub, folder, "--lang", "it")


def test_a_config_that_does_not_load_locally_is_refused(hub, folder):
    card = folder / "README.md"
    card.write_text(card.read_text("utf-8").replace("config_name: zh-mono", "config_name: x"))
    line = refused(hub, folder, "--lang", "zh")
    assert "config zh-mono does not load with datasets" in line


def test_row_counts_that_differ_from_the_manifest_are_refused(hub, folder):
    edit_manifest(folder, lambda m: m["configs"]["it"]["splits"].update(train=99))
    assert "split train has" in refused(hub, folder, "--lang", "it")


def test_a_repo_id_the_hub_would_refuse_is_one_line_before_any_request(hub, folder):
    assert "--repo-id 'org/x.git'" in refused_any(hub, folder, "org/x.git")


def refused_any(hub, folder: Path, repo_id: str) -> str:
    result = invoke("publish", folder, "--repo-id", repo_id)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert hub.requests == []
    return result.output


# -- the Hub unreachable, offline, or asking for a long wait ---------------------------------------
def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_hub_to_reach_is_one_line_at_once(folder, monkeypatch):
    import time

    from .hub_server import configure_endpoint

    configure_endpoint(f"http://127.0.0.1:{closed_port()}", monkeypatch)
    started = time.monotonic()
    result = invoke("publish", folder, "--repo-id", REPO, "--dry-run")
    line = one_line_error(result)
    assert "cannot reach the Hub at 127.0.0.1:" in line and "connection refused" in line
    assert time.monotonic() - started < 10  # the local checks, then one refused connection


def test_offline_mode_is_one_line(folder, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    line = one_line_error(invoke("publish", folder, "--repo-id", REPO))
    assert "HF_HUB_OFFLINE is set: publishing needs the Hub" in line


def test_a_retry_after_longer_than_the_cap_ends_the_publish(hub, folder):
    hub.fail_next("POST", "/commit/", 429, headers={"Retry-After": "3600"})
    result = invoke("publish", folder, "--repo-id", REPO, "--no-verify")
    line = one_line_error(result, after="LFS files")  # huggingface_hub's upload bars first
    assert "the Hub at 127.0.0.1:" in line
    assert "the server asks to wait 3600 s; try again later" in line
    assert not any(path.startswith("data/") for path in hub.files(REPO))  # nothing committed


def test_a_repo_whose_manifest_is_not_plugdatas_is_one_line(hub, folder):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b'{"name": "else"}',
        path_in_repo="manifest.json",
        repo_id=REPO,
        repo_type="dataset",
    )
    line = refused(hub, folder)
    assert f"{REPO}@main: its manifest.json is not a plugdata manifest" in line


def test_a_config_that_does_not_load_back_fails_the_publish_naming_the_commit(hub, published):
    from plugdata.dataset.folder import read_manifest
    from plugdata.hub.publish import PublishError, PublishPlan, PublishReport, verify_configs

    manifest = read_manifest(published)
    manifest.configs["zz"] = manifest.configs["zh"].model_copy(update={"language": "zz"})
    commit = hub.commits(REPO)[0]["sha"]
    checks = verify_configs(REPO, commit, ["zh", "zz"], manifest)
    assert [c.ok for c in checks] == [True, True, False]  # zh train and validation, zz
    report = PublishReport(PublishPlan(REPO, "main", True, True, commit), commit, checks=checks)
    with pytest.raises(PublishError, match=rf"commit {commit[:12]} of {REPO}: config zz \(-\): "):
        report.raise_if_failed()
