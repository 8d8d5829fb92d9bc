"""What a build promises: every folder it finishes with exit 0 loads, config by config and split
by split; it replaces its folder at once (a SIGKILL at any point leaves the old folder or the new
one); and it writes only into a folder that is its own, never deleting a file it did not write.

Each test: the input, the expected line or result, and what stays unchanged."""

from __future__ import annotations

import fcntl
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

from plugdata.dataset.folder import check_folder, read_manifest
from plugdata.pipeline.build import BuildError, build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import METHOD_NAMES, load_recipe

from .conftest import corpus_rows, invoke, one_line_error, translated, write_jsonl

DEMO = Path(__file__).parents[1] / "recipes" / "demo.yaml"


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under `root` (links as their target text, never followed)."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            out[rel] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes()
    return out


def loads_completely(root: Path, only: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
    """Every config and split the folder lists loads with `datasets` (or those in `only`; the
    others are checked as files against the manifest), with the manifest's rows."""
    manifest = read_manifest(root)
    check_folder(root, manifest)
    for name, info in manifest.configs.items():
        if only and name not in only:
            continue
        loaded = datasets.load_dataset(str(root), name)
        assert {s: d.num_rows for s, d in loaded.items()} == info.splits, name
    return {name: info.splits for name, info in manifest.configs.items()}


# -- every folder loads -------------------------------------------------------------------------
def test_no_empty_split_is_written_and_every_listed_split_loads(tmp_path):
    result = invoke("build", DEMO, "--out", tmp_path, "--lang", "zh", "--limit", "5", "--quiet")
    assert result.exit_code == 0, result.output
    root = tmp_path / "plug-demo"
    splits = loads_completely(root)
    assert all(s == {"train": s["train"]} for s in splits.values())  # 5 ids, none in validation
    assert not list(root.glob("data/*/validation-*"))
    card = DatasetCard.load(root / "README.md").data.to_dict()
    for entry in card["dataset_info"]:
        assert [s["name"] for s in entry["splits"]] == ["train"]
    for entry in card["configs"]:
        assert [f["split"] for f in entry["data_files"]] == ["train"]
    assert datasets.load_dataset(str(root), "zh-plug")["train"].num_rows == 10


def test_a_language_that_keeps_nothing_is_an_error_and_the_others_are_built(tmp_path, tiny):
    write_jsonl(tiny.parent / "zh.jsonl", corpus_rows("it"))  # Italian given as the zh corpus
    result = invoke("build", tiny, "--out", tmp_path / "out", "--quiet")
    line = one_line_error(result, after="Built tiny")  # the built language's summary first
    assert line.startswith("Error: zh: no row kept of 8 (wrong-language:target_")
    assert "nothing of zh was written" in line
    root = tmp_path / "out" / "tiny"
    splits = loads_completely(root)
    assert set(splits) == {"it", *(f"it-{m}" for m in METHOD_NAMES)}
    assert not (root / "data" / "zh").exists() and not (root / "quarantine" / "zh.parquet").exists()
    rejected = tmp_path / "out" / "tiny.rejected" / "zh.parquet"
    assert datasets.Dataset.from_parquet(str(rejected)).num_rows == 8


def test_a_failed_rebuild_keeps_the_language_as_it_was(tmp_path, tiny):
    out = tmp_path / "out"
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    before = snapshot(out / "tiny")
    write_jsonl(tiny.parent / "zh.jsonl", corpus_rows("it"))
    with pytest.raises(BuildError, match="zh: no row kept of 8"):
        build(load_recipe(tiny), out, langs=["zh"], config=RunConfig(quiet=True))
    assert snapshot(out / "tiny") == before
    write_jsonl(tiny.parent / "zh.jsonl", corpus_rows("zh"))
    build(load_recipe(tiny), out, langs=["zh"], config=RunConfig(quiet=True))
    assert not (out / "tiny.rejected" / "zh.parquet").exists()  # stale diagnosis removed


def test_every_language_failing_writes_nothing(tmp_path, tiny):
    for lang in ("zh", "it"):
        write_jsonl(tiny.parent / f"{lang}.jsonl", corpus_rows("en"))  # untranslated copies
    with pytest.raises(BuildError, match=r"zh: no row kept.*; it: no row kept"):
        build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    assert not (tmp_path / "out" / "tiny").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tiny.rejected"]


def test_a_backend_that_answers_nothing_useful_keeps_nothing(tmp_path, tiny, monkeypatch):
    from plugdata.translate.backends import TRANSLATORS
    from plugdata.translate.backends.base import Translator

    class Echo(Translator):  # answers every request with the text it was sent
        name = "echo"
        # A model in this process: a service would stop at its first rows (see
        # test_integrity_backends), this one goes on to the ledger.
        service = False

        def translate_batch(self, texts, source, target):
            return list(texts)

    monkeypatch.setitem(TRANSLATORS, "echo", Echo)
    translated(tiny, "zh", tmp_path / "c.sqlite", backend="echo")
    result = invoke("build", tiny, "--out", tmp_path / "out", "--quiet")
    line = one_line_error(result, after="Built tiny")
    assert "zh: no row kept of 8 (untranslated:target_" in line


# -- atomic output ------------------------------------------------------------------------------
HOOK = """
import os, signal, shutil
import pyarrow.parquet as pq

_point, _writes = os.environ["KILL_AT"], [0]
_write = pq.write_table
_rmtree = shutil.rmtree


def write_table(*args, **kwargs):
    _writes[0] += 1
    if _point == f"write:{_writes[0]}":
        os.kill(os.getpid(), signal.SIGKILL)
    return _write(*args, **kwargs)


def rmtree(*args, **kwargs):
    if _point == "swap" and _writes[0]:  # the first removal after writing: the old folder
        os.kill(os.getpid(), signal.SIGKILL)
    return _rmtree(*args, **kwargs)


_write_chunk = pq.ParquetWriter.write_table


def write_chunk(self, *args, **kwargs):  # a streamed build writes shards chunk by chunk
    _writes[0] += 1
    if _point == f"write:{_writes[0]}":
        os.kill(os.getpid(), signal.SIGKILL)
    return _write_chunk(self, *args, **kwargs)


pq.write_table, shutil.rmtree = write_table, rmtree
pq.ParquetWriter.write_table = write_chunk
"""


def killed_build(recipe: Path, out: Path, point: str, hook: Path) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), *sys.path]), "KILL_AT": point}
    command = [sys.executable, "-m", "plugdata.cli", "build", str(recipe), "--out", str(out)]
    return subprocess.run([*command, "--quiet"], env=env, capture_output=True).returncode


def test_a_build_killed_at_any_point_leaves_the_old_folder_or_the_new_one(tmp_path, tiny):
    out = tmp_path / "out"
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    old = loads_completely(out / "tiny")
    write_jsonl(tiny.parent / "zh.jsonl", corpus_rows("zh")[:5])  # the rebuild changes zh
    # 19 parquet writes in the rebuild: one chunk into each shard that has rows (12 for it,
    # fewer for the shorter zh) and into zh's quarantine (it's has no rows: a file without row groups).
    writes = sorted(random.Random(10).sample(range(2, 20), 2))
    points = ["write:1", *(f"write:{n}" for n in writes), "swap"]
    for point in points:
        assert killed_build(tiny, out, point, hook) == -9, point
        state = loads_completely(out / "tiny", only=("zh", "it-plug"))
        assert state == old or point == "swap", point
    assert state != old and sum(state["zh"].values()) == 5
    build(
        load_recipe(tiny), out, config=RunConfig(quiet=True)
    )  # the next build clears what the kills left
    assert [p.name for p in out.iterdir()] == ["tiny"]


# -- the output folder is plugdata's own --------------------------------------------------------
def test_a_folder_without_a_plugdata_manifest_is_refused(tmp_path, tiny):
    root = tmp_path / "out" / "tiny"
    root.mkdir(parents=True)
    (root / "README.md").write_text("my notes\n", encoding="utf-8")
    (root / "keep.txt").write_text("mine\n", encoding="utf-8")
    before = snapshot(root)
    line = one_line_error(invoke("build", tiny, "--out", tmp_path / "out", "--quiet"))
    assert "not empty and has no plugdata manifest.json; pass --force" in line
    assert snapshot(root) == before


def test_force_keeps_every_file_plugdata_did_not_write(tmp_path, tiny):
    root = tmp_path / "out" / "tiny"
    (root / "data" / "zh").mkdir(parents=True)
    (root / "README.md").write_text("my notes\n", encoding="utf-8")
    (root / "keep.txt").write_text("mine\n", encoding="utf-8")
    (root / "data" / "zh" / "notes.md").write_text("about zh\n", encoding="utf-8")
    result = invoke("build", tiny, "--out", tmp_path / "out", "--force", "--quiet")
    assert result.exit_code == 0, result.output
    assert "kept aside as *.orig" in result.output and "README.md" in result.output
    assert (root / "README.md.orig").read_text("utf-8") == "my notes\n"
    assert (root / "keep.txt").read_text("utf-8") == "mine\n"
    assert (root / "data" / "zh" / "notes.md").read_text("utf-8") == "about zh\n"
    loads_completely(root)
    build(
        load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True)
    )  # now it is plugdata's own
    assert (root / "keep.txt").exists() and (root / "README.md.orig").exists()


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("{not json", "not a plugdata manifest (unreadable JSON"),
        ('{"name": "someone else"}', "not a plugdata manifest (no `configs` mapping)"),
        ('{"configs": {"zh": 3}}', "config 'zh' is not a mapping"),
    ],
)
def test_a_foreign_or_corrupt_manifest_is_refused(tmp_path, tiny, manifest, expected):
    root = tmp_path / "out" / "tiny"
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(manifest, encoding="utf-8")
    line = one_line_error(invoke("build", tiny, "--out", tmp_path / "out", "--quiet"))
    assert expected in line and "--force" in line
    assert (root / "manifest.json").read_text("utf-8") == manifest
    result = invoke("build", tiny, "--out", tmp_path / "out", "--quiet", "--force")
    assert result.exit_code == 0, result.output
    assert (root / "manifest.json.orig").read_text("utf-8") == manifest


def test_a_folder_built_from_another_recipe_is_refused(tmp_path, tiny):
    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    other = tiny.with_name("other.yaml")
    other.write_text(tiny.read_text("utf-8"), encoding="utf-8")
    before = snapshot(tmp_path / "out" / "tiny")
    line = one_line_error(invoke("build", other, "--out", tmp_path / "out", "--quiet"))
    assert "built from tiny.yaml, not other.yaml; pass --force" in line
    assert snapshot(tmp_path / "out" / "tiny") == before


def test_a_foreign_shard_in_a_config_folder_is_refused_then_set_aside(tmp_path, tiny):
    out = tmp_path / "out"
    zh_splits = build(load_recipe(tiny), out, config=RunConfig(quiet=True)).configs["zh"]
    stray = out / "tiny" / "data" / "zh" / "train-extra.parquet"
    stray.write_bytes((out / "tiny" / "data" / "zh" / "train-00000-of-00001.parquet").read_bytes())
    line = one_line_error(invoke("build", tiny, "--out", out, "--quiet"))
    assert "data/zh/train-extra.parquet" in line
    assert invoke("build", tiny, "--out", out, "--quiet", "--force").exit_code == 0
    assert (stray.parent / "train-extra.parquet.orig").exists() and not stray.exists()
    assert loads_completely(out / "tiny")["zh"] == zh_splits


@pytest.mark.parametrize("link", ["data/zh", "README.md"])
def test_writes_never_follow_a_symbolic_link_out_of_the_folder(tmp_path, tiny, link):
    out = tmp_path / "out"
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    outside = tmp_path / "outside"
    (out / "tiny" / link).rename(outside)
    (out / "tiny" / link).symlink_to(outside)
    before = snapshot(outside) if outside.is_dir() else outside.read_bytes()
    line = one_line_error(invoke("build", tiny, "--out", out, "--quiet"))
    assert link in line
    result = invoke("build", tiny, "--out", out, "--quiet", "--force")
    assert result.exit_code == 0, result.output
    assert (snapshot(outside) if outside.is_dir() else outside.read_bytes()) == before
    assert not (out / "tiny" / link).is_symlink()
    assert (out / "tiny" / f"{link}.orig").is_symlink()
    loads_completely(out / "tiny")


def test_an_output_folder_that_is_a_symbolic_link_is_refused(tmp_path, tiny):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "tiny").symlink_to(tmp_path / "elsewhere")
    line = one_line_error(invoke("build", tiny, "--out", tmp_path / "out", "--quiet"))
    assert "a symbolic link" in line
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_second_build_of_the_same_folder_at_once_is_refused(tmp_path, tiny):
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / ".tiny.plugdata.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        line = one_line_error(invoke("build", tiny, "--out", tmp_path / "out", "--quiet"))
    assert "another plugdata build is writing it" in line
    assert not (tmp_path / "out" / "tiny").exists()


def test_a_damaged_language_the_build_does_not_touch_is_refused_before_any_work(tmp_path, tiny):
    out = tmp_path / "out"
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    shard = out / "tiny" / "data" / "it-mono" / "train-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:-10])  # truncated, as a crashed copy would leave it
    line = one_line_error(invoke("build", tiny, "--out", out, "--lang", "zh", "--quiet"))
    assert "data/it-mono/train-00000-of-00001.parquet: content differs" in line
    assert "--lang it" in line
    result = invoke("build", tiny, "--out", out, "--lang", "zh", "--quiet", "--force")
    assert result.exit_code == 0 and "left out (broken, --force): it," in result.output
    assert set(loads_completely(out / "tiny")) == {"zh", *(f"zh-{m}" for m in METHOD_NAMES)}


def test_the_manifest_vouches_for_every_file(tmp_path, tiny):
    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    root = tmp_path / "out" / "tiny"
    manifest = json.loads((root / "manifest.json").read_text("utf-8"))
    vouched = {f for info in manifest["configs"].values() for f in info["files"]}
    vouched |= {q["file"] for q in manifest["quarantine"].values()}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}
    assert vouched == on_disk
    assert manifest["recipe"] == "tiny.yaml"


def test_without_an_atomic_exchange_the_two_renames_still_swap_the_folder(
    tmp_path, tiny, monkeypatch
):
    from plugdata.dataset import staging

    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)  # e.g. not Linux
    out = tmp_path / "out"
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    write_jsonl(tiny.parent / "zh.jsonl", corpus_rows("zh")[:5])
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    assert sum(loads_completely(out / "tiny")["zh"].values()) == 5
    assert [p.name for p in out.iterdir()] == ["tiny"]


def test_a_kill_between_the_two_renames_gives_the_old_folder_back(tmp_path, tiny):
    out = tmp_path / "out"
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    old = loads_completely(out / "tiny")
    (out / "tiny").rename(out / ".tiny.plugdata-old-0badcafe")  # where the kill left it
    build(load_recipe(tiny), out, langs=["zh"], config=RunConfig(quiet=True))
    assert loads_completely(out / "tiny") == old  # `it` came back with the old folder
    assert [p.name for p in out.iterdir()] == ["tiny"]


def test_a_manifest_lacking_what_a_build_writes_is_refused_until_forced(tmp_path, tiny):
    out = tmp_path / "out"
    build(load_recipe(tiny), out, config=RunConfig(quiet=True))
    path = out / "tiny" / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    for info in manifest["configs"].values():  # files listed without their hashes
        info["files"] = list(info["files"])
    del manifest["quarantine"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    before = snapshot(out / "tiny")
    line = one_line_error(invoke("build", tiny, "--out", out, "--lang", "zh", "--quiet"))
    assert f"{path}: not a plugdata manifest (config 'it' has no valid `files`)" in line
    assert "pass --force" in line and snapshot(out / "tiny") == before
    assert invoke("build", tiny, "--out", out, "--quiet", "--force").exit_code == 0
    loads_completely(out / "tiny")


def test_the_dry_run_says_when_the_folder_would_be_refused(tmp_path, tiny):
    (tmp_path / "out" / "tiny").mkdir(parents=True)
    (tmp_path / "out" / "tiny" / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = invoke("build", tiny, "--out", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0
    assert "(refused: " in result.output and "no plugdata manifest.json" in result.output
