"""The alignment check of a validator, a batch of triples at a time: which field pairs to score,
their cached scores, one call of the scorer for the rest, and each triple's verdict (`meta.
alignment` rows, `misaligned:<field>`, `unscored:<field>`, `alignment-short:<field>` flags).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plugdata.checks.alignment import AlignmentCache, AlignmentSettings, Scorer, cached_scores
from plugdata.checks.scorers import make_scorer
from plugdata.core.schema import AlignmentResult
from plugdata.core.textproc import strip_code_and_urls

# (pivot field, target field) pairs that are scored.
PAIRS = (("pivot_instruction", "target_instruction"), ("pivot_response", "target_response"))


@dataclass
class _Pair:
    row: int
    field: str
    pivot: str
    target: str
    source: str
    lang: str


class AlignmentCheck:
    """`settings.scorer`, made and loaded once, with the cache; `judgeable` says whether a pivot
    text holds enough prose to judge (the validator's rule for language ID)."""

    def __init__(
        self,
        settings: AlignmentSettings,
        judgeable: Callable[[str], bool],
        cache: AlignmentCache | None = None,
    ) -> None:
        self.settings, self.judgeable = settings, judgeable
        self.cache = cache or AlignmentCache()
        self.scorer: Scorer = make_scorer(
            settings.scorer, settings.options, "alignment", self.cache
        )
        self.scorer.load()

    @property
    def parallel(self) -> bool:
        return self.scorer.parallel

    def describe(self) -> dict[str, Any]:
        """The scorer and its thresholds, as the manifest records them."""
        return {
            "scorer": self.scorer.label,
            "version": self.scorer.version,
            "min_score": self.thresholds(),
        }

    def thresholds(self) -> dict[str, float]:
        """The least score of each language the settings or the scorer name, and `default`
        (a language whose score is the default's is left out)."""
        keys = {"default", *self.scorer.default_min_score, *self.settings.min_score}
        scores = {key: self.settings.threshold(key, self.scorer) for key in keys}
        default = scores.pop("default")
        return {"default": default} | {k: v for k, v in sorted(scores.items()) if v != default}

    def apply(self, triples: list[dict], verdicts: list, responses: bool) -> None:
        """Score the field pairs of the triples no other check has failed, into their
        verdicts."""
        pairs = self._pairs(triples, verdicts, responses)
        label = self.scorer.label
        for pair, score in zip(pairs, self._scores(pairs), strict=True):
            verdict = verdicts[pair.row]
            if score is None:
                verdict.reasons.append(f"unscored:{pair.field}")
                continue
            passed = score >= self.settings.threshold(pair.lang, self.scorer)
            verdict.alignment.append(AlignmentResult(pair.field, label, round(score, 4), passed))
            if not passed:
                verdict.reasons.append(f"misaligned:{pair.field}")

    def _pairs(self, triples: list[dict], verdicts: list, responses: bool) -> list[_Pair]:
        pairs = []
        for row, (triple, verdict) in enumerate(zip(triples, verdicts, strict=True)):
            if verdict.reasons:
                continue  # failed already: nothing to pay for
            for pivot_name, target_name in PAIRS[: 2 if responses else 1]:
                pivot, target = triple[pivot_name], triple[target_name]
                if not self.judgeable(strip_code_and_urls(pivot)):
                    verdict.flags.append(f"alignment-short:{target_name}")
                    continue
                pairs.append(
                    _Pair(
                        row, target_name, pivot, target, triple["pivot_lang"], triple["target_lang"]
                    )
                )
        return pairs

    def _scores(self, pairs: list[_Pair]) -> list[float | None]:
        """The pairs' scores (None: not scored), one `cached_scores` call per language pair."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, pair in enumerate(pairs):
            groups.setdefault((pair.source, pair.lang), []).append(i)
        scores: list[float | None] = [None] * len(pairs)
        for (source, lang), members in groups.items():
            texts = [(pairs[i].pivot, pairs[i].target) for i in members]
            for i, score in zip(
                members, cached_scores(self.scorer, self.cache, texts, source, lang), strict=True
            ):
                scores[i] = score
        return scores

    def close(self) -> None:
        self.scorer.close()
        self.cache.close()
