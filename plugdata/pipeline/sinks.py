"""Where a language's routed rows are written, chunk by chunk: a dataset folder's configs
(`FolderSink`: `<lang>` and every `<lang>-<method>` as parquet splits, and the quarantine table),
or a JSON Lines file of triples with its quarantine beside it (`JsonLinesSink`, for `plugdata
translate`). Both take the `ChunkResult`s of the same pipeline.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from plugdata.core.digests import sha256_file
from plugdata.core.formats import PIVOT_KIND
from plugdata.core.jsonl import JsonLinesWriter
from plugdata.core.schema import METHOD_ROW
from plugdata.dataset import folder
from plugdata.dataset.manifest import ConfigEntry
from plugdata.dataset.shards import SplitWriter
from plugdata.pipeline.language import LanguageResult
from plugdata.pipeline.layout import ALL, Layout
from plugdata.pipeline.manifests import config_info
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.run import Run
from plugdata.pipeline.stages import ChunkResult
from plugdata.pipeline.triples import Ledger


class FolderSink:
    """`<lang>` and every `<lang>-<method>` config of one language, and its quarantine table,
    appended chunk by chunk as the pipeline hands over each chunk's tables (split and rendered
    by `stages`), so nothing but the chunk at hand is held. Parquet files of at most
    `shard_rows` rows."""

    def __init__(self, recipe: Recipe, stage: Path, layout: Layout, shard_rows: int) -> None:
        self.recipe, self.stage, self.layout = recipe, stage, layout
        self.type = "triples" if recipe.responses else "eval"
        self.writers: dict[str, dict[str, SplitWriter]] = {}
        for config in layout.configs:
            schema = layout.schema if config == layout.lang else METHOD_ROW
            self.writers[config] = {
                s: SplitWriter(stage / folder.data_dir(config), s, schema, shard_rows)
                for s in layout.splits
            }
        self.kinds = {config: {s: Counter() for s in layout.splits} for config in layout.methods}
        self.quarantine = folder.QuarantineWriter(
            stage / folder.QUARANTINE / f".{layout.lang}.parquet.part", layout.quarantine_schema
        )

    def write(self, result: ChunkResult) -> None:
        if result.quarantine is not None:
            self.quarantine.write(result.quarantine)
        for config, splits in result.rows.items():
            for split, rows in splits.items():
                self.writers[config][split].write(rows.table, rows.json)
        for config, splits in result.kinds.items():
            for split, kinds in splits.items():
                self.kinds[config][split].update(kinds)

    def finish(self, result: LanguageResult, run: Run) -> dict[str, ConfigEntry]:
        """Close every split and return the configs' manifest entries. A split without rows
        is not written (and not listed)."""
        base = config_info(self.recipe, result, run)
        written = {}
        for config, writers in self.writers.items():
            writers = {split: w for split, w in writers.items() if w.rows}
            files = {}
            for writer in writers.values():
                for path in writer.close():
                    files[path.relative_to(self.stage).as_posix()] = sha256_file(path)
            extra: dict[str, Any] = {}
            made = self.layout.methods.get(config)
            if made is not None:
                kinds: Counter = Counter()
                for counts in self.kinds[config].values():
                    kinds.update(counts)
                heads = {split: w.head for split, w in writers.items()}
                extra = {
                    "method": made.method,
                    "pivot_rows": made.pivot_rows,
                    "system_prompt": made.system_prompt,
                    "kinds": dict(kinds),
                    "example": _example(heads),
                }
            written[config] = ConfigEntry(
                **base,
                type="method" if made is not None else self.type,
                splits={split: w.rows for split, w in writers.items()},
                bytes=folder.split_bytes(self.stage, files),
                arrow_bytes={split: w.arrow_bytes for split, w in writers.items()},
                features=folder.features_of(self.stage, files),
                files=files,
                sha256={split: w.hasher.hexdigest() for split, w in writers.items()},
                **extra,
            )
        return written


class JsonLinesSink:
    """Triples as JSON Lines at `out` and the quarantined ones beside it
    (`OUT.quarantine.jsonl`), in corpus order, one ledger for both. Written under temporary
    names a chunk at a time and moved into place only by `commit`, after the ledger check: exit
    0 means complete files, and a run that fails leaves the old ones."""

    def __init__(self, out: Path, layout: Layout) -> None:
        self.out, self.layout, self.ledger = out, layout, Ledger()
        self.kept = JsonLinesWriter(out)
        self.quarantined = JsonLinesWriter(quarantine_path(out))

    def write(self, result: ChunkResult) -> None:
        self.ledger.add(result.ledger)
        rows = result.rows.get(self.layout.lang, {}).get(ALL)
        if rows is not None:
            self.kept.write(rows.table.to_pylist())
        if result.quarantine is not None:
            self.quarantined.write(result.quarantine.to_pylist())

    def commit(self) -> None:
        self.ledger.check(str(self.out))
        self.kept.commit()
        self.quarantined.commit()

    def close(self) -> None:
        """Without a commit, drop what was written."""
        self.kept.close()
        self.quarantined.close()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def quarantine_path(out: Path) -> Path:
    """Where `plugdata translate` writes the rows it did not keep: `OUT.quarantine.jsonl`."""
    return out.with_name(out.name.removesuffix(".jsonl") + ".quarantine.jsonl")


def _example(heads: dict[str, list[dict[str, Any]]], limit: int = 600) -> dict[str, Any] | None:
    """A short but not trivial training row for the card's one-example-per-method section:
    the shortest among the first 500 rows of the method's own kind whose answer has some
    substance. The mixture's pivot rows are shorter than a PLUG completion, so without the
    kind filter a `plug` card would show a pivot row; `pivot-only` has only pivot rows."""
    for head in heads.values():
        rows = [r for r in head if r["kind"] != PIVOT_KIND] or head
        if not rows:
            continue
        substantial = [r for r in rows if len(r["completion"][0]["content"]) >= 80] or rows
        row = min(substantial, key=lambda r: sum(len(m["content"]) for m in r["completion"]))
        messages = [
            {"role": m["role"], "content": _shorten(m["content"], limit)}
            for m in row["prompt"] + row["completion"]
        ]
        return {"id": row["id"], "kind": row["kind"], "messages": messages}
    return None


def _shorten(text: str, limit: int) -> str:
    """Head and tail: in a PLUG completion the target-language answer comes last."""
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]} … {text[-limit // 2 :]}"
