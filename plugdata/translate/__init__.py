"""Machine translation of instruction corpora into PLUG triples (see `engine`).

Below is this package's public face for code built on the library (the trainer's translate-test
baseline): plain texts in, translations or failure reasons out, through the same engine,
backends, segment cache, protection, retries and fallbacks as `plugdata translate`. Such code
imports only this package, never its modules, so the engine's insides stay free to change.
Imports are deferred, so that `import plugdata.translate` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Translation:
    """One text's result: `text` when it was translated safely, else `reason` (the engine's
    failure code, e.g. `translate-failed`, `protection-lost`) and the backend's last error."""

    text: str = ""
    reason: str | None = None
    error: str | None = None


class TextTranslator:
    """A backend by name with its options, checked when made: an unknown backend, a refused
    option or a missing key is one line (naming `where`) before any work. `fallbacks`: more
    (name, options) for texts the first cannot do, as in a recipe. `max_cost` caps the spend
    of all `translate` calls together, and `requests` counts what they sent (retries
    included; what the cache answers is not sent). Use as a context manager: backends may hold
    models."""

    def __init__(
        self,
        backend: str,
        options: dict[str, Any],
        *,
        cache_path: Path | None = None,
        fallbacks: list[tuple[str, dict[str, Any]]] | None = None,
        concurrency: int | None = None,
        max_cost: float | None = None,
        where: str = "--translator",
    ):
        from plugdata.translate.backends import make_translator
        from plugdata.translate.cache import default_cache_path
        from plugdata.translate.engine import DEFAULT_CONCURRENCY

        self.cache_path = cache_path or default_cache_path()
        self.concurrency, self.max_cost = concurrency or DEFAULT_CONCURRENCY, max_cost
        self.spent, self.requests = 0.0, 0  # USD, and requests that left the process
        self._backends = [make_translator(backend, options, where)]
        try:
            self._backends += [
                make_translator(n, o, f"{where} fallback {n}") for n, o in fallbacks or []
            ]
            for b in self._backends:
                b.check_setup()
        except BaseException:
            self.close()
            raise

    @property
    def label(self) -> str:
        """`backend:model` as `meta.made_by` spells it, fit to write to an output: no
        credentials, no local path (a model folder is named by its last part)."""
        from plugdata.core.redact import looks_like_local_path, public_path, scrub

        b = self._backends[0]
        model = public_path(b.model) if looks_like_local_path(b.model) else b.model
        return scrub(f"{b.name}:{model}")

    def translate(
        self,
        texts: list[str],
        source: str,
        target: str,
        *,
        kind: Literal["instruction", "response"] = "instruction",
        progress: bool = True,
    ) -> list[Translation]:
        """All `texts` in one batch, results in order. `kind`: which field of a row the texts
        are to the engine. A backend that cannot work as configured (nothing listening, a
        refused key) raises; a text it cannot translate safely gets a reason instead."""
        from plugdata.sources.read import Record
        from plugdata.translate import engine
        from plugdata.translate.cache import SegmentCache

        records = [
            Record(i, f"text {i + 1}", None, text if kind == "instruction" else "", text)
            for i, text in enumerate(texts)
        ]
        left = None if self.max_cost is None else max(self.max_cost - self.spent, 0.0)
        settings = engine.TranslationSettings(
            source, target, fields=(kind,), max_cost=left, progress=progress
        )
        sender = engine.Sender(self.concurrency)
        try:
            with (
                SegmentCache(self.cache_path) as cache,
                engine.Translation(self._backends, cache, settings, sender) as job,
            ):
                outcomes, report = job.translate(records)
        finally:
            sender.close()
        self.spent += report.stats.cost
        self.requests += report.stats.requests
        return [
            Translation(reason=o.reason, error=o.error) if o.reason else Translation(o.fields[kind])
            for o in outcomes
        ]

    def close(self) -> None:
        for b in self._backends:
            b.close()

    def __enter__(self) -> TextTranslator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`KEY=VALUE` strings, read as `plugdata translate --option` reads them."""
    from plugdata.translate.backends import parse_options as parse

    return parse(pairs)
