"""The typed manifest: what a build writes reads back to the same JSON, and a manifest that lacks
what a build writes, or holds a key plugdata does not know, is refused in one line naming it."""

import json

import pytest

from plugdata.dataset.folder import MANIFEST, FolderError, parse_config_name, read_manifest
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import load_recipe


def test_a_built_manifest_reads_back_to_the_same_json(tiny, tmp_path):
    build(load_recipe(tiny), tmp_path, config=RunConfig(quiet=True))
    root = tmp_path / "tiny"
    written = json.loads((root / MANIFEST).read_text("utf-8"))
    manifest = read_manifest(root)
    assert manifest.to_json() == written
    zh = manifest.configs["zh-plug"]
    assert (zh.language, zh.method, zh.type) == ("zh", "plug", "method")
    assert manifest.configs["zh"].counts.rows_in == manifest.configs["zh"].counts.kept + sum(
        manifest.configs["zh"].counts.quarantined.values()
    )
    assert all(
        parse_config_name(name)[0] == info.language for name, info in manifest.configs.items()
    )
    assert "method" not in written["configs"]["zh"]  # a method config's fields stay its own


def _without_quarantine(m):
    del m["quarantine"]


def _files_listed_without_hashes(m):
    m["configs"]["zh"]["files"] = list(m["configs"]["zh"]["files"])


def _quarantine_without_hash(m):
    del m["quarantine"]["zh"]["sha256"]


def _language_without_quarantine(m):
    del m["quarantine"]["zh"]


def _config_without_counts(m):
    del m["configs"]["zh"]["counts"]


def _method_config_without_method(m):
    del m["configs"]["zh-plug"]["method"]


def _method_config_without_system_prompt(m):
    del m["configs"]["zh-pivot-only"]["system_prompt"]  # null there, but written


def _config_without_features(m):
    del m["configs"]["zh"]["features"]


def _without_default_config(m):
    del m["default_config"]


def _unknown_key(m):
    m["configs"]["zh"]["added_later"] = {"x": 1}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_without_quarantine, "no `quarantine`"),
        (_files_listed_without_hashes, "config 'zh' has no valid `files`"),
        (_quarantine_without_hash, "quarantine 'zh' has no `sha256`"),
        (_language_without_quarantine, "no `quarantine.zh`"),
        (_config_without_counts, "config 'zh' has no `counts`"),
        (
            _method_config_without_method,
            "config 'zh-plug' has no `method`, which every method config has",
        ),
        (
            _method_config_without_system_prompt,
            "config 'zh-pivot-only' has no `system_prompt`, which every method config has",
        ),
        (_config_without_features, "config 'zh' has no `features`"),
        (_without_default_config, "no `default_config`"),
        (_unknown_key, "config 'zh' has an unknown key `added_later`"),
    ],
)
def test_a_manifest_lacking_what_a_build_writes_is_refused_naming_it(
    demo, tmp_path, change, problem
):
    manifest = json.loads((demo / MANIFEST).read_text("utf-8"))
    change(manifest)
    path = tmp_path / MANIFEST
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(FolderError) as err:
        read_manifest(tmp_path)
    assert str(err.value) == f"{path}: not a plugdata manifest ({problem})"
