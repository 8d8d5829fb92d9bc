"""`plugdata translate`, `plugdata merge` and `plugdata cache`: files in, triples out.

Library functions behind the commands; the recipe path (`build`) calls `translate_records`
directly with the same translators and cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from plugdata.checks.validate import Validator
from plugdata.core.digests import sha256_file
from plugdata.core.jsonl import (
    JsonLinesWriter,
    read_json_file,
    read_json_lines,
    write_json,
    write_json_lines,
)
from plugdata.core.languages import LANGUAGES, LanguageTable
from plugdata.core.safe_yaml import safe_yaml_load
from plugdata.core.store import cache_dir
from plugdata.errors import PlugdataError
from plugdata.pipeline.executor import ray as ray_engine
from plugdata.pipeline.executor.ray import check_engine
from plugdata.pipeline.executor.ray_send import RaySender
from plugdata.pipeline.triples import Ledger, Router, make_triple, row_ids
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import Record, iter_records
from plugdata.translate.backends import TRANSLATORS
from plugdata.translate.backends.base import Translator
from plugdata.translate.cache import Imported, SegmentCache
from plugdata.translate.engine import (
    Outcome,
    Send,
    Session,
    TranslateReport,
    send_here,
    translate_records,
)
from plugdata.translate.strategies import FIELDS

# Rows read, translated, checked and written at a time: what a run holds, whatever the input's
# size (a build's windows are `language_check.TRANSLATE_WINDOW`).
WINDOW_ROWS = 20_000


def default_cache_path() -> Path:
    """translations.sqlite in `plugdata.core.store.cache_dir()`, beside the judge's cache."""
    return cache_dir() / "translations.sqlite"


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`KEY=VALUE` strings; values read as YAML scalars (numbers, booleans, strings)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PlugdataError(f"--option {pair!r}: use KEY=VALUE")
        options[key.strip()] = safe_yaml_load(value, f"--option {key.strip()}") if value else ""
    return options


def make_translator(
    name: str,
    options: dict[str, Any],
    where: str = "translate",
    languages: LanguageTable = LANGUAGES,
) -> Translator:
    """A backend by name with validated options; errors say where (recipe key or command).
    `languages` names and spells the codes it is asked for (a recipe's own table)."""
    if name not in TRANSLATORS:
        raise PlugdataError(
            f"{where}: unknown backend {name!r}; choose one of: {', '.join(TRANSLATORS)}"
        )
    cls = TRANSLATORS[name]
    try:
        parsed = cls.Options(**options)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        allowed = ", ".join(cls.Options.model_fields)
        hint = f" (options of {name}: {allowed})" if first["type"] == "extra_forbidden" else ""
        raise PlugdataError(f"{where}: option {key!r}: {first['msg']}{hint}") from None
    translator = cls(parsed)
    translator.languages = languages
    return translator


def shard_bounds(rows: int, shard: str | None) -> dict | None:
    """Where the slice `i/N` of `rows` rows starts and ends (None: no `--shard`): the i-th of N
    contiguous slices (0-based), so shards concatenate in order."""
    if not shard:
        return None
    i_text, slash, n_text = shard.partition("/")
    if not (slash and i_text.isdigit() and n_text.isdigit() and int(i_text) < int(n_text)):
        raise PlugdataError(f"--shard {shard!r}: use i/N with 0 <= i < N")
    i, n = int(i_text), int(n_text)
    return {"shard": i, "of": n, "start": rows * i // n, "end": rows * (i + 1) // n, "rows": rows}


@dataclass
class TranslateResult:
    out: Path
    report: TranslateReport
    kept: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    price_note: str = ""

    def summary(self) -> str:
        r = self.report
        lines = [
            f"rows {r.rows} ({r.cached_rows} finished in the cache), segments {r.units} "
            f"({r.unique_units} unique), "
            f"cache hits {r.cache_hits}, to send {r.unique_units - r.cache_hits} "
            f"({r.chars:,} characters, {r.requests_needed} requests)",
            f"estimated cost {r.estimated_cost:.4f} USD{self.price_note}, time at the configured "
            "rates "
            + (
                f"{r.estimated_seconds / 60:.1f} min"
                if r.estimated_seconds is not None
                else "not bounded (no requests_per_second / chars_per_minute set)"
            ),
        ]
        if self.dry_run:
            return "Plan (dry run, nothing sent):\n" + "\n".join(lines)
        s = r.stats
        lines.append(
            f"sent {s.requests} requests ({s.retries} retries), {s.chars_sent:,} "
            f"characters, about {s.cost:.4f} USD"
        )
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined.items())) or "-"
        lines.append(
            f"kept {self.kept}, quarantined {sum(self.quarantined.values())} "
            f"({reasons}) -> {self.out}"
        )
        return "\n".join(lines)


def translate_file(
    in_path: Path,
    out: Path,
    *,
    target: str,
    source: str = "en",
    backend: str,
    options: dict[str, Any],
    fallbacks: list[tuple[str, dict[str, Any]]] | None = None,
    fields: tuple[str, ...] = FIELDS,
    cache_path: Path | None = None,
    workers: int = 8,
    max_cost: float | None = None,
    offline: bool = False,
    dry_run: bool = False,
    shard: str | None = None,
    name: str | None = None,
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> TranslateResult:
    """`engine`: `local` sends from this process's threads; `ray` from Ray actors on this
    machine or, with `ray_address` (or `$RAY_ADDRESS`), a cluster (`translate.ray_sender`).
    Both write the same bytes for the same input and cache. The input is translated
    `WINDOW_ROWS` rows at a time; OUT and its quarantine replace the old ones only when the
    whole run succeeded."""
    cache_path = cache_path or default_cache_path()
    refuse_overwrite(
        reads=[("the input", in_path)],
        writes=[("the cache", cache_path), *_outputs(out, sharded=bool(shard))],
    )
    shard_info = shard_bounds(_count_records(in_path, fields), shard)
    translators = [make_translator(backend, options)] + [
        make_translator(n, o, f"translate fallback {n}") for n, o in fallbacks or []
    ]
    rows = _Rows(name or in_path.stem, source, target, "response" in fields, Validator())
    with ExitStack() as stack:
        for t in translators:
            stack.callback(t.close)
        job = _Job(
            rows,
            _row_context(translators, source, target, fields, rows.validator),
            translators,
            stack.enter_context(closing(SegmentCache(cache_path))),
            stack.enter_context(closing(Session())),
            dict(fields=fields, workers=workers, max_cost=max_cost, offline=offline),
            dry_run=dry_run,
            progress=progress,
            on_ray=engine == "ray",
        )
        job.send = sender(engine, ray_address, workers)
        if isinstance(job.send, RaySender):  # its actors live for the run, not a window
            stack.callback(job.send.close)
        written = None if dry_run else stack.enter_context(_Written(out))
        for records in _windows(in_path, fields, shard_info):
            finished = job.window(records, row_ids(rows.source_name, records))
            if written is not None:
                written.add([r.where for r in records], finished)
        result = TranslateResult(out, job.report, dry_run=dry_run)
        if written is not None:
            written.commit(result)
    if shard_info and not dry_run:
        write_json(sidecar_path(out), shard_info | {"input_sha256": sha256_file(in_path)})
    return result


def _records(in_path: Path, fields: tuple[str, ...]) -> Iterator[Record]:
    corpus = Corpus(path=str(in_path))
    return iter_records(corpus, Path.cwd(), need_response="response" in fields)


def _count_records(in_path: Path, fields: tuple[str, ...]) -> int:
    """The input's rows, read once before anything is sent, so that a bad row anywhere stops
    the run before it costs anything (as when the whole input was held), and `--shard` can
    slice by the count."""
    return sum(1 for _ in _records(in_path, fields))


def _windows(
    in_path: Path, fields: tuple[str, ...], shard_info: dict | None
) -> Iterator[list[Record]]:
    """The input's records (its shard's, with `--shard`), `WINDOW_ROWS` at a time."""
    records = _records(in_path, fields)
    if shard_info:
        records = islice(records, shard_info["start"], shard_info["end"])
    while window := list(islice(records, WINDOW_ROWS)):
        yield window


@dataclass
class _Job:
    """One `plugdata translate` run across its windows: the backends, the row and segment
    cache, the engine's `Session` (one budget, failure monitors, limiters and bar for the
    run), and the report counted over every window."""

    rows: _Rows
    context: str
    translators: list[Translator]
    cache: SegmentCache
    session: Session
    settings: dict[str, Any]  # translate_records' fields, workers, max_cost, offline
    dry_run: bool
    progress: bool
    on_ray: bool
    send: Send = send_here
    report: TranslateReport = field(default_factory=TranslateReport)

    def __post_init__(self) -> None:
        self.report.stats.budget = self.session.budget  # its cost: what the run spent

    def window(self, records: list[Record], ids: list[str]) -> list[dict[str, Any]] | None:
        """The finished rows of `records`, in order (None in a dry run), taken from the row
        cache or translated and checked; the rows the backends answered go into the cache."""
        keys = [_row_key(self.context, row_id, r) for row_id, r in zip(ids, records, strict=True)]
        done = self.cache.get_rows(keys)
        # Rows whose source is unusable (a non-string value, broken text) are never sent.
        finished = {i: self.rows.refused(ids[i], r) for i, r in enumerate(records) if r.problems}
        todo = [i for i, key in enumerate(keys) if key not in done and i not in finished]
        outcomes, report = translate_records(
            [records[i] for i in todo],
            self.rows.source,
            self.rows.target,
            self.translators,
            self.cache,
            dry_run=self.dry_run,
            progress=self.progress,
            send=self.send,
            session=self.session,
            **self.settings,
        )
        report.rows = len(records)
        report.cached_rows = len(records) - len(todo) - len(finished)
        self.report.add(report)
        if self.dry_run:
            return None
        finished |= self.rows.finish(todo, outcomes, ids, records, on_ray=self.on_ray)
        # Service failures are never cached.
        answered = [i for i, outcome in zip(todo, outcomes, strict=True) if not outcome.reason]
        cache_rows = [(keys[i], json.dumps(finished[i], ensure_ascii=False)) for i in answered]
        self.cache.put_rows(cache_rows)
        return [finished.get(i) or done[key] for i, key in enumerate(keys)]


class _Written:
    """OUT and its quarantine, a window at a time, under temporary names until `commit`, with
    one ledger for the run: exit 0 means complete files, a failed run leaves the old ones."""

    def __init__(self, out: Path) -> None:
        self.out, self.ledger = out, Ledger()
        self.kept = JsonLinesWriter(out)
        self.quarantined = JsonLinesWriter(quarantine_path(out))

    def add(self, wheres: list[str], rows: list[dict]) -> None:
        """Kept triples to OUT, the others to its quarantine with their reasons."""
        router = Router()
        for where, row in zip(wheres, rows, strict=True):
            router.route(row["triple"], row["reasons"], where)
        self.ledger.add(router.ledger)
        self.kept.write(router.kept)
        self.quarantined.write(router.quarantined)

    def commit(self, result: TranslateResult) -> None:
        self.ledger.check(str(self.out))
        result.kept = self.ledger.kept
        result.quarantined = dict(self.ledger.quarantined)
        self.kept.commit()
        self.quarantined.commit()

    def __enter__(self) -> _Written:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kept.close()
        self.quarantined.close()


def sender(engine: str, ray_address: str | None, workers: int) -> Send:
    """The `send` of `translate_records` for an engine (`ray`: a `RaySender`, to `close()`)."""
    check_engine(engine, ray_address)
    return RaySender(ray_address, workers) if engine == "ray" else send_here


@dataclass
class _Rows:
    """How `plugdata translate` turns a source record into a finished row: its triple and the
    reasons it is quarantined (none: kept)."""

    source_name: str
    source: str
    target: str
    responses: bool
    validator: Validator

    def _triple(self, row_id: str, record: Record, target: Record | None, made_by: str) -> dict:
        return make_triple(
            row_id,
            self.source_name,
            self.source,
            self.target,
            record,
            target,
            made_by,
            responses=self.responses,
        )

    def refused(self, row_id: str, record: Record) -> dict[str, Any]:
        return {
            "triple": self._triple(row_id, record, None, ""),
            "reasons": record.reasons("pivot"),
        }

    def translated(self, row_id: str, record: Record, outcome: Outcome) -> dict[str, Any]:
        """The row of a translated record; its content checks are `check`'s (reasons None)."""
        translated = Record(
            record.index,
            record.where,
            record.raw_id,
            outcome.fields.get("instruction", record.instruction),
            outcome.fields.get("response", record.response),
        )
        triple = self._triple(row_id, record, translated, outcome.made_by)
        triple["meta"]["flags"] = outcome.flags
        return {"triple": triple, "reasons": [outcome.reason] if outcome.reason else None}

    def finish(
        self,
        todo: list[int],
        outcomes: list[Outcome],
        ids: list[str],
        records: list[Record],
        on_ray: bool,
    ) -> dict[int, dict[str, Any]]:
        """The rows of the records `todo` from their outcomes, checked (see `check`)."""
        done = {
            i: self.translated(ids[i], records[i], outcome)
            for i, outcome in zip(todo, outcomes, strict=True)
        }
        self.check(list(done.values()), on_ray)
        return done

    def check(self, rows: list[dict[str, Any]], on_ray: bool) -> None:
        """The content checks of the translated rows among `rows`, here or, `on_ray`, as a Ray
        Data stage (`ray_engine.check_triples`; a few rows here all the same): the same
        verdicts either way."""
        todo = [row for row in rows if row["reasons"] is None]
        triples = [row["triple"] for row in todo]
        if on_ray and len(triples) >= ray_engine.PIPELINE_MIN_ROWS:
            verdicts = ray_engine.check_triples(triples, self.validator, responses=self.responses)
        else:
            checked = (self.validator.check(t, responses=self.responses) for t in triples)
            verdicts = [(v.reasons, v.flags, v.lid_rows()) for v in checked]
        for row, (reasons, flags, lid) in zip(todo, verdicts, strict=True):
            row["triple"]["meta"]["lid"] = lid
            row["triple"]["meta"]["flags"] = flags
            row["reasons"] = reasons


Role = tuple[str, Path]  # what a file is to a command, and its path


def _outputs(out: Path, sharded: bool) -> list[Role]:
    """The files a translate run writes besides the cache."""
    written = [("--out", out), ("the quarantine of --out", quarantine_path(out))]
    return written + ([("the shard sidecar of --out", sidecar_path(out))] if sharded else [])


def refuse_overwrite(reads: list[Role], writes: list[Role]) -> None:
    """One line, before any work, when a file to be written is also read or written in
    another role: `--out x.jsonl` for input `x.jsonl` would destroy the source rows."""
    roles: dict[Path, str] = {}
    for what, path in reads:
        roles.setdefault(path.resolve(), what)
    for what, path in writes:
        resolved = path.resolve()
        if resolved in roles:
            raise PlugdataError(
                f"{path}: used as both {roles[resolved]} and {what}; give another path"
            )
        roles[resolved] = what


def _row_context(
    translators: list[Translator],
    source: str,
    target: str,
    fields: tuple[str, ...],
    validator: Validator,
) -> str:
    """Everything besides the row itself that decides a finished row."""
    from plugdata import __version__

    chain = [(t.name, t.model, t.version) for t in translators]
    return json.dumps(
        [
            __version__,
            chain,
            source,
            target,
            list(fields),
            validator.describe(),
            validator.settings.model_dump(mode="json"),
        ],
        sort_keys=True,
    )


def _row_key(context: str, row_id: str, record: Record) -> str:
    payload = json.dumps([context, row_id, record.instruction, record.response])
    return hashlib.sha256(payload.encode()).hexdigest()


def quarantine_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".quarantine.jsonl")


def sidecar_path(out: Path) -> Path:
    """Where `--shard` notes which slice of which input `out` holds."""
    return Path(f"{out}.shard.json")


def merge_shards(parts: list[Path], out: Path) -> int:
    """Concatenate shard outputs in shard order after checking they cover one input exactly."""
    reads: list[Role] = []
    for part in parts:
        reads += [("a part", part), ("the quarantine of a part", quarantine_path(part))]
        reads += [("the shard sidecar of a part", sidecar_path(part))]
    refuse_overwrite(reads, _outputs(out, sharded=False))
    infos = [(_read_sidecar(part), part) for part in parts]
    infos.sort(key=lambda item: item[0]["shard"])
    n = infos[0][0]["of"]
    got = [info["shard"] for info, _ in infos]
    if got != list(range(n)) or {info["input_sha256"] for info, _ in infos} != {
        infos[0][0]["input_sha256"]
    }:
        raise PlugdataError(
            f"shards do not cover one input: have {got} of {n} "
            "(all must come from the same input file)"
        )
    total = 0
    for target, suffix in ((out, ""), (quarantine_path(out), "quarantine")):
        rows = []
        for _, part in infos:
            src = quarantine_path(part) if suffix else part
            if src.exists():
                rows.extend(row for _, row in read_json_lines(src))
        write_json_lines(target, rows)
        total += len(rows)
    return total


def _read_sidecar(part: Path) -> dict[str, Any]:
    """The `--shard` record written beside a part: which slice of which input it holds."""
    sidecar = sidecar_path(part)
    if not sidecar.exists():
        raise PlugdataError(f"{part}: no {sidecar.name}; was it written with --shard i/N?")
    info = read_json_file(sidecar)
    if not (
        isinstance(info, dict)
        and all(isinstance(info.get(k), int) for k in ("shard", "of"))
        and isinstance(info.get("input_sha256"), str)
    ):
        raise PlugdataError(f"{sidecar}: not a shard record written by plugdata translate --shard")
    return info


def export_cache(cache_path: Path, file: Path) -> int:
    """`plugdata cache export`: every segment of the cache at `cache_path` to parquet `file`."""
    if not cache_path.exists():
        raise PlugdataError(f"{cache_path}: no cache there (give --cache)")
    refuse_overwrite(reads=[("the cache", cache_path)], writes=[("the export", file)])
    with SegmentCache(cache_path) as cache:
        return cache.export(file)


def import_cache(cache_path: Path, file: Path) -> Imported:
    """`plugdata cache import`: the segments of parquet `file` into the cache at `cache_path`."""
    refuse_overwrite(reads=[("the imported file", file)], writes=[("the cache", cache_path)])
    with SegmentCache(cache_path) as cache:
        return cache.import_(file)
