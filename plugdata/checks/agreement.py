"""The alignment check of a validator, a batch of triples at a time: which field pairs to score,
their cached scores, one call of the scorer for the rest, and each triple's verdict (`meta.
alignment` rows, `misaligned:<field>`, `unscored:<field>`, `alignment-short:<field>` flags).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plugdata.checks.alignment import AlignmentCache, AlignmentSettings, Scorer
from plugdata.checks.scorers import make_scorer
from plugdata.core.digests import digest
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
    key: bytes = b""


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
        self.scorer: Scorer = make_scorer(settings.scorer, settings.options, "alignment")
        self.cache = cache or AlignmentCache()
        if hasattr(self.scorer, "cache"):  # an embedding scorer keeps pivot embeddings there
            self.scorer.cache = self.cache
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
        scores = self._scores(pairs)
        for pair in pairs:
            score = scores.get(pair.key)
            verdict = verdicts[pair.row]
            if score is None:
                verdict.reasons.append(f"unscored:{pair.field}")
                continue
            passed = score >= self.settings.threshold(pair.lang, self.scorer)
            verdict.alignment.append(
                AlignmentResult(pair.field, self.scorer.label, round(score, 4), passed)
            )
            if not passed:
                verdict.reasons.append(f"misaligned:{pair.field}")

    def _pairs(self, triples: list[dict], verdicts: list, responses: bool) -> list[_Pair]:
        pairs = []
        label, version = self.scorer.label, self.scorer.version
        for row, (triple, verdict) in enumerate(zip(triples, verdicts, strict=True)):
            if verdict.reasons:
                continue  # failed already: nothing to pay for
            for pivot_name, target_name in PAIRS[: 2 if responses else 1]:
                pivot, target = triple[pivot_name], triple[target_name]
                if not self.judgeable(strip_code_and_urls(pivot)):
                    verdict.flags.append(f"alignment-short:{target_name}")
                    continue
                pair = _Pair(
                    row, target_name, pivot, target, triple["pivot_lang"], triple["target_lang"]
                )
                pair.key = digest(label, version, pivot, target)
                pairs.append(pair)
        return pairs

    def _scores(self, pairs: list[_Pair]) -> dict[bytes, float | None]:
        """Scores by key: the cache's, then the scorer's for the rest (one call per language
        pair); what it could not score is None, and never cached."""
        scores: dict[bytes, float | None] = dict(self.cache.scores([p.key for p in pairs]))
        todo: dict[tuple[str, str], list[_Pair]] = {}
        for pair in pairs:
            if pair.key not in scores:
                todo.setdefault((pair.source, pair.lang), []).append(pair)
        for (source, lang), group in todo.items():
            unique = list({p.key: p for p in group}.values())
            made = self.scorer.score([(p.pivot, p.target) for p in unique], source, lang)
            fresh = {p.key: s for p, s in zip(unique, made, strict=True) if s is not None}
            self.cache.put_scores(fresh)
            scores.update({p.key: s for p, s in zip(unique, made, strict=True)})
        return scores

    def close(self) -> None:
        self.scorer.close()
        self.cache.close()
