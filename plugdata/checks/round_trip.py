"""Round-trip agreement as an alignment scorer: each target text is translated back into the
pivot language with a translation backend, and scored by chrF (sacrebleu) against its pivot
text, from 0 to 1. It needs no model of its own, but a backend, and it costs what translating
the targets again costs; the back-translations go to the translation cache like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from plugdata.checks.alignment import Scorer, ScorerOptions
from plugdata.errors import require


class RoundTripOptions(ScorerOptions):
    backend: str = Field(description="the translation backend that translates back")
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="its options (as a recipe's translate options)"
    )
    concurrency: int = Field(8, ge=1, description="requests in flight")
    max_cost: float | None = Field(None, ge=0, description="USD cap for the scoring of a run")
    cache: str | None = Field(None, description="translation cache file (default: the user's)")


class RoundTripScorer(Scorer):
    name = "round-trip"
    Options = RoundTripOptions
    # chrF / 100: a usual floor for a faithful round trip, not measured here.
    default_min_score: ClassVar[dict[str, float]] = {"default": 0.35}
    parallel = False  # a remote service's work, or one model on a GPU
    operational = frozenset({"concurrency", "max_cost", "cache"})

    def __init__(self, options: RoundTripOptions) -> None:
        super().__init__(options)
        self._translator = None

    @property
    def model(self) -> str:
        return f"chrF after {self.options.backend}"

    def load(self) -> None:
        # The backend's setup (its key) is checked here, before a build translates anything.
        require("sacrebleu", "qe")
        from plugdata.translate import TextTranslator

        if self._translator is None:
            o = self.options
            self._translator = TextTranslator(
                o.backend,
                o.backend_options,
                cache_path=Path(o.cache) if o.cache else None,
                concurrency=o.concurrency,
                max_cost=o.max_cost,
                where="alignment.options",
            )

    def score(self, pairs: list[tuple[str, str]], source: str, target: str) -> list[float | None]:
        if not pairs:
            return []
        from sacrebleu.metrics import CHRF

        self.load()
        back = self._translator.translate(
            [t for _, t in pairs], target, source, kind="response", progress=False
        )
        chrf = CHRF()
        return [
            None if b.reason else round(chrf.sentence_score(b.text, [p]).score / 100, 4)
            for (p, _), b in zip(pairs, back, strict=True)
        ]

    def close(self) -> None:
        if self._translator is not None:
            self._translator.close()
