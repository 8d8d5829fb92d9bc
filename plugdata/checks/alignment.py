"""Cross-lingual agreement: does a target field say what its pivot field says?

Each target field is scored against its pivot field (instruction with instruction, response with
response) by a scorer; a pair below its language's `min_score` is `misaligned:<target field>`,
and every score goes into the triple's `meta.alignment`. Scorers sit behind one protocol, the
way translation backends do, and are picked by name from `SCORERS` (`checks.scorers`):
the bundled default runs offline on a CPU. Scores are cached (`AlignmentCache`) by scorer, model
and the two texts, so a rebuild computes nothing again; a pivot text's embedding is cached too,
so it is encoded once for every target language.

Fields too short to judge (the validator's `min_letters` and `min_words`: "144", "Yes.") are
not scored: a one-word answer reads alike in many languages, and an embedding of it says little.
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from plugdata.core.claims import CLAIMS_SCHEMA, Claims, ClaimSettings
from plugdata.core.digests import digest
from plugdata.core.store import Store, cache_dir

DEFAULT_SCORER = "use-m3"


class AlignmentSettings(BaseModel):
    """How pairs are scored, and the least score a pair keeps (a recipe's
    `validation.alignment`; `alignment: off` turns the check off)."""

    model_config = ConfigDict(extra="forbid")

    scorer: str = Field(DEFAULT_SCORER, description="the scorer, by name (`SCORERS`)")
    min_score: dict[str, float] = Field(
        default_factory=dict,
        description="least score of a kept pair, per target language code or `default` "
        "(otherwise the scorer's own default)",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="the scorer's own options, checked by its model"
    )

    def threshold(self, lang: str, scorer: Scorer) -> float:
        """The settings' score for `lang`, else their default, else the scorer's own."""
        for scores in (self.min_score, scorer.default_min_score):
            for key in (lang, "default"):
                if key in scores:
                    return scores[key]
        return 0.5


def least_scores(thresholds: dict[str, float]) -> str:
    """`default 0.5, ko 0.35`: the thresholds as the summary and the card print them."""
    return ", ".join(f"{lang} {score:g}" for lang, score in thresholds.items())


class ScorerOptions(BaseModel):
    """Options every scorer accepts; a scorer's own options extend this model."""

    model_config = ConfigDict(extra="forbid")


class Scorer(ABC):
    """One way to score pairs. Subclasses set the class attributes and implement `score`.
    `parallel`: whether its work is the CPU's (then the executor's workers share it), rather
    than a remote service's (then it runs in this process, with its own threads)."""

    name: ClassVar[str]
    Options: ClassVar[type[ScorerOptions]] = ScorerOptions
    # Bump when what a score means changes (a prompt, a formula): part of every cache key.
    version: ClassVar[str] = "1"
    parallel: ClassVar[bool] = True
    # The least score a pair keeps when the settings give none, per target language or
    # `default`.
    default_min_score: ClassVar[dict[str, float]] = {"default": 0.5}
    # Options that change how a run goes (threads, concurrency, a cost cap) but not what a
    # score is: left out of the cache keys, so that changing them reuses every score.
    operational: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: ScorerOptions) -> None:
        self.options = options

    @property
    def model(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """`name:model`, as `meta.alignment` and the manifest name the scorer."""
        return f"{self.name}:{self.model}"

    @property
    def fingerprint(self) -> str:
        """What a score depends on besides its two texts and languages: the scorer, its model
        and version, and every option that is not `operational`. Part of every cache key."""
        meaning = self.options.model_dump(mode="json", exclude=set(self.operational))
        return json.dumps([self.label, self.version, meaning], sort_keys=True)

    @abstractmethod
    def score(self, pairs: list[tuple[str, str]], source: str, target: str) -> list[float]:
        """A score per (pivot text, target text) pair, higher is closer; `source` and
        `target` are the language codes."""

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load what the scorer needs before the executor forks its workers, so that they
        share it rather than load it each (a validator calls it when it is made)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most scorers hold nothing
        """Release models or clients."""


class EmbeddingScorer(Scorer):
    """Scores a pair by the cosine of the two texts' embeddings (a multilingual sentence
    encoder). Subclasses implement `embed`; a pivot text's embedding is kept in the cache, so
    it is encoded once whatever the number of target languages."""

    cache: AlignmentCache | None = None  # set by the validator that uses the scorer

    @abstractmethod
    def embed(self, texts: list[str], lang: str) -> np.ndarray:
        """Unit-length embeddings, one row per text; `lang` is the texts' language."""

    def score(self, pairs: list[tuple[str, str]], source: str, target: str) -> list[float]:
        if not pairs:
            return []
        pivots = self._pivot_embeddings([p for p, _ in pairs], source)
        targets = self.embed([t for _, t in pairs], target)
        return [float(x) for x in np.einsum("ij,ij->i", pivots, targets)]

    def _pivot_embeddings(self, texts: list[str], lang: str) -> np.ndarray:
        fingerprint = self.fingerprint
        keys = [digest(fingerprint, lang, text) for text in texts]
        known = self.cache.embeddings(keys) if self.cache is not None else {}
        missing = [i for i, key in enumerate(keys) if key not in known]
        if missing:
            # Half precision, as the cache keeps them: a pivot scores the same whether its
            # embedding was made now or read back, in whatever process.
            made = self.embed([texts[i] for i in missing], lang).astype(np.float16)
            fresh = {keys[i]: row for i, row in zip(missing, made, strict=True)}
            if self.cache is not None:
                self.cache.put_embeddings(fresh)
            known.update(fresh)
        return np.stack([known[key] for key in keys]).astype(np.float32)


class AlignmentCache:
    """Scores by (scorer, version, pivot text, target text), and pivot embeddings by (scorer,
    version, text), in one SQLite file (`alignment.sqlite` in the cache folder). Opened in
    each process that uses it, on first use: worker processes write beside the build's own
    process, and SQLite's locks keep them apart; what one of them is scoring, the others wait
    for (`settle`), so a paid scorer (an LLM's) is paid once. `claims` (clock, ...): for tests."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS scores (key BLOB PRIMARY KEY, score REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, vector BLOB NOT NULL)",
        *CLAIMS_SCHEMA,
    )

    def __init__(self, path: Path | None = None, claims: ClaimSettings | None = None) -> None:
        self.path = Path(path) if path else cache_dir() / "alignment.sqlite"
        self._store: Store | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._claims = claims

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_store": None, "_pid": 0, "_claims": self._claims}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _db(self) -> Store:
        if self._store is None or self._pid != os.getpid():  # a forked worker opens its own
            self._store = Store(self.path, *self.SCHEMA)
            self._pid = os.getpid()
        return self._store

    def _select(self, table: str, column: str, keys: list[bytes]) -> dict[bytes, Any]:
        found: dict[bytes, Any] = {}
        with self._lock:
            db = self._db()
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                sql = f"SELECT key, {column} FROM {table} WHERE key IN ({marks})"
                found.update(db.query(sql, part))
        return found

    def scores(self, keys: list[bytes]) -> dict[bytes, float]:
        return self._select("scores", "score", keys)

    def put_scores(self, scores: dict[bytes, float]) -> None:
        with self._lock:
            self._db().write_many("INSERT OR REPLACE INTO scores VALUES (?, ?)", scores.items())

    def settle(self, todo: dict[bytes, Any], score: Callable[[dict[bytes, Any]], object]) -> None:
        """`score` the keys of `todo` that no other process sharing the file is scoring; wait
        for the scores of those it is (`plugdata.core.claims`)."""
        with self._lock:
            claims = Claims(self._db(), self._lock, "scores", self._claims)
        claims.settle(todo, score)

    def embeddings(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found = self._select("embeddings", "vector", keys)
        return {key: np.frombuffer(blob, dtype=np.float16) for key, blob in found.items()}

    def put_embeddings(self, vectors: dict[bytes, np.ndarray]) -> None:
        # Half precision: 1 KB a 512-d vector, and cosines equal to about 1e-3.
        rows = [(key, np.asarray(v, dtype=np.float16).tobytes()) for key, v in vectors.items()]
        with self._lock:
            self._db().write_many("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", rows)

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None


def cached_scores(
    scorer: Scorer, cache: AlignmentCache, pairs: list[tuple[str, str]], source: str, lang: str
) -> list[float | None]:
    """The scores of `(pivot, target)` pairs in languages `source` and `lang`: the cache's, then
    the scorer's for the rest, each distinct pair once. What the scorer could not score is
    None, and is never cached."""
    fingerprint = scorer.fingerprint
    keys = [digest(fingerprint, source, lang, pivot, target) for pivot, target in pairs]
    known: dict[bytes, float | None] = dict(cache.scores(keys))
    todo = {key: pair for key, pair in zip(keys, pairs, strict=True) if key not in known}
    if todo:
        made: dict[bytes, float | None] = {}

        def score(mine: dict[bytes, tuple[str, str]]) -> None:
            got = dict(zip(mine, scorer.score(list(mine.values()), source, lang), strict=True))
            cache.put_scores({key: score for key, score in got.items() if score is not None})
            made.update(got)

        cache.settle(todo, score)
        known.update(cache.scores([key for key in todo if key not in made]))  # another's
        known.update(made)
    return [known.get(key) for key in keys]
