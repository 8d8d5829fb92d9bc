"""The local dataset folder in the published layout (see DESIGN.md): parquet shards per config,
quarantine tables, `manifest.json`, and the README card.

Building into a folder that already holds other configs keeps them: the manifest is merged
and the card regenerated from it, as publishing to the Hub will do.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
SHARD_ROWS = 200_000


def table_hash(table: pa.Table, step: int = 5_000) -> str:
    """Content hash over rows as JSON: independent of chunking, encoding and file layout, so a
    table read back from the Hub hashes like the one written here."""
    digest = hashlib.sha256()
    for start in range(0, table.num_rows, step):
        rows = table.slice(start, step).to_pylist()
        digest.update(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


def write_config(root: Path, config: str, splits: dict[str, pa.Table]) -> list[str]:
    """Replace `data/<config>/` with one parquet shard set per split; returns relative paths."""
    folder = root / "data" / config
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    written: list[str] = []
    for split, table in splits.items():
        shards = max(1, math.ceil(table.num_rows / SHARD_ROWS))
        for i in range(shards):
            part = table.slice(i * SHARD_ROWS, SHARD_ROWS)
            path = folder / f"{split}-{i:05d}-of-{shards:05d}.parquet"
            pq.write_table(part, path, compression="zstd")
            written.append(path.relative_to(root).as_posix())
    return written


def write_quarantine(root: Path, lang: str, table: pa.Table) -> str:
    folder = root / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{lang}.parquet"
    pq.write_table(table, path, compression="zstd")
    return path.relative_to(root).as_posix()


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.exists():
        return {"configs": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    manifest["configs"] = dict(sorted(manifest["configs"].items()))
    (root / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def split_bytes(root: Path, files: list[str]) -> dict[str, int]:
    """Parquet bytes per split, from the shard names `<split>-NNNNN-of-NNNNN.parquet`."""
    sizes: dict[str, int] = {}
    for rel in files:
        split = Path(rel).name.rsplit("-", 3)[0]
        sizes[split] = sizes.get(split, 0) + (root / rel).stat().st_size
    return sizes


def dataset_info_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's `dataset_info:` list. Besides informing the Hub viewer, it matters locally:
    `datasets` keys its cache of a folder on the YAML header, so sizes that change with the
    content keep a rebuilt folder from being served stale rows out of the cache."""
    entries = []
    for name, info in manifest["configs"].items():
        sizes = info.get("bytes", {})
        entries.append(
            {
                "config_name": name,
                "splits": [
                    {"name": split, "num_bytes": sizes.get(split, 0), "num_examples": n}
                    for split, n in info["splits"].items()
                ],
                "download_size": sum(sizes.values()),
                "dataset_size": sum(sizes.values()),
            }
        )
    return entries


def config_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's `configs:` list, as `datasets` reads it from a README YAML header."""
    entries = []
    for name, info in manifest["configs"].items():
        entries.append(
            {
                "config_name": name,
                "data_files": [
                    {"split": split, "path": f"data/{name}/{split}-*.parquet"}
                    for split in info["splits"]
                ],
            }
        )
    return entries
