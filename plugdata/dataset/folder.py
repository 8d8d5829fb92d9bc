"""The local dataset folder in the published layout (see DESIGN.md): parquet shards per config,
quarantine tables, `manifest.json`, and the README card.

The manifest vouches for every data and quarantine file by sha256: a folder whose files differ
from it is not plugdata's output any more, and neither a build nor a publish passes it on.
How a build replaces a folder atomically lives in `staging`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from plugdata.core.digests import sha256_file
from plugdata.core.jsonl import write_json
from plugdata.dataset.manifest import ConfigEntry, Manifest, QuarantineEntry
from plugdata.errors import PlugdataError

MANIFEST = "manifest.json"
CARD = "README.md"
DATA = "data"
QUARANTINE = "quarantine"
_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_.]+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.parquet$")


class FolderError(PlugdataError):
    """A dataset folder that is not (or no longer) what its manifest says."""


# -- names and paths ------------------------------------------------------------------------------
def config_name(lang: str, method: str | None = None) -> str:
    """`zh` for a language's triples, `zh-plug` for a method's training rows."""
    return f"{lang}-{method}" if method else lang


def parse_config_name(name: str) -> tuple[str, str | None]:
    """(language, method or None): the inverse of `config_name`, for codes with a dash too.

    >>> parse_config_name("zh-plug-pro"), parse_config_name("zh-tw"), parse_config_name("ko")
    (('zh', 'plug-pro'), ('zh-tw', None), ('ko', None))
    """
    from plugdata.core.formats import METHODS

    for method in sorted(METHODS, key=len, reverse=True):
        if name.endswith(f"-{method}"):
            return name.removesuffix(f"-{method}"), method
    return name, None


def data_dir(config: str) -> str:
    return f"{DATA}/{config}"


def quarantine_file(lang: str) -> str:
    return f"{QUARANTINE}/{lang}.parquet"


def rejected_file(out: Path, name: str, lang: str) -> Path:
    """Where the quarantine of a language that kept nothing goes: beside the dataset folder,
    never inside it (it is not part of the dataset, and is never published)."""
    return out / f"{name}.rejected" / f"{lang}.parquet"


def split_pattern(config: str, split: str) -> str:
    """The glob the card gives `datasets` for one split of a config."""
    return f"{data_dir(config)}/{split}-*.parquet"


def split_of_file(rel: str) -> str | None:
    """The split a shard name `<split>-NNNNN-of-NNNNN.parquet` belongs to, else None."""
    m = _SHARD.match(PurePosixPath(rel).name)
    return m["split"] if m else None


# -- writing --------------------------------------------------------------------------------------
class QuarantineWriter:
    """A language's quarantine table, written chunk by chunk under a scratch name, then moved
    where it belongs: into the folder, or beside it when the language kept nothing."""

    def __init__(self, scratch: Path, schema: pa.Schema) -> None:
        scratch.parent.mkdir(parents=True, exist_ok=True)
        self.scratch, self.schema, self.rows = scratch, schema, 0
        self._writer = pq.ParquetWriter(scratch, schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def move_to(self, path: Path) -> None:
        self._writer.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.scratch, path)

    def entry(self, root: Path, lang: str) -> QuarantineEntry:
        """Moves the table to its place in the folder `root`; returns its manifest entry."""
        path = root / quarantine_file(lang)
        self.move_to(path)
        return QuarantineEntry(file=quarantine_file(lang), sha256=sha256_file(path), rows=self.rows)


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write `manifest` (already scrubbed of secrets by the caller, which renders the card from
    the same manifest) with its configs in name order."""
    write_json(root / MANIFEST, manifest.to_json())


# -- reading --------------------------------------------------------------------------------------
def read_manifest(root: Path) -> Manifest:
    """The folder's manifest; an empty one when there is none. A file that is not a manifest
    as this plugdata writes it is a one-line FolderError."""
    path = root / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FolderError(f"{path}: not a plugdata manifest (unreadable JSON: {exc})") from None
    return parse_manifest(data, f"{path}: not a plugdata manifest")


def parse_manifest(data: Any, refusal: str) -> Manifest:
    """`data` as a Manifest, with every field a build writes; what keeps it from being one is a
    one-line FolderError: `refusal` (which names where the data came from) and the problem."""
    if not isinstance(data, dict) or not isinstance(data.get("configs"), dict):
        raise FolderError(f"{refusal} (no `configs` mapping)")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as err:
        raise FolderError(f"{refusal} ({_problem(err)})") from None
    # The model's defaults stand for an empty manifest, never for what a file left out.
    missing = [key for key in Manifest.model_fields if data.get(key) is None]
    missing += [
        f"quarantine.{lang}" for lang in manifest.languages() if lang not in manifest.quarantine
    ]
    if missing:
        raise FolderError(f"{refusal} (no `{missing[0]}`)")
    return manifest


def _problem(err: ValidationError) -> str:
    """The first problem, named by its key path: config 'zh' has no `files`."""
    error = err.errors()[0]
    loc = [str(p) for p in error["loc"]]
    what = ""  # the manifest itself, else one of its entries
    if len(loc) >= 2 and loc[0] in ("configs", "quarantine"):
        what = f"{'config' if loc[0] == 'configs' else 'quarantine'} {loc[1]!r} "
        if len(loc) == 2 and error["type"] == "model_type":
            return f"{what}is not a mapping"
        loc = loc[2:]
    if not loc:  # a check of the entry as a whole: its message names the key
        return f"{what}{error['msg'].removeprefix('Value error, ')}"
    key = f"`{'.'.join(loc)}`"
    has = "has " if what else ""
    if error["type"] == "missing":
        return f"{what}{has}no {key}"
    if error["type"] == "extra_forbidden":
        return f"{what}{has}an unknown key {key}"
    return f"{what}{has}no valid {key}"


def owned_files(manifest: Manifest) -> dict[str, str]:
    """Every data and quarantine file the manifest vouches for: {path: sha256}."""
    owned: dict[str, str] = {}
    for info in manifest.configs.values():
        owned.update(info.files)
    for entry in manifest.quarantine.values():
        owned[entry.file] = entry.sha256
    return owned


def split_bytes(root: Path, files: dict[str, str]) -> dict[str, int]:
    """Parquet bytes per split, from the shard names `<split>-NNNNN-of-NNNNN.parquet`."""
    sizes: dict[str, int] = {}
    for rel in files:
        split = split_of_file(rel) or ""
        sizes[split] = sizes.get(split, 0) + (root / rel).stat().st_size
    return sizes


def features_of(root: Path, files: dict[str, str]) -> list[dict[str, Any]]:
    """The columns of a config in `datasets`' YAML form (the card's `dataset_info.features`), as
    `datasets` infers them from a shard's schema when it loads the config. Written here rather
    than by `datasets.Features`, whose import would cost every build half a second and its
    workers' memory; a test compares the two on every kind of config."""
    return [{"name": f.name, **_feature(f.type)} for f in pq.read_schema(root / next(iter(files)))]


# Arrow's type names where `datasets` calls them otherwise.
_DTYPES = {"double": "float64", "float": "float32", "halffloat": "float16"}


def _feature(kind: pa.DataType) -> dict[str, Any]:
    """One column's type: `dtype`, a `struct` of named fields, or a `list` of one type (of
    a struct's fields themselves, or a plain dtype's name, as `datasets` shortens them)."""
    if pa.types.is_struct(kind):
        return {"struct": [{"name": f.name, **_feature(f.type)} for f in kind]}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _feature(kind.value_type)
        (key,) = inner if len(inner) == 1 else (None,)
        return {"list": inner[key] if key in ("dtype", "struct") else inner}
    if pa.types.is_dictionary(kind) or pa.types.is_fixed_size_list(kind):
        raise FolderError(f"column type {kind} is not one plugdata writes")
    return {"dtype": _DTYPES.get(str(kind), str(kind))}


# -- checking -------------------------------------------------------------------------------------
def safe_relative(root: Path, rel: str, what: str) -> Path:
    """`root / rel` for a manifest path that stays inside `root`: relative, no `..`, and no
    symbolic link on the way that leads out. Anything else is a FolderError naming it."""
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or "\\" in rel or ".." in pure.parts or rel != pure.as_posix():
        raise FolderError(
            f"{root / MANIFEST}: {what} {rel!r} is not a plain path inside the folder"
        )
    path = root / pure
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except OSError as exc:
        raise FolderError(f"{root}/{rel}: cannot be read ({exc.strerror})") from None
    if not inside:
        raise FolderError(f"{root}/{rel}: a symbolic link that leads out of the folder")
    return path


def check_file(root: Path, rel: str, sha256: str) -> Path:
    """The file exists inside the folder and has the bytes the manifest vouches for."""
    path = safe_relative(root, rel, "file")
    if not path.is_file():
        raise FolderError(f"{root}/{rel}: listed in {MANIFEST} but missing")
    if sha256_file(path) != sha256:
        raise FolderError(
            f"{root}/{rel}: content differs from {MANIFEST} (changed or left over from an "
            "interrupted build); rebuild the folder"
        )
    return path


def check_config(root: Path, name: str, info: ConfigEntry) -> None:
    """Everything `datasets` will read for the config is what the manifest vouches for: each
    file by hash, each split non-empty with the manifest's row count, columns unique, and no
    other shard in the config's folder that the card's globs would pick up."""
    files = info.files
    rows: dict[str, int] = {}
    for rel, sha in files.items():
        if PurePosixPath(rel).parent != PurePosixPath(data_dir(name)) or not split_of_file(rel):
            raise FolderError(
                f"{root / MANIFEST}: file {rel!r} of config {name} is not "
                f"{data_dir(name)}/<split>-NNNNN-of-NNNNN.parquet"
            )
        path = check_file(root, rel, sha)
        meta = pq.read_metadata(path)
        names = meta.schema.to_arrow_schema().names
        if len(set(names)) != len(names):
            raise FolderError(f"{root}/{rel}: repeated column names {names}")
        split = split_of_file(rel)
        rows[split] = rows.get(split, 0) + meta.num_rows
    for split, n in info.splits.items():
        if not n or rows.get(split) != n:
            raise FolderError(
                f"{root}/{data_dir(name)}: split {split} has {rows.get(split, 0)} rows in its "
                f"files, {n} in {MANIFEST}"
            )
    extra = set(rows) - set(info.splits)
    if extra:
        raise FolderError(
            f"{root}/{data_dir(name)}: files of split {sorted(extra)[0]!r} that "
            f"{MANIFEST} does not list"
        )
    folder = root / data_dir(name)
    for split in info.splits:
        for path in sorted(folder.glob(f"{split}-*.parquet")):
            rel = path.relative_to(root).as_posix()
            if rel not in files:
                raise FolderError(
                    f"{root}/{rel}: not in {MANIFEST}, yet `datasets` would read it as part of "
                    f"config {name}; move it away"
                )


def check_folder(root: Path, manifest: Manifest, configs: list[str] | None = None) -> None:
    """`check_config` for the chosen configs (default all), and every quarantine file."""
    for name in configs if configs is not None else list(manifest.configs):
        check_config(root, name, manifest.configs[name])
    langs = None if configs is None else {manifest.configs[c].language for c in configs}
    for lang, entry in manifest.quarantine.items():
        if langs is None or lang in langs:
            check_quarantine(root, lang, entry)


def check_quarantine(root: Path, lang: str, entry: QuarantineEntry) -> None:
    if entry.file != quarantine_file(lang):
        raise FolderError(
            f"{root / MANIFEST}: quarantine of {lang} must be {quarantine_file(lang)!r}"
        )
    check_file(root, entry.file, entry.sha256)


# -- the card's YAML ------------------------------------------------------------------------------
def dataset_info_entries(manifest: Manifest) -> list[dict[str, Any]]:
    """The card's `dataset_info:` list. Besides informing the Hub viewer, it matters locally:
    `datasets` keys its cache of a folder on the YAML header, so sizes that change with the
    content keep a rebuilt folder from being served stale rows out of the cache."""
    entries = []
    for name, info in manifest.configs.items():
        # As `datasets` writes it on a push: a split's `num_bytes` is its in-memory Arrow size,
        # `dataset_size` their sum, and `download_size` the parquet files'.
        entries.append(
            {
                "config_name": name,
                "features": info.features,
                "splits": [
                    {"name": split, "num_bytes": info.arrow_bytes[split], "num_examples": n}
                    for split, n in info.splits.items()
                ],
                "download_size": sum(info.bytes.values()),
                "dataset_size": sum(info.arrow_bytes.values()),
            }
        )
    return entries


def config_entries(manifest: Manifest) -> list[dict[str, Any]]:
    """The card's `configs:` list, as `datasets` reads it from a README YAML header; the
    default config (`default: true`) is the one `load_dataset(repo)` loads without a name."""
    return [
        {
            "config_name": name,
            **({"default": True} if name == manifest.default_config else {}),
            "data_files": [
                {"split": split, "path": split_pattern(name, split)} for split in info.splits
            ],
        }
        for name, info in manifest.configs.items()
    ]
