"""Translating instruction rows into triples: protect, segment, look up the cache, send what is
missing, restore, verify, fall back, check quality.

Each row goes through strategies until one succeeds: joint (instruction and response in one
request, chat backends in joint mode), lines (a field's segments packed into newline-joined
units), per segment, then per segment split at protected tokens; and the same with each fallback
backend. A row that no strategy can translate safely is quarantined with the reason (and the
backend's last error), never dropped and never written with mangled code. A backend that cannot
work as configured stops the whole run instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field
from tqdm.auto import tqdm

from plugdata.core.languages import LANGUAGES, LanguageTable
from plugdata.core.redact import scrub
from plugdata.errors import ConfigurationError, PlugdataError
from plugdata.remote.calls import Budget
from plugdata.remote.retrying import FailureMonitor
from plugdata.sources.read import Record
from plugdata.translate import protect
from plugdata.translate.backends.base import Translator
from plugdata.translate.cache import SegmentCache
from plugdata.translate.runner import RateLimiter, Runner, RunStats
from plugdata.translate.strategies import FIELDS, Strategy, strategies_for

# Requests in flight per backend when nothing says otherwise (a recipe's `concurrency:`, the
# `--concurrency` of `plugdata translate`, `TextTranslator`), and the option itself, declared
# once for the recipe and the command.
DEFAULT_CONCURRENCY = 8
Concurrency = Annotated[int, Field(ge=1, description="Requests in flight for each backend.")]
# Rows a job translates (sent, not from the cache) before the content checks' verdicts on them
# decide whether the backend works: all rejected for the same reason stops the job. Until then
# rows are sent this many at a time, so that a broken service is paid for no more.
FIRST_ROWS = 8
# Why a translated row's target fields fail the content checks (`untranslated:target_response`),
# or None: the job's checks (the pipeline's validator), given the source record and the fields
# made.
ContentCheck = Callable[[Record, dict[str, str]], str | None]


class Sender:
    """Sends the units a cache lacks, `concurrency` requests in flight for each backend: from
    threads of this process (`Runner.run`), kept from one call to the next (windows, strategies,
    fallbacks) with their open connections until `close`. The Ray executor's `RaySender` sends
    from actors instead; either commits every answer to the driver's cache."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, runner: Runner, units: dict[str, str], progress: Any) -> None:
        if not units:  # all in the cache: no thread to start
            return
        if self._pool is None:
            self._pool = _started_pool(self.concurrency)
        runner.run(units, progress=progress, pool=self._pool)

    def close(self) -> None:
        """End what the sender keeps between calls: its threads, which end once a request
        still in flight is done (after Ctrl-C: told to stop, not waited for)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _started_pool(threads: int) -> ThreadPoolExecutor:
    """A pool with all its threads running. Started one by one as requests are handed out,
    each would wait for the interpreter's lock against the threads already sending: at 64, a
    third of a second before all are in flight. Each holds the barrier until all have come."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix="plugdata-send")
    barrier = threading.Barrier(threads)
    wait([pool.submit(barrier.wait, 10) for _ in range(threads)])
    return pool


class MissingFromCache(PlugdataError):
    """--offline and some units were never translated."""


@dataclass
class Outcome:
    """Per source row: the translated fields, or the reason it failed and, for a row the
    backends could not translate, their last error (scrubbed), e.g. `openai-chat: HTTP 500`."""

    fields: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    made_by: str = ""
    error: str | None = None
    keys: list[str] = field(default_factory=list)  # cache keys of the answers it was made of

    @property
    def flags(self) -> list[str]:
        """What `meta.flags` of the row's triple carries about the failure."""
        return [f"last-error: {self.error}"] if self.error else []


@dataclass
class TranslateReport:
    rows: int = 0
    cached_rows: int = 0
    units: int = 0
    unique_units: int = 0
    chars: int = 0
    cache_hits: int = 0
    estimated_cost: float = 0.0
    requests_needed: int = 0
    # Seconds the configured rate limits alone impose (None: no limit configured).
    estimated_seconds: float | None = None
    stats: RunStats = field(default_factory=RunStats)
    failures: dict[str, int] = field(default_factory=dict)
    # Rows made from cached answers that the content checks reject (asked again only with
    # `retry_rejected`).
    rejected_cached: int = 0

    def rejected_note(self) -> str | None:
        """The summary's line about rejected answers replayed from the cache, if any."""
        if not self.rejected_cached:
            return None
        return (
            f"{self.rejected_cached} rows came from cached answers that the checks reject: "
            "--retry-rejected asks the backend for them again"
        )

    def add(self, other: TranslateReport) -> None:
        """Count another call of the same session into this report (`plugdata translate`
        translates its input a window at a time); `Session.not_counted` sees that a segment in
        two windows is counted in one."""
        for name in (
            "rows",
            "cached_rows",
            "units",
            "unique_units",
            "chars",
            "cache_hits",
            "rejected_cached",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.estimated_cost += other.estimated_cost
        self.requests_needed += other.requests_needed
        if other.estimated_seconds is not None:
            self.estimated_seconds = (self.estimated_seconds or 0.0) + other.estimated_seconds
        for name in ("requests", "chars_sent", "retries", "translated"):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(other.stats, name))
        for reason, count in other.failures.items():
            self.failures[reason] = self.failures.get(reason, 0) + count


@dataclass
class Session:
    """What a `Translation` keeps across its calls of `translate` (a run translates its corpus a
    window of rows at a time): one cost budget, so that `max_cost` caps the whole job; per
    backend one failure monitor (its failures on one window count on the next) and one rate
    limiter; one progress bar; and the segments its plan has counted (8 bytes each), so that a
    segment repeated in several windows is planned and counted once, as in one pass. Close it
    when the job is done."""

    budget: Budget = field(default_factory=Budget)
    monitors: dict[Translator, FailureMonitor] = field(default_factory=dict)
    limiters: dict[Translator, RateLimiter] = field(default_factory=dict)
    bar: Any = None
    counted: Any = None  # a `digests.DigestSet`, made with the first plan
    # The content checks' verdicts on the job's first rows sent (see `FIRST_ROWS`).
    first: list[str | None] = field(default_factory=list)

    def not_counted(self, units: dict[str, str]) -> dict[str, str]:
        """The units no earlier call of this session has counted in its plan."""
        from plugdata.core.digests import DigestSet, digest

        if self.counted is None:
            self.counted = DigestSet()
        seen = self.counted.seen([digest(key) for key in units])
        return {key: text for (key, text), was in zip(units.items(), seen, strict=True) if not was}

    def monitor(self, translator: Translator) -> FailureMonitor:
        if translator not in self.monitors:
            self.monitors[translator] = FailureMonitor(translator.who)
        return self.monitors[translator]

    def limiter(self, translator: Translator) -> RateLimiter:
        if translator not in self.limiters:
            o = translator.options
            self.limiters[translator] = RateLimiter(o.requests_per_second, o.chars_per_minute)
        return self.limiters[translator]

    def progress(self, target: str, label: str, requests: int, shown: bool) -> Any:
        """The job's one bar, grown by `requests` more, naming what is being sent."""
        if self.bar is None:
            self.bar = tqdm(
                total=0,
                unit="req",
                desc=f"translate {target}",
                disable=None if shown else True,  # None: only on a terminal
                leave=False,
            )
        self.bar.total += requests
        self.bar.set_postfix_str(label)  # refreshes
        return self.bar

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# -- the whole job -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TranslationSettings:
    """What a translation job does besides its backends: the languages, the fields of each
    record it translates, the cost cap for the whole job, and how (`offline`: from the cache
    alone, or stop; `dry_run`: only plan). `languages` knows the two codes (a recipe's own
    table when it declares them)."""

    source: str
    target: str
    fields: tuple[str, ...] = FIELDS
    max_cost: float | None = None
    offline: bool = False
    dry_run: bool = False
    progress: bool = True
    languages: LanguageTable = LANGUAGES
    # The content checks run on every row as it is made (None: not here, e.g. plain texts);
    # `retry_rejected` asks again for cached answers they rejected before.
    check: ContentCheck | None = None
    retry_rejected: bool = False


class Translation:
    """One job's translation into one language, over as many calls of `translate` as it makes
    (a window of rows at a time): its backends in order (fallbacks after the first), the segment
    cache, the `Sender`, and one `Session` (the cost budget, monitors, limiters and bar of the
    whole job). `report` counts every call. The caller owns the backends, cache and sender."""

    def __init__(
        self,
        translators: list[Translator],
        cache: SegmentCache,
        settings: TranslationSettings,
        sender: Sender | None = None,
    ) -> None:
        self.translators, self.cache, self.settings = translators, cache, settings
        self.send = sender or Sender()
        self.session = Session()
        self.report = TranslateReport(stats=RunStats(budget=self.session.budget))
        settings.languages.get(settings.source)
        self.target_language = settings.languages.get(settings.target)

    def translate(
        self, records: list[Record], skip: list[bool] | None = None
    ) -> tuple[list[Outcome], TranslateReport]:
        """The settings' fields of every record, outcomes in record order, and the report of
        this call (`report` adds it up; its `stats.cost` is what the whole job spent). Records
        marked in `skip` (quarantined whatever their translation) are not sent: nobody pays;
        their outcome is empty. While the content checks have not seen the job's first rows,
        rows go `FIRST_ROWS` at a time."""
        skip = list(skip) if skip else [False] * len(records)
        if not self._probing():
            return self._translate(records, skip)
        outcomes: list[Outcome] = []
        total = TranslateReport(stats=RunStats(budget=self.session.budget))
        start, size = 0, FIRST_ROWS
        while start < len(records):
            end = start + size if self._probing() else len(records)
            seen = len(self.session.first)
            part, report = self._translate(records[start:end], skip[start:end])
            outcomes += part
            total.add(report)
            start = end
            if len(self.session.first) == seen:  # all from the cache: a rerun goes faster
                size *= 4
        return outcomes, total

    def _probing(self) -> bool:
        s = self.settings
        return (
            s.check is not None
            and not s.dry_run
            and self.translators[0].service
            and len(self.session.first) < FIRST_ROWS
        )

    def _translate(
        self, records: list[Record], skip: list[bool]
    ) -> tuple[list[Outcome], TranslateReport]:
        s = self.settings
        report = TranslateReport(rows=len(records), stats=RunStats(budget=self.session.budget))
        texts = [{name: _field(r, name) for name in s.fields} for r in records]
        outcomes = [_unless_empty(t) for t in texts]
        skipped = {i for i, no in enumerate(skip or []) if no}
        pending = [i for i, o in enumerate(outcomes) if o.reason is None and i not in skipped]
        sent: set[int] = set()  # rows with a unit the cache lacked
        for step, (translator, strategy) in enumerate(self._plan()):
            if not pending:
                break
            runner = self._runner(translator, report.stats)
            row_keys, units = _units(strategy, runner, texts, pending)
            cached = self.cache.get_many(units)
            if s.retry_rejected and not s.dry_run:
                for key in self.cache.forget_rejected(cached):
                    del cached[key]
            missing = {k: v for k, v in units.items() if k not in cached}
            sent.update(i for i, keys in row_keys.items() if any(k in missing for k in keys))
            if step == 0:
                report.units = sum(len(keys) for keys in row_keys.values())
                fresh = self.session.not_counted(units)
                _estimate(report, translator, fresh, cached, missing)
            if s.dry_run:
                break
            self._send(runner, strategy, units, missing)
            answers = self.cache.get_many(units)
            done = _assemble_rows(row_keys, texts, strategy, runner, answers, outcomes)
            pending = [i for i in pending if i not in done]
        report.cached_rows = sum(
            1
            for i, o in enumerate(outcomes)
            if o.reason is None and i not in sent and i not in skipped
        )
        if not s.dry_run:
            _give_up(outcomes, pending, report)
            self._check(records, outcomes, sent, skipped, report)
        for i in skipped:
            outcomes[i] = Outcome()
        self.report.add(report)
        return outcomes, report

    def _check(
        self,
        records: list[Record],
        outcomes: list[Outcome],
        sent: set[int],
        skipped: set[int],
        report: TranslateReport,
    ) -> None:
        """The content checks on every row sent (the pipeline checks every row again, for the
        record): the cache notes which answers they rejected, so that `retry_rejected` asks
        again and the summary counts the rows replayed from them; the job's first rows sent
        decide whether the backend works at all."""
        check = self.settings.check
        if check is None:
            return
        first = self.session.first
        deciding = len(first) < FIRST_ROWS and self.translators[0].service
        rejected: dict[str, str] = {}
        passed: list[str] = []
        replayed: list[Outcome] = []
        for i, outcome in enumerate(outcomes):
            if outcome.reason is not None or i in skipped or not outcome.keys:
                continue
            if i not in sent:  # checked when it was sent: its answers' notes say
                replayed.append(outcome)
                continue
            why = check(records[i], outcome.fields)
            if why is None:
                passed += outcome.keys
            else:
                rejected.update(dict.fromkeys(outcome.keys, why))
            if len(first) < FIRST_ROWS:
                first.append(why)
        marked = self.cache.rejected(k for o in replayed for k in o.keys)
        report.rejected_cached += sum(any(k in marked for k in o.keys) for o in replayed)
        self.cache.note_checks(rejected, passed)
        reasons = set(first)
        if deciding and len(first) == FIRST_ROWS and len(reasons) == 1 and None not in reasons:
            raise ConfigurationError(
                f"{self.translators[0].who}: the first {FIRST_ROWS} rows translated were all "
                f"rejected by the checks ({first[0]}); stopped before sending the rest. Check "
                "the backend (model, prompt, languages); once it is fixed, run again with "
                "--retry-rejected to ask again for the answers it gave"
            )

    def _plan(self) -> Iterator[tuple[Translator, Strategy]]:
        """Every strategy of every backend, in the order they are tried."""
        for t in self.translators:
            for strategy in strategies_for(t, self.settings.source, self.target_language):
                yield t, strategy

    def _runner(self, translator: Translator, stats: RunStats) -> Runner:
        stats.budget.cap = self.settings.max_cost  # compared with the job's cumulative spend
        return Runner(
            translator,
            self.cache,
            (self.settings.source, self.settings.target),
            concurrency=self.send.concurrency,
            stats=stats,
            # One per backend for the whole job: its strategies (and the job's later calls)
            # share what its failures have shown, and its rate.
            monitor=self.session.monitor(translator),
            limiter=self.session.limiter(translator),
        )

    def _send(
        self, runner: Runner, strategy: Strategy, units: dict[str, str], missing: dict[str, str]
    ) -> None:
        if self.settings.offline and missing:
            raise MissingFromCache(
                f"--offline: {len(missing)} of {len(units)} segments are not in "
                f"{self.cache.path}; first: {next(iter(missing.values()))[:80]!r}"
            )
        t = runner.translator
        label = f"{t.model}, {strategy.name}"

        def send(units: dict[str, str]) -> None:
            requests = -(-len(units) // t.batch_size)
            s = self.settings
            self.send(runner, units, self.session.progress(s.target, label, requests, s.progress))

        if missing:
            # Processes sharing the cache send each segment once between them.
            self.cache.claims.settle(missing, send)
        else:
            send(missing)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Translation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _give_up(outcomes: list[Outcome], pending: list[int], report: TranslateReport) -> None:
    """Rows no strategy of any backend could translate safely fail as such; every failure is
    counted by reason."""
    for i in pending:
        outcome = outcomes[i]
        outcome.reason = outcome.reason or "translate-failed"
        if outcome.reason != "translate-failed":
            outcome.error = None
    for o in outcomes:
        if o.reason:
            report.failures[o.reason] = report.failures.get(o.reason, 0) + 1


def _unless_empty(texts: dict[str, str]) -> Outcome:
    """A fresh outcome, failed already when a field to translate is empty."""
    empty = [name for name, value in texts.items() if not value.strip()]
    return Outcome(reason=f"empty:{empty[0]}" if empty else None)


def _units(
    strategy: Strategy, runner: Runner, texts: list[dict[str, str]], pending: list[int]
) -> tuple[dict[int, list[str]], dict[str, str]]:
    """The units a strategy makes of the pending rows it fits: each row's cache keys, and the
    text under each key."""
    row_keys = {}
    units: dict[str, str] = {}
    for i in pending:
        if strategy.fits(texts[i]):
            texts_of_row = strategy.units(texts[i])
            row_keys[i] = [runner.key(unit) for unit in texts_of_row]
            units.update(zip(row_keys[i], texts_of_row, strict=True))
    return row_keys, units


def _estimate(
    report: TranslateReport,
    translator: Translator,
    units: dict[str, str],
    cached: dict[str, str],
    missing: dict[str, str],
) -> None:
    """What the first strategy will cost: the plan a dry run prints, counting `units` (those
    an earlier window has not counted) of the `cached` and `missing` ones."""
    to_send = [text for key, text in units.items() if key in missing]
    report.unique_units = len(units)
    report.cache_hits = sum(1 for key in units if key in cached)
    report.chars = sum(len(text) for text in to_send)
    report.estimated_cost = report.chars * translator.price_per_char()
    report.requests_needed = -(-len(to_send) // translator.batch_size)
    report.estimated_seconds = _rate_bound_seconds(translator, report.requests_needed, report.chars)


def _assemble_rows(
    row_keys: dict[int, list[str]],
    texts: list[dict[str, str]],
    strategy: Strategy,
    runner: Runner,
    answers: dict[str, str],
    outcomes: list[Outcome],
) -> set[int]:
    """Put the rows of one strategy together from the answers; returns the rows done. A row
    that failed keeps why (and the backend's last error) on its outcome, for when no later
    strategy succeeds."""
    t, failures = runner.translator, runner.stats.failed
    lookup = _lookup(answers, runner)
    done = set()
    for i, keys in row_keys.items():
        outcome = outcomes[i]
        failed = [failures[k] for k in dict.fromkeys(keys) if k in failures]
        if failed or any(k not in answers for k in keys):
            outcome.reason = "translate-failed"
            outcome.error = scrub(failed[-1]) if failed else outcome.error
            continue
        try:
            outcome.fields = strategy.assemble(texts[i], lookup)
        except protect.ProtectionError:
            outcome.reason = "protection-lost"
            continue
        outcome.made_by, outcome.reason, outcome.error = f"{t.name}:{t.model}", None, None
        outcome.keys = list(dict.fromkeys(keys))
        done.add(i)
    return done


def _rate_bound_seconds(translator: Translator, requests: int, chars: int) -> float | None:
    o = translator.options
    bounds = []
    if o.requests_per_second:
        bounds.append(requests / o.requests_per_second)
    if o.chars_per_minute:
        bounds.append(chars / o.chars_per_minute * 60)
    return max(bounds) if bounds else None


def _lookup(answers: dict[str, str], runner: Runner):
    return lambda unit: answers[runner.key(unit)]


def _field(record: Record, name: str) -> str:
    return record.instruction if name == "instruction" else (record.response or "")
