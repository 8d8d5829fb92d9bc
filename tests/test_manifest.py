"""The typed manifest: what a build writes reads back to the same JSON, and keys it does not
know (a newer plugdata's) or old forms (an older one's) pass through."""

import json

from plugdata.dataset.folder import MANIFEST, parse_config_name, read_manifest
from plugdata.dataset.manifest import Manifest
from plugdata.pipeline.build import build
from plugdata.pipeline.recipe import load_recipe


def test_a_built_manifest_reads_back_to_the_same_json(tiny, tmp_path):
    build(load_recipe(tiny), tmp_path, progress=False)
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


def test_unknown_keys_and_older_forms_pass_through():
    data = {
        "configs": {
            "zh": {
                "language": "zh",
                "splits": {"train": 2},
                "files": ["data/zh/train-00000-of-00001.parquet"],
                "added_later": {"x": 1},
            }
        },
        "a_newer_key": [1, 2],
    }
    manifest = Manifest.model_validate(data)
    assert manifest.configs["zh"].files == {"data/zh/train-00000-of-00001.parquet": None}
    out = manifest.to_json()
    assert out["a_newer_key"] == [1, 2] and out["configs"]["zh"]["added_later"] == {"x": 1}
    assert "quarantine" not in out  # an older manifest did not list its quarantine tables
